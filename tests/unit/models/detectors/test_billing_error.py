"""promise.billing_error (SPEC §3.9): tables of history -> alerts, through models.engine."""

from __future__ import annotations

from typing import Any

import pytest

from models.alerts import AlertChange, alert_id_for
from models.detectors import billing_error
from models.events import Event
from models.policy import Policy

from ...factories import (
    CUSTOMER,
    DAY,
    HOUR,
    T0,
    AdvanceTo,
    make_cancelled,
    make_delivered,
    make_invoice,
    make_invoice_line,
    make_line,
    make_order_placed,
    make_shipped,
    replay_judged,
)
from ...factories import replay as replay_steps  # stream time moves only where a test says


def replay(history: list[Any], policy: Policy | None = None, state: dict[str, Any] | None = None) -> Any:
    """billing_error judges as of a moment once orders and billing have both passed it."""
    return replay_judged(history, policy, state)


KIND = "promise.billing_error"
DUE = T0 + 2 * DAY
DELIVERED = T0 + DAY
UNDELIVERED_AT = DUE + 7 * DAY  # Policy().invoiced_undelivered_days after the promise
UNINVOICED_AT = DELIVERED + 30 * DAY  # Policy().uninvoiced_days after delivery

BOXES = make_line("l1", "BOX-M", 10, "2.50")  # 25.00
TAPE = make_line("l2", "TAPE-50", 2, "4.00")  # 8.00
EUR = 1_000_000


def placed() -> Event:
    return make_order_placed("o-1", event_id="p-1", at=T0, due=DUE, lines=[BOXES, TAPE])


def delivered(lines: list[dict[str, Any]] | None = None, at: int = DELIVERED) -> Event:
    return make_delivered("o-1", lines=lines, at=at)


def charge(qty: int = 10, price: str = "2.50", line_id: str = "i1", ref: str = "o-1/l1") -> dict[str, Any]:
    """An invoice line for order o-1 (l1 unless told otherwise)."""
    return make_invoice_line(ref, line_id=line_id, qty=qty, unit_price=price)


def invoice(*lines: dict[str, Any], invoice_id: str = "inv-1", at: int = T0 + HOUR, **kwargs: Any) -> Event:
    return make_invoice(invoice_id, lines=list(lines) or [charge()], at=at, **kwargs)


def tape(line_id: str = "i2") -> dict[str, Any]:
    return charge(2, "4.00", line_id, "o-1/l2")


def summary(changes: list[AlertChange]) -> list[tuple[str, str, int, str, str | None, int]]:
    """(line, lifecycle, revision, severity, problem, amount) of this detector's emissions."""
    return [
        (c.alert_id, c.lifecycle, c.revision, c.severity, c.details.get("problem"), c.amount)
        for c in changes
        if c.kind == KIND
    ]


L1 = alert_id_for(KIND, CUSTOMER, "o-1/l1")
L2 = alert_id_for(KIND, CUSTOMER, "o-1/l2")

