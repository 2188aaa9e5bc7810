"""promise.unannounced_price_rise (SPEC §3.4): histories -> alerts, through models.engine."""

from __future__ import annotations

from typing import Any

import pytest

from models.alerts import alert_id_for
from models.policy import Policy

from ...factories import CUSTOMER, DAY
from ...subscription_factories import (
    lifecycle,
    make_cancel_requested,
    make_changed,
    make_price_notified,
    make_started,
    make_sub_invoice,
    month,
    replay_billing,
    sub_line,
)

KIND = "promise.unannounced_price_rise"
DEC = month(2026, 12, 1)  # the price change takes effect with December's bill
STARTED = make_started(fee="20.00", event_id="e-start")


def december(price: str = "22.00", invoice: str = "inv-dec", qty: int = 1, **kwargs: Any) -> Any:
    return make_sub_invoice(invoice, period="2026-12", lines=[sub_line(price=price, qty=qty)], **kwargs)


def notified(days_before: float, fee: str = "22.00", effective: int = DEC, **kwargs: Any) -> Any:
    return make_price_notified(fee=fee, effective=effective, at=effective - int(days_before * DAY), **kwargs)


def kinds(changes: list[Any]) -> list[tuple[str, int]]:
    return lifecycle(changes, KIND)


@pytest.mark.parametrize(
    ("history", "expected"),
    [
        pytest.param([december("20.00")], [], id="billed-at-the-agreed-fee"),
        pytest.param([december("19.00")], [], id="billed-below-it"),
        pytest.param([december("20.01")], [("raised", 1)], id="1-cent-above-never-announced"),
        pytest.param([notified(29), december()], [("raised", 1)], id="notified-29-days-before"),
        pytest.param([notified(30 - 1 / 86_400_000), december()], [("raised", 1)], id="notified-1ms-short-of-30-days"),
        pytest.param([notified(30), december()], [], id="notified-exactly-30-days-before"),
        pytest.param([notified(31), december()], [], id="notified-31-days-before"),
        pytest.param([notified(45), december("23.00")], [("raised", 1)], id="billed-above-the-notified-fee"),
        pytest.param(
            [notified(45, effective=month(2027, 1, 1)), december()],
            [("raised", 1)],
            id="billed-before-the-notified-change-takes-effect",
        ),
    ],
)
def test_notice_and_price_thresholds(history: list[Any], expected: list) -> None:
    assert kinds(replay_billing([STARTED, *history])[0]) == expected


def test_the_alert_is_a_one_off_overcharge_per_invoice_line() -> None:
    late = notified(29, event_id="e-notice")
    (change,) = replay_billing([STARTED, late, december(qty=2, event_id="e-invoice")])[0]
    assert change.alert_id == alert_id_for(KIND, CUSTOMER, "s-1/inv-dec/l1")
    assert (change.amount, change.per, change.severity) == (4_000_000, "once", "warning")
    assert change.evidence == ("e-start", "e-notice", "e-invoice")
    assert change.details["late_price_change_notices"] == [
        {
            "new_monthly_fee": 22.0,
            "effective_at": "2026-12-01T00:00:00Z",
            "notified_at": "2026-11-02T00:00:00Z",
            "days_notice": 29.0,
        },
    ]
    assert "EUR 2.00 above the agreed EUR 20.00" in change.summary
    assert "announced only 29 days before it took effect (at least 30 are required)" in change.summary
    assert change.suggested_action.startswith("Refund EUR 4.00")


def test_a_rise_notified_29_days_ahead_makes_only_its_first_month_an_overcharge() -> None:
    january = make_sub_invoice("inv-jan", period="2027-01", lines=[sub_line(price="22.00")])
    changes, _ = replay_billing([STARTED, notified(29), december(), january])
    assert kinds(changes) == [("raised", 1)]
    assert changes[0].details["period"] == "2026-12"


def test_a_price_cut_needs_no_notice_and_billing_the_old_price_after_it_is_an_overcharge() -> None:
    cut = make_price_notified(fee="18.00", effective=DEC, at=DEC - DAY)
    changes, _ = replay_billing([STARTED, cut, december("20.00")])
    assert kinds(changes) == [("raised", 1)]
    assert changes[0].amount == 2_000_000


