"""Factories for subscription events, plan catalogs and replays with a catalog (the bad-profit detector tests).

Built on ``tests.unit.factories``: every event goes through the real validator,
times are epoch ms. Money is given as decimal strings, as a producer would send it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from models.alerts import AlertChange
from models.catalog import Plan, validate_plan
from models.engine import advance_to, apply_event
from models.events import Event
from models.policy import Policy
from models.state import new_state

from .factories import CUSTOMER, DAY, T0, AdvanceTo, iso, make_event

__all__ = [
    "SUB",
    "START",
    "month",
    "at_period_start",
    "plan_doc",
    "catalog_of",
    "make_started",
    "make_changed",
    "make_cancel_requested",
    "make_ended",
    "make_price_notified",
    "make_notice",
    "make_usage",
    "make_sub_invoice",
    "sub_line",
    "SetCatalog",
    "replay_billing",
    "lifecycle",
]

SUB = "s-1"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: 2025-01-15T10:00:00Z: a subscription start well before T0 (2026-11-22).
START = int((datetime(2025, 1, 15, 10, 0, tzinfo=UTC) - _EPOCH) / timedelta(milliseconds=1))


def month(year: int, number: int, day: int = 1, hour: int = 0) -> int:
    """Epoch ms of a calendar moment (UTC), computed independently of models.timestamps."""
    return int((datetime(year, number, day, hour, tzinfo=UTC) - _EPOCH) / timedelta(milliseconds=1))


def at_period_start(period: str) -> int:
    return month(int(period[:4]), int(period[5:7]))


def plan_doc(
    plan_id: str = "p-small",
    *,
    name: str | None = None,
    fee: str = "20.00",
    included: float = 5,
    unit: str = "GB",
    overage: str = "2.00",
    open_to: tuple[str, ...] = ("new", "existing"),
    active: bool = True,
) -> dict[str, Any]:
    """A plan record as the ``plans`` topic carries it."""
    return {
        "plan_id": plan_id,
        "name": name or plan_id,
        "monthly_fee": fee,
        "included_units": included,
        "unit": unit,
        "overage_price": overage,
        "open_to": list(open_to),
        "active": active,
    }


def catalog_of(*documents: dict[str, Any]) -> dict[str, Plan]:
    return {doc["plan_id"]: validate_plan(doc) for doc in documents}


def make_started(
    sub_id: str = SUB,
    *,
    plan: str = "p-small",
    fee: str = "20.00",
    term: int | None = None,
    at: int = START,
    **kwargs: Any,
) -> Event:
    data: dict[str, Any] = {"subscription_id": sub_id, "plan_id": plan, "monthly_fee": fee}
    if term is not None:
        data["minimum_term_months"] = term
    return make_event("subscription.started", data, at=at, **kwargs)


def make_changed(
    sub_id: str = SUB,
    *,
    plan: str = "p-small",
    fee: str = "20.00",
    by: str = "customer",
    at: int = T0,
    **kwargs: Any,
) -> Event:
    data = {"subscription_id": sub_id, "plan_id": plan, "monthly_fee": fee, "requested_by": by}
    return make_event("subscription.changed", data, at=at, **kwargs)


def make_cancel_requested(sub_id: str = SUB, *, effective: int, at: int = T0, **kwargs: Any) -> Event:
    data = {"subscription_id": sub_id, "effective_at": iso(effective), "channel": "phone"}
    return make_event("subscription.cancel_requested", data, at=at, **kwargs)


def make_ended(sub_id: str = SUB, *, at: int = T0, **kwargs: Any) -> Event:
    return make_event("subscription.ended", {"subscription_id": sub_id}, at=at, **kwargs)


def make_price_notified(sub_id: str = SUB, *, fee: str, effective: int, at: int, **kwargs: Any) -> Event:
    data = {"subscription_id": sub_id, "new_monthly_fee": fee, "effective_at": iso(effective)}
    return make_event("price.change_notified", data, at=at, **kwargs)


def make_notice(sub_id: str = SUB, *, kind: str = "best_tariff", at: int, **kwargs: Any) -> Event:
    return make_event("notice.sent", {"subscription_id": sub_id, "kind": kind}, at=at, **kwargs)


def make_usage(period: str, units: float, sub_id: str = SUB, *, at: int | None = None, **kwargs: Any) -> Event:
    """Usage of a period, recorded (by default) on the 2nd of the month after it."""
    if at is None:
        year, number = int(period[:4]), int(period[5:7])
        at = month(year + number // 12, number % 12 + 1, 2)
    return make_event("usage.recorded", {"subscription_id": sub_id, "period": period, "units": units}, at=at, **kwargs)


def sub_line(
    line_id: str = "l1",
    *,
    ref: str = SUB,
    price: str = "20.00",
    qty: int = 1,
    kind: str = "subscription",
    amount: str | None = None,
) -> dict[str, Any]:
    from decimal import Decimal

    return {
        "line_id": line_id,
        "kind": kind,
        "ref": ref,
        "qty": qty,
        "unit_price": price,
        "amount": amount if amount is not None else str(qty * Decimal(price)),
    }


def make_sub_invoice(
    invoice_id: str, *, period: str | None, lines: list[dict[str, Any]], at: int | None = None, **kwargs: Any
) -> Event:
    """``invoice.issued`` for subscription lines; issued (by default) on the 3rd of its period."""
    from decimal import Decimal

    if at is None:
        assert period is not None
        at = at_period_start(period) + 2 * DAY
    data: dict[str, Any] = {
        "invoice_id": invoice_id,
        "lines": lines,
        "total": str(sum(Decimal(line["amount"]) for line in lines)),
    }
    if period is not None:
        data["period"] = period
    return make_event("invoice.issued", data, at=at, **kwargs)


@dataclass(frozen=True, slots=True)
class SetCatalog:
    """A history step: the catalog changes (a new plans record arrives on the global table)."""

    catalog: Mapping[str, Plan]


def replay_billing(
    history: Iterable[Event | AdvanceTo | SetCatalog],
    catalog: Mapping[str, Plan] | None = None,
    policy: Policy | None = None,
    state: dict[str, Any] | None = None,
) -> tuple[list[AlertChange], dict[str, Any]]:
    """Run events, time steps and catalog changes through the engine; return (changes, state)."""
    policy = policy if policy is not None else Policy()
    state = state if state is not None else new_state(CUSTOMER, 0)
    changes: list[AlertChange] = []
    for step in history:
        if isinstance(step, SetCatalog):
            catalog = step.catalog
        elif isinstance(step, AdvanceTo):
            changes.extend(advance_to(state, step.now, policy, catalog=catalog))
        else:
            changes.extend(apply_event(state, step, policy, catalog=catalog))
    return changes, state


def lifecycle(changes: list[AlertChange], kind: str | None = None) -> list[tuple[str, int]]:
    """(lifecycle, revision) of each emission, optionally of one kind only."""
    return [(c.lifecycle, c.revision) for c in changes if kind is None or c.kind == kind]
