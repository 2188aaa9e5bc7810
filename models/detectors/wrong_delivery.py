"""``promise.wrong_delivery``: delivered lines differ from the ordered ones.

Compares each delivered line with the ordered line of the same ``line_id``:
sku, quantity and every spec key (colour, packaging, ...). Lines missing from
the delivery and lines nobody ordered count too. A later delivery report for
the same order that matches the order resolves the alert.
"""

from __future__ import annotations

from typing import Any

from models.alerts import AlertChange, raise_alert, resolve_alert
from models.events import Event
from models.money import format_money
from models.policy import Policy
from models.state import order_value

__all__ = ["NAME", "KIND", "CLOCK", "EVENT_TYPES", "NEEDS_CATALOG", "on_event", "on_deadline", "differences"]

NAME = "wrong_delivery"
KIND = "promise.wrong_delivery"
CLOCK = "orders"
NEEDS_CATALOG = False
EVENT_TYPES = frozenset({"order.delivered"})


def differences(ordered: dict[str, list[Any]], delivered: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every way the delivered lines differ from the ordered ones, in line order."""
    found: list[dict[str, Any]] = []
    seen: set[str] = set()
    for line in delivered:
        line_id = line["line_id"]
        seen.add(line_id)
        expected = ordered.get(line_id)
        if expected is None:
            found.append({"line_id": line_id, "field": "line", "ordered": None, "delivered": line["sku"]})
            continue
        sku, qty, _, spec = expected
        if line["sku"] != sku:
            found.append({"line_id": line_id, "field": "sku", "ordered": sku, "delivered": line["sku"]})
        if line["qty"] != qty:
            found.append({"line_id": line_id, "field": "qty", "ordered": qty, "delivered": line["qty"]})
        got = line.get("spec", {})
        for name in sorted(spec.keys() | got.keys()):
            if spec.get(name) != got.get(name):
                found.append(
                    {"line_id": line_id, "field": f"spec.{name}", "ordered": spec.get(name), "delivered": got.get(name)}
                )
    for line_id, (sku, *_rest) in ordered.items():
        if line_id not in seen:
            found.append({"line_id": line_id, "field": "line", "ordered": sku, "delivered": None})
    return found


def _describe(diff: dict[str, Any]) -> str:
    field, ordered, delivered = diff["field"], diff["ordered"], diff["delivered"]
    if field == "line":
        return f"{ordered} was missing" if delivered is None else f"{delivered} was sent but not ordered"
    if field == "qty":
        return f"{delivered} of {ordered} ordered items came"
    if field.startswith("spec."):
        what = field[5:]
        if delivered is None:
            return f"no {what} was given instead of {ordered}"
        if ordered is None:
            return f"{delivered} {what} was sent though none was asked for"
        return f"{delivered} {what} came instead of {ordered}"
    return f"{delivered} came instead of {ordered}"


def on_event(state: dict[str, Any], event: Event, policy: Policy) -> list[AlertChange]:
    order_id = event.data["order_id"]
    order = state["orders"].get(order_id)
    if order is None:
        return []
    delivered = event.data.get("lines")
    # Lines omitted means delivered exactly as ordered.
    diffs = [] if delivered is None else differences(order["lines"], delivered)
    if not diffs:
        change = resolve_alert(
            state,
            kind=KIND,
            key=order_id,
            at=event.at,
            summary=f"Order {order_id} has now been delivered as ordered.",
            evidence=[order["placed"], event.event_id],
        )
        return [change] if change else []
    affected = sorted({d["line_id"] for d in diffs})
    amount = order_value(order, affected)
    told = "; ".join(_describe(d) for d in diffs[:2])
    more = f" (and {len(diffs) - 2} more differences)" if len(diffs) > 2 else ""
    change = raise_alert(
        state,
        policy,
        kind=KIND,
        key=order_id,
        at=event.at,
        severity="warning",
        summary=f"Your order {order_id} was not delivered as ordered: {told}{more}.",
        amount=amount,
        per="once",
        evidence=[order["placed"], event.event_id],
        suggested_action=f"Send the right items for order {order_id} "
        f"({format_money(amount, policy.currency)} of goods), collect the wrong ones and apologise.",
        details={"order_id": order_id, "differences": diffs, "lines_affected": affected},
        stage=str(len(diffs)),
    )
    return [change] if change else []


def on_deadline(state: dict[str, Any], key: str, now: int, policy: Policy) -> list[AlertChange]:
    return []
