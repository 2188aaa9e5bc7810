"""``overpaying.better_plan``: a cheaper plan fits the customer's usage (SPEC §3.1).

Over the last ``better_plan_periods`` complete usage periods (consecutive
months whose end has passed), what the customer pays on their plan (the fee in
force now plus the plan's overage for that usage) against the cheapest other
plan that is active and open to existing customers, for the same usage. It
alerts when the saving is at least ``better_plan_min_monthly_saving`` a month
and at least ``better_plan_min_saving_fraction`` of what they pay; the impact
is the yearly saving. A cheaper price for the same plan is the loyalty
penalty's business, not this one's.

Judged again on every fact that moves the figures (usage, plan or fee change,
price change taking effect, end of a period, cancellation taking effect), so it
resolves when the customer switches to a plan at or below the best price (or
the saving otherwise drops below the thresholds) and when the subscription
ends. While the customer's plan is not in the catalog, it stays silent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from models.alerts import AlertChange, raise_alert, resolve_alert
from models.catalog import Plan, PlanComparison, compare_plans
from models.events import Event
from models.money import format_money, policy_money, share, to_amount
from models.policy import Policy
from models.subscriptions import (
    complete_usage,
    fee_in_force,
    is_active,
    judge_time,
    latest_run,
    subs_of,
    subscription_ids,
)
from models.timestamps import format_period, period_end

__all__ = ["NAME", "KIND", "CLOCK", "EVENT_TYPES", "NEEDS_CATALOG", "on_event", "on_deadline", "evaluate"]

NAME = "better_plan"
KIND = "overpaying.better_plan"
#: Subscription facts all come on the billing topic: its stream time drives the deadlines.
CLOCK = "billing"
NEEDS_CATALOG = True
EVENT_TYPES = frozenset(
    {
        "subscription.started",
        "subscription.changed",
        "subscription.cancel_requested",
        "subscription.ended",
        "price.change_notified",
        "usage.recorded",
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
    _schedule(state, sub_id, sub, at)
    if not is_active(sub, at):
        return _resolve(state, sub_id, sub, at, f"Subscription {sub_id} has ended, so it no longer costs too much.")
    current = catalog.get(sub["plan"])
    if current is None:
        return []  # the plan is not (yet) in the catalog: nothing to judge by
    usage = {period: (units, event_id) for period, units, event_id in complete_usage(sub, at)}
    run = latest_run(sorted(usage), policy.better_plan_periods)
    if run is None:
        return []  # fewer complete periods than the comparison needs
    fee = fee_in_force(sub, at)
    comparison = compare_plans(catalog, current, fee, [usage[p][0] for p in run], same_plan=False)
    saving = 0 if comparison is None else comparison.saving
    enough = (
        comparison is not None
        and saving > 0
        and saving >= policy_money(policy.better_plan_min_monthly_saving) * len(run)
        and saving >= share(comparison.current_cost, policy.better_plan_min_saving_fraction)
    )
    if not enough:
        return _resolve(
            state, sub_id, sub, at, f"Subscription {sub_id} is now on a plan at or near the best price for its usage."
        )
    assert comparison is not None
    change = _raise(state, sub_id, sub, at, policy, comparison, run, [usage[p][1] for p in run])
    return [change] if change else []


def _raise(
    state: dict[str, Any],
    sub_id: str,
    sub: dict[str, Any],
    at: int,
    policy: Policy,
    comparison: PlanComparison,
    run: list[str],
    usage_events: list[str],
) -> AlertChange | None:
    money = policy.currency
    current, best = comparison.current, comparison.best
    monthly = comparison.per_month(comparison.saving)
    yearly = comparison.per_year(comparison.saving)
    average = sum(comparison.usage) / len(comparison.usage)
    span = format_period(run[0]) if len(run) == 1 else f"{format_period(run[0])} to {format_period(run[-1])}"
    return raise_alert(
        state,
        policy,
        kind=KIND,
        key=sub_id,
        at=at,
        severity="warning",
        summary=f"From {span} you used about {average:.1f} {current.unit} a month and paid "
        f"{format_money(comparison.current_cost, money)} for it on {current.name}; {best.name} would have cost "
        f"{format_money(comparison.best_cost, money)} for the same usage, {format_money(monthly, money)} a month less.",
        amount=yearly,
        per="year",
        evidence=[e for e in [sub["fee_by"], *usage_events] if e],
        suggested_action=f"Offer to switch subscription {sub_id} to {best.name} "
        f"({format_money(best.monthly_fee, money)} a month): it saves about {format_money(yearly, money)} a year "
        "at this usage.",
        details={
            "subscription_id": sub_id,
            "current_plan": _plan_details(current) | {"agreed_monthly_fee": to_amount(comparison.agreed_fee)},
            "best_plan": _plan_details(best),
            "periods": [
                {
                    "period": period,
                    "units": units,
                    "cost_on_current_plan": to_amount(current.cost(units, comparison.agreed_fee)),
                    "cost_on_best_plan": to_amount(best.cost(units)),
                }
                for period, units in zip(run, comparison.usage, strict=True)
            ],
            "paid_over_periods": to_amount(comparison.current_cost),
            "best_price_over_periods": to_amount(comparison.best_cost),
            "monthly_saving": to_amount(monthly),
            "saving_percent": round(100 * comparison.saving / comparison.current_cost, 1),
        },
    )


def _plan_details(plan: Plan) -> dict[str, Any]:
    return {
        "plan_id": plan.plan_id,
        "name": plan.name,
        "monthly_fee": to_amount(plan.monthly_fee),
        "included_units": plan.included_units,
        "unit": plan.unit,
        "overage_price": plan.overage_price / 1_000_000,
    }


def _resolve(state: dict[str, Any], sub_id: str, sub: dict[str, Any], at: int, summary: str) -> list[AlertChange]:
    evidence = [e for e in (sub["fee_by"], sub["ended_by"], sub["cancel_by"]) if e]
    change = resolve_alert(
        state,
        kind=KIND,
        key=sub_id,
        at=at,
        summary=summary,
        evidence=evidence,
        details={"subscription_id": sub_id, "plan_id": sub["plan"]},
    )
    return [change] if change else []


def _schedule(state: dict[str, Any], sub_id: str, sub: dict[str, Any], at: int) -> None:
    """Look again when the figures move by themselves: a period completes, a price or cancellation takes effect."""
    upcoming = [entry[1] for entry in sub["prices"] if entry[1] > at]
    if sub["cancel_at"] is not None and sub["cancel_at"] > at:
        upcoming.append(sub["cancel_at"])
    if sub["usage"]:
        upcoming.extend(end for end in (period_end(max(sub["usage"])),) if end > at)
    name = f"{NAME}|{sub_id}"
    if upcoming and sub["ended"] is None:
        state["deadlines"][name] = min(upcoming)
    else:
        state["deadlines"].pop(name, None)
