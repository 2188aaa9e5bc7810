"""A subscription's life as events: start, monthly invoice and payment, usage, notices, price changes, the end.

Billing runs in advance: the invoice for a period is issued on its first day
(03:20-04:50 UTC), usage is metered for the month just ended the same night
(01:00-02:30 UTC), payment follows in days. The best-tariff notices are sent
diligently (never due) unless a scenario sends them itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from models.policy import Policy
from models.timestamps import MS_PER_DAY, format_ms, period_end, period_of, period_start
from streams.tools.simulate.builder import HOUR, Customer, Sub, money
from streams.tools.simulate.rules import best_tariff_due, best_tariff_moments

__all__ = ["SubRun", "run_sub", "diligent_notices"]


@dataclass
class SubRun:
    """What the events of a subscription turned out to be, for the scenario to plant truth by."""

    usage_at: dict[str, int] = field(default_factory=dict)
    #: period -> (invoice_id, issued at): the subscription line is line "1".
    invoice: dict[str, tuple[str, int]] = field(default_factory=dict)
    notices: list[tuple[str, int]] = field(default_factory=list)
    #: When the best-tariff obligations stop: the cancellation request (or the end).
    stopped: int | None = None


def diligent_notices(
    c: Customer,
    sub: Sub,
    sent: list[tuple[str, int]],
    after: int,
    stopped: int | None,
    policy: Policy,
) -> list[tuple[str, int]]:
    """Notices after ``after`` that keep the notice from ever falling due before the world's end.

    A contract-end notice goes out the moment its window opens; a yearly one a few days before it is due.
    """
    notices = list(sent)
    term_end = sub.term_end
    while True:
        moments = sorted(
            m for m in best_tariff_moments(sub.start, term_end, notices, stopped, policy) if after <= m < c.end
        )
        due = next((m for m in moments if best_tariff_due(m, sub.start, term_end, notices, stopped, policy)), None)
        if due is None:
            return notices
        opens = None if term_end is None else term_end - int(policy.contract_end_notice_from_days * MS_PER_DAY)
        if due == opens:
            when = opens
        else:
            last = max([after, sub.start + HOUR, *(at + HOUR for _, at in notices)])
            when = max(last, due - c.jitter(0, 12 * 24 * 60))
        if when > due:
            raise AssertionError(f"{sub.sub_id}: no room for a diligent notice before {due}")
        notices.append(("best_tariff", when))
        notices.sort(key=lambda notice: notice[1])


def run_sub(c: Customer, sub: Sub, policy: Policy) -> SubRun:
    """Emit the subscription's events; return when the usage and invoices happened."""
    run = SubRun()
    started = {"subscription_id": sub.sub_id, "plan_id": sub.plan, "monthly_fee": money(sub.fee)}
    if sub.term_months:
        started["minimum_term_months"] = sub.term_months
    c.emit("subscription.started", sub.start, **started)
    for at, plan, fee, by in sub.plan_changes:
        c.emit(
            "subscription.changed",
            at,
            subscription_id=sub.sub_id,
            plan_id=plan,
            monthly_fee=money(fee),
            requested_by=by,
        )
    for new_fee, effective, notified in sub.changes:
        c.emit(
            "price.change_notified",
            notified,
            subscription_id=sub.sub_id,
            new_monthly_fee=money(new_fee),
            effective_at=format_ms(effective),
        )
    stop = sub.cancel[1] if sub.cancel else None
    for period in c.billed_periods(sub):
        begins = period_start(period)
        issued = max(begins + c.jitter(200, 290), sub.start + 2 * HOUR)
        if issued >= c.end:
            continue
        price = sub.billed.get(period, sub.fee_at(max(begins, sub.start)))
        lines = [
            {"kind": "subscription", "ref": sub.sub_id, "qty": 1, "unit_price": money(price), "amount": money(price)}
        ]
        lines += [
            {"kind": "subscription", "ref": sub.sub_id, "qty": 1, "unit_price": money(credit), "amount": money(credit)}
            for credit in sub.credits.get(period, [])
        ]
        invoice_id = c.invoice(issued, lines, period=period, pay_after=c.jitter(2 * 24 * 60, 8 * 24 * 60))
        run.invoice[period] = (invoice_id, issued)
        metered = period_end(period) + c.jitter(60, 150)
        active = stop is None or begins < stop
        if active and metered < c.end:
            c.emit("usage.recorded", metered, subscription_id=sub.sub_id, period=period, units=sub.usage(period))
            run.usage_at[period] = metered
    for at, amount in sub.credit_notes:
        c.invoice(
            at,
            [
                {
                    "kind": "subscription",
                    "ref": sub.sub_id,
                    "qty": 1,
                    "unit_price": money(amount),
                    "amount": money(amount),
                }
            ],
            period=period_of(at),
        )
    if sub.cancel:
        requested, effective = sub.cancel
        c.emit(
            "subscription.cancel_requested",
            requested,
            subscription_id=sub.sub_id,
            effective_at=format_ms(effective),
            channel="phone",
        )
        if effective < c.end:
            c.emit("subscription.ended", effective, subscription_id=sub.sub_id)
        run.stopped = requested
    sent = list(sub.notices or [])
    if sub.notices is None or sub.diligent_after is not None:
        sent = diligent_notices(c, sub, sent, sub.diligent_after or sub.start, run.stopped, policy)
    for kind, at in sent:
        c.emit(
            "notice.sent",
            at,
            subscription_id=sub.sub_id,
            kind=kind,
            **({"best_plan_id": sub.plan} if kind == "best_tariff" else {}),
        )
    run.notices = sent
    return run
