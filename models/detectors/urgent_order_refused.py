"""``promise.urgent_order_refused``: an urgent order cancelled by the company.

The customer asked for it urgently and was turned away: one alert per order,
raised at the cancellation. It stays open for the CRM to make good; nothing in
the stream can undo a refusal.
"""

from __future__ import annotations

from typing import Any

from models.alerts import AlertChange, raise_alert
from models.events import Event
from models.policy import Policy
from models.state import order_value

__all__ = ["NAME", "KIND", "CLOCK", "EVENT_TYPES", "NEEDS_CATALOG", "on_event", "on_deadline"]

NAME = "urgent_order_refused"
KIND = "promise.urgent_order_refused"
CLOCK = "orders"
NEEDS_CATALOG = False
EVENT_TYPES = frozenset({"order.cancelled"})


def on_event(state: dict[str, Any], event: Event, policy: Policy) -> list[AlertChange]:
    order_id = event.data["order_id"]
    order = state["orders"].get(order_id)
    if order is None or not order["urgent"] or event.data["by"] != "company" or order["status"] != "cancelled":
        return []
    reason = event.data.get("reason")
    because = f" ({reason})" if reason else ""
    change = raise_alert(
        state,
        policy,
        kind=KIND,
        key=order_id,
        at=event.at,
        severity="critical",
        summary=f"Your urgent order {order_id} was cancelled by us{because}.",
        amount=order_value(order),
        per="once",
        evidence=[order["placed"], event.event_id],
        suggested_action=f"Call the customer today about urgent order {order_id}: apologise and offer another "
        "way to get it to them (another warehouse, a partner, express at our cost).",
        details={"order_id": order_id, "reason": reason, "skus": [line[0] for line in order["lines"].values()]},
    )
    return [change] if change else []


def on_deadline(state: dict[str, Any], key: str, now: int, policy: Policy) -> list[AlertChange]:
    return []
