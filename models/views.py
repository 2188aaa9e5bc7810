"""What a person (or the CRM) sees of a customer's state: readable times and money."""

from __future__ import annotations

from typing import Any

from models.money import to_amount
from models.timestamps import format_ms

__all__ = ["customer_view"]


def _time(ms: int | None) -> str | None:
    return None if ms is None else format_ms(ms)


def customer_view(state: dict[str, Any], stream_time: dict[str, int], currency: str) -> dict[str, Any]:
    orders = {}
    for order_id, order in state["orders"].items():
        orders[order_id] = {
            "status": order["status"],
            "placed_at": _time(order["at"]),
            "promised_delivery_by": _time(order["due"]),
            "closed_at": _time(order["closed"]),
            "urgent": order["urgent"],
            "value": to_amount(sum(qty * price for _, qty, price, _ in order["lines"].values())),
            "lines": [
                {"line_id": line_id, "sku": sku, "qty": qty, "unit_price": to_amount(price), "spec": spec}
                for line_id, (sku, qty, price, spec) in order["lines"].items()
            ],
        }
    return {
        "customer_id": state["id"],
        "partition": state["p"],
        "currency": currency,
        "last_event_at": _time(state["last"]),
        "stream_time": {topic: format_ms(at) for topic, at in sorted(stream_time.items())},
        "open_orders": {k: v for k, v in orders.items() if v["status"] in ("open", "shipped")},
        "closed_orders": {k: v for k, v in orders.items() if v["status"] not in ("open", "shipped")},
        "deadlines": {name: format_ms(due) for name, due in sorted(state["deadlines"].items(), key=lambda i: i[1])},
        "alerts": {
            alert_id: {
                "kind": record["k"], "open": record["o"], "revision": record["r"], "severity": record["s"],
                "impact": {"amount": to_amount(record["a"]), "currency": currency, "per": record["p"]},
                "last_emitted_at": format_ms(record["t"]),
            }
            for alert_id, record in state["alerts"].items()
        },
        "dedup_window": len(state["seen"]),
    }
