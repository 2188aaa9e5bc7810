"""overpaying.best_tariff_notice_due (SPEC §3.6): histories and stream time -> alerts, through models.engine."""

from __future__ import annotations

from typing import Any

import pytest

from models.policy import Policy

from ...factories import DAY, AdvanceTo
from ...subscription_factories import (
    START,
    catalog_of,
    lifecycle,
    make_cancel_requested,
    make_ended,
    make_notice,
    make_started,
    make_usage,
    month,
    plan_doc,
    replay_billing,
)

KIND = "overpaying.best_tariff_notice_due"
YEAR = month(2026, 1, 15, 10)  # START + 12 months
#: A 6-month minimum term: it ends long before the yearly notice is due.
TERM_END = month(2025, 7, 15, 10)
OPENS, CLOSES = TERM_END - 40 * DAY, TERM_END - 10 * DAY


def kinds(changes: list[Any]) -> list[tuple[str, int]]:
    return lifecycle(changes, KIND)


def emitted(changes: list[Any]) -> list[tuple[str, int, str, tuple[str, ...]]]:
    return [(c.lifecycle, c.revision, c.severity, tuple(c.details.get("due", ()))) for c in changes if c.kind == KIND]


# --- the yearly notice ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("history", "expected"),
    [
        pytest.param([AdvanceTo(YEAR - 1)], [], id="1ms-short-of-12-months-tenure"),
        pytest.param([AdvanceTo(YEAR)], [("raised", 1)], id="12-months-tenure"),
        pytest.param(
            [make_notice(at=YEAR - 100 * DAY), AdvanceTo(YEAR + 264 * DAY)], [], id="told-365-days-ago-less-1ms"
        ),
        pytest.param(
            [make_notice(at=YEAR - 100 * DAY), AdvanceTo(YEAR + 265 * DAY)],
            [("raised", 1)],
            id="told-exactly-365-days-ago",
        ),
        pytest.param(
            [make_notice(kind="contract_end", at=YEAR - DAY), AdvanceTo(YEAR)],
            [("raised", 1)],
            id="a-contract-end-notice-is-not-the-yearly-one",
        ),
    ],
)
def test_yearly_notice_is_due_from_12_months_tenure_by_stream_time(history: list[Any], expected: list) -> None:
    changes, _ = replay_billing([make_started(), *history])
    assert kinds(changes) == expected
    if expected:
        assert changes[0].severity == "warning" and changes[0].details["due"] == ["annual"]


def test_the_notice_resolves_and_the_next_one_falls_due_a_year_later() -> None:
    history = [
        make_started(),
        AdvanceTo(YEAR),
        make_notice(at=YEAR + 20 * DAY),
        AdvanceTo(YEAR + 20 * DAY + 365 * DAY - 1),
        AdvanceTo(YEAR + 20 * DAY + 365 * DAY),
    ]
    changes, _ = replay_billing(history)
    assert kinds(changes) == [("raised", 1), ("resolved", 2), ("raised", 3)]
    assert [c.at for c in changes] == [YEAR, YEAR + 20 * DAY, YEAR + 385 * DAY]
    assert len({c.alert_id for c in changes}) == 1


# --- the notice before the minimum term ends --------------------------------------------------------


@pytest.mark.parametrize(
    ("history", "expected"),
    [
        pytest.param([AdvanceTo(OPENS - 1)], [], id="term-ends-in-40-days-and-1ms"),
        pytest.param([AdvanceTo(OPENS)], [("raised", 1, "warning", ("contract_end",))], id="term-ends-in-40-days"),
        pytest.param(
            [AdvanceTo(CLOSES - 1)], [("raised", 1, "warning", ("contract_end",))], id="window-open-no-notice"
        ),
        pytest.param(
            [AdvanceTo(CLOSES)],
            [("raised", 1, "warning", ("contract_end",)), ("updated", 2, "critical", ("contract_end",))],
            id="window-closed-no-notice-overdue",
        ),
        pytest.param([make_notice(at=OPENS), AdvanceTo(TERM_END)], [], id="best-tariff-notice-40-days-before"),
        pytest.param(
            [make_notice(kind="contract_end", at=OPENS + DAY), AdvanceTo(TERM_END)],
            [],
            id="contract-end-notice-in-the-window",
        ),
        pytest.param(
            [make_notice(at=OPENS - 1), AdvanceTo(OPENS)],
            [("raised", 1, "warning", ("contract_end",))],
            id="notice-1ms-before-the-window-does-not-count",
        ),
        pytest.param(
            [AdvanceTo(OPENS), make_notice(at=CLOSES)],
            [("raised", 1, "warning", ("contract_end",)), ("resolved", 2, "warning", ())],
            id="notice-on-the-last-day-of-the-window",
        ),
        pytest.param(
            [AdvanceTo(CLOSES), make_notice(kind="contract_end", at=CLOSES + DAY)],
            [
                ("raised", 1, "warning", ("contract_end",)),
                ("updated", 2, "critical", ("contract_end",)),
                ("resolved", 3, "critical", ()),
            ],
            id="a-late-notice-still-resolves",
        ),
    ],
)
def test_notice_before_the_minimum_term_ends(history: list[Any], expected: list) -> None:
    changes, _ = replay_billing([make_started(term=6), *history])
    assert emitted(changes) == expected


