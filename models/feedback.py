"""The CRM's answers about alerts (SPEC §1 ``fairwatch.feedback``): acknowledged, closed, disputed.

Pure, with the detectors' interface (``NAME``, ``EVENT_TYPES``, ``CLOCK``,
``on_event``, ``on_deadline``), so models.engine applies it like a detector and
its one deadline rides the same indexes; it raises no alert of its own. An answer
moves the customer's alert record (models.alerts.feedback_alert) and is emitted.

An answer can come before the alert it is about: the feedback topic is read
beside the others, so on a replay it may run ahead of the orders that raise the
alert. Such an answer is held in the customer's state (``held_feedback``, at most
MAX_HELD) and applied as soon as the alert is emitted (``on_alerts``). It waits
until every topic of facts (models.events.TIME_TOPICS, whose stream time already
lags the newest event by the grace) has passed the answer's own time: by then the
alert it answers, which came before it, would have been raised. Still unmatched, it
is set aside in ``unmatched_feedback`` (the newest MAX_UNMATCHED, readable in the
customer's state): an answer about an alert forgotten long ago, or a wrong id.
"""

from __future__ import annotations

from typing import Any

from models.alerts import FEEDBACK_LIFECYCLES, AlertChange, feedback_alert
from models.events import TIME_TOPICS, Event
from models.policy import Policy

__all__ = [
    "NAME",
    "EVENT_TYPES",
    "CLOCK",
    "NEEDS_CATALOG",
    "on_event",
    "on_deadline",
    "on_alerts",
    "MAX_HELD",
    "MAX_UNMATCHED",
]

NAME = "feedback"
EVENT_TYPES = frozenset(FEEDBACK_LIFECYCLES)
#: An answer waits for the topics that raise alerts, never for the feedback topic itself.
CLOCK = TIME_TOPICS
#: Answers never read the plan catalog (the engine's handler interface, models.detectors).
NEEDS_CATALOG = False
MAX_HELD = 20
MAX_UNMATCHED = 20
HELD = "held_feedback"
UNMATCHED = "unmatched_feedback"


def on_event(state: dict[str, Any], event: Event, policy: Policy) -> list[AlertChange]:
    alert_id = event.data["alert_id"]
    if alert_id in state["alerts"]:
        change = _answer(state, event)
        return [change] if change else []
    held = state.setdefault(HELD, [])
    held.append([event.event_id, event.type, event.at, event.data])
    state["deadlines"][_deadline(event.event_id)] = event.at
    while len(held) > MAX_HELD:
        _set_aside(state, held.pop(0))
    return []


def on_deadline(state: dict[str, Any], key: str, now: int, policy: Policy) -> list[AlertChange]:
    """The topics of facts passed an answer's time and its alert never came: set it aside."""
    held = state.get(HELD, [])
    for index, entry in enumerate(held):
        if entry[0] == key:
            _set_aside(state, held.pop(index))
            break
    if not held:
        state.pop(HELD, None)
    return []


def on_alerts(state: dict[str, Any], changes: list[AlertChange], policy: Policy) -> list[AlertChange]:
    """Answers held for alerts these changes emitted, applied now, in the order they came.

    ``policy`` is not read: it is the signature every alert watcher has (models.detectors.WatchesAlerts).
    """
    held = state.get(HELD)
    if not held:
        return []
    emitted = {change.alert_id for change in changes}
    ready = [entry for entry in held if entry[3]["alert_id"] in emitted]
    if not ready:
        return []
    state[HELD] = [entry for entry in held if entry[3]["alert_id"] not in emitted]
    if not state[HELD]:
        del state[HELD]
    answered = []
    for event_id, kind, at, data in ready:
        state["deadlines"].pop(_deadline(event_id), None)
        change = _answer(state, Event(event_id, kind, state["id"], at, data))
        if change is not None:
            answered.append(change)
    return answered


def _answer(state: dict[str, Any], event: Event) -> AlertChange | None:
    data = event.data
    return feedback_alert(
        state,
        lifecycle=FEEDBACK_LIFECYCLES[event.type],
        alert_id=data["alert_id"],
        by=data["by"],
        at=event.at,
        event_id=event.event_id,
        text=data.get("note") or data.get("reason"),
        outcome=data.get("outcome"),
    )


def _set_aside(state: dict[str, Any], entry: list[Any]) -> None:
    event_id, kind, at, data = entry
    state["deadlines"].pop(_deadline(event_id), None)
    unmatched = state.setdefault(UNMATCHED, [])
    unmatched.append({"event_id": event_id, "type": kind, "alert_id": data["alert_id"], "at": at})
    del unmatched[:-MAX_UNMATCHED]


def _deadline(event_id: str) -> str:
    return f"{NAME}|{event_id}"
