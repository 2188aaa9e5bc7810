"""``promise.late_delivery``: delivered after ``promised_delivery_by``, or the deadline passed without delivery.

One alert per order (keyed by order_id), in stages: ``at_risk`` (not shipped
``at_risk_hours`` before the promise: a warning while there is still time),
``undelivered`` (the promise passed) and ``delivered_late``. Each later stage
updates the same alert. The deadlines fire from stream time, so an order nobody
reports on still raises. A delivery in time resolves it (also one whose report
came in after the deadline fired, beyond the grace).
"""

from __future__ import annotations

from typing import Any

from models.alerts import AlertChange, raise_alert, resolve_alert
from models.events import Event
from models.policy import Policy
from models.state import order_value
from models.timestamps import MS_PER_HOUR, format_duration, format_human, format_ms

__all__ = ["NAME", "KIND", "CLOCK", "EVENT_TYPES", "NEEDS_CATALOG", "on_event", "on_deadline"]

NAME = "late_delivery"
KIND = "promise.late_delivery"
CLOCK = "orders"
NEEDS_CATALOG = False
EVENT_TYPES = frozenset({"order.placed", "order.shipped", "order.delivered", "order.cancelled"})
_RISK = "risk:"


def _deadline(order_id: str) -> str:
    return f"{NAME}|{order_id}"


def _risk_deadline(order_id: str) -> str:
    return f"{NAME}|{_RISK}{order_id}"


def on_event(state: dict[str, Any], event: Event, policy: Policy) -> list[AlertChange]:
    order_id = event.data["order_id"]
    order = state["orders"].get(order_id)
    if order is None:
        return []
    deadlines = state["deadlines"]
    if event.type == "order.placed":
        if order["placed"] == event.event_id and order["status"] == "open":
            deadlines[_deadline(order_id)] = order["due"]
            risk_at = order["due"] - int(policy.at_risk_hours * MS_PER_HOUR)
            if policy.at_risk_hours > 0 and risk_at > event.at:
                deadlines[_risk_deadline(order_id)] = risk_at
        return []
    deadlines.pop(_risk_deadline(order_id), None)
    if event.type == "order.shipped":
        return []
    deadlines.pop(_deadline(order_id), None)
    if event.type != "order.delivered":
        return []  # a cancelled order is not delivered late; an open late alert stays
    if event.at <= order["due"]:
        change = resolve_alert(
            state,
            kind=KIND,
            key=order_id,
            at=event.at,
            summary=f"Order {order_id} was delivered on time after all "
            f"({format_human(event.at)}; promised by {format_human(order['due'])}).",
            evidence=[order["placed"], event.event_id],
        )
        return [change] if change else []
    late_by = event.at - order["due"]
    change = _raise(
        state,
        order_id,
        order,
        policy,
        at=event.at,
        late_by=late_by,
        stage="delivered_late",
        summary=f"Your order {order_id} was promised by {format_human(order['due'])} "
        f"and arrived {format_duration(late_by)} late.",
        action=f"Apologise for the late delivery of order {order_id} and offer compensation.",
        evidence=[order["placed"], event.event_id],
    )
    return [change] if change else []


def on_deadline(state: dict[str, Any], key: str, now: int, policy: Policy) -> list[AlertChange]:
    if key.startswith(_RISK):
        return _at_risk(state, key[len(_RISK) :], now, policy)
    order = state["orders"].get(key)
    if order is None or order["status"] not in ("open", "shipped"):
        return []
    late_by = now - order["due"]
    critical_after = int(policy.late_delivery_critical_hours * MS_PER_HOUR)
    if late_by < critical_after:
        # Look again when it becomes critical, so a forgotten order escalates by itself.
        state["deadlines"][_deadline(key)] = order["due"] + critical_after
    where = "is on its way" if order["status"] == "shipped" else "has not been shipped"
    change = _raise(
        state,
        key,
        order,
        policy,
        at=now,
        late_by=late_by,
        stage="undelivered",
        summary=f"Your order {key} was promised by {format_human(order['due'])} and has not arrived; it {where}.",
        action=f"Find out where order {key} is, tell the customer when it will arrive, and offer compensation.",
        evidence=[order["placed"]] + ([order["shipped_by"]] if "shipped_by" in order else []),
    )
    return [change] if change else []


def _at_risk(state: dict[str, Any], order_id: str, now: int, policy: Policy) -> list[AlertChange]:
    order = state["orders"].get(order_id)
    if order is None or order["status"] != "open":
        return []
    change = _raise(
        state,
        order_id,
        order,
        policy,
        at=now,
        late_by=0,
        stage="at_risk",
        summary=f"Your order {order_id}, promised by {format_human(order['due'])}, has not been shipped yet "
        "and may arrive late.",
        action=f"Ship order {order_id} today, or tell the customer now when it will arrive.",
        evidence=[order["placed"]],
        severity="warning",
    )
    return [change] if change else []


def _raise(
    state: dict[str, Any],
    order_id: str,
    order: dict[str, Any],
    policy: Policy,
    *,
    at: int,
    late_by: int,
    stage: str,
    summary: str,
    action: str,
    evidence: list[str],
    severity: str | None = None,
) -> AlertChange | None:
    if severity is None:
        critical = order["urgent"] or late_by >= policy.late_delivery_critical_hours * MS_PER_HOUR
        severity = "critical" if critical else "warning"
    return raise_alert(
        state,
        policy,
        kind=KIND,
        key=order_id,
        at=at,
        severity=severity,
        summary=summary,  # type: ignore[arg-type]
        amount=order_value(order),
        per="once",
        evidence=evidence,
        suggested_action=action,
        details={
            "order_id": order_id,
            "promised_delivery_by": format_ms(order["due"]),
            "late_by_hours": round(late_by / MS_PER_HOUR, 1),
            "status": stage,
            "urgent": order["urgent"],
        },
        stage=stage,
    )