def test_both_due_at_once_is_one_alert_and_a_contract_end_notice_meets_only_its_own() -> None:
    # A 24-month term: its window opens after the yearly notice fell due.
    term_end = month(2027, 1, 15, 10)
    history = [
        make_started(term=24),
        AdvanceTo(YEAR),
        AdvanceTo(term_end - 40 * DAY),
        make_notice(kind="contract_end", at=term_end - 30 * DAY),
        make_notice(at=term_end - 20 * DAY),
    ]
    changes, _ = replay_billing(history)
    assert emitted(changes) == [
        ("raised", 1, "warning", ("annual",)),
        ("updated", 2, "warning", ("annual", "contract_end")),
        ("updated", 3, "warning", ("annual",)),
        ("resolved", 4, "warning", ()),
    ]


@pytest.mark.parametrize(
    "step",
    [
        pytest.param(make_cancel_requested(effective=month(2026, 3, 1), at=YEAR + DAY), id="cancellation-requested"),
        pytest.param(make_ended(at=YEAR + DAY), id="ended"),
    ],
)
def test_a_leaving_customer_needs_no_notice(step: Any) -> None:
    changes, state = replay_billing([make_started(term=24), AdvanceTo(YEAR), step, AdvanceTo(YEAR + 900 * DAY)])
    assert kinds(changes) == [("raised", 1), ("resolved", 2)]
    assert state["deadlines"] == {}


def test_unknown_start_means_no_notice_can_be_judged() -> None:
    changes, _ = replay_billing([make_usage("2025-10", 3), AdvanceTo(YEAR + 400 * DAY)])
    assert kinds(changes) == []


def test_impact_is_the_yearly_saving_on_the_best_tariff_when_the_catalog_and_usage_tell() -> None:
    catalog = catalog_of(
        plan_doc("p-small", name="Mobile S", fee="10.00", included=2, overage="5.00"),
        plan_doc("p-m", name="Mobile M", fee="25.00", included=20, overage="2.00"),
    )
    usage = [make_usage(p, 8) for p in ("2025-10", "2025-11", "2025-12")]
    changes, _ = replay_billing([make_started(plan="p-small", fee="10.00"), *usage, AdvanceTo(YEAR)], catalog)
    (change,) = [c for c in changes if c.kind == KIND]
    assert (change.amount, change.per) == (12 * 15_000_000, "year")  # 40.00 a month against 25.00
    assert change.details["best_plan"] == {"plan_id": "p-m", "name": "Mobile M", "monthly_cost_for_usage": 25.0}
    assert "their best tariff is Mobile M at about EUR 25.00 a month" in change.summary
    assert "naming Mobile M (p-m)" in change.suggested_action


def test_impact_is_zero_without_catalog_and_the_current_plan_can_be_the_best() -> None:
    changes, _ = replay_billing([make_started(), AdvanceTo(YEAR)])
    assert changes[0].amount == 0 and changes[0].details["best_plan"] is None
    catalog = catalog_of(plan_doc("p-small", fee="20.00", included=100))
    changes, _ = replay_billing([make_started(), make_usage("2025-12", 3), AdvanceTo(YEAR)], catalog)
    assert changes[0].amount == 0 and "already (p-small)" in changes[0].summary


def test_policy_overrides() -> None:
    policy = Policy(best_tariff_tenure_months=24, contract_end_notice_from_days=20, contract_end_notice_until_days=5)
    changes, _ = replay_billing([make_started(term=6), AdvanceTo(TERM_END - 20 * DAY - 1)], policy=policy)
    assert kinds(changes) == []
    changes, _ = replay_billing([make_started(term=6), AdvanceTo(TERM_END - 5 * DAY)], policy=policy)
    assert emitted(changes) == [
        ("raised", 1, "warning", ("contract_end",)),
        ("updated", 2, "critical", ("contract_end",)),
    ]
    assert [c.at for c in changes] == [TERM_END - 20 * DAY, TERM_END - 5 * DAY]
    # The yearly notice at 24 months, not 12.
    changes, _ = replay_billing([make_started(), AdvanceTo(month(2027, 1, 15, 10) - 1)], policy=policy)
    assert kinds(changes) == []
    assert START < TERM_END
