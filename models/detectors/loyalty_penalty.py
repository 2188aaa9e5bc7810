"""``overpaying.loyalty_penalty``: a loyal customer pays more for their plan than a newcomer would (SPEC §3.2).

After ``loyalty_penalty_tenure_months`` of tenure (from ``subscription.started``),
the fee the customer pays for plan X (the agreed fee with every price change in
effect) is at least ``loyalty_penalty_min_fraction`` above the fee plan X is
offered at to new customers now (active and open to ``new`` in the catalog).
The impact is the yearly difference. The tenure is reached by stream time, so a
quiet customer still raises on the anniversary.

Resolves when the fee comes down (a price cut, a change of plan), when plan X is
no longer offered to new customers at the lower price, or when the subscription
ends. While plan X is not in the catalog, it stays silent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from models.alerts import AlertChange, raise_alert, resolve_alert
from models.catalog import Plan
from models.events import Event
from models.money import format_money, share, to_amount
from models.policy import Policy
from models.subscriptions import (
    changes_in_effect,
    fee_in_force,
    is_active,
    judge_time,
    subs_of,
    subscription_ids,
    tenure_months,
)
from models.timestamps import add_months, format_ms

__all__ = ["NAME", "KIND", "CLOCK", "EVENT_TYPES", "NEEDS_CATALOG", "on_event", "on_deadline", "evaluate"]

NAME = "loyalty_penalty"
KIND = "overpaying.loyalty_penalty"
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
    loyal_from = None if sub["start"] is None else add_months(sub["start"], policy.loyalty_penalty_tenure_months)
    _schedule(state, sub_id, sub, at, loyal_from)
    if not is_active(sub, at):
        return _resolve(state, sub_id, sub, at, f"Subscription {sub_id} has ended.")
    if loyal_from is None or at < loyal_from:
        return []  # tenure unknown or not long enough yet
    plan = catalog.get(sub["plan"])
    if plan is None:
        return []  # the plan is not (yet) in the catalog: nothing to judge by
    fee = fee_in_force(sub, at)
    excess = fee - plan.monthly_fee
    if not plan.open_to_new or excess <= 0 or excess < share(plan.monthly_fee, policy.loyalty_penalty_min_fraction):
        return _resolve(
            state,
            sub_id,
            sub,
            at,
            f"Subscription {sub_id} no longer pays more than new customers do for {plan.name}.",
        )
    money = policy.currency
    tenure = tenure_months(sub, at)
    yearly = excess * 12
    percent = round(100 * excess / plan.monthly_fee, 1) if plan.monthly_fee else None
    more = f" ({percent:g}% more)" if percent is not None else ""
    evidence = [sub["start_by"], sub["fee_by"], *(entry[3] for entry in changes_in_effect(sub, at))]
    change = raise_alert(
        state,
        policy,
        kind=KIND,
        key=sub_id,
        at=at,
        severity="warning",
        summary=f"You have been with us {tenure} months and pay {format_money(fee, money)} a month for "
        f"{plan.name}; new customers get the same plan for {format_money(plan.monthly_fee, money)}{more}.",
        amount=yearly,
        per="year",
        evidence=list(dict.fromkeys(e for e in evidence if e)),
        suggested_action=f"Bring subscription {sub_id} down to the new-customer price of {plan.name} "
        f"({format_money(plan.monthly_fee, money)} a month): {format_money(yearly, money)} a year back to a loyal "
        "customer.",
        details={
            "subscription_id": sub_id,
            "plan_id": plan.plan_id,
            "plan_name": plan.name,
            "agreed_monthly_fee": to_amount(fee),
            "new_customer_monthly_fee": to_amount(plan.monthly_fee),
            "difference_per_month": to_amount(excess),
            "percent_above_new_customer_price": percent,
            "tenure_months": tenure,
            "customer_since": format_ms(sub["start"]),
        },
    )
    return [change] if change else []


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


def _schedule(state: dict[str, Any], sub_id: str, sub: dict[str, Any], at: int, loyal_from: int | None) -> None:
    """Look again when tenure is reached, a price change takes effect or the cancellation does."""
    upcoming = [entry[1] for entry in sub["prices"] if entry[1] > at]
    for moment in (loyal_from, sub["cancel_at"]):
        if moment is not None and moment > at:
            upcoming.append(moment)
    name = f"{NAME}|{sub_id}"
    if upcoming and sub["ended"] is None:
        state["deadlines"][name] = min(upcoming)
    else:
        state["deadlines"].pop(name, None)
