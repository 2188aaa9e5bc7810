"""overpaying.loyalty_penalty (SPEC §3.2): histories with a catalog -> alerts, through models.engine."""

from __future__ import annotations

from typing import Any

import pytest

from models.policy import Policy

from ...factories import DAY, T0, AdvanceTo
from ...subscription_factories import (
    START,
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

KIND = "overpaying.loyalty_penalty"
#: Plan X as new customers get it today: 20.00 a month.
PLAN = plan_doc("p-x", name="Broadband 100", fee="20.00", included=1000, overage="0")
CATALOG = catalog_of(PLAN)
ANNIVERSARY = month(2026, 1, 15, 10)  # START + 12 months


def kinds(changes: list[Any]) -> list[tuple[str, int]]:
    return lifecycle(changes, KIND)


@pytest.mark.parametrize(
    ("fee", "expected"),
    [
        pytest.param("21.99", [], id="9.95-percent-above"),
        pytest.param("22.00", [("raised", 1)], id="exactly-10-percent-above"),
        pytest.param("22.01", [("raised", 1)], id="10.05-percent-above"),
        pytest.param("20.00", [], id="the-same-price"),
        pytest.param("15.00", [], id="below-the-new-customer-price"),
    ],
)
def test_fee_threshold(fee: str, expected: list) -> None:
    changes, _ = replay_billing([make_started(plan="p-x", fee=fee), make_usage("2026-10", 10)], CATALOG)
    assert kinds(changes) == expected


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        pytest.param(ANNIVERSARY - 1, [], id="1ms-short-of-12-months"),
        pytest.param(ANNIVERSARY, [("raised", 1)], id="12-months"),
        pytest.param(ANNIVERSARY + DAY, [("raised", 1)], id="12-months-and-a-day"),
    ],
)
def test_tenure_is_reached_by_stream_time_for_a_quiet_customer(now: int, expected: list) -> None:
    changes, _ = replay_billing([make_started(plan="p-x", fee="30.00"), AdvanceTo(now)], CATALOG)
    assert kinds(changes) == expected
    if expected:
        assert changes[0].at == ANNIVERSARY


def test_the_alert_says_what_a_newcomer_pays_and_what_a_year_costs() -> None:
    (change,) = replay_billing([make_started(plan="p-x", fee="30.00"), make_usage("2026-10", 10)], CATALOG)[0]
    assert (change.amount, change.per, change.severity) == (120_000_000, "year", "warning")
    assert change.details["new_customer_monthly_fee"] == 20.0 and change.details["agreed_monthly_fee"] == 30.0
    assert change.details["tenure_months"] == 21 and change.details["percent_above_new_customer_price"] == 50.0
    assert "new customers get the same plan for EUR 20.00 (50% more)" in change.summary
    assert "You have been with us 21 months" in change.summary


@pytest.mark.parametrize(
    "plan",
    [
        pytest.param(plan_doc("p-x", fee="20.00", open_to=("existing",)), id="not-offered-to-new-customers"),
        pytest.param(plan_doc("p-x", fee="20.00", active=False), id="no-longer-sold"),
    ],
)
def test_a_plan_not_offered_to_newcomers_has_no_newcomer_price(plan: dict[str, Any]) -> None:
    changes, _ = replay_billing([make_started(plan="p-x", fee="30.00"), make_usage("2026-10", 1)], catalog_of(plan))
    assert kinds(changes) == []


def test_a_plan_not_yet_in_the_catalog_stays_silent_until_it_is() -> None:
    changes, state = replay_billing([make_started(plan="p-x", fee="30.00"), make_usage("2026-10", 1)], {})
    assert kinds(changes) == []
    changes, _ = replay_billing([SetCatalog(CATALOG), make_usage("2026-11", 1)], {}, state=state)
    assert kinds(changes) == [("raised", 1)]


def test_tenure_unknown_when_the_start_predates_our_history() -> None:
    changes, _ = replay_billing([make_changed(plan="p-x", fee="30.00", at=T0), make_usage("2026-10", 1)], CATALOG)
    assert kinds(changes) == []


