"""``overpaying.best_tariff_notice_due``: the customer has not been told their best tariff (SPEC §3.6).

Two obligations (UK Ofcom GC C1, EU EECC art. 105(3), the Dutch ACM's guidance
on sleeping contracts), both judged by event time, so a quiet customer's
notice still falls due when stream time passes the moment:

* ``annual``: from ``best_tariff_tenure_months`` of tenure on, a ``best_tariff``
  notice must have been sent within the previous ``best_tariff_interval_days``.
  Due at max(tenure reached, last best_tariff notice + interval).
* ``contract_end``: the minimum term ends within ``contract_end_notice_from_days``
  and no ``best_tariff``/``contract_end`` notice has been sent since that window
  opened. It is due (warning) from the window's start; once the window closes
  (``contract_end_notice_until_days`` before the end) without a notice it is
  overdue (critical). A notice sent before the window opened does not count.

One alert per subscription; its stage names the obligations that are due, so
a second one falling due, or the window closing, updates it. A notice that
meets every due obligation resolves it; so does a cancellation request or the
end of the subscription (a leaving customer needs no tariff advice). The
impact is what the customer would save a year on their best tariff (their own
plan at today's price included) for their recent usage; 0 while the catalog
or the usage cannot tell.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from models.alerts import AlertChange, raise_alert, resolve_alert
from models.catalog import Plan, compare_plans
from models.events import Event
from models.money import format_money, to_amount
from models.policy import Policy
from models.subscriptions import (
    complete_usage,
    fee_in_force,
    is_active,
    judge_time,
    notices_since,
    subs_of,
    subscription_ids,
    tenure_months,
)
from models.timestamps import MS_PER_DAY, add_months, format_date, format_ms

__all__ = ["NAME", "KIND", "CLOCK", "EVENT_TYPES", "NEEDS_CATALOG", "on_event", "on_deadline", "evaluate"]

NAME = "best_tariff_notice"
KIND = "overpaying.best_tariff_notice_due"
#: Subscription facts all come on the billing topic: its stream time drives the deadlines.
CLOCK = "billing"
NEEDS_CATALOG = True
EVENT_TYPES = frozenset(
    {
        "subscription.started",
        "subscription.changed",
        "subscription.cancel_requested",
        "subscription.ended",
        "notice.sent",
    }
)


def on_event(state: dict[str, Any], event: Event, policy: Policy, catalog: Mapping[str, Plan]) -> list[AlertChange]:
    changes: list[AlertChange] = []
    for sub_id in subscription_ids(event):
        changes.extend(evaluate(state, sub_id, event.at, policy, catalog))
    return changes


def on_deadline(
    state: dict[str, Any], key: str, now: int, policy: Policy, catalog: Mapping[str, Plan]
) -> list[AlertChange]:
    return evaluate(state, key, now, policy, catalog)


def evaluate(
    state: dict[str, Any], sub_id: str, at: int, policy: Policy, catalog: Mapping[str, Plan]
) -> list[AlertChange]:
    """Judge one subscription as of ``at`` (the event's or the deadline's time; see subscriptions.judge_time)."""
    sub = subs_of(state).get(sub_id)
    if sub is None:
        return []
    at = judge_time(sub, at)
    name = f"{NAME}|{sub_id}"
    state["deadlines"].pop(name, None)
    if not is_active(sub, at) or sub["cancel_at"] is not None or sub["start"] is None:
        return _resolve(state, sub_id, sub, at, f"Subscription {sub_id} is ending: no best-tariff notice is needed.")
    due, upcoming = [], []
    # annual: tenure reached and no best_tariff notice within the interval
    interval = int(policy.best_tariff_interval_days * MS_PER_DAY)
    told = [entry for entry in sub["notices"] if entry[0] == "best_tariff" and entry[1] <= at]
    annual_at = add_months(sub["start"], policy.best_tariff_tenure_months)
    if told:
        annual_at = max(annual_at, told[-1][1] + interval)
    if at >= annual_at:
        due.append("annual")
    else:
        upcoming.append(annual_at)
    # contract_end: the window before the minimum term ends
    overdue = False
    window = None
    if sub["term_end"] is not None:
        window = (
            sub["term_end"] - int(policy.contract_end_notice_from_days * MS_PER_DAY),
            sub["term_end"] - int(policy.contract_end_notice_until_days * MS_PER_DAY),
        )
        if at < window[0]:
            upcoming.append(window[0])
        elif not notices_since(sub, window[0], at, ("best_tariff", "contract_end")):
            due.append("contract_end")
            if at >= window[1]:
                overdue = True
            else:
                upcoming.append(window[1])
    if upcoming:
        state["deadlines"][name] = min(upcoming)
    if not due:
        return _resolve(state, sub_id, sub, at, f"The customer has been told their best tariff for {sub_id}.")
    return _raise(state, sub_id, sub, at, policy, catalog, due, overdue, window, told)


def _raise(
    state: dict[str, Any],
    sub_id: str,
    sub: dict[str, Any],
    at: int,
    policy: Policy,
    catalog: Mapping[str, Plan],
    due: list[str],
    overdue: bool,
    window: tuple[int, int] | None,
    told: list[list[Any]],
) -> list[AlertChange]:
    money = policy.currency
    best, yearly, monthly_cost = _best_tariff(sub, at, policy, catalog)
    tenure = tenure_months(sub, at)
    parts = []
    if "annual" in due:
        last = f"since {format_date(told[-1][1])}" if told else "yet"
        parts.append(
            f"{tenure} months into subscription {sub_id}, the customer has not been told their best tariff {last}"
        )
    if "contract_end" in due and window is not None:
        when = (
            f"it was due by {format_date(window[1])}"
            if overdue
            else f"it is due between {format_date(window[0])} and {format_date(window[1])}"
        )
        parts.append(
            f"the minimum term of subscription {sub_id} ends on {format_date(sub['term_end'])} and "
            f"no best-tariff notice has been sent: {when}"
        )
    if best is None:
        tip = ""
    elif yearly > 0:
        tip = (
            f"; their best tariff is {best.name} at about {format_money(monthly_cost, money)} a month, "
            f"{format_money(yearly, money)} a year less than now"
        )
    else:
        tip = f"; they are on their best tariff already ({best.name})"
    summary = "; ".join(parts)
    change = raise_alert(
        state,
        policy,
        kind=KIND,
        key=sub_id,
        at=at,
        severity="critical" if overdue else "warning",
        summary=summary[0].upper() + summary[1:] + tip + ".",
        amount=yearly,
        per="year",
        evidence=[e for e in (sub["start_by"], *(entry[2] for entry in told[-1:])) if e],
        suggested_action=f"Send the best-tariff notice for subscription {sub_id}"
        + (f", naming {best.name} ({best.plan_id})" if best is not None else "")
        + ".",
        details={
            "subscription_id": sub_id,
            "due": due,
            "overdue": overdue,
            "plan_id": sub["plan"],
            "tenure_months": tenure,
            "last_best_tariff_notice_at": format_ms(told[-1][1]) if told else None,
            "minimum_term_ends_at": format_ms(sub["term_end"]) if sub["term_end"] is not None else None,
            "notice_window": [format_ms(window[0]), format_ms(window[1])] if window else None,
            "best_plan": None
            if best is None
            else {
                "plan_id": best.plan_id,
                "name": best.name,
                "monthly_cost_for_usage": to_amount(monthly_cost),
            },
            "yearly_saving_on_best_plan": to_amount(yearly),
        },
        stage="+".join(due) + (":overdue" if overdue else ""),
    )
    return [change] if change else []


def _best_tariff(
    sub: dict[str, Any], at: int, policy: Policy, catalog: Mapping[str, Plan]
) -> tuple[Plan | None, int, int]:
    """(best plan, yearly saving on it, its monthly cost) for the recent usage; (None, 0, 0) if unknown."""
    current = catalog.get(sub["plan"]) if sub["plan"] is not None else None
    usage = [units for _, units, _ in complete_usage(sub, at)][-policy.better_plan_periods :]
    if current is None or not usage:
        return None, 0, 0
    comparison = compare_plans(catalog, current, fee_in_force(sub, at), usage, same_plan=True)
    if comparison is None:
        return None, 0, 0
    if comparison.saving <= 0:
        return current, 0, comparison.per_month(comparison.current_cost)
    return comparison.best, comparison.per_year(comparison.saving), comparison.per_month(comparison.best_cost)


def _resolve(state: dict[str, Any], sub_id: str, sub: dict[str, Any], at: int, summary: str) -> list[AlertChange]:
    notices = [entry[2] for entry in sub["notices"][-1:]]
    evidence = [e for e in (*notices, sub["cancel_by"], sub["ended_by"]) if e]
    change = resolve_alert(
        state, kind=KIND, key=sub_id, at=at, summary=summary, evidence=evidence, details={"subscription_id": sub_id}
    )
    return [change] if change else []
