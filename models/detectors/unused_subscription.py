"""``overpaying.unused_subscription``: billed for consecutive periods with zero usage (SPEC §3.3).

The run is counted back from the latest period with recorded usage: each period
must have usage recorded as zero and a subscription invoice line for it, and
follow the next without a gap. A latest period whose usage is zero but whose
invoice has not come yet is skipped rather than breaking the run (usage is
often recorded before the bill). Missing usage is unknown, not zero.

Alerts when the run is ``unused_subscription_periods`` long; the impact is the
fee for a year (what the customer keeps paying for nothing). Resolves when
usage resumes, the customer asks to cancel (the suggested action was taken) or
the subscription ends. Needs no catalog: the fee is the agreed one, or, when the
subscription's start predates our history, the latest billed line. The
catalog, when it knows the plan, only lends the plan's name to the summary.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from models.alerts import AlertChange, raise_alert, resolve_alert
from models.catalog import Plan
from models.events import Event
from models.money import format_money, to_amount
from models.policy import Policy
from models.subscriptions import ends_at, fee_in_force, judge_time, subs_of, subscription_ids
from models.timestamps import format_period, period_end, period_start

__all__ = ["NAME", "KIND", "CLOCK", "EVENT_TYPES", "NEEDS_CATALOG", "on_event", "on_deadline", "evaluate", "unused_run"]

NAME = "unused_subscription"
KIND = "overpaying.unused_subscription"
#: Subscription facts all come on the billing topic: its stream time drives the deadlines.
CLOCK = "billing"
NEEDS_CATALOG = True
EVENT_TYPES = frozenset(
    {
        "usage.recorded",
        "invoice.issued",
        "subscription.started",
        "subscription.changed",
        "subscription.cancel_requested",
        "subscription.ended",
        "price.change_notified",
    }
)


def unused_run(sub: dict[str, Any]) -> list[str]:
    """The latest run of consecutive billed periods with zero usage, oldest first (empty if none)."""
    usage, billed = sub["usage"], sub["billed"]
    run: list[str] = []
    for period in sorted(usage, reverse=True):
        if usage[period][0] > 0:
            break
        if period not in billed:
            if run:
                break
            continue  # the latest zero-usage period, not invoiced yet
        if run and period_end(period) != period_start(run[-1]):
            break
        run.append(period)
    return run[::-1]


def on_event(
    state: dict[str, Any], event: Event, policy: Policy, catalog: Mapping[str, Plan] | None = None
) -> list[AlertChange]:
    changes: list[AlertChange] = []
    for sub_id in subscription_ids(event):
        changes.extend(evaluate(state, sub_id, event.at, policy, catalog or {}))
    return changes


def on_deadline(
    state: dict[str, Any], key: str, now: int, policy: Policy, catalog: Mapping[str, Plan] | None = None
) -> list[AlertChange]:
    return []


def evaluate(
    state: dict[str, Any], sub_id: str, at: int, policy: Policy, catalog: Mapping[str, Plan]
) -> list[AlertChange]:
    sub = subs_of(state).get(sub_id)
    if sub is None:
        return []
    at = judge_time(sub, at)
    end = ends_at(sub)
    if sub["cancel_at"] is not None or (end is not None and at >= end):
        return _resolve(
            state,
            sub_id,
            sub,
            at,
            f"Subscription {sub_id} is being ended, as suggested.",
            [sub["cancel_by"] or sub["ended_by"]],
        )
    run = unused_run(sub)
    if len(run) < policy.unused_subscription_periods:
        latest = max(sub["usage"]) if sub["usage"] else None
        evidence = [sub["usage"][latest][2]] if latest else []
        return _resolve(state, sub_id, sub, at, f"Subscription {sub_id} is in use again.", evidence)
    lines = [line for period in run for line in sub["billed"][period]]
    billed = sum(line[4] for line in lines)
    fee = fee_in_force(sub, at)
    if fee is None:
        fee = sub["billed"][run[-1]][-1][3]  # start predates our history: the price it is billed at
    money = policy.currency
    yearly = fee * 12
    plan = catalog.get(sub["plan"]) if sub["plan"] is not None else None
    what = plan.name if plan is not None else sub["plan"] or "no plan known"
    evidence = [sub["usage"][period][2] for period in run] + [line[5] for line in lines]
    change = raise_alert(
        state,
        policy,
        kind=KIND,
        key=sub_id,
        at=at,
        severity="warning",
        summary=f"You have paid for subscription {sub_id} ({what}) for {len(run)} months in a row "
        f"({format_period(run[0])} to {format_period(run[-1])}) without using it: "
        f"{format_money(billed, money)} for nothing.",
        amount=yearly,
        per="year",
        evidence=list(dict.fromkeys(evidence)),
        suggested_action=f"Ask the customer whether they still want subscription {sub_id}; offer to end it "
        f"(it costs {format_money(fee, money)} a month) and consider refunding the unused months.",
        details={
            "subscription_id": sub_id,
            "plan_id": sub["plan"],
            "monthly_fee": to_amount(fee),
            "unused_periods": run,
            "billed_in_unused_periods": to_amount(billed),
            "invoice_lines": [
                {"invoice_id": line[0], "line_id": line[1], "amount": to_amount(line[4])} for line in lines
            ],
        },
    )
    return [change] if change else []


def _resolve(
    state: dict[str, Any], sub_id: str, sub: dict[str, Any], at: int, summary: str, evidence: list[str | None]
) -> list[AlertChange]:
    change = resolve_alert(
        state,
        kind=KIND,
        key=sub_id,
        at=at,
        summary=summary,
        evidence=[e for e in evidence if e],
        details={"subscription_id": sub_id},
    )
    return [change] if change else []