HISTORIES = [
    # --- billed right --------------------------------------------------------
    pytest.param(
        [placed(), invoice(charge(), tape()), delivered(), AdvanceTo(DUE + 60 * DAY)],
        [],
        id="invoiced-before-delivery-matches",
    ),
    pytest.param(
        [placed(), delivered(), invoice(charge(), tape(), at=T0 + 2 * DAY)],
        [],
        id="invoiced-after-delivery-matches",
    ),
    pytest.param(
        [placed(), invoice(charge(5)), invoice(charge(5), invoice_id="inv-2", at=T0 + 2 * HOUR), delivered()],
        [],
        id="two-partial-invoices-are-not-double",
    ),
    # --- billed twice ----------------------------------------------------------
    pytest.param(
        [placed(), invoice(), invoice(invoice_id="inv-2", at=T0 + 2 * HOUR)],
        [(L1, "raised", 1, "warning", "double", 25 * EUR)],
        id="billed-twice-on-two-invoices",
    ),
    pytest.param(
        [placed(), invoice(charge(line_id="i1"), charge(line_id="i2"))],
        [(L1, "raised", 1, "warning", "double", 25 * EUR)],
        id="billed-twice-on-one-invoice",
    ),
    pytest.param(
        [placed(), invoice(charge(line_id="i1"), charge(line_id="i1"))],
        [(L1, "raised", 1, "warning", "double", 25 * EUR)],
        id="billed-twice-on-one-invoice-same-line-id",
    ),
    pytest.param(
        [placed(), delivered(), invoice(at=T0 + 2 * DAY), invoice(invoice_id="inv-2", at=T0 + 3 * DAY)],
        [(L1, "raised", 1, "warning", "double", 25 * EUR)],
        id="billed-twice-after-delivery",
    ),
    pytest.param(
        [placed(), invoice(), invoice(invoice_id="inv-2", at=T0 + 2 * HOUR), delivered()],
        [(L1, "raised", 1, "warning", "double", 25 * EUR)],
        id="billed-twice-then-delivered-raises-once",
    ),
    # --- billed at another unit price -------------------------------------------
    pytest.param(
        [placed(), invoice(charge(price="3.00"))],
        [(L1, "raised", 1, "warning", "price", 5 * EUR)],
        id="price-above-before-delivery",
    ),
    pytest.param(
        [placed(), delivered(), invoice(charge(price="3.00"), at=T0 + 2 * DAY)],
        [(L1, "raised", 1, "warning", "price", 5 * EUR)],
        id="price-above-after-delivery",
    ),
    pytest.param(
        [placed(), delivered(), invoice(charge(price="2.51"), at=T0 + 2 * DAY)],
        [(L1, "raised", 1, "warning", "price", 100_000)],
        id="price-one-cent-above",
    ),
    pytest.param(
        [placed(), delivered(), invoice(charge(price="2.49"), at=T0 + 2 * DAY)],
        [(L1, "raised", 1, "info", "price", 100_000)],
        id="price-one-cent-below-is-info",
    ),
    pytest.param(
        [placed(), delivered(), invoice(charge(price="2.00"), at=T0 + 2 * DAY)],
        [(L1, "raised", 1, "info", "price", 5 * EUR)],
        id="price-below-after-delivery-is-info",
    ),
    pytest.param(
        [placed(), invoice(charge(price="2.00"))],
        [],
        id="price-below-before-delivery-waits",
    ),
    pytest.param(
        [placed(), invoice(charge(price="2.00")), delivered()],
        [(L1, "raised", 1, "info", "price", 5 * EUR)],
        id="price-below-judged-at-delivery",
    ),
    # --- billed, not delivered ---------------------------------------------------
    pytest.param(
        [placed(), invoice(), make_cancelled("o-1", by="customer", at=T0 + 2 * HOUR)],
        [(L1, "raised", 1, "warning", "not_delivered", 25 * EUR)],
        id="invoiced-then-cancelled",
    ),
    pytest.param(
        [placed(), make_cancelled("o-1", by="company", at=T0 + HOUR), invoice(at=T0 + 2 * HOUR)],
        [(L1, "raised", 1, "warning", "not_delivered", 25 * EUR)],
        id="invoiced-after-cancellation",
    ),
    pytest.param(
        [placed(), invoice(), delivered([TAPE])],
        [(L1, "raised", 1, "warning", "not_delivered", 25 * EUR)],
        id="delivered-without-the-invoiced-line",
    ),
    pytest.param(
        [placed(), invoice(), AdvanceTo(UNDELIVERED_AT - 1)],
        [],
        id="undelivered-just-before-due-plus-7-days",
    ),
    pytest.param(
        [placed(), invoice(), AdvanceTo(UNDELIVERED_AT)],
        [(L1, "raised", 1, "warning", "not_delivered", 25 * EUR)],
        id="undelivered-at-due-plus-7-days",
    ),
    pytest.param(
        [placed(), invoice(), make_shipped("o-1", at=T0 + DAY), AdvanceTo(UNDELIVERED_AT)],
        [(L1, "raised", 1, "warning", "not_delivered", 25 * EUR)],
        id="shipped-but-undelivered-at-due-plus-7-days",
    ),
    pytest.param(
        [placed(), invoice(charge(), tape()), delivered(at=UNDELIVERED_AT - 1), AdvanceTo(UNDELIVERED_AT + 60 * DAY)],
        [],
        id="delivered-just-before-due-plus-7-days",
    ),
    pytest.param(
        [placed(), invoice(), AdvanceTo(UNDELIVERED_AT), delivered(at=UNDELIVERED_AT + DAY)],
        [(L1, "raised", 1, "warning", "not_delivered", 25 * EUR), (L1, "resolved", 2, "warning", None, 25 * EUR)],
        id="undelivered-then-delivered-resolves",
    ),
    pytest.param(
        [placed(), AdvanceTo(UNDELIVERED_AT + DAY), invoice(at=UNDELIVERED_AT + DAY)],
        [(L1, "raised", 1, "warning", "not_delivered", 25 * EUR)],
        id="invoiced-after-due-plus-7-days-undelivered",
    ),
    # --- delivered, not invoiced (the company's own loss) -------------------------
    pytest.param(
        [placed(), delivered(), AdvanceTo(UNINVOICED_AT - 1)],
        [],
        id="uninvoiced-just-before-30-days",
    ),
    pytest.param(
        [placed(), delivered(), AdvanceTo(UNINVOICED_AT)],
        [(L1, "raised", 1, "info", "not_invoiced", 25 * EUR), (L2, "raised", 1, "info", "not_invoiced", 8 * EUR)],
        id="uninvoiced-at-30-days",
    ),
    pytest.param(
        [placed(), invoice(), delivered(), AdvanceTo(UNINVOICED_AT)],
        [(L2, "raised", 1, "info", "not_invoiced", 8 * EUR)],
        id="only-the-uninvoiced-line-at-30-days",
    ),
    pytest.param(
        [placed(), delivered(), invoice(at=UNINVOICED_AT - 1), AdvanceTo(UNINVOICED_AT)],
        [(L2, "raised", 1, "info", "not_invoiced", 8 * EUR)],
        id="invoiced-just-in-time",
    ),
    # --- made right ----------------------------------------------------------------
    pytest.param(
        [
            placed(),
            invoice(),
            invoice(invoice_id="inv-2", at=T0 + 2 * HOUR),
            invoice(charge(qty=-10), invoice_id="cn-1", at=T0 + 3 * HOUR),
        ],
        [(L1, "raised", 1, "warning", "double", 25 * EUR), (L1, "resolved", 2, "warning", None, 25 * EUR)],
        id="credit-line-resolves-double",
    ),
    pytest.param(
        [
            placed(),
            delivered(),
            invoice(charge(price="3.00"), at=T0 + 2 * DAY),
            invoice(charge(price="-0.50"), invoice_id="cn-1", at=T0 + 3 * DAY),
        ],
        [(L1, "raised", 1, "warning", "price", 5 * EUR), (L1, "resolved", 2, "warning", None, 5 * EUR)],
        id="credit-line-resolves-price",
    ),
    pytest.param(
        [
            placed(),
            invoice(),
            make_cancelled("o-1", at=T0 + 2 * HOUR),
            invoice(charge(qty=-10), invoice_id="cn-1", at=T0 + 3 * HOUR),
        ],
        [
            (L1, "raised", 1, "warning", "not_delivered", 25 * EUR),
            (L1, "resolved", 2, "warning", None, 25 * EUR),
        ],
        id="credit-line-resolves-not-delivered",
    ),
    pytest.param(
        [
            placed(),
            delivered(),
            AdvanceTo(UNINVOICED_AT),
            invoice(charge(), tape(), at=UNINVOICED_AT + DAY),
        ],
        [
            (L1, "raised", 1, "info", "not_invoiced", 25 * EUR),
            (L2, "raised", 1, "info", "not_invoiced", 8 * EUR),
            (L1, "resolved", 2, "info", None, 25 * EUR),
            (L2, "resolved", 2, "info", None, 8 * EUR),
        ],
        id="later-invoice-resolves-not-invoiced",
    ),
    pytest.param(
        [
            placed(),
            delivered(),
            invoice(charge(price="2.00"), at=T0 + 2 * DAY),
            invoice(charge(price="0.50"), invoice_id="inv-2", at=T0 + 3 * DAY),
        ],
        [(L1, "raised", 1, "info", "price", 5 * EUR), (L1, "resolved", 2, "info", None, 5 * EUR)],
        id="supplementary-invoice-resolves-undercharge",
    ),
    # --- not ours to judge ------------------------------------------------------------
    pytest.param(
        [
            placed(),
            invoice(
                make_invoice_line("o-1/l1", line_id="f1", kind="fee", qty=1, unit_price="5.00"),
                make_invoice_line("o-1/l1", line_id="s1", kind="subscription", qty=1, unit_price="9.99"),
                make_invoice_line(None, line_id="f2", kind="fee", qty=1, unit_price="1.00"),
            ),
            make_cancelled("o-1", at=T0 + 2 * HOUR),
            AdvanceTo(UNDELIVERED_AT + 60 * DAY),
        ],
        [],
        id="fee-and-subscription-lines-ignored",
    ),
    pytest.param(
        [
            placed(),
            invoice(charge(ref="o-9/l1"), charge(ref="o-1/l9", line_id="i2"), charge(ref="o-1", line_id="i3")),
            make_cancelled("o-1", at=T0 + 2 * HOUR),
            make_cancelled("o-9", at=T0 + 2 * HOUR),
            AdvanceTo(UNDELIVERED_AT + 60 * DAY),
        ],
        [],
        id="unknown-order-or-line-ignored",
    ),
    pytest.param(
        [
            placed(),
            invoice(make_invoice_line(None, qty=10, unit_price="2.50")),
            make_cancelled("o-1", at=T0 + 2 * HOUR),
        ],
        [],
        id="order-line-without-ref-ignored",
    ),
]


