"""relationship.unprofitable_service (SPEC §3.12): tables of history -> alerts, through models.engine."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from models.alerts import AlertChange, alert_id_for
from models.detectors import unprofitable_service
from models.policy import Policy

from ...factories import (
    CUSTOMER,
    DAY,
    HOUR,
    MINUTE,
    T0,
    AdvanceTo,
    make_complaint_opened,
    make_complaint_resolved,
    make_contact,
    make_payment,
    replay_judged,
)

KIND = "relationship.unprofitable_service"


def month_end(epoch_ms: int) -> int:
    """The first instant of the month after the one ``epoch_ms`` falls in."""
    moment = datetime.fromtimestamp(epoch_ms // 1000, tz=UTC)
    following = datetime(moment.year + moment.month // 12, moment.month % 12 + 1, 1, tzinfo=UTC)
    return (following - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


def replay(history: list[Any], policy: Policy | None = None, state: dict[str, Any] | None = None) -> Any:
    """Complete months are judged once billing and complaints have both passed the month's end."""
    return replay_judged(history, policy, state, moment=month_end)


ALERT_ID = alert_id_for(KIND, CUSTOMER, "service")
EUR = 1_000_000


def month(year: int, number: int, day: int = 15) -> int:
    """Epoch ms of noon on that day."""
    moment = datetime(year, number, day, 12, tzinfo=UTC)
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


def at(step: int) -> int:
    """The step-th event of a history, a minute apart (all in November 2026)."""
    return T0 + step * MINUTE


def summary(changes: list[AlertChange]) -> list[tuple[str, int, int]]:
    """(lifecycle, revision, amount) of this detector's emissions."""
    return [(c.lifecycle, c.revision, c.amount) for c in changes if c.kind == KIND]


def pay(amount: str, step: int = 0) -> Any:
    return make_payment("inv-1", amount=amount, at=at(step))


def call(minutes: float, step: int = 1) -> Any:
    return make_contact(minutes=minutes, at=at(step))


def complaint(step: int = 1, complaint_id: str = "cp-1") -> Any:
    return make_complaint_opened(complaint_id, at=at(step))


def compensated(amount: str | None, step: int = 2) -> Any:
    return make_complaint_resolved("cp-1", compensation=amount, at=at(step))


@pytest.mark.parametrize(
    ("history", "expected"),
    [
        # Revenue 100.00 -> margin 30.00; an alert once cost exceeds 80.00 (margin + 50.00).
        pytest.param([pay("100.00"), call(79.99)], [], id="cost-just-below-margin-plus-50"),
        pytest.param([pay("100.00"), call(80)], [], id="cost-at-margin-plus-50"),
        pytest.param([pay("100.00"), call(80.01)], [("raised", 1, 50_010_000)], id="cost-just-above-margin-plus-50"),
        pytest.param([call(50)], [], id="no-revenue-50-minutes"),
        pytest.param([call(50.01)], [("raised", 1, 50_010_000)], id="no-revenue-just-above-50"),
        pytest.param(
            [call(80.01), pay("100.00", 2)],
            [("raised", 1, 80_010_000), ("updated", 2, 50_010_000)],
            id="payment-after-the-alert-updates",
        ),
        pytest.param([complaint(), call(25, 2)], [], id="complaint-cost-at-threshold"),
        pytest.param([complaint(), call(25.01, 2)], [("raised", 1, 50_010_000)], id="complaint-cost-above"),
        pytest.param([complaint(), compensated("25.00")], [], id="compensation-at-threshold"),
        pytest.param([complaint(), compensated("25.01")], [("raised", 1, 50_010_000)], id="compensation-counts"),
        pytest.param([complaint(), compensated(None), call(25, 3)], [], id="resolution-without-compensation"),
        pytest.param(
            [complaint(), compensated("0"), call(25.01, 3)],
            [("raised", 1, 50_010_000)],
            id="zero-compensation-adds-nothing",
        ),
        pytest.param(
            [complaint(1), complaint(2, "cp-2"), call(0.01, 3)],
            [("raised", 1, 50_010_000)],
            id="two-complaints-and-a-minute",
        ),
        pytest.param([call(20, 1), call(20, 2), call(20, 3)], [("raised", 1, 60 * EUR)], id="minutes-add-up"),
        pytest.param(
            [call(100), pay("200.00", 2)], [("raised", 1, 100 * EUR), ("resolved", 2, 100 * EUR)], id="payment-resolves"
        ),
        pytest.param(
            [call(100), pay("166.66", 2)],
            [("raised", 1, 100 * EUR), ("updated", 2, 50_002_000)],
            id="payment-just-short-of-resolving",
        ),
        pytest.param(
            [call(100), pay("166.67", 2)],
            [("raised", 1, 100 * EUR), ("resolved", 2, 100 * EUR)],
            id="payment-just-enough-to-resolve",
        ),
        pytest.param([call(100), pay("10.00", 2)], [("raised", 1, 100 * EUR)], id="immaterial-payment-no-update"),
        pytest.param(
            [call(100), pay("200.00", 2), call(100, 3)],
            [("raised", 1, 100 * EUR), ("resolved", 2, 100 * EUR), ("raised", 3, 140 * EUR)],
            id="comes-back-with-next-revision",
        ),
    ],
)
def test_unprofitable_service(history: list[Any], expected: list[tuple[str, int, int]]) -> None:
    changes, _ = replay(history)
    assert summary(changes) == expected
    assert {c.alert_id for c in changes if c.kind == KIND} <= {ALERT_ID}
    assert {c.per for c in changes if c.kind == KIND} <= {"year"}


