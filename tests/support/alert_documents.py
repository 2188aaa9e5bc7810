"""Alert documents as the worker writes them (models.alerts builds them): for the ledger, the report and the bridge."""

from __future__ import annotations

from typing import Any

from models.alerts import AlertChange, to_cloudevent
from models.ledger import Emission, read_emission
from tests.unit.factories import T0

__all__ = ["EUR", "alert", "emission"]

#: One euro in the amounts' integer units (millionths).
EUR = 1_000_000


def alert(
    alert_id: str = "late-1",
    revision: int = 1,
    lifecycle: str = "raised",
    *,
    kind: str = "promise.late_delivery",
    customer: str = "c-1",
    at: int = T0,
    amount: int = 10 * EUR,
    per: str = "once",
    severity: str = "warning",
    evidence: tuple[str, ...] = ("e-1",),
    details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A CloudEvents document exactly as the worker emits it (models.alerts builds the envelope)."""
    change = AlertChange(
        lifecycle,
        alert_id,
        revision,
        kind,
        customer,
        at,
        severity,
        f"summary {alert_id}",  # type: ignore[arg-type]
        amount,
        per,
        evidence,
        "act",
        details or {},
    )  # type: ignore[arg-type]
    return to_cloudevent(change, "EUR")


def emission(
    alert_id: str = "late-1",
    revision: int = 1,
    lifecycle: str = "raised",
    *,
    kind: str = "promise.late_delivery",
    customer: str = "c-1",
    severity: str = "critical",
    amount: int = 12 * EUR + 340_000,
    per: str = "once",
    evidence: tuple[str, ...] = ("ev-1", "ev-2"),
    at: int = T0,
) -> Emission:
    """An emission exactly as the bridge reads it: built by models.alerts, read back by models.ledger."""
    change = AlertChange(
        lifecycle,  # type: ignore[arg-type]
        alert_id,
        revision,
        kind,
        customer,
        at,
        severity,  # type: ignore[arg-type]
        f"summary of {alert_id} r{revision}",
        amount,
        per,  # type: ignore[arg-type]
        evidence,
        f"do something about {alert_id}",
        {},
    )
    return read_emission(to_cloudevent(change, "EUR"))
