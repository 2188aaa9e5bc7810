"""The alert and its lifecycle, and the CloudEvents envelope (SPEC §2): the one place that builds either.

Lifecycle records live in the customer's state under ``alerts``:
```{alert_id: {"k": kind, "r": revision, "o": open, "a": amount, "p": per,
"s": severity, "g": stage, "t": time of the last emission}}``. ``raise_alert``
emits ``raised`` for a condition that is not open and ``updated`` when an open one changes
materially; ``resolve_alert`` emits ``resolved`` once. So the same condition
never produces a second ``raised`` and every emission has a fresh revision.

The record is forgotten after ``alert_retention_days`` without an emission, or
beyond ``max_alerts_per_customer`` (oldest resolved first), so state stays
bounded. The price (README): a condition that comes back after its record was
forgotten starts again at revision 1, and its CloudEvents id
(``<alert_id>-<revision>``, SPEC §2) repeats one sent over a year before.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

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
]

Lifecycle = Literal["raised", "updated", "resolved"]
Severity = Literal["info", "warning", "critical"]


def alert_id_for(kind: str, customer_id: str, key: str) -> str:
    """Deterministic fingerprint of (detector, customer, the condition's own key)."""
    # JSON keeps the parts apart whatever characters the ids contain.
    digest = hashlib.blake2b(orjson.dumps([kind, customer_id, key]), digest_size=12)
    return f"{kind.rsplit('.', 1)[-1].replace('_', '-')}-{digest.hexdigest()}"


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
    state["alerts"][alert_id] = {
        "k": kind,
        "r": revision,
        "o": True,
        "a": amount,
        "p": per,
        "s": severity,
        "g": stage,
        "t": at,
    }
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
    )


def prune_alerts(state: dict[str, Any], now: int, retention_ms: int, most: int = 100) -> None:
    """Forget alerts with no emission within the retention, and the oldest beyond ``most``."""
    alerts = state["alerts"]
    for alert_id in [aid for aid, rec in alerts.items() if rec["t"] < now - retention_ms]:
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
