"""``relationship.repeated_broken_promises``: 3 or more broken-promise alerts within 90 days.

Fed by the other detectors' alert changes (not by events): each ``promise.*``
alert counts once, when it is raised as broken (an order only at risk is not
broken yet; an info alert is the company's own loss, not a promise to the
customer). A pattern raises one critical alert with the alert ids as
evidence, updates as it grows, and resolves when the window no longer holds
enough. Judged as of each alert's own time, once every topic has passed it,
and again when the oldest one leaves the window.
"""

from __future__ import annotations

from typing import Any

from models.alerts import AlertChange, raise_alert, resolve_alert
from models.events import Event
from models.policy import Policy
from models.timestamps import MS_PER_DAY, format_ms

__all__ = ["NAME", "KIND", "CLOCK", "EVENT_TYPES", "NEEDS_CATALOG", "on_event", "on_deadline", "on_alerts"]

NAME = "repeated_broken_promises"
KIND = "relationship.repeated_broken_promises"
# Broken promises come from every topic's detectors: judged once all have passed
# a moment, counting the alerts dated up to it.
CLOCK = ("orders", "billing", "complaints")
NEEDS_CATALOG = False
EVENT_TYPES: frozenset[str] = frozenset()
_NOT_BROKEN_YET = {"at_risk"}
_MAX_KEPT = 50


def on_event(state: dict[str, Any], event: Event, policy: Policy) -> list[AlertChange]:
    return []


def on_alerts(state: dict[str, Any], changes: list[AlertChange], policy: Policy) -> list[AlertChange]:
    """Record the broken promises among ``changes``; the pattern is judged as of their time."""
    broken = state.setdefault("broken", [])
    known = {alert_id for _, alert_id, _ in broken}
    for change in changes:
        if (
            not change.kind.startswith("promise.")
            or change.lifecycle not in ("raised", "updated")  # resolved, or the CRM's answer
            or change.severity == "info"
            or change.details.get("status") in _NOT_BROKEN_YET
            or change.alert_id in known
        ):
            continue
        broken.append([change.at, change.alert_id, change.kind])
        known.add(change.alert_id)
        _judge_at(state, max(change.at, state.get("broken_judged") or change.at))
    broken.sort()
    del broken[:-_MAX_KEPT]
    return []


def on_deadline(state: dict[str, Any], key: str, now: int, policy: Policy) -> list[AlertChange]:
    window = int(policy.repeated_promises_days * MS_PER_DAY)
    broken = state.setdefault("broken", [])
    broken[:] = [entry for entry in broken if entry[0] > now - window]
    state["broken_judged"] = now
    counted = [entry for entry in broken if entry[0] <= now]
    following = [entry[0] for entry in broken if entry[0] > now]
    if counted:
        following.append(counted[0][0] + window)  # when the oldest leaves the window
    if following:
        state["deadlines"][f"{NAME}|pattern"] = min(following)
    ids = [alert_id for _, alert_id, _ in counted]
    if len(counted) < policy.repeated_promises_count:
        change = resolve_alert(
            state,
            kind=KIND,
            key="pattern",
            at=now,
            evidence=ids,
            summary=f"Fewer than {policy.repeated_promises_count} broken promises in the last "
            f"{policy.repeated_promises_days:g} days now.",
        )
        return [change] if change else []
    kinds = sorted({kind for _, _, kind in counted})
    change = raise_alert(
        state,
        policy,
        kind=KIND,
        key="pattern",
        at=now,
        severity="critical",
        summary=f"We have broken {len(counted)} promises to this customer in the last "
        f"{policy.repeated_promises_days:g} days.",
        amount=0,
        per="once",
        evidence=ids,
        suggested_action="Escalate: a senior person calls the customer, owns every open issue and makes good.",
        details={
            "count": len(counted),
            "kinds": kinds,
            "since": format_ms(counted[0][0]),
            "window_days": policy.repeated_promises_days,
        },
        stage=str(len(counted)),
    )
    return [change] if change else []


def _judge_at(state: dict[str, Any], when: int) -> None:
    name = f"{NAME}|pattern"
    state["deadlines"][name] = min(when, state["deadlines"].get(name, when))