def test_a_change_of_plan_sets_a_new_agreed_fee() -> None:
    changes, _ = replay_billing([STARTED, make_changed(fee="22.00", at=DEC - 5 * DAY), december()])
    assert kinds(changes) == []


def test_an_invoice_without_period_is_judged_from_the_month_it_was_issued_in() -> None:
    bill = make_sub_invoice("inv-x", period=None, lines=[sub_line(price="22.00")], at=DEC + 2 * DAY)
    assert kinds(replay_billing([STARTED, notified(29), bill])[0]) == [("raised", 1)]
    bill = make_sub_invoice("inv-y", period=None, lines=[sub_line(price="22.00")], at=DEC + 2 * DAY)
    assert kinds(replay_billing([STARTED, notified(30), bill])[0]) == []


def refund(amount: str, invoice: str = "inv-jan", kind: str = "subscription", line_id: str = "c1") -> Any:
    return make_sub_invoice(invoice, period="2027-01", lines=[sub_line(line_id, price=amount, kind=kind)])


@pytest.mark.parametrize(
    ("refunds", "expected", "owed"),
    [
        pytest.param([refund("-4.00")], [("resolved", 2)], None, id="refunded-in-full"),
        pytest.param([refund("-5.00")], [("resolved", 2)], None, id="refunded-more"),
        pytest.param([refund("-4.00", kind="fee")], [("resolved", 2)], None, id="credit-as-a-fee-line"),
        pytest.param([refund("-3.00")], [("updated", 2)], 1_000_000, id="refunded-in-part"),
        pytest.param([refund("-0.20")], [], 3_800_000, id="refunded-a-little"),
        pytest.param(
            [refund("-3.00"), refund("-1.00", "inv-feb", line_id="c2")],
            [("updated", 2), ("resolved", 3)],
            None,
            id="refunded-in-two-parts",
        ),
        pytest.param([refund("-3.00"), refund("-3.00")], [("updated", 2)], 1_000_000, id="the-same-credit-twice"),
    ],
)
def test_a_refund_or_credit_line_resolves(refunds: list[Any], expected: list, owed: int | None) -> None:
    changes, state = replay_billing([STARTED, notified(29), december(qty=2), *refunds])
    assert kinds(changes) == [("raised", 1), *expected]
    over = state["subs"]["s-1"]["over"]
    if owed is None:
        assert over == {}
    else:
        (record,) = over.values()
        assert record["amount"] - record["paid"] == owed
    if expected and expected[-1][0] == "updated":
        assert changes[-1].amount == owed and changes[-1].details["still_owed"] == owed / 1_000_000


def test_a_reissued_invoice_with_the_line_corrected_resolves_and_a_refunded_one_is_not_raised_again() -> None:
    changes, state = replay_billing([STARTED, notified(29), december(), december("20.00")])
    assert kinds(changes) == [("raised", 1), ("resolved", 2)]
    changes, _ = replay_billing([december()], state=state)  # re-issued once more with the wrong price
    assert kinds(changes) == []


def test_lines_after_the_cancellation_took_effect_are_left_to_billed_after_cancellation() -> None:
    cancel = make_cancel_requested(effective=DEC, at=DEC - 10 * DAY)
    changes, _ = replay_billing([STARTED, cancel, december()])
    assert kinds(changes) == []
    assert lifecycle(changes, "promise.billed_after_cancellation") == [("raised", 1)]


def test_lines_for_subscriptions_we_know_nothing_of_are_not_judged() -> None:
    other = make_sub_invoice("inv-o", period="2026-12", lines=[sub_line(ref="s-unknown", price="99.00")])
    assert kinds(replay_billing([other])[0]) == []


def test_policy_notice_days() -> None:
    policy = Policy(price_rise_notice_days=14)
    assert kinds(replay_billing([STARTED, notified(14), december()], policy=policy)[0]) == []
    assert kinds(replay_billing([STARTED, notified(13), december()], policy=policy)[0]) == [("raised", 1)]
