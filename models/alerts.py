"""The alert and its lifecycle, and the CloudEvents envelope (SPEC §2): the one place that builds either.

Lifecycle records live in the customer's state under ``alerts``:
``{alert_id: {"r": revision, "o": open, "a": amount, "p": per,
"s": severity, "g": stage, "t": time of the last emission}}``; the kind is read from the
id (models.kinds.kind_of_alert). ``raise_alert``
emits ``raised`` for a condition that is not open and ``updated`` when an open one changes
materially; ``resolve_alert`` emits ``resolved`` once. So the same condition
never produces a second ``raised`` and every emission has a fresh revision.

The CRM's answers (``feedback_alert``, SPEC §1 ``fairwatch.feedback``) add who and
when to the record, only on alerts that have them: ``"ack": {"by", "at", "note"?}``,
``"closed": {"by", "at", "outcome"}`` or ``"disputed": {"by", "at", "reason"}``
(closed and disputed exclude each other: the latest answer stands). Each answer is
emitted as ``acknowledged``/``closed``/``disputed`` under the next revision. A closed
or disputed alert is notified again only when it comes back to life: an ``updated``
(the condition changed materially) drops ``closed``/``disputed`` and keeps the owner,
a new ``raised`` (it resolved and came back) starts with no answers at all. Every
emission of an alert with answers carries them (``data.feedback``), so a reader
holds its current state from its latest emission alone.

The record is forgotten after ``alert_retention_days`` without an emission, or
beyond ``max_alerts_per_customer`` (oldest resolved first), so state stays
bounded. The price (README): a condition that comes back after its record was
forgotten starts again at revision 1, and its CloudEvents id
(``<alert_id>-<revision>``, SPEC §2) repeats one sent over a year before.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from hashlib import blake2b
from typing import Any, Literal

import orjson

from models.kinds import kind_of_alert
from models.money import to_amount
from models.policy import Policy
from models.timestamps import format_ms

__all__ = [
    "AlertChange",
    "alert_id_for",
    "raise_alert",
    "resolve_alert",
    "to_cloudevent",
    "prune_alerts",
    "feedback_alert",
    "FEEDBACK_LIFECYCLES",
    "feedback_view",
]

Lifecycle = Literal["raised", "updated", "resolved", "acknowledged", "closed", "disputed"]
#: The lifecycles the CRM's answers make, by the feedback event type that makes each.
FEEDBACK_LIFECYCLES: dict[str, Lifecycle] = {
    "alert.acknowledged": "acknowledged",
    "alert.closed": "closed",
    "alert.disputed": "disputed",
}
#: Free text kept in state from an answer (a note, a reason); the whole text goes out in the emission.
_KEPT_TEXT = 200
Severity = Literal["info", "warning", "critical"]


#: kind -> the alert id's readable prefix (``fairwatch.late_delivery`` -> ``late-delivery-``).
_ID_PREFIXES: dict[str, str] = {}


# Detectors name the same condition again when they judge it again (raised, updated, resolved): the
# most recent ones are remembered, and the rest cost one small hash.
@functools.lru_cache(maxsize=16_384)
def alert_id_for(kind: str, customer_id: str, key: str) -> str:
    """Deterministic fingerprint of (detector, customer, the condition's own key)."""
    prefix = _ID_PREFIXES.get(kind)
    if prefix is None:
        prefix = _ID_PREFIXES[kind] = f"{kind.rsplit('.', 1)[-1].replace('_', '-')}-"
    # JSON keeps the parts apart whatever characters the ids contain.
    return prefix + blake2b(orjson.dumps([kind, customer_id, key]), digest_size=12).hexdigest()


@dataclass(frozen=True, slots=True)
class AlertChange:
    """One emission of an alert: what the CloudEvent will say."""

    lifecycle: Lifecycle
    alert_id: str
    revision: int
    kind: str
    customer_id: str
    at: int  # event time that triggered it, epoch ms
    severity: Severity
    summary: str
    amount: int  # micro-units at stake
    per: Literal["year", "once"]
    evidence: tuple[str, ...]
    suggested_action: str
    details: dict[str, Any] = field(default_factory=dict)
    #: The CRM's answers so far (``data.feedback``), None when there are none.
    feedback: dict[str, Any] | None = None


def raise_alert(
    state: dict[str, Any],
    policy: Policy,
    *,
    kind: str,
    key: str,
    at: int,
    severity: Severity,
    summary: str,
    amount: int,
    per: Literal["year", "once"],
    evidence: list[str],
    suggested_action: str,
    details: dict[str, Any],
    stage: str = "",
) -> AlertChange | None:
    """Raise the condition, or update it if it is open and changed materially; else None."""
    customer_id = state["id"]
    alert_id = alert_id_for(kind, customer_id, key)
    record = state["alerts"].get(alert_id)
    if record is not None and record["o"]:
        moved = amount != record["a"] and abs(amount - record["a"]) >= policy.update_threshold * abs(record["a"])
        if not moved and record["s"] == severity and record["g"] == stage:
            return None
        lifecycle: Lifecycle = "updated"
    else:
        lifecycle = "raised"
    revision = (record["r"] if record else 0) + 1
    fresh = {
        "r": revision,
        "o": True,
        "a": amount,
        "p": per,
        "s": severity,
        "g": stage,
        "t": at,
    }
    if lifecycle == "updated" and "ack" in record:
        # Changed materially: notified again, with its owner; a close or dispute no longer stands.
        fresh["ack"] = record["ack"]
    state["alerts"][alert_id] = fresh
    return AlertChange(
        lifecycle,
        alert_id,
        revision,
        kind,
        customer_id,
        at,
        severity,
        summary,
        amount,
        per,
        tuple(evidence),
        suggested_action,
        details,
        feedback=feedback_view(fresh),
    )


def resolve_alert(
    state: dict[str, Any],
    *,
    kind: str,
    key: str,
    at: int,
    summary: str,
    evidence: list[str],
    details: dict[str, Any] | None = None,
) -> AlertChange | None:
    """Resolve the condition if it is open; else None."""
    alert_id = alert_id_for(kind, state["id"], key)
    record = state["alerts"].get(alert_id)
    if record is None or not record["o"]:
        return None
    record["o"] = False
    record["r"] += 1
    record["t"] = at
    return AlertChange(
        "resolved",
        alert_id,
        record["r"],
        kind,
        state["id"],
        at,
        record["s"],
        summary,
        record["a"],
        record["p"],
        tuple(evidence),
        "none: resolved",
        details or {},
        feedback=feedback_view(record),
    )


def feedback_alert(
    state: dict[str, Any],
    *,
    lifecycle: Lifecycle,
    alert_id: str,
    by: str,
    at: int,
    event_id: str,
    text: str | None = None,
    outcome: str | None = None,
) -> AlertChange | None:
    """Record the CRM's answer on the customer's alert ``alert_id`` (which must be in state); None when the
    record already says the same (a second answer that changes nothing is not emitted again).

    ``text`` is the acknowledgement's note or the dispute's reason; ``outcome`` the closing's.
    """
    record = state["alerts"][alert_id]
    if lifecycle == "acknowledged":
        answer: dict[str, Any] = {"by": by, "at": at}
        if text:
            answer["note"] = text[:_KEPT_TEXT]
        if record.get("ack", {}).get("by") == by:
            return None
        record["ack"] = answer
        summary, action = f"Acknowledged by {by}.", f"in hand: {by} owns it"
    elif lifecycle == "closed":
        held = record.get("closed")
        if held is not None and held["by"] == by and held["outcome"] == outcome:
            return None
        record.pop("disputed", None)
        record["closed"] = {"by": by, "at": at, "outcome": outcome}
        summary, action = f"Closed by {by}: {str(outcome).replace('_', ' ')}.", f"none: closed ({outcome})"
    elif lifecycle == "disputed":
        held = record.get("disputed")
        if held is not None and held["by"] == by:
            return None
        record.pop("closed", None)
        record["disputed"] = {"by": by, "at": at, "reason": (text or "")[:_KEPT_TEXT]}
        summary, action = f"Disputed by {by}: {text}", "none: the finding is disputed"
    else:
        raise ValueError(f"not an answer from the CRM: {lifecycle}")
    # Closing or disputing without acknowledging first takes ownership all the same.
    record.setdefault("ack", {"by": by, "at": at})
    record["r"] += 1
    record["t"] = max(record["t"], at)
    return AlertChange(
        lifecycle,
        alert_id,
        record["r"],
        kind_of_alert(alert_id),
        state["id"],
        at,
        record["s"],
        summary,
        record["a"],
        record["p"],
        (event_id,),
        action,
        {},
        feedback=_with_text(feedback_view(record), lifecycle, text),
    )


def _with_text(view: dict[str, Any] | None, lifecycle: str, text: str | None) -> dict[str, Any] | None:
    # The emission carries the whole note or reason, not what state keeps of it.
    if view is not None and text and lifecycle in ("acknowledged", "disputed"):
        view[lifecycle]["note" if lifecycle == "acknowledged" else "reason"] = text
    return view


def feedback_view(record: dict[str, Any]) -> dict[str, Any] | None:
    """The answers on an alert record as its emissions carry them (times RFC 3339); None without any."""
    view: dict[str, Any] = {}
    for key, name in (("ack", "acknowledged"), ("closed", "closed"), ("disputed", "disputed")):
        answer = record.get(key)
        if answer is not None:
            view[name] = {**answer, "at": format_ms(answer["at"])}
    return view or None


def prune_alerts(state: dict[str, Any], now: int, retention_ms: int, most: int = 100) -> None:
    """Forget alerts with no emission within the retention, and the oldest beyond ``most``."""
    alerts = state["alerts"]
    cutoff = now - retention_ms  # once, not per alert: this runs at every deadline firing
    for alert_id in [aid for aid, rec in alerts.items() if rec["t"] < cutoff]:
        del alerts[alert_id]
    excess = len(alerts) - most
    if excess > 0:
        for alert_id in sorted(alerts, key=lambda aid: (alerts[aid]["o"], alerts[aid]["t"]))[:excess]:
            del alerts[alert_id]


def to_cloudevent(change: AlertChange, currency: str) -> dict[str, Any]:
    """The CloudEvents 1.0 structured-mode document for an emission."""
    return {
        "specversion": "1.0",
        "id": f"{change.alert_id}-{change.revision}",
        "source": f"fairwatch/{change.kind}",
        "type": f"fairwatch.alert.{change.lifecycle}",
        "subject": f"customer/{change.customer_id}",
        "time": format_ms(change.at),
        "datacontenttype": "application/json",
        "data": {
            "alert_id": change.alert_id,
            "revision": change.revision,
            "kind": change.kind,
            "customer_id": change.customer_id,
            "severity": change.severity,
            "summary": change.summary,
            "impact": {"amount": to_amount(change.amount), "currency": currency, "per": change.per},
            "evidence": list(change.evidence),
            "suggested_action": change.suggested_action,
            "details": change.details,
            **({"feedback": change.feedback} if change.feedback else {}),
        },
    }


#: The CloudEvents type of the notice that a customer was forgotten (``fairwatch forget``, or inactivity).
FORGOTTEN_TYPE = "fairwatch.customer.forgotten"


def forgotten_cloudevent(customer_id: str, at: int, reason: str) -> dict[str, Any]:
    """The notice on the alert topic that fairwatch forgot a customer.

    Every live page drops what it shows of them when it reads this (on a re-read
    from the beginning too, since it comes after their alerts on the customer's
    partition), and the topic's other readers learn that the customer asked to be
    forgotten. The alerts before it stay: they are the company's, under its retention.
    """
    return {
        "specversion": "1.0",
        "id": f"forgotten-{customer_id}-{at}",
        "source": "fairwatch/forget",
        "type": FORGOTTEN_TYPE,
        "subject": f"customer/{customer_id}",
        "time": format_ms(at),
        "datacontenttype": "application/json",
        "data": {"customer_id": customer_id, "reason": reason},
    }
