"""overpaying.unused_subscription (SPEC §3.3): histories -> alerts, through models.engine."""

from __future__ import annotations

from typing import Any

import pytest

from models.policy import Policy

from ...factories import T0
from ...subscription_factories import (
    lifecycle,
    make_cancel_requested,
    make_changed,
    make_ended,
    make_price_notified,
    make_started,
    make_sub_invoice,
    make_usage,
    month,
    replay_billing,
    sub_line,
)

KIND = "overpaying.unused_subscription"


def billed(period: str, price: str = "12.99") -> Any:
    return make_sub_invoice(f"inv-{period}", period=period, lines=[sub_line(price=price)])


def period_of(usage: float, period: str, bill: bool = True) -> list[Any]:
    """A period's usage record and (unless ``bill`` is False) its invoice."""
    return [make_usage(period, usage), *([billed(period)] if bill else [])]


def kinds(changes: list[Any]) -> list[tuple[str, int]]:
    return lifecycle(changes, KIND)


START = [make_started(plan="tv-extra", fee="12.99")]

RUNS = [
    pytest.param([*period_of(0, "2026-09")], [], id="one-unused-period"),
    pytest.param([*period_of(0, "2026-09"), *period_of(0, "2026-10")], [("raised", 1)], id="two-unused-periods"),
    pytest.param(
        [*period_of(0, "2026-08"), *period_of(0, "2026-09"), *period_of(0, "2026-10")],
        [("raised", 1)],
        id="three-unused-periods-one-alert",
    ),
    pytest.param([*period_of(0.5, "2026-09"), *period_of(0, "2026-10")], [], id="used-a-little"),
    pytest.param([*period_of(0, "2026-08"), *period_of(0, "2026-10")], [], id="not-consecutive"),
    pytest.param(
        [*period_of(0, "2026-08"), *period_of(0, "2026-09", bill=False), *period_of(0, "2026-10")],
        [],
        id="a-month-not-billed-between",
    ),
    pytest.param([billed("2026-09"), billed("2026-10")], [], id="billed-but-usage-unknown"),
    pytest.param([make_usage("2026-09", 0), make_usage("2026-10", 0)], [], id="unused-but-not-billed"),
]


@pytest.mark.parametrize(("history", "expected"), RUNS)
def test_consecutive_billed_periods_with_zero_usage(history: list[Any], expected: list) -> None:
    assert kinds(replay_billing([*START, *history])[0]) == expected


def test_the_alert_counts_a_year_of_fees_and_lists_the_unused_months() -> None:
    history = [*START, *period_of(0, "2026-09"), *period_of(0, "2026-10")]
    (change,) = replay_billing(history)[0]
    assert (change.amount, change.per, change.severity) == (12 * 12_990_000, "year", "warning")
    assert change.details["unused_periods"] == ["2026-09", "2026-10"]
    assert change.details["billed_in_unused_periods"] == 25.98
    assert "for 2 months in a row (Sep 2026 to Oct 2026) without using it: EUR 25.98" in change.summary
    assert "offer to end it" in change.suggested_action
    assert len(change.evidence) == 4  # two usage records, two invoices


def test_the_latest_month_not_yet_invoiced_does_not_break_the_run() -> None:
    history = [*START, *period_of(0, "2026-09"), *period_of(0, "2026-10"), make_usage("2026-11", 0)]
    changes, state = replay_billing(history)
    assert kinds(changes) == [("raised", 1)]
    changes, _ = replay_billing([billed("2026-11")], state=state)
    assert kinds(changes) == []  # three months now, the same yearly figure


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        pytest.param(make_usage("2026-11", 3), [("resolved", 2)], id="usage-resumes"),
        pytest.param(
            make_cancel_requested(effective=month(2026, 12, 1), at=month(2026, 11, 10)),
            [("resolved", 2)],
            id="cancellation-requested",
        ),
        pytest.param(make_ended(at=month(2026, 11, 10)), [("resolved", 2)], id="ended"),
        pytest.param(
            make_changed(plan="tv-extra", fee="15.99", at=month(2026, 11, 10)), [("updated", 2)], id="fee-up-23-percent"
        ),
        pytest.param(make_changed(plan="tv-extra", fee="13.99", at=month(2026, 11, 10)), [], id="fee-up-7.7-percent"),
        pytest.param(
            make_usage("2026-10", 2, at=month(2026, 11, 9)), [("resolved", 2)], id="usage-corrected-replaces-the-zero"
        ),
    ],
)
def test_lifecycle(step: Any, expected: list) -> None:
    history = [*START, *period_of(0, "2026-09"), *period_of(0, "2026-10"), step]
    assert kinds(replay_billing(history)[0]) == [("raised", 1), *expected]


def test_a_price_rise_updates_when_the_fee_is_next_judged() -> None:
    rise = make_price_notified(fee="16.99", effective=month(2026, 12, 1), at=month(2026, 9, 15))
    history = [*START, rise, *period_of(0, "2026-09"), *period_of(0, "2026-10"), make_usage("2026-11", 0)]
    changes, _ = replay_billing(history)
    assert kinds(changes) == [("raised", 1), ("updated", 2)]
    assert [c.amount for c in changes] == [12 * 12_990_000, 12 * 16_990_000]


def test_usage_resuming_and_stopping_again_raises_the_same_alert_again() -> None:
    history = [
        *START,
        *period_of(0, "2026-05"),
        *period_of(0, "2026-06"),
        *period_of(4, "2026-07"),
        *period_of(0, "2026-08"),
        *period_of(0, "2026-09"),
    ]
    changes, _ = replay_billing(history)
    assert kinds(changes) == [("raised", 1), ("resolved", 2), ("raised", 3)]
    assert len({c.alert_id for c in changes}) == 1


def test_a_subscription_whose_start_predates_our_history_is_judged_at_its_billed_price() -> None:
    (change,) = replay_billing([*period_of(0, "2026-09"), *period_of(0, "2026-10")])[0]
    assert change.amount == 12 * 12_990_000


def test_policy_periods() -> None:
    history = [*START, *period_of(0, "2026-09"), *period_of(0, "2026-10"), *period_of(0, "2026-11")]
    changes, _ = replay_billing(history, policy=Policy(unused_subscription_periods=3))
    assert kinds(changes) == [("raised", 1)]
    assert changes[0].details["unused_periods"] == ["2026-09", "2026-10", "2026-11"]


def test_an_alert_needs_no_catalog() -> None:
    history = [*START, *period_of(0, "2026-09"), *period_of(0, "2026-10")]
    assert kinds(replay_billing(history, catalog=None)[0]) == [("raised", 1)]
    assert T0  # the factories' reference time is after all of this


def test_the_summary_names_the_plan_when_the_catalog_knows_it() -> None:
    from ...subscription_factories import catalog_of, plan_doc

    history = [*START, *period_of(0, "2026-09"), *period_of(0, "2026-10")]
    (change,) = replay_billing(history, catalog_of(plan_doc("tv-extra", name="TV Extra", unit="hours")))[0]
    assert "(TV Extra)" in change.summary
    (change,) = replay_billing(history)[0]
    assert "(tv-extra)" in change.summary
