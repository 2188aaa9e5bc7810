"""Applies one event, or the passing of stream time, to one customer's state.

The whole per-customer rule set in two functions; the stream wiring calls only
these. They update ``state`` in place and return the alert changes to emit.
"""

from __future__ import annotations

from typing import Any

from models.alerts import AlertChange, prune_alerts
from models.detectors import BY_EVENT_TYPE, DETECTORS, repeated_broken_promises
from models.events import Event
from models.policy import Policy
from models.state import apply_order_event, hold_early, prune, take_early
from models.timestamps import MS_PER_DAY

__all__ = ["apply_event", "advance_to"]


def apply_event(state: dict[str, Any], event: Event, policy: Policy) -> list[AlertChange]:
    """Apply a validated, de-duplicated event; return the alert changes it causes."""
    changes = _apply(state, event, policy)
    return _with_patterns(state, changes, policy)


def _with_patterns(state: dict[str, Any], changes: list[AlertChange], policy: Policy) -> list[AlertChange]:
    # Some conditions are made of other alerts, not of events.
    if changes:
        changes.extend(repeated_broken_promises.on_alerts(state, changes, policy))
    return changes


def _apply(state: dict[str, Any], event: Event, policy: Policy) -> list[AlertChange]:
    if state["last"] is None or event.at > state["last"]:
        state["last"] = event.at
    if event.type.startswith("order.") and apply_order_event(state, event) is None:
        # Shipped, delivered or cancelled before its placement arrived (out of
        # order upstream): keep it, and apply it right after the placement.
        hold_early(state, event, policy)
        return []
    changes: list[AlertChange] = []
    for detector in BY_EVENT_TYPE.get(event.type, ()):
        changes.extend(detector.on_event(state, event, policy))
    if event.type == "order.placed":
        for early in take_early(state, event.data["order_id"]):
            changes.extend(_apply(state, early, policy))
    return changes


def advance_to(state: dict[str, Any], now: int, policy: Policy) -> list[AlertChange]:
    """Stream time reached ``now``: fire every deadline at or before it, in time order."""
    changes: list[AlertChange] = []
    deadlines = state["deadlines"]
    while deadlines:
        name, due = min(deadlines.items(), key=lambda item: (item[1], item[0]))
        if due > now:
            break
        del deadlines[name]
        detector, _, key = name.partition("|")
        changes.extend(DETECTORS[detector].on_deadline(state, key, due, policy))
    prune(state, now, policy)
    prune_alerts(state, now, int(policy.alert_retention_days * MS_PER_DAY))
    return _with_patterns(state, changes, policy)
