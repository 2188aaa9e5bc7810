"""promise.billed_after_cancellation (SPEC §3.5): histories -> alerts, through models.engine."""

from __future__ import annotations

from typing import Any

import pytest

from models.alerts import alert_id_for

from ...factories import CUSTOMER, DAY
from ...subscription_factories import (
    lifecycle,
    make_cancel_requested,
    make_ended,
    make_started,
    make_sub_invoice,
    month,
    replay_billing,
    sub_line,
)

KIND = "promise.billed_after_cancellation"
DEC = month(2026, 12, 1)
STARTED = make_started(fee="20.00")


def bill(period: str | None, price: str = "20.00", invoice: str | None = None, **kwargs: Any) -> Any:
    return make_sub_invoice(invoice or f"inv-{period}", period=period, lines=[sub_line(price=price)], **kwargs)


def cancel(effective: int, **kwargs: Any) -> Any:
    return make_cancel_requested(effective=effective, at=effective - 20 * DAY, **kwargs)


def kinds(changes: list[Any]) -> list[tuple[str, int]]:
    return lifecycle(changes, KIND)


@pytest.mark.parametrize(
    ("history", "expected"),
    [
        pytest.param([bill("2026-12")], [], id="not-cancelled"),
        pytest.param([cancel(DEC), bill("2026-11")], [], id="boundary-the-last-month-before-it"),
        pytest.param([cancel(DEC), bill("2026-12")], [("raised", 1)], id="boundary-the-month-it-takes-effect"),
        pytest.param([cancel(DEC - 1), bill("2026-12")], [("raised", 1)], id="1ms-before-the-boundary"),
        pytest.param([cancel(DEC + 1), bill("2026-12")], [], id="1ms-into-the-month-owed-in-part"),
        pytest.param([cancel(month(2026, 12, 15)), bill("2026-12")], [], id="mid-month-owed-in-part"),
        pytest.param([cancel(month(2026, 12, 15)), bill("2027-01")], [("raised", 1)], id="the-month-after"),
        pytest.param([make_ended(at=month(2026, 11, 30)), bill("2026-12")], [("raised", 1)], id="ended-no-request"),
        pytest.param([cancel(DEC), bill(None, at=DEC + 2 * DAY)], [("raised", 1)], id="no-period-issued-after"),
        pytest.param([cancel(DEC), bill(None, at=DEC - 2 * DAY)], [], id="no-period-issued-before"),
    ],
)
def test_billed_for_a_period_starting_at_or_after_the_cancellation(history: list[Any], expected: list) -> None:
    assert kinds(replay_billing([STARTED, *history])[0]) == expected


def test_the_alert_is_the_whole_line_as_a_one_off() -> None:
    request = cancel(DEC, event_id="e-cancel")
    (change,) = replay_billing([STARTED, request, bill("2026-12", "24.99", event_id="e-bill")])[0]
    assert change.alert_id == alert_id_for(KIND, CUSTOMER, "s-1/inv-2026-12/l1")
    assert (change.amount, change.per, change.severity) == (24_990_000, "once", "warning")
    assert change.evidence == ("e-cancel", "e-bill")
    assert change.details["cancellation_effective_at"] == "2026-12-01T00:00:00Z"
    assert "after its cancellation took effect on 1 Dec 2026" in change.summary
    assert change.suggested_action.startswith("Refund EUR 24.99")


def test_each_line_billed_after_it_is_its_own_alert() -> None:
    changes, _ = replay_billing([STARTED, cancel(DEC), bill("2026-12"), bill("2027-01")])
    assert kinds(changes) == [("raised", 1), ("raised", 1)]
    assert len({c.alert_id for c in changes}) == 2


def test_refunds_update_then_resolve() -> None:
    part = make_sub_invoice("inv-r1", period="2027-01", lines=[sub_line("c1", price="-15.00", kind="fee")])
    rest = make_sub_invoice("inv-r2", period="2027-02", lines=[sub_line("c1", price="-5.00")])
    changes, state = replay_billing([STARTED, cancel(DEC), bill("2026-12"), part, rest])
    assert kinds(changes) == [("raised", 1), ("updated", 2), ("resolved", 3)]
    assert changes[1].amount == 5_000_000
    assert state["subs"]["s-1"]["over"] == {}


def test_a_reissued_invoice_without_the_line_resolves() -> None:
    corrected = make_sub_invoice("inv-2026-12", period="2026-11", lines=[sub_line(price="20.00")])
    changes, _ = replay_billing([STARTED, cancel(DEC), bill("2026-12"), corrected])
    assert kinds(changes) == [("raised", 1), ("resolved", 2)]


def test_a_price_above_the_fee_after_cancellation_raises_only_this_alert() -> None:
    changes, _ = replay_billing([STARTED, cancel(DEC), bill("2026-12", "25.00")])
    assert [c.kind for c in changes] == [KIND]
