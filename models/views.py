"""What a person (or the CRM) sees of a customer's state: readable times and money."""

from __future__ import annotations

from typing import Any

from models.kinds import kind_of_alert
from models.money import to_amount
from models.state import MARK_CHARS
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
                "kind": kind_of_alert(alert_id),
                "open": record["o"],
                "revision": record["r"],
                "severity": record["s"],
                "impact": {"amount": to_amount(record["a"]), "currency": currency, "per": record["p"]},
                "last_emitted_at": format_ms(record["t"]),
                **_answers(record),
            }
            for alert_id, record in state["alerts"].items()
        },
        # The CRM's answers about alerts not emitted (yet): waiting, and set aside after the grace (models.feedback).
        "held_feedback": [
            {"event_id": event_id, "type": kind, "alert_id": data["alert_id"], "at": format_ms(at)}
            for event_id, kind, at, data in state.get("held_feedback", [])
        ],
        "unmatched_feedback": [
            {**entry, "at": format_ms(entry["at"])} for entry in state.get("unmatched_feedback", [])
        ],
        "dedup_window": len(state["seen"]) // MARK_CHARS,
        "subscriptions": {sub_id: _subscription(sub) for sub_id, sub in state.get("subs", {}).items()},
    }


def _answers(record: dict[str, Any]) -> dict[str, Any]:
    """The CRM's answers on an alert record (models.alerts), with readable times."""
    return {
        name: {**record[key], "at": format_ms(record[key]["at"])}
        for key, name in (("ack", "acknowledged"), ("closed", "closed"), ("disputed", "disputed"))
        if key in record
    }


def _subscription(sub: dict[str, Any]) -> dict[str, Any]:
    """Plan, agreed fee, tenure and term, and the last 12 periods' usage and bills."""
    return {
        "plan_id": sub["plan"],
        "agreed_monthly_fee": None if sub["fee"] is None else to_amount(sub["fee"]),
        "started_at": _time(sub["start"]),
        "minimum_term_ends_at": _time(sub["term_end"]),
        "cancellation_effective_at": _time(sub["cancel_at"]),
        "ended_at": _time(sub["ended"]),
        "price_changes": [
            {
                "new_monthly_fee": to_amount(fee),
                "effective_at": format_ms(effective),
                "notified_at": format_ms(notified),
            }
            for fee, effective, notified, _ in sub["prices"]
        ],
        "notices": [{"kind": kind, "sent_at": format_ms(at)} for kind, at, _ in sub["notices"]],
        "usage": {period: units for period, (units, _, _) in sorted(sub["usage"].items())},
        "billed": {
            period: to_amount(sum(line[4] for line in lines)) for period, lines in sorted(sub["billed"].items())
        },
        "overcharges_open": {key: to_amount(rec["amount"] - rec["paid"]) for key, rec in sub["over"].items()},
    }