def test_alert_content() -> None:
    history = [
        make_payment("inv-1", amount="100.00", event_id="pay-1", at=at(0)),
        make_complaint_opened("cp-1", event_id="c-1", at=at(1)),
        make_contact("ct-1", minutes=40, event_id="k-1", at=at(2)),
        make_complaint_resolved("cp-1", compensation="20.00", event_id="r-1", at=at(3)),
    ]
    changes, _ = replay(history)
    [change] = [c for c in changes if c.kind == KIND]
    # cost 40 + 25 + 20 = 85.00 against margin 30.00: 55.00 a year.
    assert (change.lifecycle, change.severity, change.amount, change.per) == ("raised", "warning", 55 * EUR, "year")
    assert change.at == month_end(at(3))  # judged when the month is complete
    assert change.evidence == ("c-1", "k-1", "r-1")  # payments are not evidence of cost
    assert change.summary == (
        "Over the last 12 complete months this customer needed 40 minutes of contact and 1 complaint(s): "
        "serving them cost EUR 85.00 against EUR 30.00 margin."
    )
    assert "do not drop them" in change.suggested_action
    assert change.details == {
        "months": ["2026-11"],
        "revenue": 100.0,
        "margin": 30.0,
        "cost_to_serve": 85.0,
        "contact_minutes": 40,
        "complaints": 1,
        "compensation": 20.0,
        "margin_rate": 0.30,
    }


def test_thresholds_follow_policy() -> None:
    policy = Policy(
        margin_rate=0.5, contact_cost_per_minute=2.0, complaint_handling_cost=10.0, unprofitable_min_excess=0.0
    )
    # cost 2 x 30 + 10 = 70.00; margin 0.5 x 140.00 = 70.00: not above.
    history = [pay("140.00"), call(30), complaint(2)]
    changes, _ = replay(history, policy)
    assert summary(changes) == []
    changes, _ = replay([*history, call(0.01, 3)], policy)
    assert summary(changes) == [("raised", 1, 20_000)]


def test_months_older_than_the_newest_12_drop_out() -> None:
    history: list[Any] = [make_contact(minutes=100, at=month(2026, 1))]
    history += [make_payment(f"inv-{n}", amount="1.00", at=month(2026, n)) for n in range(2, 13)]
    changes, state = replay(history)
    # Twelve months: the calls of January still count.
    assert summary(changes) == [("raised", 1, 100 * EUR)]
    assert sorted(state["service"]) == [f"2026-{n:02d}" for n in range(1, 13)]
    changes, state = replay([make_payment("inv-13", amount="1.00", at=month(2027, 1))], state=state)
    assert summary(changes) == [("resolved", 2, 100 * EUR)]
    assert sorted(state["service"]) == [f"2026-{n:02d}" for n in range(2, 13)] + ["2027-01"]


def test_month_of_is_by_utc_event_time() -> None:
    assert unprofitable_service.month_of(month(2026, 11, 30) + 12 * HOUR - 1) == "2026-11"
    assert unprofitable_service.month_of(month(2026, 11, 30) + 12 * HOUR) == "2026-12"


def test_figures() -> None:
    service = {"2026-10": [100 * EUR, 10, 1, 5 * EUR, []], "2026-11": [50 * EUR, 2.5, 0, 0, []]}
    assert unprofitable_service.figures(service, Policy()) == {
        "revenue": 150 * EUR,
        "margin": 45 * EUR,
        "cost": 12_500_000 + 25 * EUR + 5 * EUR,
        "minutes": 12.5,
        "complaints": 1,
        "compensation": 5 * EUR,
    }


def test_other_detectors_alerts_do_not_interfere() -> None:
    changes, _ = replay([complaint(), AdvanceTo(T0 + 100 * DAY)])
    assert summary(changes) == []
    assert [c.kind for c in changes] == ["promise.complaint_unresolved"] * 3


def test_sparse_months_older_than_12_drop_out() -> None:
    changes, state = replay([make_contact(minutes=200, at=month(2025, 1)), pay("1.00")])
    assert summary(changes) == [("raised", 1, 200 * EUR), ("resolved", 2, 200 * EUR)]
    assert sorted(state["service"]) == ["2026-11"]


def test_quiet_customer_resolves_as_the_window_moves() -> None:
    changes, _ = replay([call(200), AdvanceTo(T0 + 400 * DAY)])
    assert summary(changes) == [("raised", 1, 200 * EUR), ("resolved", 2, 200 * EUR)]


def test_second_opening_of_the_same_complaint_counts_once() -> None:
    history = [complaint(1), make_complaint_opened("cp-1", at=at(2)), call(25, 3)]
    changes, state = replay(history)
    assert summary(changes) == []
    assert unprofitable_service.figures(state["service"], Policy())["complaints"] == 1


def test_module_contract(state: dict[str, Any], policy: Policy) -> None:
    assert unprofitable_service.NAME == "unprofitable_service"
    assert unprofitable_service.KIND == KIND
    assert {
        "payment.received",
        "contact.logged",
        "complaint.opened",
        "complaint.resolved",
    } == unprofitable_service.EVENT_TYPES
    assert unprofitable_service.on_deadline(state, "service", T0, policy) == []
