"""``relationship.unprofitable_service``: over 12 months, cost to serve exceeds the gross margin.

Monthly figures by event time, the newest 12 kept: revenue (payments
received), contact minutes, complaints opened and compensation paid. Cost to
serve = minutes x ``contact_cost_per_minute`` + complaints x
``complaint_handling_cost`` + compensation; margin = revenue x ``margin_rate``.
An alert when cost exceeds margin by more than ``unprofitable_min_excess`` (so
one phone call from a new customer is not a finding); it resolves when the
figures come back. The action is to review how this customer is served, never
to drop them.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any

from models.alerts import AlertChange, raise_alert, resolve_alert
from models.events import Event
from models.money import MICROS, format_money
from models.policy import Policy

__all__ = ["NAME", "KIND", "CLOCK", "EVENT_TYPES", "NEEDS_CATALOG", "on_event", "on_deadline", "month_of", "figures"]

NAME = "unprofitable_service"
KIND = "relationship.unprofitable_service"
# Payments come on billing, contacts and complaints on complaints: judged once both
# have passed a month's end, over complete months only.
CLOCK = ("billing", "complaints")
NEEDS_CATALOG = False
EVENT_TYPES = frozenset({"payment.received", "contact.logged", "complaint.opened", "complaint.resolved"})
_MONTHS = 12
_KEY = "service"
# month -> [revenue micros, contact minutes, complaints, compensation micros, evidence event ids]


def month_of(epoch_ms: int) -> str:
    return _month_of_day(epoch_ms // 86_400_000)


# Judged at every contact, payment and complaint, over few distinct days and months: remembered.
@functools.lru_cache(maxsize=4096)
def _month_of_day(days: int) -> str:
    return datetime.fromtimestamp(days * 86_400, tz=UTC).strftime("%Y-%m")


def figures(service: dict[str, list[Any]], policy: Policy) -> dict[str, int | float]:
    revenue = sum(month[0] for month in service.values())
    minutes = sum(month[1] for month in service.values())
    complaints = sum(month[2] for month in service.values())
    compensation = sum(month[3] for month in service.values())
    cost = (
        round(minutes * policy.contact_cost_per_minute * MICROS)
        + complaints * round(policy.complaint_handling_cost * MICROS)
        + compensation
    )
    margin = round(revenue * policy.margin_rate)
    return {
        "revenue": revenue,
        "margin": margin,
        "cost": cost,
        "minutes": minutes,
        "complaints": complaints,
        "compensation": compensation,
    }


def on_event(state: dict[str, Any], event: Event, policy: Policy) -> list[AlertChange]:
    service = state.setdefault(_KEY, {})
    month = month_of(event.at)
    bucket = service.setdefault(month, [0, 0, 0, 0, []])
    data = event.data
    if event.type == "payment.received":
        bucket[0] += data["amount"]
    elif event.type == "contact.logged":
        bucket[1] += data["handling_minutes"]
    elif event.type == "complaint.opened":
        opened = state.get("complaints", {}).get(data["complaint_id"], {}).get("opened")
        if opened is not None and opened != event.event_id:
            return []  # the same complaint opened again costs nothing more
        bucket[2] += 1
    else:
        compensation = data.get("compensation")
        if not compensation:
            return []
        bucket[3] += compensation
    if event.type != "payment.received" and len(bucket[4]) < 5:
        bucket[4].append(event.event_id)
    # Judge when the month is complete (or at once, if that month end has been judged already).
    name = f"{NAME}|service"
    month_end = max(_month_start(_month_shift(month, 1)), state.get("service_judged") or 0)
    state["deadlines"][name] = min(month_end, state["deadlines"].get(name, month_end))
    return []


def _judge(state: dict[str, Any], service: dict[str, list[Any]], now: int, policy: Policy) -> list[AlertChange]:
    # The 12 complete calendar months before ``now`` (a month's end): every fact in
    # them is dated before it, so which topic was read first changes nothing.
    current = month_of(now)
    first = _month_shift(current, -_MONTHS)
    for old in [month for month in service if month < first]:
        del service[old]
    window = {month: figures_of for month, figures_of in service.items() if month < current}
    state["service_judged"] = now
    if service:
        # Look again at the next month's end while anything is (or will be) in the window.
        state["deadlines"][f"{NAME}|service"] = _month_start(_month_shift(current, 1))
    else:
        state["deadlines"].pop(f"{NAME}|service", None)
    service = window
    totals = figures(service, policy)
    excess = totals["cost"] - totals["margin"]
    evidence = [event_id for month in sorted(service) for event_id in service[month][4]][-20:]
    if excess <= round(policy.unprofitable_min_excess * MICROS):
        change = resolve_alert(
            state,
            kind=KIND,
            key="service",
            at=now,
            evidence=evidence,
            summary="Serving this customer costs less than the margin they bring again.",
        )
        return [change] if change else []
    currency = policy.currency
    change = raise_alert(
        state,
        policy,
        kind=KIND,
        key="service",
        at=now,
        severity="warning",
        summary=f"Over the last 12 complete months this customer needed {totals['minutes']:g} minutes of contact and "
        f"{totals['complaints']} complaint(s): serving them cost {format_money(totals['cost'], currency)} against "
        f"{format_money(totals['margin'], currency)} margin.",
        amount=excess,
        per="year",
        evidence=evidence,
        suggested_action="Review how this customer is served (what keeps them calling, a better-fitting "
        "product or channel, fixing the root cause of the complaints); do not drop them.",
        details={
            "months": sorted(service),
            "revenue": totals["revenue"] / MICROS,
            "margin": totals["margin"] / MICROS,
            "cost_to_serve": totals["cost"] / MICROS,
            "contact_minutes": totals["minutes"],
            "complaints": totals["complaints"],
            "compensation": totals["compensation"] / MICROS,
            "margin_rate": policy.margin_rate,
        },
    )
    return [change] if change else []


def on_deadline(state: dict[str, Any], key: str, now: int, policy: Policy) -> list[AlertChange]:
    return _judge(state, state.setdefault(_KEY, {}), now, policy)


@functools.lru_cache(maxsize=4096)
def _month_shift(month: str, by: int) -> str:
    year, number = int(month[:4]), int(month[5:7]) - 1 + by
    return f"{year + number // 12:04d}-{number % 12 + 1:02d}"


@functools.lru_cache(maxsize=1024)
def _month_start(month: str) -> int:
    return int(datetime(int(month[:4]), int(month[5:7]), 1, tzinfo=UTC).timestamp()) * 1000