def test_the_catalog_price_changing_updates_or_resolves_at_the_next_look() -> None:
    changes, state = replay_billing([make_started(plan="p-x", fee="30.00"), make_usage("2026-10", 1)], CATALOG)
    assert kinds(changes) == [("raised", 1)]  # 10.00 a month
    cheaper = catalog_of(plan_doc("p-x", fee="15.00", included=1000, overage="0"))
    changes, _ = replay_billing([SetCatalog(cheaper), make_usage("2026-11", 1)], CATALOG, state=state)
    assert kinds(changes) == [("updated", 2)]  # 15.00 a month
    dearer = catalog_of(plan_doc("p-x", fee="28.00", included=1000, overage="0"))
    changes, _ = replay_billing([SetCatalog(dearer), make_usage("2026-12", 1)], CATALOG, state=state)
    assert kinds(changes) == [("resolved", 3)]  # 30.00 is 7% above 28.00


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        pytest.param(make_changed(plan="p-x", fee="20.00", at=T0), [("resolved", 2)], id="brought-to-the-new-price"),
        pytest.param(make_changed(plan="p-y", fee="20.00", at=T0), [("resolved", 2)], id="moved-to-another-plan"),
        pytest.param(make_ended(at=T0), [("resolved", 2)], id="ended"),
        pytest.param(make_changed(plan="p-x", fee="29.50", at=T0), [], id="a-discount-too-small-to-update"),
        pytest.param(make_changed(plan="p-x", fee="25.00", at=T0), [("updated", 2)], id="a-discount"),
    ],
)
def test_resolves_when_the_penalty_goes(step: Any, expected: list) -> None:
    catalog = catalog_of(PLAN, plan_doc("p-y", fee="30.00"))
    changes, _ = replay_billing([make_started(plan="p-x", fee="30.00"), make_usage("2026-10", 1), step], catalog)
    assert kinds(changes) == [("raised", 1), *expected]


def test_a_price_rise_taking_effect_updates_and_a_cancellation_resolves_by_stream_time() -> None:
    history = [
        make_started(plan="p-x", fee="30.00"),
        make_usage("2026-10", 1),
        make_price_notified(fee="35.00", effective=month(2026, 12, 1), at=month(2026, 11, 1)),
        make_cancel_requested(effective=month(2027, 1, 1), at=month(2026, 11, 5)),
        AdvanceTo(month(2027, 1, 1)),
    ]
    changes, state = replay_billing(history, CATALOG)
    assert kinds(changes) == [("raised", 1), ("updated", 2), ("resolved", 3)]
    assert [c.at for c in changes] == [month(2026, 11, 2), month(2026, 12, 1), month(2027, 1, 1)]
    assert state["deadlines"] == {}


def test_policy_overrides() -> None:
    policy = Policy(loyalty_penalty_min_fraction=0.6, loyalty_penalty_tenure_months=24)
    changes, _ = replay_billing([make_started(plan="p-x", fee="30.00"), AdvanceTo(START + 800 * DAY)], CATALOG, policy)
    assert kinds(changes) == []  # 50% above is not 60%
    policy = Policy(loyalty_penalty_tenure_months=24)
    changes, _ = replay_billing([make_started(plan="p-x", fee="30.00"), AdvanceTo(START + 800 * DAY)], CATALOG, policy)
    assert kinds(changes) == [("raised", 1)]
    assert [c.at for c in changes if c.kind == KIND] == [month(2027, 1, 15, 10)]


def test_a_late_event_is_judged_as_of_the_stream_not_back_in_its_own_past() -> None:
    history = [
        make_started(plan="p-x", fee="20.00"),
        make_price_notified(fee="30.00", effective=month(2026, 6, 1), at=month(2026, 4, 1)),
        AdvanceTo(month(2026, 8, 1)),
        # Arrives after stream time passed June: at its own time (May) the fee was still 20.00.
        make_price_notified(fee="35.00", effective=month(2026, 9, 1), at=month(2026, 5, 1)),
        AdvanceTo(month(2026, 9, 1)),
    ]
    changes, _ = replay_billing(history, CATALOG)
    assert kinds(changes) == [("raised", 1), ("updated", 2)]
    assert [c.at for c in changes if c.kind == KIND] == [month(2026, 6, 1), month(2026, 9, 1)]
