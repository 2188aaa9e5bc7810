"""Applies one event, or the passing of stream time, to one customer's state.

The whole per-customer rule set in two functions; the stream wiring calls only
these. They update ``state`` in place and return the alert changes to emit.
"""

from __future__ import annotations

from typing import Any

from models.alerts import AlertChange, prune_alerts
from models.detectors import BY_EVENT_TYPE, DETECTORS
from models.events import Event
from models.policy import Policy
from models.state import apply_order_event, prune
from models.timestamps import MS_PER_DAY

__all__ = ["apply_event", "advance_to"]


def apply_event(state: dict[str, Any], event: Event, policy: Policy) -> list[AlertChange]:
    """Apply a validated, de-duplicated event; return the alert changes it causes."""
    if event.type.startswith("order."):
        apply_order_event(state, event)
    changes: list[AlertChange] = []
    for detector in BY_EVENT_TYPE.get(event.type, ()):
        changes.extend(detector.on_event(state, event, policy))
    if state["last"] is None or event.at > state["last"]:
        state["last"] = event.at
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
    return changes
