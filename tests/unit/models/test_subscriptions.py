"""models.subscriptions: the subscription facts the bad-profit detectors judge by, and their bounds."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from models.policy import Policy
from models.state import new_state, prune
from models.subscriptions import (
    announced_fee,
    apply_subscription_event,
    complete_usage,
    ends_at,
    fee_in_force,
    is_active,
    latest_run,
    plans_missing,
    prune_subscriptions,
    tenure_months,
)

from ..factories import CUSTOMER, DAY, T0
from ..subscription_factories import (
    START,
    SUB,
    catalog_of,
    make_cancel_requested,
    make_changed,
    make_ended,
    make_notice,
    make_price_notified,
    make_started,
    make_sub_invoice,
    make_usage,
    month,
    plan_doc,
    sub_line,
)


def apply(*events: Any, state: dict[str, Any] | None = None) -> dict[str, Any]:
    state = state if state is not None else new_state(CUSTOMER, 0)
    for event in events:
        apply_subscription_event(state, event, Policy())
    return state


def sub_of(state: dict[str, Any], sub_id: str = SUB) -> dict[str, Any]:
    return state["subs"][sub_id]


def test_started_records_plan_fee_tenure_and_minimum_term() -> None:
    state = apply(make_started(plan="p-1", fee="19.99", term=24, at=month(2025, 1, 31), event_id="e-start"))
    sub = sub_of(state)
    assert (sub["plan"], sub["fee"], sub["start_by"]) == ("p-1", 19_990_000, "e-start")
    assert sub["start"] == month(2025, 1, 31)
    assert sub["term_end"] == month(2027, 1, 31)
    assert sub_of(apply(make_started(term=0)))["term_end"] is None
    assert orjson.loads(orjson.dumps(state)) == state  # plain JSON in the changelog


def test_a_change_of_plan_keeps_the_tenure() -> None:
    sub = sub_of(apply(make_started(plan="p-1", fee="10.00"), make_changed(plan="p-2", fee="12.00", at=T0)))
    assert (sub["plan"], sub["fee"], sub["fee_at"], sub["start"]) == ("p-2", 12_000_000, T0, START)


def test_an_older_agreement_arriving_late_does_not_undo_a_newer_one() -> None:
    sub = sub_of(apply(make_changed(plan="p-2", fee="12.00", at=T0), make_started(plan="p-1", fee="10.00")))
    assert (sub["plan"], sub["fee"], sub["start"]) == ("p-2", 12_000_000, START)


def test_events_about_an_unknown_subscription_are_kept_until_its_plan_is_known() -> None:
    state = apply(make_usage("2026-10", 3))
    sub = sub_of(state)
    assert sub["plan"] is None and sub["usage"]["2026-10"][0] == 3
    assert not is_active(sub, T0)


# --- usage --------------------------------------------------------------------------


def test_usage_recorded_twice_for_a_period_is_replaced_not_added() -> None:
    first = make_usage("2026-10", 30, at=month(2026, 11, 2), event_id="e-first")
    correction = make_usage("2026-10", 4, at=month(2026, 11, 3), event_id="e-correction")
    assert sub_of(apply(first, correction))["usage"]["2026-10"] == [4, month(2026, 11, 3), "e-correction"]
    # The same two arriving the other way round: the later record still wins.
    assert sub_of(apply(correction, first))["usage"]["2026-10"] == [4, month(2026, 11, 3), "e-correction"]


def test_usage_keeps_the_latest_12_periods() -> None:
    events = [make_usage(f"{2025 + (m - 1) // 12}-{(m - 1) % 12 + 1:02d}", m) for m in range(1, 16)]
    state = apply(*events)
    expected = [f"2025-{m:02d}" for m in range(4, 13)] + ["2026-01", "2026-02", "2026-03"]
    assert sorted(sub_of(state)["usage"]) == expected
    apply(make_usage("2024-12", 1), state=state)  # older than all of them: not kept
    assert sorted(sub_of(state)["usage"]) == expected


@pytest.mark.parametrize(
    ("at", "complete"),
    [
        pytest.param(month(2026, 10, 31, 23), [], id="last-hour-of-the-period"),
        pytest.param(month(2026, 11, 1) - 1, [], id="1ms-before-its-end"),
        pytest.param(month(2026, 11, 1), ["2026-10"], id="at-its-end"),
    ],
)
def test_a_period_is_complete_once_it_is_over(at: int, complete: list[str]) -> None:
    sub = sub_of(apply(make_usage("2026-10", 3, at=month(2026, 10, 31))))
    assert [period for period, _, _ in complete_usage(sub, at)] == complete


@pytest.mark.parametrize(
    ("periods", "count", "run"),
    [
        pytest.param(["2026-08", "2026-09"], 3, None, id="too-few"),
        pytest.param(["2026-08", "2026-09", "2026-10"], 3, ["2026-08", "2026-09", "2026-10"], id="three"),
        pytest.param(["2026-07", "2026-09", "2026-10"], 3, None, id="a-gap"),
        pytest.param(
            ["2026-05", "2026-11", "2026-12", "2027-01"], 3, ["2026-11", "2026-12", "2027-01"], id="over-new-year"
        ),
    ],
)
def test_latest_run_wants_consecutive_months(periods: list[str], count: int, run: list[str] | None) -> None:
    assert latest_run(periods, count) == run


# --- invoices and credits ---------------------------------------------------------------


def test_billed_subscription_lines_per_period_and_a_reissued_invoice_replaces_its_lines() -> None:
    invoice = make_sub_invoice("inv-1", period="2026-10", lines=[sub_line("l1", price="20.00")])
    reissued = make_sub_invoice("inv-1", period="2026-10", lines=[sub_line("l1", price="18.00")])
    other = make_sub_invoice("inv-2", period="2026-10", lines=[sub_line("l1", ref="s-2")])
    state = apply(make_started(), invoice, reissued, other)
    assert [(line[0], line[3]) for line in sub_of(state)["billed"]["2026-10"]] == [("inv-1", 18_000_000)]
    assert "2026-10" in sub_of(state, "s-2")["billed"]


def test_an_invoice_without_period_bills_the_month_it_was_issued_in() -> None:
    state = apply(make_started(), make_sub_invoice("inv-1", period=None, lines=[sub_line()], at=month(2026, 11, 3)))
    assert list(sub_of(state)["billed"]) == ["2026-11"]


def test_a_credit_pays_back_the_oldest_overcharge_first_and_counts_once() -> None:
    state = apply(make_started())
    sub = sub_of(state)
    sub["over"] = {
        "new": {"d": "x", "amount": 5_000_000, "paid": 0, "at": 2, "ev": [], "f": {}},
        "old": {"d": "x", "amount": 3_000_000, "paid": 0, "at": 1, "ev": [], "f": {}},
    }
    credit = make_sub_invoice("inv-9", period="2026-11", lines=[sub_line("c1", price="-4.00", kind="fee")])
    apply(credit, state=state)
    apply(credit, state=state)  # the same credit line replayed beyond the de-duplication window
    assert (sub["over"]["old"]["paid"], sub["over"]["new"]["paid"]) == (3_000_000, 1_000_000)
    assert "2026-11" not in sub["billed"]  # a credit is not a bill


# --- fees and notice ----------------------------------------------------------------


def test_the_fee_in_force_follows_price_changes_as_they_take_effect() -> None:
    rise = make_price_notified(fee="22.00", effective=month(2026, 12, 1), at=month(2026, 11, 1))
    sub = sub_of(apply(make_started(fee="20.00"), rise))
    assert fee_in_force(sub, month(2026, 12, 1) - 1) == 20_000_000
    assert fee_in_force(sub, month(2026, 12, 1)) == 22_000_000


def test_a_price_change_notified_before_a_change_of_plan_belongs_to_the_old_plan() -> None:
    rise = make_price_notified(fee="22.00", effective=month(2026, 12, 1), at=month(2026, 11, 1))
    sub = sub_of(apply(make_started(fee="20.00"), rise, make_changed(fee="30.00", at=month(2026, 11, 5))))
    assert fee_in_force(sub, month(2027, 1, 1)) == 30_000_000


@pytest.mark.parametrize(
    ("notified", "announced"),
    [
        pytest.param(month(2026, 12, 1) - 30 * DAY, 22_000_000, id="30-days-ahead"),
        pytest.param(month(2026, 12, 1) - 30 * DAY + 1, 20_000_000, id="1ms-short-of-30-days"),
        pytest.param(month(2026, 12, 1) - 29 * DAY, 20_000_000, id="29-days-ahead"),
    ],
)
def test_a_rise_counts_as_announced_only_with_30_days_notice(notified: int, announced: int) -> None:
    rise = make_price_notified(fee="22.00", effective=month(2026, 12, 1), at=notified)
    sub = sub_of(apply(make_started(fee="20.00"), rise))
    assert announced_fee(sub, month(2026, 12, 1), 30 * DAY)[0] == announced
    # A month later the same notice is well ahead of that month's price.
    assert announced_fee(sub, month(2027, 1, 1), 30 * DAY)[0] == 22_000_000


def test_a_price_cut_counts_whatever_its_notice() -> None:
    cut = make_price_notified(fee="18.00", effective=month(2026, 12, 1), at=month(2026, 11, 30))
    sub = sub_of(apply(make_started(fee="20.00"), cut))
    assert announced_fee(sub, month(2026, 12, 1), 30 * DAY)[0] == 18_000_000


@pytest.mark.parametrize(
    ("events", "end"),
    [
        pytest.param([], None, id="running"),
        pytest.param([make_cancel_requested(effective=month(2026, 12, 1))], month(2026, 12, 1), id="cancelled"),
        pytest.param([make_ended(at=T0)], T0, id="ended"),
        pytest.param([make_cancel_requested(effective=month(2026, 12, 1)), make_ended(at=T0)], T0, id="ended-first"),
    ],
)
def test_a_subscription_stops_when_its_cancellation_takes_effect_or_it_ends(events: list[Any], end: int | None) -> None:
    sub = sub_of(apply(make_started(), *events))
    assert ends_at(sub) == end
    if end is not None:
        assert is_active(sub, end - 1) and not is_active(sub, end)


def test_a_restart_clears_an_earlier_cancellation() -> None:
    sub = sub_of(apply(make_started(), make_ended(at=T0), make_started(at=T0 + DAY)))
    assert ends_at(sub) is None and sub["start"] == T0 + DAY


@pytest.mark.parametrize(
    ("at", "months"),
    [
        pytest.param(START - 1, None, id="before-start"),
        pytest.param(month(2026, 1, 15, 10) - 1, 11, id="1ms-short-of-a-year"),
        pytest.param(month(2026, 1, 15, 10), 12, id="a-year"),
    ],
)
def test_tenure_in_whole_months(at: int, months: int | None) -> None:
    assert tenure_months(sub_of(apply(make_started())), at) == months


def test_notices_are_kept_bounded_oldest_first() -> None:
    notices = [make_notice(at=T0 + n * DAY) for n in range(12)]
    kept = sub_of(apply(make_started(), *notices))["notices"]
    assert len(kept) == 8 and kept[0][1] == T0 + 4 * DAY


# --- the catalog, and forgetting -------------------------------------------------------------


def test_plans_missing_when_a_running_subscription_names_a_plan_the_catalog_lacks() -> None:
    state = apply(make_started(plan="p-unknown"))
    assert plans_missing(state, catalog_of(plan_doc("p-small")), T0)
    assert not plans_missing(state, catalog_of(plan_doc("p-unknown")), T0)
    apply(make_ended(at=T0), state=state)
    assert not plans_missing(state, {}, T0 + 1)  # ended: no longer counted


def test_ended_subscriptions_are_forgotten_after_retention_with_their_deadlines() -> None:
    policy = Policy(subscription_retention_days=10)
    state = apply(make_started("s-old"), make_ended("s-old", at=T0), make_started("s-live"))
    state["deadlines"] = {"better_plan|s-old": T0 + 99 * DAY, "late_delivery|s-old": T0 + 99 * DAY}
    prune_subscriptions(state, T0 + 10 * DAY, policy)
    assert set(state["subs"]) == {"s-old", "s-live"}
    prune(state, T0 + 10 * DAY + 1, policy)  # models.state.prune prunes subscriptions too
    assert set(state["subs"]) == {"s-live"}
    assert state["deadlines"] == {"late_delivery|s-old": T0 + 99 * DAY}  # another detector's key stays


def test_subscriptions_beyond_the_cap_go_ended_first_then_the_quietest() -> None:
    policy = Policy(max_subscriptions_per_customer=2)
    state = apply(
        make_started("s-quiet", at=START),
        make_started("s-busy", at=START + DAY),
        make_started("s-ended", at=START + 2 * DAY),
        make_ended("s-ended", at=START + 3 * DAY),
    )
    prune_subscriptions(state, START + 4 * DAY, policy)
    assert set(state["subs"]) == {"s-quiet", "s-busy"}
    apply(make_started("s-new", at=START + 5 * DAY), state=state)
    prune_subscriptions(state, START + 6 * DAY, policy)
    assert set(state["subs"]) == {"s-busy", "s-new"}


def test_the_customer_view_shows_subscriptions_readably() -> None:
    from models.views import customer_view

    state = apply(
        make_started(fee="19.99", term=12),
        make_usage("2026-10", 3.5),
        make_sub_invoice("inv-1", period="2026-10", lines=[sub_line(price="19.99")]),
    )
    view = customer_view(state, {}, "EUR")["subscriptions"]["s-1"]
    assert view["agreed_monthly_fee"] == 19.99 and view["started_at"] == "2025-01-15T10:00:00Z"
    assert view["minimum_term_ends_at"] == "2026-01-15T10:00:00Z"
    assert view["usage"] == {"2026-10": 3.5} and view["billed"] == {"2026-10": 19.99}
    assert orjson.loads(orjson.dumps(view)) == view
