"""The generator's own reading of the rules that span many facts (SPEC §3.6, §3.12, §3.13).

Most planted conditions are true by construction (the scenario says when).
Three are judged over a customer's whole history: whether a best-tariff notice
is due, whether cost to serve exceeds margin over 12 months, and whether three
promises were broken within 90 days. The generator works them out here from
the facts it planted, written from the SPEC and the policy defaults, not by
running the detectors: so the evaluation of the detectors is not circular.

An episode is ``(start, end)``: the condition holds from ``start`` until ``end``
(None: still at the horizon).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from models.policy import Policy
from models.timestamps import MS_PER_DAY, add_months, parse_rfc3339, period_of, period_start, shift_period

__all__ = ["Episode", "episodes", "best_tariff_due", "best_tariff_episodes", "service_episodes", "pattern_episodes"]

Episode = tuple[int, int | None]


def episodes(moments: Iterable[int], holds: Any, horizon: int) -> list[Episode]:
    """Episodes of a condition that can change only at ``moments``; ``holds(t)`` judges it at t."""
    found: list[Episode] = []
    start: int | None = None
    for moment in sorted(set(m for m in moments if m <= horizon)):
        now = holds(moment)
        if now and start is None:
            start = moment
        elif not now and start is not None:
            found.append((start, moment))
            start = None
    if start is not None:
        found.append((start, None))
    return found


# --- best-tariff notice (SPEC §3.6) ------------------------------------------------


def best_tariff_due(
    at: int,
    start: int,
    term_end: int | None,
    notices: list[tuple[str, int]],
    stopped: int | None,
    policy: Policy,
) -> bool:
    """Is a best-tariff notice due at ``at``? ``stopped``: when a cancellation was requested (or it ended)."""
    if at < start or (stopped is not None and at >= stopped):
        return False
    sent = [(kind, when) for kind, when in notices if when <= at]
    annual = add_months(start, policy.best_tariff_tenure_months)
    told = [when for kind, when in sent if kind == "best_tariff"]
    if told:
        annual = max(annual, max(told) + int(policy.best_tariff_interval_days * MS_PER_DAY))
    if at >= annual:
        return True
    if term_end is not None:
        opens = term_end - int(policy.contract_end_notice_from_days * MS_PER_DAY)
        return at >= opens and not any(when >= opens for _, when in sent)
    return False


def best_tariff_moments(
    start: int, term_end: int | None, notices: list[tuple[str, int]], stopped: int | None, policy: Policy
) -> list[int]:
    """Every moment at which the answer of :func:`best_tariff_due` can change."""
    interval = int(policy.best_tariff_interval_days * MS_PER_DAY)
    moments = [start, add_months(start, policy.best_tariff_tenure_months)]
    for _, when in notices:
        moments += [when, when + interval]
    if term_end is not None:
        moments.append(term_end - int(policy.contract_end_notice_from_days * MS_PER_DAY))
    if stopped is not None:
        moments.append(stopped)
    return moments


def best_tariff_episodes(
    start: int, term_end: int | None, notices: list[tuple[str, int]], stopped: int | None, horizon: int, policy: Policy
) -> list[Episode]:
    return episodes(
        best_tariff_moments(start, term_end, notices, stopped, policy),
        lambda at: best_tariff_due(at, start, term_end, notices, stopped, policy),
        horizon,
    )


# --- cost to serve (SPEC §3.12) ---------------------------------------------------------


def service_months(documents: Iterable[dict[str, Any]]) -> dict[str, list[Decimal]]:
    """Per calendar month of event time: [revenue, contact minutes, complaints opened, compensation]."""
    months: dict[str, list[Decimal]] = defaultdict(lambda: [Decimal(0)] * 4)
    opened: set[str] = set()
    for document in documents:
        kind, data = document["type"], document["data"]
        month = period_of(parse_rfc3339(document["occurred_at"]))
        if kind == "payment.received":
            months[month][0] += Decimal(str(data["amount"]))
        elif kind == "contact.logged":
            months[month][1] += Decimal(str(data["handling_minutes"]))
        elif kind == "complaint.opened" and data["complaint_id"] not in opened:
            opened.add(data["complaint_id"])
            months[month][2] += 1
        elif kind == "complaint.resolved" and data.get("compensation"):
            months[month][3] += Decimal(str(data["compensation"]))
    return dict(months)


def service_excess(months: dict[str, list[Decimal]], at_month: str, policy: Policy) -> Decimal:
    """Cost to serve minus margin over the 12 complete months before ``at_month``."""
    window = [shift_period(at_month, -n) for n in range(1, 13)]
    revenue, minutes, complaints, compensation = (
        sum((months[m][i] for m in window if m in months), Decimal(0)) for i in range(4)
    )
    cost = (
        minutes * Decimal(str(policy.contact_cost_per_minute))
        + complaints * Decimal(str(policy.complaint_handling_cost))
        + compensation
    )
    return cost - revenue * Decimal(str(policy.margin_rate))


def service_episodes(documents: Iterable[dict[str, Any]], horizon: int, policy: Policy) -> list[Episode]:
    """Judged at every month's start (the months before it complete), from the month after the first fact."""
    months = service_months(documents)
    if not months:
        return []
    limit = Decimal(str(policy.unprofitable_min_excess))
    boundaries = []
    month = shift_period(min(months), 1)
    while period_start(month) <= horizon:
        boundaries.append(period_start(month))
        month = shift_period(month, 1)
    return episodes(boundaries, lambda at: service_excess(months, period_of(at), policy) > limit, horizon)


# --- repeated broken promises (SPEC §3.13) ------------------------------------------------


def pattern_episodes(broken: list[int], horizon: int, policy: Policy) -> list[Episode]:
    """``repeated_promises_count`` or more broken promises within the last ``repeated_promises_days`` (a window
    that includes its newest moment and excludes the moment exactly that many days before)."""
    window = int(policy.repeated_promises_days * MS_PER_DAY)
    moments = [t for at in broken for t in (at, at + window)]

    def holds(now: int) -> bool:
        return sum(1 for at in broken if now - window < at <= now) >= policy.repeated_promises_count

    return episodes(moments, holds, horizon)
