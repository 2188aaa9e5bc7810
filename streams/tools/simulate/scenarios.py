"""Planted conditions and near-misses, one small story each, and the clean background of every customer.

A scenario plants its condition into one customer and records the truth it
intends (streams.tools.simulate.builder.Truth): the alert kind, the condition's key (the
same key the detector fingerprints: order, order/line, subscription,
subscription/invoice/line, complaint) and when it becomes true and clears.
Every threshold comes from the policy defaults (models.policy.Policy), so a
near-miss sits exactly on the right side of it. Interactions are designed per
story: a planted broken promise is one of at most two per 90 days unless the
story is the repeated-promises one, and the cost-to-serve and best-tariff
conditions of every customer are worked out afterwards (streams.tools.simulate.rules).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from models.detectors import DETECTORS
from models.policy import Policy
from models.timestamps import add_months, period_end, period_of, period_start, shift_period
from streams.tools.simulate.builder import DAY, HOUR, MINUTE, WRONG, Customer, Order, Sub
from streams.tools.simulate.catalog import CLEAN_USAGE
from streams.tools.simulate.subs import SubRun, run_sub

__all__ = ["SCENARIOS", "background", "Scenario"]

P = Policy()
RISK = int(P.at_risk_hours * HOUR)
ACK = int(P.complaint_ack_hours * HOUR)
UNINVOICED = int(P.uninvoiced_days * DAY)
UNDELIVERED_BILLED = int(P.invoiced_undelivered_days * DAY)
NOTICE = int(P.price_rise_notice_days * DAY)
WINDOW = int(P.repeated_promises_days * DAY)
RESOLVE_DAYS = {
    "high": P.complaint_resolve_days_high,
    "normal": P.complaint_resolve_days_normal,
    "low": P.complaint_resolve_days_low,
}

Scenario = Callable[[Customer], None]

# The kinds as the detectors declare them (models.kinds registers the same: tests/unit/models/test_kinds.py).
LATE = DETECTORS["late_delivery"].KIND
WRONG_DELIVERY = DETECTORS["wrong_delivery"].KIND
BILLING = DETECTORS["billing_error"].KIND
COMPLAINT = DETECTORS["complaint_unresolved"].KIND
URGENT = DETECTORS["urgent_order_refused"].KIND
RISE = DETECTORS["unannounced_price_rise"].KIND
AFTER_CANCEL = DETECTORS["billed_after_cancellation"].KIND
BETTER = DETECTORS["better_plan"].KIND
LOYALTY = DETECTORS["loyalty_penalty"].KIND
UNUSED = DETECTORS["unused_subscription"].KIND
NOTICE_DUE = DETECTORS["best_tariff_notice"].KIND
SERVICE = DETECTORS["unprofitable_service"].KIND
PATTERN = DETECTORS["repeated_broken_promises"].KIND


# --- time helpers ------------------------------------------------------------------


def _time(c: Customer, after_start_days: float, before_end_days: float) -> int:
    """A moment (whole seconds) in [window start + a days, end - b days]."""
    low = c.window_start + int(after_start_days * DAY)
    high = c.end - int(before_end_days * DAY)
    if high <= low:
        raise ValueError(f"{c.id}: the world is too short for this scenario")
    return low + c.rng.randrange((high - low) // 1000) * 1000


def _period(c: Customer, after_start_days: float, before_end_days: float) -> str:
    """A period whose start lies in [window start + a days, end - b days]."""
    return period_of(period_end(period_of(_time(c, after_start_days, before_end_days + 31))))


def _usage(c: Customer, plan: str) -> Callable[[str], float]:
    _, low, high = CLEAN_USAGE[plan]
    known: dict[str, float] = {}

    def units(period: str) -> float:
        if period not in known:
            value = c.rng.uniform(low, high)
            known[period] = round(value, 1) if high < 200 else int(value)
        return known[period]

    return units


def _constant(units: float) -> Callable[[str], float]:
    return lambda period: units


def _clean_sub(c: Customer, plan: str | None = None, start: int | None = None, term: int = 0) -> tuple[Sub, SubRun]:
    plan = plan or c.rng.choice(list(CLEAN_USAGE))
    if start is None:
        start = c.window_start - c.jitter(24 * 60, 30 * 30 * 24 * 60) if c.rng.random() < 0.5 else _time(c, 0, 20)
    sub = c.new_sub(plan, CLEAN_USAGE[plan][0], start, term_months=term, usage=_usage(c, plan))
    return sub, run_sub(c, sub, P)


def _line_key(sub: Sub, run: SubRun, period: str) -> str:
    return f"{sub.sub_id}/{run.invoice[period][0]}/1"


# --- the background: a clean customer ------------------------------------------------------


def background(
    c: Customer, *, subs: bool = True, order_rate: float = 1.0, contacts: int = 2, complaint: bool = True
) -> None:
    """Ordinary traffic that raises nothing: subscriptions billed right and used, orders on time and billed
    once, a few short calls, perhaps one complaint handled in time. Cost to serve stays under 50.00 a year
    whatever the revenue (at most 2 calls of 9 minutes and one complaint), so it never looks unprofitable."""
    rng = c.rng
    if subs:
        for _ in range(rng.choices([0, 1, 2], [30, 50, 20])[0]):
            _clean_sub(c, term=rng.choice([0, 0, 0, 12, 24]))
    rate = rng.choice([0, 0.3, 0.6, 1.0, 1.5]) * order_rate
    period = period_of(c.window_start)
    while period_start(period) < c.end:
        count = int(rate) + (rng.random() < rate - int(rate))
        for _ in range(count):
            c.clean_order(period_start(period) + c.jitter(0, 28 * 24 * 60))
        period = shift_period(period, 1)
    for _ in range(rng.randint(0, contacts)):
        c.contact(_time(c, 0, 1), rng.randint(3, 9))
    if complaint and rng.random() < 0.08:
        severity = rng.choice(["low", "normal", "normal", "high"])
        opened = _time(c, 0, 32)
        complaint_id = c.open_complaint(opened, severity)
        c.acknowledge(complaint_id, opened + c.jitter(120, 30 * 60))
        c.resolve(complaint_id, opened + int(RESOLVE_DAYS[severity] * DAY * rng.uniform(0.3, 0.7)))


def _light(c: Customer) -> None:
    """The background of a customer with a planted story: orders and a call, nothing that could interfere."""
    background(c, subs=False, order_rate=0.5, contacts=1, complaint=False)


# --- orders: late, wrong, refused ----------------------------------------------------------


def _delivered_on_time(c: Customer, order: Order, placed: int) -> int:
    c.ship(order, placed + c.jitter(120, 600))
    delivered = order.due - c.jitter(6 * 60, 30 * 60)
    c.deliver(order, delivered)
    return delivered


def _bill_order(c: Customer, order: Order, at: int) -> str:
    return c.invoice(at, [c.order_line(order, line) for line in order.lines], pay_after=c.jitter(1440, 8 * 1440))


def make_late(c: Customer, placed: int, scenario: str) -> int:
    """Shipped in time, delivered 26+ hours late: raised when the promise passes. Returns the broken moment."""
    order = c.place(placed, placed + 4 * DAY)
    c.ship(order, placed + c.jitter(120, 600))
    delivered = order.due + 26 * HOUR + c.jitter(0, 600)
    c.deliver(order, delivered)
    _bill_order(c, order, delivered + c.jitter(30, 300))
    c.plant(LATE, order.order_id, order.due, None, scenario, "delivered 26+ h late", broken_at=order.due)
    return order.due


def late_delivered(c: Customer) -> None:
    make_late(c, _time(c, 3, 12), "late_delivered")
    _light(c)


def at_risk_then_late(c: Customer) -> None:
    placed = _time(c, 3, 12)
    order = c.place(placed, placed + 3 * DAY)
    c.ship(order, order.due - 12 * HOUR)
    delivered = order.due + 3 * HOUR + c.jitter(0, 300)
    c.deliver(order, delivered)
    _bill_order(c, order, delivered + HOUR)
    c.plant(
        LATE,
        order.order_id,
        order.due - RISK,
        None,
        "at_risk_then_late",
        "not shipped a day before the promise, then 3 h late",
        broken_at=order.due,
    )
    _light(c)


def never_delivered(c: Customer) -> None:
    placed = _time(c, 3, 12)
    order = c.place(placed, placed + 4 * DAY)
    c.ship(order, placed + 5 * HOUR)
    c.plant(LATE, order.order_id, order.due, None, "never_delivered", "shipped, never delivered", broken_at=order.due)
    _light(c)


def at_risk_recovered(c: Customer) -> None:
    placed = _time(c, 3, 12)
    order = c.place(placed, placed + 3 * DAY)
    c.ship(order, order.due - 20 * HOUR)
    delivered = order.due - 2 * HOUR
    c.deliver(order, delivered)
    _bill_order(c, order, delivered + HOUR)
    c.plant(
        LATE,
        order.order_id,
        order.due - RISK,
        delivered,
        "at_risk_recovered",
        "at risk (not shipped a day ahead), delivered in time: resolved",
    )
    _light(c)


def late_by_a_minute(c: Customer) -> None:
    placed = _time(c, 3, 12)
    order = c.place(placed, placed + 4 * DAY)
    c.ship(order, placed + 5 * HOUR)
    delivered = order.due + MINUTE
    c.deliver(order, delivered)
    _bill_order(c, order, delivered + HOUR)
    c.plant(
        LATE,
        order.order_id,
        order.due,
        None,
        "late_by_a_minute",
        "1 minute late: seen at the delivery, within the grace",
        broken_at=delivered,
    )
    _light(c)


def lost_and_billed(c: Customer) -> None:
    """Billed when ordered, never delivered: late at the promise, a billing error a week after it."""
    placed = _time(c, 3, 15)
    order = c.place(placed, placed + 4 * DAY, c.lines(1))
    _bill_order(c, order, placed + HOUR)
    c.ship(order, placed + 5 * HOUR)
    c.plant(LATE, order.order_id, order.due, None, "lost_and_billed", "never delivered", broken_at=order.due)
    billed_wrong = order.due + UNDELIVERED_BILLED
    c.plant(
        BILLING,
        f"{order.order_id}/1",
        billed_wrong,
        None,
        "lost_and_billed",
        "billed, still undelivered a week after the promise",
        broken_at=billed_wrong,
    )
    _light(c)


def nm_delivered_minute_early(c: Customer) -> None:
    placed = _time(c, 3, 12)
    order = c.place(placed, placed + 4 * DAY)
    c.ship(order, placed + 5 * HOUR)
    c.deliver(order, order.due - MINUTE)
    _bill_order(c, order, order.due + HOUR)
    c.near_miss(LATE, order.order_id, "nm_delivered_minute_early", "delivered 1 minute before the promise")
    _light(c)


def nm_shipped_at_risk_boundary(c: Customer) -> None:
    placed = _time(c, 3, 12)
    order = c.place(placed, placed + 3 * DAY)
    c.ship(order, order.due - RISK)
    c.deliver(order, order.due - 3 * HOUR)
    _bill_order(c, order, order.due)
    c.near_miss(LATE, order.order_id, "nm_shipped_at_risk_boundary", "shipped exactly at_risk_hours before")
    _light(c)


def nm_express(c: Customer) -> None:
    due = _time(c, 3, 12)
    order = c.place(due - 20 * HOUR, due)
    c.ship(order, due - 16 * HOUR)
    c.deliver(order, due - 2 * HOUR)
    _bill_order(c, order, due)
    c.near_miss(LATE, order.order_id, "nm_express", "promised within a day: never at risk, delivered in time")
    _light(c)


def nm_customer_cancelled(c: Customer) -> None:
    placed = _time(c, 3, 12)
    order = c.place(placed, placed + 4 * DAY)
    c.cancel_order(order, placed + 20 * HOUR, "customer", "changed my mind")
    c.near_miss(LATE, order.order_id, "nm_customer_cancelled", "cancelled by the customer: no delivery owed")
    _light(c)


def _wrong_lines(c: Customer, order: Order, how: str) -> list[dict[str, Any]]:
    delivered = [copy.deepcopy({k: v for k, v in line.items() if k != "unit_price"}) for line in order.lines]
    victim = delivered[0]
    if how == "spec":
        name = c.rng.choice(sorted(victim["spec"]))
        victim["spec"][name] = WRONG[victim["spec"][name]]
    elif how == "sku":
        victim["sku"] = victim["sku"] + "-ALT"
    else:
        victim["qty"] = victim["qty"] - 1
    return delivered


def make_wrong(c: Customer, placed: int, scenario: str, how: str = "spec") -> int:
    lines = c.lines(c.rng.choice([1, 2]))
    if how == "qty":
        lines[0]["qty"] = 10
    order = c.place(placed, placed + 5 * DAY, lines)
    c.ship(order, placed + 4 * HOUR)
    delivered_at = placed + 2 * DAY + c.jitter(0, 600)
    delivered = _wrong_lines(c, order, how)
    c.deliver(order, delivered_at, delivered)
    got = {line["line_id"]: line["qty"] for line in delivered}
    c.invoice(
        delivered_at + 2 * HOUR,
        [c.order_line(order, line, qty=got[line["line_id"]]) for line in order.lines],
        pay_after=3 * DAY,
    )
    c.plant(WRONG_DELIVERY, order.order_id, delivered_at, None, scenario, f"wrong {how}", broken_at=delivered_at)
    return delivered_at


def wrong_colour(c: Customer) -> None:
    make_wrong(c, _time(c, 3, 12), "wrong_colour", "spec")
    _light(c)


def wrong_sku(c: Customer) -> None:
    make_wrong(c, _time(c, 3, 12), "wrong_sku", "sku")
    _light(c)


def short_delivery(c: Customer) -> None:
    make_wrong(c, _time(c, 3, 12), "short_delivery", "qty")
    _light(c)


def wrong_then_corrected(c: Customer) -> None:
    placed = _time(c, 3, 12)
    order = c.place(placed, placed + 5 * DAY, c.lines(2))
    c.ship(order, placed + 4 * HOUR)
    first = placed + DAY
    c.deliver(order, first, _wrong_lines(c, order, "spec"))
    corrected = placed + 3 * DAY
    c.deliver(order, corrected, [{k: v for k, v in line.items() if k != "unit_price"} for line in order.lines])
    _bill_order(c, order, corrected + HOUR)
    c.plant(
        WRONG_DELIVERY,
        order.order_id,
        first,
        corrected,
        "wrong_then_corrected",
        "wrong colour, then the right items before the promise",
        broken_at=first,
    )
    _light(c)


def nm_delivery_reordered(c: Customer) -> None:
    placed = _time(c, 3, 12)
    order = c.place(placed, placed + 5 * DAY, c.lines(3))
    c.ship(order, placed + 4 * HOUR)
    lines = [
        {
            "line_id": line["line_id"],
            "qty": line["qty"],
            "sku": line["sku"],
            "spec": dict(reversed(list(line["spec"].items()))),
        }
        for line in reversed(order.lines)
    ]
    c.deliver(order, placed + 2 * DAY, lines)
    _bill_order(c, order, placed + 2 * DAY + HOUR)
    c.near_miss(
        WRONG_DELIVERY,
        order.order_id,
        "nm_delivery_reordered",
        "delivered as ordered, lines and spec keys listed in another order",
    )
    _light(c)


def make_urgent_refused(c: Customer, cancelled: int, scenario: str) -> int:
    order = c.place(cancelled - 3 * HOUR, cancelled + 2 * DAY, urgent=True)
    c.cancel_order(order, cancelled, "company", "out of stock")
    c.plant(URGENT, order.order_id, cancelled, None, scenario, "urgent order cancelled by us", broken_at=cancelled)
    return cancelled


def urgent_refused(c: Customer) -> None:
    make_urgent_refused(c, _time(c, 3, 12), "urgent_refused")
    _light(c)


def nm_urgent_customer_cancelled(c: Customer) -> None:
    at = _time(c, 3, 12)
    order = c.place(at - 3 * HOUR, at + 2 * DAY, urgent=True)
    c.cancel_order(order, at, "customer")
    c.near_miss(URGENT, order.order_id, "nm_urgent_customer_cancelled", "urgent, but cancelled by the customer")
    _light(c)


def nm_company_cancelled_not_urgent(c: Customer) -> None:
    at = _time(c, 3, 12)
    order = c.place(at - 3 * HOUR, at + 3 * DAY)
    c.cancel_order(order, at, "company", "out of stock")
    c.near_miss(URGENT, order.order_id, "nm_company_cancelled_not_urgent", "cancelled by us, but not urgent")
    _light(c)


# --- billing errors on order lines ---------------------------------------------------------------


def _delivered_order(c: Customer, placed: int, lines: list[dict[str, Any]] | None = None) -> tuple[Order, int]:
    order = c.place(placed, placed + 4 * DAY, lines or c.lines(1))
    return order, _delivered_on_time(c, order, placed)


def billed_cancelled(c: Customer) -> None:
    placed = _time(c, 3, 20)
    order = c.place(placed, placed + 5 * DAY, c.lines(1))
    _bill_order(c, order, placed + 2 * HOUR)
    cancelled = placed + DAY
    c.cancel_order(order, cancelled, "company", "cannot be supplied")
    line = order.lines[0]
    credited = cancelled + 5 * DAY
    credit = c.order_line(order, line)
    credit.update(qty=-line["qty"], amount=-credit["amount"])
    c.invoice(credited, [credit])
    c.plant(
        BILLING,
        f"{order.order_id}/1",
        cancelled,
        credited,
        "billed_cancelled",
        "billed at ordering, cancelled by us, credited 5 days later",
        broken_at=cancelled,
    )
    _light(c)


def make_double_billed(c: Customer, placed: int, scenario: str, credit: bool = True) -> int:
    order, delivered = _delivered_order(c, placed)
    _bill_order(c, order, delivered + HOUR)
    again = delivered + 2 * DAY
    _bill_order(c, order, again)
    end = None
    if credit:
        end = again + 10 * DAY
        line = c.order_line(order, order.lines[0])
        line.update(qty=-line["qty"], amount=-line["amount"])
        c.invoice(end, [line])
    c.plant(
        BILLING,
        f"{order.order_id}/1",
        again,
        end,
        scenario,
        "billed twice" + (", credited" if credit else ""),
        broken_at=again,
    )
    return again


def double_billed(c: Customer) -> None:
    make_double_billed(c, _time(c, 3, 20), "double_billed")
    _light(c)


def billed_twice_on_one_invoice(c: Customer) -> None:
    order, delivered = _delivered_order(c, _time(c, 3, 12))
    line = c.order_line(order, order.lines[0])
    at = delivered + HOUR
    c.invoice(at, [line, dict(line)], pay_after=2 * DAY)
    c.plant(
        BILLING, f"{order.order_id}/1", at, None, "billed_twice_on_one_invoice", "the same line twice", broken_at=at
    )
    _light(c)


def overpriced_line(c: Customer) -> None:
    order, delivered = _delivered_order(c, _time(c, 3, 12))
    line = order.lines[0]
    at = delivered + HOUR
    higher = str(Decimal(str(line["unit_price"])) * Decimal("1.10"))
    c.invoice(at, [c.order_line(order, line, unit_price=higher)], pay_after=2 * DAY)
    c.plant(
        BILLING, f"{order.order_id}/1", at, None, "overpriced_line", "billed 10% above the ordered price", broken_at=at
    )
    _light(c)


def underpriced_line(c: Customer) -> None:
    order, delivered = _delivered_order(c, _time(c, 3, 12))
    line = order.lines[0]
    at = delivered + HOUR
    lower = str(Decimal(str(line["unit_price"])) * Decimal("0.80"))
    c.invoice(at, [c.order_line(order, line, unit_price=lower)], pay_after=2 * DAY)
    c.plant(BILLING, f"{order.order_id}/1", at, None, "underpriced_line", "billed below the ordered price (info)")
    _light(c)


def never_invoiced(c: Customer) -> None:
    order, delivered = _delivered_order(c, _time(c, 3, 50))
    invoiced = delivered + 40 * DAY
    _bill_order(c, order, invoiced)
    c.plant(
        BILLING,
        f"{order.order_id}/1",
        delivered + UNINVOICED,
        invoiced,
        "never_invoiced",
        "delivered, invoiced only after 40 days (info)",
    )
    _light(c)


def nm_invoiced_on_day_30(c: Customer) -> None:
    order, delivered = _delivered_order(c, _time(c, 3, 40))
    _bill_order(c, order, delivered + UNINVOICED)
    c.near_miss(
        BILLING, f"{order.order_id}/1", "nm_invoiced_on_day_30", "invoiced exactly uninvoiced_days after delivery"
    )
    _light(c)


# --- complaints ---------------------------------------------------------------------------------


def make_unacknowledged(c: Customer, opened: int, scenario: str) -> int:
    complaint_id = c.open_complaint(opened, "normal")
    c.acknowledge(complaint_id, opened + 60 * HOUR)
    resolved = opened + 5 * DAY
    c.resolve(complaint_id, resolved)
    c.plant(
        COMPLAINT, complaint_id, opened + ACK, resolved, scenario, "acknowledged after 60 h", broken_at=opened + ACK
    )
    return opened + ACK


def complaint_not_acknowledged(c: Customer) -> None:
    make_unacknowledged(c, _time(c, 3, 12), "complaint_not_acknowledged")
    _light(c)


def make_resolved_late(c: Customer, opened: int, scenario: str) -> int:
    complaint_id = c.open_complaint(opened, "normal")
    c.acknowledge(complaint_id, opened + 3 * HOUR)
    due = opened + int(RESOLVE_DAYS["normal"] * DAY)
    resolved = opened + 20 * DAY
    c.resolve(complaint_id, resolved, Decimal("10.00"))
    c.plant(COMPLAINT, complaint_id, due, resolved, scenario, "resolved 6 days after resolve_by", broken_at=due)
    return due


def complaint_resolved_late(c: Customer) -> None:
    make_resolved_late(c, _time(c, 3, 25), "complaint_resolved_late")
    _light(c)


def complaint_never_resolved(c: Customer) -> None:
    opened = _time(c, 3, 8)
    complaint_id = c.open_complaint(opened, "high")
    c.acknowledge(complaint_id, opened + 2 * HOUR)
    due = opened + int(RESOLVE_DAYS["high"] * DAY)
    c.plant(
        COMPLAINT, complaint_id, due, None, "complaint_never_resolved", "high severity, never resolved", broken_at=due
    )
    _light(c)


def complaint_own_deadline(c: Customer) -> None:
    opened = _time(c, 3, 12)
    complaint_id = c.open_complaint(opened, "low", resolve_by=opened + 7 * DAY)
    c.acknowledge(complaint_id, opened + 5 * HOUR)
    resolved = opened + 9 * DAY
    c.resolve(complaint_id, resolved)
    c.plant(
        COMPLAINT,
        complaint_id,
        opened + 7 * DAY,
        resolved,
        "complaint_own_deadline",
        "promised in 7 days (resolve_by given), resolved in 9",
        broken_at=opened + 7 * DAY,
    )
    _light(c)


def nm_complaint_on_the_dot(c: Customer) -> None:
    opened = _time(c, 3, 20)
    complaint_id = c.open_complaint(opened, "normal")
    c.acknowledge(complaint_id, opened + ACK)
    c.resolve(complaint_id, opened + int(RESOLVE_DAYS["normal"] * DAY))
    c.near_miss(
        COMPLAINT,
        complaint_id,
        "nm_complaint_on_the_dot",
        "acknowledged exactly at 48 h, resolved exactly at resolve_by",
    )
    _light(c)


def nm_complaint_low_29_days(c: Customer) -> None:
    opened = _time(c, 3, 35)
    complaint_id = c.open_complaint(opened, "low")
    c.acknowledge(complaint_id, opened + DAY)
    c.resolve(complaint_id, opened + 29 * DAY)
    c.near_miss(COMPLAINT, complaint_id, "nm_complaint_low_29_days", "low severity resolved in 29 of 30 days")
    _light(c)


# --- repeated broken promises --------------------------------------------------------------------


def _makers(c: Customer) -> list[Callable[[int, str], int]]:
    """Ways to break a promise, with at most one complaint among them: two complaints (25.00 each to
    handle) could also make the customer unprofitable, an interaction these stories do not intend."""
    complaint = c.rng.choice([make_unacknowledged, make_resolved_late])
    return [
        lambda at, s: make_late(c, at, s),
        lambda at, s: make_wrong(c, at, s),
        lambda at, s: make_urgent_refused(c, at, s),
        lambda at, s: make_double_billed(c, at, s, credit=False),
        lambda at, s: complaint(c, at, s),
    ]


def broken_three(c: Customer) -> None:
    start = _time(c, 3, 100)
    makers = c.rng.sample(_makers(c), 3)
    for index, maker in enumerate(makers):
        maker(start + index * 30 * DAY, "broken_three")
    c.scenarios.append(PATTERN)
    _light(c)


def broken_four(c: Customer) -> None:
    start = _time(c, 3, 90)
    for index, maker in enumerate(c.rng.sample(_makers(c), 4)):
        maker(start + index * 20 * DAY, "broken_four")
    c.scenarios.append(PATTERN)
    _light(c)


def nm_broken_spread(c: Customer) -> None:
    start = _time(c, 3, WINDOW / DAY + 5)
    for offset in (0, WINDOW // 2, WINDOW):
        make_urgent_refused(c, start + offset, "nm_broken_spread")
    c.near_miss(
        PATTERN, "pattern", "nm_broken_spread", "three broken promises, the last exactly 90 days after the first"
    )
    _light(c)


def nm_broken_with_at_risk(c: Customer) -> None:
    start = _time(c, 3, 60)
    make_late(c, start, "nm_broken_with_at_risk")
    make_wrong(c, start + 20 * DAY, "nm_broken_with_at_risk")
    placed = start + 40 * DAY
    order = c.place(placed, placed + 3 * DAY)
    c.ship(order, order.due - 20 * HOUR)
    delivered = order.due - 2 * HOUR
    c.deliver(order, delivered)
    _bill_order(c, order, delivered + HOUR)
    c.plant(LATE, order.order_id, order.due - RISK, delivered, "nm_broken_with_at_risk", "at risk, then in time")
    c.near_miss(PATTERN, "pattern", "nm_broken_with_at_risk", "two broken promises and one only at risk")
    _light(c)


# --- cost to serve --------------------------------------------------------------------------------


def heavy_caller(c: Customer) -> None:
    _clean_sub(c, "mobile-m")
    month = _period(c, 0, 40)
    for _ in range(6):
        c.contact(period_start(month) + c.jitter(60, 27 * 24 * 60), c.rng.randint(30, 45))
    c.scenarios.append(SERVICE)


def heavy_caller_then_big_order(c: Customer) -> None:
    _clean_sub(c, "tv-extra")
    month = _period(c, 0, 110)
    for _ in range(6):
        c.contact(period_start(month) + c.jitter(60, 27 * 24 * 60), c.rng.randint(30, 45))
    big = [{"line_id": "1", "sku": "CHAIR-O", "qty": 10, "unit_price": 129.0, "spec": {"colour": "grey"}}]
    placed = period_start(shift_period(month, 2)) + 2 * DAY
    order = c.place(placed, placed + 4 * DAY, big)
    delivered = _delivered_on_time(c, order, placed)
    c.invoice(delivered + HOUR, [c.order_line(order, big[0])], pay_after=2 * DAY)
    c.scenarios.append(SERVICE)


def _voucher_month(c: Customer, minutes: list[int]) -> None:
    month = _period(c, 0, 40)
    voucher = [{"line_id": "1", "sku": "VOUCHER-100", "qty": 1, "unit_price": 100.0, "spec": {}}]
    placed = period_start(month) + DAY
    order = c.place(placed, placed + 4 * DAY, voucher)
    delivered = _delivered_on_time(c, order, placed)
    c.invoice(delivered + HOUR, [c.order_line(order, voucher[0])], pay_after=DAY)
    for index, length in enumerate(minutes):
        c.contact(period_start(month) + (14 + 4 * index) * DAY, length)


def unprofitable_by_a_minute(c: Customer) -> None:
    """One 100.00 purchase (30.00 margin) and 81 minutes of calls in a month: 51.00 over the margin."""
    _voucher_month(c, [40, 41])
    c.scenarios.append(SERVICE)


def nm_unprofitable_exactly_50(c: Customer) -> None:
    """80 minutes: cost exceeds margin by exactly 50.00, which is not more than 50.00."""
    _voucher_month(c, [40, 40])
    c.near_miss(SERVICE, "service", "nm_unprofitable_exactly_50", "cost to serve exactly 50.00 above the margin")


# --- subscriptions: better plan, loyalty, unused -------------------------------------------------


def _sub_in_window(
    c: Customer, plan: str, fee: str, usage: Callable[[str], float], months_left: int, **kwargs: Any
) -> Sub:
    """A subscription started in the window, with at least ``months_left`` periods before the end."""
    start = _time(c, 0, months_left * 31)
    return c.new_sub(plan, fee, start, usage=usage, **kwargs)


def _third_usage(run: SubRun) -> tuple[str, int]:
    period = sorted(run.usage_at)[2]
    return period, run.usage_at[period]


def better_plan_then_switch(c: Customer) -> None:
    sub = _sub_in_window(c, "mobile-m", "25.00", lambda p: round(c.rng.uniform(2, 4), 1), 6)
    switch_period = shift_period(period_of(sub.start), 4)
    switched = period_start(switch_period) + 10 * DAY + c.jitter(0, 600)
    sub.plan_changes.append((switched, "mobile-s", Decimal("15.00"), "customer"))
    run = run_sub(c, sub, P)
    _, raised = _third_usage(run)
    c.plant(BETTER, sub.sub_id, raised, switched, "better_plan_then_switch", "3 GB a month on M; switches to S")
    _light(c)


def _better(c: Customer, scenario: str, plan: str, fee: str, units: float, note: str, near: bool = False) -> None:
    sub = _sub_in_window(c, plan, fee, _constant(units), 5)
    run = run_sub(c, sub, P)
    if near:
        c.near_miss(BETTER, sub.sub_id, scenario, note)
    else:
        c.plant(BETTER, sub.sub_id, _third_usage(run)[1], None, scenario, note)
    _light(c)


def better_plan_legacy(c: Customer) -> None:
    sub = _sub_in_window(c, "mobile-s-2019", "25.00", lambda p: round(c.rng.uniform(3, 4.5), 1), 5)
    run = run_sub(c, sub, P)
    c.plant(BETTER, sub.sub_id, _third_usage(run)[1], None, "better_plan_legacy", "old 2 GB plan, Mobile S cheaper")
    _light(c)


def better_plan_exactly_5(c: Customer) -> None:
    _better(c, "better_plan_exactly_5", "mobile-m", "20.00", 3, "saves exactly 5.00 a month on Mobile S")


def better_plan_exactly_10_percent(c: Customer) -> None:
    _better(c, "better_plan_exactly_10_percent", "mobile-l", "35.00", 85, "saves 6.00 of 60.00: exactly 10%")


def nm_better_plan_4_99(c: Customer) -> None:
    _better(c, "nm_better_plan_4_99", "mobile-m", "19.99", 3, "would save 4.99 a month", near=True)


def nm_better_plan_9_85_percent(c: Customer) -> None:
    _better(c, "nm_better_plan_9_85_percent", "mobile-l", "35.00", 84.9, "would save 5.90 of 59.90: 9.85%", near=True)


def nm_better_plan_new_only(c: Customer) -> None:
    _better(
        c,
        "nm_better_plan_new_only",
        "mobile-m",
        "25.00",
        15,
        "Mobile M Welcome (18.00) is cheaper but open to new customers only",
        near=True,
    )


def _tenured_sub(
    c: Customer, plan: str, fee: str, anniversary_low: float, anniversary_high: float, **kwargs: Any
) -> Sub:
    """A subscription whose 12-month anniversary falls in [window start + low days, end - high days]."""
    anniversary = _time(c, anniversary_low, anniversary_high)
    start = add_months(anniversary, -P.loyalty_penalty_tenure_months)
    return c.new_sub(plan, fee, start, usage=lambda p: round(c.rng.uniform(10, 20), 1), **kwargs)


def _loyalty(c: Customer, scenario: str, fee: str, note: str, near: bool = False) -> None:
    """Mobile M at ``fee`` (newcomers pay 25.00), its 12-month anniversary inside the window."""
    sub = _tenured_sub(c, "mobile-m", fee, 10, 10)
    run_sub(c, sub, P)
    if near:
        c.near_miss(LOYALTY, sub.sub_id, scenario, note)
    else:
        c.plant(LOYALTY, sub.sub_id, add_months(sub.start, P.loyalty_penalty_tenure_months), None, scenario, note)
    _light(c)


def loyalty_anniversary(c: Customer) -> None:
    _loyalty(
        c, "loyalty_anniversary", "28.00", "28.00 for Mobile M (25.00 for newcomers), from the 12-month anniversary"
    )


def loyalty_exactly_10_percent(c: Customer) -> None:
    _loyalty(c, "loyalty_exactly_10_percent", "27.50", "27.50 for Mobile M: exactly 10% above 25.00")


def loyalty_price_rise_then_cut(c: Customer) -> None:
    rise = _period(c, 40, 130)
    start = add_months(period_start(rise), -14) - c.jitter(0, 60 * 24 * 60)
    sub = c.new_sub("mobile-m", "25.00", start, usage=lambda p: round(c.rng.uniform(10, 20), 1))
    rises_at, cut_at = period_start(rise), period_start(shift_period(rise, 3))
    sub.changes.append((Decimal("28.00"), rises_at, rises_at - NOTICE - 5 * DAY))
    sub.changes.append((Decimal("25.00"), cut_at, cut_at - 20 * DAY))
    run_sub(c, sub, P)
    c.plant(
        LOYALTY,
        sub.sub_id,
        rises_at,
        cut_at,
        "loyalty_price_rise_then_cut",
        "announced rise to 28.00 after 14 months; cut back to 25.00 three months later",
    )
    _light(c)


def nm_loyalty_9_96_percent(c: Customer) -> None:
    _loyalty(c, "nm_loyalty_9_96_percent", "27.49", "27.49 for Mobile M: 9.96% above 25.00", near=True)


def nm_loyalty_plan_not_on_sale(c: Customer) -> None:
    sub = c.new_sub("broadband-2018", "29.00", c.window_start - 500 * DAY, usage=_usage(c, "broadband-2018"))
    run_sub(c, sub, P)
    c.near_miss(
        LOYALTY,
        sub.sub_id,
        "nm_loyalty_plan_not_on_sale",
        "29.00 for Broadband (2018), listed at 24.99 but no longer sold to new customers",
    )
    _light(c)


def _unused(c: Customer, pattern: list[bool], months_before: int = 0) -> tuple[Sub, list[str]]:
    """A TV subscription whose periods from the first zero on follow ``pattern`` (True = unused)."""
    first_zero = _period(c, 31 * (months_before + 1), 31 * (len(pattern) + 1))
    usage = _usage(c, "tv-extra")
    zero = {shift_period(first_zero, i) for i, unused in enumerate(pattern) if unused}
    sub = c.new_sub(
        "tv-extra",
        "12.99",
        c.window_start - c.jitter(1440, 300 * 1440),
        usage=lambda period: 0 if period in zero else usage(period),
    )
    return sub, [shift_period(first_zero, i) for i in range(len(pattern))]


def unused_then_cancelled(c: Customer) -> None:
    sub, periods = _unused(c, [True, True])
    cancel_at = period_end(periods[1]) + 10 * DAY
    sub.cancel = (cancel_at, period_end(period_of(cancel_at)))
    run = run_sub(c, sub, P)
    c.plant(
        UNUSED,
        sub.sub_id,
        run.usage_at[periods[1]],
        cancel_at,
        "unused_then_cancelled",
        "no TV watched for 2 months; the customer cancels",
    )
    _light(c)


def unused_then_used_again(c: Customer) -> None:
    sub, periods = _unused(c, [True, True, True, False])
    run = run_sub(c, sub, P)
    c.plant(
        UNUSED,
        sub.sub_id,
        run.usage_at[periods[1]],
        run.usage_at[periods[3]],
        "unused_then_used_again",
        "3 months unused, then watched again",
    )
    _light(c)


def nm_unused_one_month(c: Customer) -> None:
    sub, _ = _unused(c, [True, False])
    run_sub(c, sub, P)
    c.near_miss(UNUSED, sub.sub_id, "nm_unused_one_month", "one month without use")
    _light(c)


def nm_unused_not_consecutive(c: Customer) -> None:
    sub, _ = _unused(c, [True, False, True, False])
    run_sub(c, sub, P)
    c.near_miss(UNUSED, sub.sub_id, "nm_unused_not_consecutive", "two months without use, not in a row")
    _light(c)


# --- subscriptions: price rises, billing after cancellation ---------------------------------------


def _mobile_m(c: Customer) -> Sub:
    return c.new_sub(
        "mobile-m",
        "25.00",
        c.window_start - c.jitter(1440, 200 * 1440),
        usage=lambda p: round(c.rng.uniform(10, 20), 1),
    )


def price_rise_notified_late(c: Customer) -> None:
    sub = _mobile_m(c)
    period = _period(c, 31, 40)
    effect = period_start(period)
    sub.changes.append((Decimal("27.00"), effect, effect - NOTICE + DAY))
    run = run_sub(c, sub, P)
    c.plant(
        RISE,
        _line_key(sub, run, period),
        run.invoice[period][1],
        None,
        "price_rise_notified_late",
        "rise to 27.00 announced 29 days ahead: its first month",
        broken_at=run.invoice[period][1],
    )
    _light(c)


def price_rise_never_announced(c: Customer) -> None:
    sub = _mobile_m(c)
    period = _period(c, 31, 70)
    sub.billed[period] = Decimal("27.00")
    sub.credits[shift_period(period, 1)] = [Decimal("-2.00")]
    run = run_sub(c, sub, P)
    refunded = run.invoice[shift_period(period, 1)][1]
    c.plant(
        RISE,
        _line_key(sub, run, period),
        run.invoice[period][1],
        refunded,
        "price_rise_never_announced",
        "billed 27.00 unannounced; 2.00 credited on the next invoice",
        broken_at=run.invoice[period][1],
    )
    _light(c)


def nm_price_rise_30_days(c: Customer) -> None:
    sub = _mobile_m(c)
    period = _period(c, 31, 40)
    sub.changes.append((Decimal("27.00"), period_start(period), period_start(period) - NOTICE))
    run = run_sub(c, sub, P)
    c.near_miss(RISE, _line_key(sub, run, period), "nm_price_rise_30_days", "rise announced exactly 30 days ahead")
    _light(c)


def nm_price_cut_late(c: Customer) -> None:
    sub = _mobile_m(c)
    period = _period(c, 31, 40)
    sub.changes.append((Decimal("22.00"), period_start(period), period_start(period) - 5 * DAY))
    run = run_sub(c, sub, P)
    c.near_miss(RISE, _line_key(sub, run, period), "nm_price_cut_late", "a price cut announced 5 days ahead")
    _light(c)


def _cancelled_mobile(c: Customer, last_period: str, effective: int, billed_after: bool) -> Sub:
    sub = _mobile_m(c)
    sub.cancel = (period_start(last_period) + 10 * DAY, effective)
    if billed_after:
        sub.billed_after_end.append(shift_period(last_period, 1))
    return sub


def billed_after_cancellation_refunded(c: Customer) -> None:
    last = _period(c, 31, 75)
    after = shift_period(last, 1)
    sub = _cancelled_mobile(c, last, period_start(after), True)
    refund = period_start(after) + 12 * DAY
    sub.credit_notes.append((refund, Decimal("-25.00")))
    run = run_sub(c, sub, P)
    c.plant(
        AFTER_CANCEL,
        _line_key(sub, run, after),
        run.invoice[after][1],
        refund,
        "billed_after_cancellation_refunded",
        "billed the month after the cancellation; refunded",
        broken_at=run.invoice[after][1],
    )
    _light(c)


def billed_after_cancellation(c: Customer) -> None:
    last = _period(c, 31, 75)
    after = shift_period(last, 1)
    sub = _cancelled_mobile(c, last, period_start(after), True)
    run = run_sub(c, sub, P)
    c.plant(
        AFTER_CANCEL,
        _line_key(sub, run, after),
        run.invoice[after][1],
        None,
        "billed_after_cancellation",
        "billed the month after the cancellation",
        broken_at=run.invoice[after][1],
    )
    _light(c)


def nm_cancelled_mid_period(c: Customer) -> None:
    last = _period(c, 31, 75)
    sub = _cancelled_mobile(c, last, period_start(last) + 20 * DAY, False)
    run = run_sub(c, sub, P)
    c.near_miss(
        AFTER_CANCEL,
        _line_key(sub, run, last),
        "nm_cancelled_mid_period",
        "cancellation effective mid-month: that month's bill is owed in part",
    )
    _light(c)


def nm_cancelled_at_period_end(c: Customer) -> None:
    last = _period(c, 31, 75)
    sub = _cancelled_mobile(c, last, period_end(last), False)
    run = run_sub(c, sub, P)
    c.near_miss(
        AFTER_CANCEL,
        _line_key(sub, run, last),
        "nm_cancelled_at_period_end",
        "cancelled at the month's end and billed up to it, not after",
    )
    _light(c)


# --- best-tariff notices (their truth is worked out from the notices sent: streams.tools.simulate.rules) ---------


def notice_annual_late(c: Customer) -> None:
    anniversary = _time(c, 5, 40)
    sub = c.new_sub(
        "tv-extra", "12.99", add_months(anniversary, -P.best_tariff_tenure_months), usage=_usage(c, "tv-extra")
    )
    told = anniversary + 20 * DAY
    sub.notices, sub.diligent_after = [("best_tariff", told)], told
    run_sub(c, sub, P)
    c.scenarios.append(NOTICE_DUE)
    _light(c)


def notice_contract_end_late(c: Customer) -> None:
    term_end = _time(c, 50, 5)
    sub = c.new_sub(
        "broadband-100", "29.99", add_months(term_end, -12), term_months=12, usage=_usage(c, "broadband-100")
    )
    if sub.term_end != term_end:  # a month end clamped the term: keep it as it comes out
        term_end = sub.term_end or term_end
    told = term_end - 25 * DAY
    sub.notices, sub.diligent_after = [("best_tariff", told)], told
    run_sub(c, sub, P)
    c.scenarios.append(NOTICE_DUE)
    _light(c)


def notice_contract_end_overdue(c: Customer) -> None:
    term_end = _time(c, 50, 5)
    start = add_months(term_end, -24)
    sub = c.new_sub("broadband-100", "29.99", start, term_months=24, usage=_usage(c, "broadband-100"))
    first = add_months(start, 12) - 10 * DAY
    late = (sub.term_end or term_end) - 5 * DAY
    sub.notices, sub.diligent_after = [("best_tariff", first), ("best_tariff", late)], late
    run_sub(c, sub, P)
    c.scenarios.append(NOTICE_DUE)
    _light(c)


def notice_due_then_cancelled(c: Customer) -> None:
    anniversary = _time(c, 5, 45)
    sub = c.new_sub("tv-extra", "12.99", add_months(anniversary, -12), usage=_usage(c, "tv-extra"))
    requested = anniversary + 30 * DAY
    sub.notices = []
    sub.cancel = (requested, period_end(period_of(requested)))
    run_sub(c, sub, P)
    c.scenarios.append(NOTICE_DUE)
    _light(c)


def nm_notice_every_365_days(c: Customer) -> None:
    second = _time(c, 5, 5)
    first = second - int(P.best_tariff_interval_days * DAY)
    sub = c.new_sub("tv-extra", "12.99", add_months(first, -12), usage=_usage(c, "tv-extra"))
    sub.notices, sub.diligent_after = [("best_tariff", first), ("best_tariff", second)], second
    run_sub(c, sub, P)
    c.near_miss(
        NOTICE_DUE, sub.sub_id, "nm_notice_every_365_days", "notified on the anniversary and exactly 365 days later"
    )
    _light(c)


def nm_notice_as_window_opens(c: Customer) -> None:
    term_end = _time(c, 45, 5)
    sub = c.new_sub(
        "broadband-100", "29.99", add_months(term_end, -12), term_months=12, usage=_usage(c, "broadband-100")
    )
    run_sub(c, sub, P)
    c.near_miss(
        NOTICE_DUE,
        sub.sub_id,
        "nm_notice_as_window_opens",
        "contract-end notice sent the moment the 40-day window opens",
    )
    _light(c)


#: Every story, positives first (one per kind before the rest), then near-misses.
SCENARIOS: list[tuple[str, Scenario]] = [
    (fn.__name__, fn)
    for fn in [
        late_delivered,
        wrong_colour,
        billed_cancelled,
        complaint_not_acknowledged,
        urgent_refused,
        heavy_caller,
        broken_three,
        better_plan_legacy,
        loyalty_anniversary,
        unused_then_cancelled,
        price_rise_notified_late,
        billed_after_cancellation,
        notice_annual_late,
        at_risk_then_late,
        never_delivered,
        at_risk_recovered,
        late_by_a_minute,
        lost_and_billed,
        wrong_sku,
        short_delivery,
        wrong_then_corrected,
        double_billed,
        billed_twice_on_one_invoice,
        overpriced_line,
        underpriced_line,
        never_invoiced,
        complaint_resolved_late,
        complaint_never_resolved,
        complaint_own_deadline,
        heavy_caller_then_big_order,
        unprofitable_by_a_minute,
        broken_four,
        better_plan_then_switch,
        better_plan_exactly_5,
        better_plan_exactly_10_percent,
        loyalty_exactly_10_percent,
        loyalty_price_rise_then_cut,
        unused_then_used_again,
        price_rise_never_announced,
        billed_after_cancellation_refunded,
        notice_contract_end_late,
        notice_contract_end_overdue,
        notice_due_then_cancelled,
        nm_delivered_minute_early,
        nm_shipped_at_risk_boundary,
        nm_express,
        nm_customer_cancelled,
        nm_delivery_reordered,
        nm_urgent_customer_cancelled,
        nm_company_cancelled_not_urgent,
        nm_invoiced_on_day_30,
        nm_complaint_on_the_dot,
        nm_complaint_low_29_days,
        nm_broken_spread,
        nm_broken_with_at_risk,
        nm_unprofitable_exactly_50,
        nm_better_plan_4_99,
        nm_better_plan_9_85_percent,
        nm_better_plan_new_only,
        nm_loyalty_9_96_percent,
        nm_loyalty_plan_not_on_sale,
        nm_unused_one_month,
        nm_unused_not_consecutive,
        nm_price_rise_30_days,
        nm_price_cut_late,
        nm_cancelled_mid_period,
        nm_cancelled_at_period_end,
        nm_notice_every_365_days,
        nm_notice_as_window_opens,
    ]
]
