"""overpaying.better_plan (SPEC §3.1): histories with a catalog -> alerts, through models.engine."""

from __future__ import annotations

from typing import Any

import pytest

from models.alerts import alert_id_for
from models.policy import Policy

from ...factories import CUSTOMER, DAY, AdvanceTo
from ...subscription_factories import (
    SetCatalog,
    catalog_of,
    lifecycle,
    make_cancel_requested,
    make_changed,
    make_ended,
    make_price_notified,
    make_started,
    make_usage,
    month,
    plan_doc,
    replay_billing,
)

KIND = "overpaying.better_plan"
#: The customer's plan: 10.00 a month, 2 GB included, 5.00 per GB beyond.
SMALL = plan_doc("p-small", fee="10.00", included=2, overage="5.00")


def alt(fee: str, **kwargs: Any) -> dict[str, Any]:
    """Another plan that covers any usage here for a flat fee."""
    return plan_doc(kwargs.pop("plan_id", "p-alt"), fee=fee, included=1000, overage="0", **kwargs)


def usage(units: float, periods: tuple[str, ...] = ("2026-08", "2026-09", "2026-10")) -> list[Any]:
    return [make_usage(period, units) for period in periods]


def history(units: float, *more: Any) -> list[Any]:
    return [make_started(plan="p-small", fee="10.00"), *usage(units), *more]


def kinds(changes: list[Any]) -> list[tuple[str, int]]:
    return lifecycle(changes, KIND)


# Paying 20.00 a month (4 GB: 10.00 + 2 x 5.00): 10% is 2.00, so 5.00 a month is the threshold that binds.
# Paying 100.00 a month (20 GB: 10.00 + 18 x 5.00): 10% is 10.00, so the fraction binds.
THRESHOLDS = [
    pytest.param(4, "15.01", [], id="saving-4.99-a-month"),
    pytest.param(4, "15.00", [("raised", 1)], id="saving-5.00-a-month"),
    pytest.param(4, "14.99", [("raised", 1)], id="saving-5.01-a-month"),
    pytest.param(20, "90.01", [], id="saving-9.99-percent"),
    pytest.param(20, "90.00", [("raised", 1)], id="saving-exactly-10-percent"),
    pytest.param(20, "89.99", [("raised", 1)], id="saving-10.01-percent"),
]


@pytest.mark.parametrize(("units", "alt_fee", "expected"), THRESHOLDS)
def test_thresholds(units: float, alt_fee: str, expected: list[tuple[str, int]]) -> None:
    changes, _ = replay_billing(history(units), catalog_of(SMALL, alt(alt_fee)))
    assert kinds(changes) == expected


def test_the_alert_carries_the_yearly_saving_and_the_figures_a_crm_agent_needs() -> None:
    catalog = catalog_of(SMALL, alt("15.00", name="Mobile M"))
    (change,) = replay_billing(history(4), catalog)[0]
    assert change.alert_id == alert_id_for(KIND, CUSTOMER, "s-1")
    assert (change.amount, change.per, change.severity) == (60_000_000, "year", "warning")
    assert change.at == month(2026, 11, 2)  # the usage record that completed three periods
    assert change.details["current_plan"]["plan_id"] == "p-small"
    assert change.details["best_plan"]["plan_id"] == "p-alt"
    assert change.details["monthly_saving"] == 5.0 and change.details["saving_percent"] == 25.0
    assert [p["period"] for p in change.details["periods"]] == ["2026-08", "2026-09", "2026-10"]
    assert change.details["periods"][0] == {
        "period": "2026-08",
        "units": 4,
        "cost_on_current_plan": 20.0,
        "cost_on_best_plan": 15.0,
    }
    assert "Mobile M would have cost EUR 45.00" in change.summary
    assert "switch subscription s-1 to Mobile M" in change.suggested_action
    assert len(change.evidence) == 4  # the agreement and the three usage records


@pytest.mark.parametrize(
    ("periods", "expected"),
    [
        pytest.param(("2026-09", "2026-10"), [], id="two-complete-periods"),
        pytest.param(("2026-08", "2026-09", "2026-10"), [("raised", 1)], id="three-complete-periods"),
        pytest.param(("2026-07", "2026-09", "2026-10"), [], id="three-with-a-gap"),
    ],
)
def test_fewer_than_three_complete_periods_raise_nothing_yet(periods: tuple[str, ...], expected: list) -> None:
    history_ = [make_started(plan="p-small", fee="10.00"), *usage(20, periods)]
    assert kinds(replay_billing(history_, catalog_of(SMALL, alt("30.00")))[0]) == expected


