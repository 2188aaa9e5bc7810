"""``promise.complaint_unresolved``: a complaint not acknowledged in time, or not resolved by its promise.

Deadlines per complaint, all fired by stream time (a complaint nobody touches
still raises): acknowledgement within ``complaint_ack_hours``; resolution by
``resolve_by`` (given, or by severity from the policy); critical after
``complaint_critical_days``. One alert per complaint, raised at the first
breach, updated at each later one, resolved by ``complaint.resolved``.
"""

from __future__ import annotations

from typing import Any

from models.alerts import AlertChange, raise_alert, resolve_alert
from models.events import Event
from models.policy import Policy
from models.state import hold_early
from models.timestamps import MS_PER_DAY, MS_PER_HOUR, format_duration, format_human, format_ms

__all__ = [
    "NAME",
    "KIND",
    "CLOCK",
    "EVENT_TYPES",
    "NEEDS_CATALOG",
    "on_event",
    "on_deadline",
    "resolve_by_default",
    "early_key",
    "OPENED_BY",
    "held_key",
]

NAME = "complaint_unresolved"
KIND = "promise.complaint_unresolved"
CLOCK = "complaints"
NEEDS_CATALOG = False
EVENT_TYPES = frozenset({"complaint.opened", "complaint.acknowledged", "complaint.resolved"})
_STAGES = ("ack", "due", "critical")
#: An acknowledgement or a resolution consumed before its complaint's opening waits for this (models.detectors.HOLDERS).
OPENED_BY = frozenset({"complaint.opened"})


def early_key(complaint_id: str) -> str:
    """Where events about a complaint not yet opened wait (beside early order events)."""
    return f"complaint:{complaint_id}"


def held_key(event: Event) -> str:
    """Where the events held for the complaint ``event`` opens wait."""
    return early_key(event.data["complaint_id"])


def resolve_by_default(opened: int, severity: str, policy: Policy) -> int:
    days = {
        "high": policy.complaint_resolve_days_high,
        "normal": policy.complaint_resolve_days_normal,
        "low": policy.complaint_resolve_days_low,
    }[severity]
    return opened + int(days * MS_PER_DAY)


def on_event(state: dict[str, Any], event: Event, policy: Policy) -> list[AlertChange]:
    complaints = state.setdefault("complaints", {})
    complaint_id = event.data["complaint_id"]
    deadlines = state["deadlines"]
    complaint = complaints.get(complaint_id)
    if event.type == "complaint.opened":
        if complaint is not None:
            return []
        resolve_by = event.data.get("resolve_by") or resolve_by_default(event.at, event.data["severity"], policy)
        complaint = complaints[complaint_id] = {
            "at": event.at,
            "severity": event.data["severity"],
            "category": event.data["category"],
            "by": resolve_by,
            "ack": None,
            "done": None,
            "opened": event.event_id,
        }
        deadlines[f"{NAME}|ack:{complaint_id}"] = event.at + int(policy.complaint_ack_hours * MS_PER_HOUR)
        deadlines[f"{NAME}|due:{complaint_id}"] = resolve_by
        deadlines[f"{NAME}|critical:{complaint_id}"] = event.at + int(policy.complaint_critical_days * MS_PER_DAY)
        return []
    if complaint is None:
        # Acknowledged or resolved before its opening was consumed: kept until it is.
        hold_early(state, event, policy, early_key(complaint_id))
        return []
    if event.type == "complaint.acknowledged":
        if complaint["ack"] is None:
            complaint["ack"] = event.at
            complaint["acked"] = event.event_id
        deadlines.pop(f"{NAME}|ack:{complaint_id}", None)
        return []
    complaint["done"] = event.at
    for stage in _STAGES:
        deadlines.pop(f"{NAME}|{stage}:{complaint_id}", None)
    took = format_duration(event.at - complaint["at"])
    change = resolve_alert(
        state,
        kind=KIND,
        key=complaint_id,
        at=event.at,
        summary=f"Your complaint {complaint_id} was resolved after {took}.",
        evidence=[complaint["opened"], event.event_id],
    )
    return [change] if change else []


def on_deadline(state: dict[str, Any], key: str, now: int, policy: Policy) -> list[AlertChange]:
    stage, _, complaint_id = key.partition(":")
    complaint = state.get("complaints", {}).get(complaint_id)
    if complaint is None or complaint["done"] is not None:
        return []
    if stage == "ack" and complaint["ack"] is not None:
        return []
    opened = format_human(complaint["at"])
    if stage == "ack":
        summary = (
            f"Your complaint {complaint_id} of {opened} has not been acknowledged within "
            f"{format_duration(now - complaint['at'])}."
        )
        action = f"Acknowledge complaint {complaint_id} today and tell the customer when it will be resolved."
    elif stage == "due":
        summary = (
            f"Your complaint {complaint_id} of {opened} was promised a resolution by "
            f"{format_human(complaint['by'])} and is still open."
        )
        action = f"Resolve complaint {complaint_id} now, or call the customer with a new date and a goodwill gesture."
    else:
        summary = (
            f"Your complaint {complaint_id} of {opened} has been open for {format_duration(now - complaint['at'])}."
        )
        action = f"Escalate complaint {complaint_id} to a manager and call the customer today."
    evidence = [complaint["opened"]] + ([complaint["acked"]] if "acked" in complaint else [])
    change = raise_alert(
        state,
        policy,
        kind=KIND,
        key=complaint_id,
        at=now,
        severity="critical" if now >= complaint["at"] + int(policy.complaint_critical_days * MS_PER_DAY) else "warning",
        summary=summary,
        amount=0,
        per="once",
        evidence=evidence,
        suggested_action=action,
        details={
            "complaint_id": complaint_id,
            "category": complaint["category"],
            "severity": complaint["severity"],
            "opened_at": format_ms(complaint["at"]),
            "resolve_by": format_ms(complaint["by"]),
            "acknowledged_at": format_ms(complaint["ack"]) if complaint["ack"] is not None else None,
            "breach": {"ack": "not_acknowledged", "due": "past_resolve_by", "critical": "open_8_weeks"}[stage],
        },
        stage=stage,
    )
    return [change] if change else []