@pytest.mark.parametrize(("history", "expected"), HISTORIES)
def test_billing_error(history: list[Any], expected: list[tuple[str, str, int, str, str | None, int]]) -> None:
    changes, _ = replay(history)
    assert summary(changes) == expected
    for change in changes:
        if change.kind == KIND:
            assert change.per == "once"
            if change.lifecycle != "resolved":
                assert change.details["order_id"] == "o-1"
                assert change.alert_id == alert_id_for(KIND, CUSTOMER, f"o-1/{change.details['line_id']}")


def test_short_delivery_bills_back_the_missing_units() -> None:
    changes, _ = replay([placed(), invoice(), delivered([make_line("l1", "BOX-M", 8, "2.50"), TAPE])])
    [change] = [c for c in changes if c.kind == KIND]
    # 2 of 10 boxes at 2.50 were billed but never came.
    assert (change.lifecycle, change.severity, change.amount) == ("raised", "warning", 5 * EUR)
    assert (change.details["ordered_qty"], change.details["owed_qty"]) == (10, 8)


def test_short_delivery_is_not_a_price_error() -> None:
    changes, _ = replay([placed(), invoice(), delivered([make_line("l1", "BOX-M", 8, "2.50"), TAPE])])
    [change] = [c for c in changes if c.kind == KIND]
    assert change.details["problem"] == "not_delivered"
    assert "than the price you ordered at" not in change.summary