def test_a_period_recorded_before_it_ends_counts_once_it_is_over() -> None:
    # October's usage is reported on 31 Oct: October completes at midnight, by stream time.
    history_ = [
        make_started(plan="p-small", fee="10.00"),
        make_usage("2026-08", 20),
        make_usage("2026-09", 20),
        make_usage("2026-10", 20, at=month(2026, 10, 31, 12)),
    ]
    catalog = catalog_of(SMALL, alt("30.00"))
    changes, state = replay_billing([*history_, AdvanceTo(month(2026, 11, 1) - 1)], catalog)
    assert kinds(changes) == []
    changes, _ = replay_billing([AdvanceTo(month(2026, 11, 1))], catalog, state=state)
    assert kinds(changes) == [("raised", 1)]
    assert changes[0].at == month(2026, 11, 1)


def test_overage_is_part_of_what_the_customer_pays() -> None:
    # Without overage the small plan (10.00) is the cheaper one; with 8 GB a month it costs 40.00.
    catalog = catalog_of(SMALL, alt("25.00"))
    assert kinds(replay_billing(history(2), catalog)[0]) == []
    (change,) = replay_billing(history(8), catalog)[0]
    assert change.details["periods"][0]["cost_on_current_plan"] == 40.0
    assert change.amount == 12 * 15_000_000


def test_overage_on_the_other_plan_counts_too() -> None:
    # p-mid: 15.00 with 5 GB, 1.00 per GB beyond: 20 GB cost 30.00 there (against 100.00).
    catalog = catalog_of(SMALL, plan_doc("p-mid", fee="15.00", included=5, overage="1.00"))
    (change,) = replay_billing(history(20), catalog)[0]
    assert change.details["periods"][0]["cost_on_best_plan"] == 30.0


@pytest.mark.parametrize(
    "other",
    [
        pytest.param(alt("12.00", open_to=("new",)), id="open-only-to-new-customers"),
        pytest.param(alt("12.00", active=False), id="no-longer-active"),
        pytest.param(alt("12.00", open_to=()), id="open-to-nobody"),
        pytest.param(alt("12.00", unit="hours"), id="measured-in-another-unit"),
        pytest.param(alt("12.00") | {"product": "tv"}, id="for-another-product"),
    ],
)
def test_a_plan_an_existing_customer_cannot_take_is_never_the_better_plan(other: dict[str, Any]) -> None:
    assert kinds(replay_billing(history(20), catalog_of(SMALL, other))[0]) == []


def test_the_same_plan_at_a_lower_catalog_price_is_not_a_better_plan() -> None:
    # Repricing the customer's own plan is the loyalty penalty's business.
    cheaper_same = plan_doc("p-small", fee="1.00", included=2, overage="5.00")
    history_ = [make_started(plan="p-small", fee="10.00"), *usage(2)]
    assert kinds(replay_billing(history_, catalog_of(cheaper_same))[0]) == []


def test_a_plan_not_yet_in_the_catalog_stays_silent_until_the_catalog_knows_it() -> None:
    early = catalog_of(alt("30.00"))  # the customer's plan p-small is missing
    changes, state = replay_billing(history(20), early)
    assert kinds(changes) == []
    assert state["subs"]["s-1"]["usage"]  # the events were kept all the same
    later = [SetCatalog(catalog_of(SMALL, alt("30.00"))), make_usage("2026-11", 20)]
    assert kinds(replay_billing(later, early, state=state)[0]) == [("raised", 1)]


def test_without_a_catalog_the_detector_is_silent() -> None:
    assert kinds(replay_billing(history(20), None)[0]) == []


def test_a_catalog_change_mid_period_is_judged_at_the_next_look() -> None:
    catalog = catalog_of(SMALL, alt("30.00"))
    changes, state = replay_billing(history(20), catalog)
    assert kinds(changes) == [("raised", 1)]  # 70.00 a month saved: 840.00 a year
    # Mid-November the alternative gets dearer, and a new, even cheaper plan comes out.
    dearer = catalog_of(SMALL, alt("60.00"), alt("20.00", plan_id="p-new"))
    changes, _ = replay_billing(
        [SetCatalog(dearer), make_usage("2026-11", 20, at=month(2026, 11, 20))], catalog, state=state
    )
    # November is not complete: the same three periods, judged against today's catalog.
    assert kinds(changes) == [("updated", 2)]
    assert changes[0].details["best_plan"]["plan_id"] == "p-new"
    assert changes[0].amount == 12 * 80_000_000