def test_partial_invoice_above_the_price_is_an_overcharge() -> None:
    changes, _ = replay([placed(), invoice(charge(qty=5, price="3.00"))])
    [change] = [c for c in changes if c.kind == KIND]
    assert (change.severity, change.details["problem"], change.amount) == ("warning", "price", 2_500_000)


def test_double_billing_alert_content() -> None:
    history = [
        placed(),
        invoice(event_id="b-1"),
        invoice(invoice_id="inv-2", event_id="b-2", at=T0 + 2 * HOUR),
    ]
    changes, _ = replay(history)
    [change] = changes
    assert change.alert_id == alert_id_for(KIND, CUSTOMER, "o-1/l1")
    assert (change.at, change.amount, change.per) == (T0 + 2 * HOUR, 25 * EUR, "once")
    assert change.evidence == ("p-1", "b-1", "b-2")
    assert change.summary == "You were billed twice for BOX-M on order o-1: EUR 25.00 too much."
    assert change.suggested_action == "Credit the duplicate charge of EUR 25.00 and apologise."
    assert change.details == {
        "order_id": "o-1",
        "line_id": "l1",
        "sku": "BOX-M",
        "problem": "double",
        "ordered_qty": 10,
        "owed_qty": None,
        "ordered_unit_price": 2.5,
        "invoices": [
            {"invoice_id": "inv-1", "line_id": "i1", "qty": 10, "unit_price": 2.5, "amount": 25.0},
            {"invoice_id": "inv-2", "line_id": "i1", "qty": 10, "unit_price": 2.5, "amount": 25.0},
        ],
    }


@pytest.mark.parametrize(
    ("history", "summary_text"),
    [
        pytest.param(
            [placed(), invoice(), make_cancelled("o-1", at=T0 + 2 * HOUR)],
            "You were billed EUR 25.00 for BOX-M on order o-1 that was never delivered.",
            id="not-delivered",
        ),
        pytest.param(
            [placed(), invoice(charge(price="3.00"))],
            "You were charged EUR 5.00 more for BOX-M on order o-1 than the price you ordered at.",
            id="price-above",
        ),
        pytest.param(
            [placed(), delivered(), invoice(charge(price="2.00"), at=T0 + 2 * DAY)],
            "BOX-M on order o-1 was billed EUR 5.00 below the ordered price.",
            id="price-below",
        ),
        pytest.param(
            [placed(), invoice(), delivered(), AdvanceTo(UNINVOICED_AT)],
            "TAPE-50 on order o-1 was delivered but never invoiced (EUR 8.00).",
            id="not-invoiced",
        ),
    ],
)
def test_summaries(history: list[Any], summary_text: str) -> None:
    changes, _ = replay(history)
    assert [c.summary for c in changes if c.kind == KIND] == [summary_text]


def test_undelivered_deadline_fires_at_its_own_time() -> None:
    changes, _ = replay([placed(), invoice(), AdvanceTo(UNDELIVERED_AT + 5 * DAY)])
    [change] = [c for c in changes if c.kind == KIND]
    assert change.at == UNDELIVERED_AT
    assert change.details["owed_qty"] == 0


def own_deadlines(state: dict[str, Any]) -> dict[str, int]:
    return {name: due for name, due in state["deadlines"].items() if name.startswith("billing_error|")}


def test_the_next_judgment_is_the_next_moment_that_matters() -> None:
    # Billed, not delivered: look again when it is overdue by the policy.
    _, state = replay([placed(), invoice()])
    assert own_deadlines(state) == {"billing_error|o-1": UNDELIVERED_AT}
    # Delivered: look again when it should have been invoiced by (here: it was billed
    # already, so the judgment then finds nothing to say).
    _, state = replay([delivered()], state=state)
    assert own_deadlines(state) == {"billing_error|o-1": UNINVOICED_AT}
    # Cancelled and never billed: nothing left to judge.
    _, state = replay([placed(), make_cancelled("o-1", at=T0 + HOUR)])
    assert own_deadlines(state) == {}


def test_a_judgment_waits_for_both_clocks_and_judges_as_of_its_moment() -> None:
    # Invoice consumed, but stream time has not reached it on both topics yet: nothing said.
    changes, state = replay_steps([placed(), invoice(charge(price="3.00"))])
    assert changes == []
    assert own_deadlines(state) == {"billing_error|o-1": T0 + HOUR}
    # A delivery dated later is consumed first: the judgment at the invoice's moment ignores it.
    changes, state = replay_steps([delivered(at=T0 + 2 * HOUR), AdvanceTo(T0 + HOUR)], state=state)
    assert [(c.lifecycle, c.at, c.details["owed_qty"]) for c in changes] == [("raised", T0 + HOUR, None)]


def test_fee_and_unknown_lines_leave_no_trace() -> None:
    fee = make_invoice_line("o-1/l1", line_id="f1", kind="fee", qty=1, unit_price="5.00")
    _, state = replay([placed(), invoice(fee, charge(ref="o-9/l1", line_id="i2"))])
    assert "billed" not in state["orders"]["o-1"]
    assert own_deadlines(state) == {}


def test_thresholds_follow_policy() -> None:
    policy = Policy(invoiced_undelivered_days=1, uninvoiced_days=10, at_risk_hours=0)
    changes, _ = replay([placed(), invoice(), AdvanceTo(DUE + DAY - 1)], policy)
    assert summary(changes) == []
    changes, _ = replay([placed(), invoice(), AdvanceTo(DUE + DAY)], policy)
    assert summary(changes) == [(L1, "raised", 1, "warning", "not_delivered", 25 * EUR)]
    changes, _ = replay([placed(), delivered(), AdvanceTo(DELIVERED + 10 * DAY - 1)], policy)
    assert summary(changes) == []
    changes, _ = replay([placed(), delivered(), AdvanceTo(DELIVERED + 10 * DAY)], policy)
    assert [problem for _, _, _, _, problem, _ in summary(changes)] == ["not_invoiced", "not_invoiced"]


def test_currency_follows_policy() -> None:
    changes, _ = replay([placed(), invoice(charge(price="3.00"))], Policy(currency="GBP"))
    assert "GBP 5.00" in changes[0].summary


def test_module_contract() -> None:
    assert billing_error.NAME == "billing_error"
    assert billing_error.KIND == KIND
    assert {"invoice.issued", "order.delivered", "order.cancelled"} == billing_error.EVENT_TYPES


def test_deadline_for_forgotten_order_is_nothing(state: dict[str, Any], policy: Policy) -> None:
    assert billing_error.on_deadline(state, "undelivered:o-gone", DUE, policy) == []
    assert billing_error.on_deadline(state, "uninvoiced:o-gone", DUE, policy) == []