def test_usage_recorded_twice_for_a_period_replaces_the_first_figure() -> None:
    catalog = catalog_of(SMALL, alt("30.00"))
    changes, state = replay_billing(history(20), catalog)
    correction = make_usage("2026-10", 2, at=month(2026, 11, 3))
    changes, _ = replay_billing([correction], catalog, state=state)
    # Aug 100.00, Sep 100.00, Oct 10.00 (not 110.00): saving 210.00 - 90.00 over three months.
    assert kinds(changes) == [("updated", 2)]
    assert changes[0].amount == 4 * (210_000_000 - 90_000_000)


def test_material_change_updates_and_small_change_does_not() -> None:
    catalog = catalog_of(SMALL, alt("30.00"))
    _, state = replay_billing(history(20), catalog)  # 70.00 a month
    small, _ = replay_billing([make_usage("2026-11", 21)], catalog, state=state)  # 71.67 a month: +2.4%
    assert kinds(small) == []
    big, _ = replay_billing([make_usage("2026-12", 30)], catalog, state=state)
    assert kinds(big) == [("updated", 2)]


@pytest.mark.parametrize(
    ("switch", "expected"),
    [
        pytest.param(
            make_changed(plan="p-alt", fee="30.00", at=month(2026, 11, 10)), [("resolved", 2)], id="to-the-best-plan"
        ),
        pytest.param(
            make_changed(plan="p-alt", fee="29.00", at=month(2026, 11, 10)),
            [("resolved", 2)],
            id="to-the-best-plan-below-its-price",
        ),
        pytest.param(
            make_changed(plan="p-mid", fee="34.99", at=month(2026, 11, 10)),
            [("resolved", 2)],
            id="to-a-plan-within-5.00-of-the-best",
        ),
        pytest.param(
            make_changed(plan="p-mid", fee="35.00", at=month(2026, 11, 10)),
            [("updated", 2)],
            id="to-a-plan-still-5.00-above-the-best",
        ),
        pytest.param(
            make_changed(plan="p-small", fee="1.00", at=month(2026, 11, 10)),
            [("updated", 2)],
            id="a-discount-on-the-same-plan",
        ),
        pytest.param(
            make_changed(plan="p-small", fee="9.00", at=month(2026, 11, 10)), [], id="a-discount-too-small-to-update"
        ),
    ],
)
def test_switching_to_a_plan_at_or_below_the_best_price_resolves(switch: Any, expected: list) -> None:
    catalog = catalog_of(SMALL, alt("30.00"), plan_doc("p-mid", fee="35.00", included=1000, overage="0"))
    changes, _ = replay_billing([*history(20), switch], catalog)
    assert kinds(changes) == [("raised", 1), *expected]


def test_the_subscription_ending_resolves() -> None:
    catalog = catalog_of(SMALL, alt("30.00"))
    changes, _ = replay_billing([*history(20), make_ended(at=month(2026, 11, 10))], catalog)
    assert kinds(changes) == [("raised", 1), ("resolved", 2)]


def test_a_cancellation_resolves_when_it_takes_effect_by_stream_time() -> None:
    catalog = catalog_of(SMALL, alt("30.00"))
    cancel = make_cancel_requested(effective=month(2026, 12, 1), at=month(2026, 11, 10))
    changes, state = replay_billing([*history(20), cancel, AdvanceTo(month(2026, 12, 1) - 1)], catalog)
    assert kinds(changes) == [("raised", 1)]
    changes, _ = replay_billing([AdvanceTo(month(2026, 12, 1))], catalog, state=state)
    assert kinds(changes) == [("resolved", 2)]


def test_a_price_rise_taking_effect_updates_by_stream_time() -> None:
    catalog = catalog_of(SMALL, alt("30.00"))
    rise = make_price_notified(fee="20.00", effective=month(2026, 12, 1), at=month(2026, 11, 1) - 5 * DAY)
    changes, _ = replay_billing([*history(20), rise, AdvanceTo(month(2026, 12, 1))], catalog)
    # 70.00 a month saved, then 80.00 (+14%) from 1 December.
    assert kinds(changes) == [("raised", 1), ("updated", 2)]
    assert changes[-1].at == month(2026, 12, 1)


def test_policy_thresholds_are_respected() -> None:
    policy = Policy(better_plan_min_monthly_saving=80.0, better_plan_periods=2)
    catalog = catalog_of(SMALL, alt("30.00"))
    assert kinds(replay_billing(history(20), catalog, policy)[0]) == []  # 70.00 < 80.00
    changes, _ = replay_billing(history(20), catalog, Policy(better_plan_periods=2))
    assert kinds(changes) == [("raised", 1)]
    assert changes[0].at == month(2026, 10, 2)  # two complete periods were enough
