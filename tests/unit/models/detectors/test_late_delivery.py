"""promise.late_delivery (SPEC §3.7): tables of history -> alerts, through models.engine."""

from __future__ import annotations

from typing import Any

import pytest

from models.alerts import AlertChange, alert_id_for
from models.detectors import late_delivery
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
    make_line,
    make_order_placed,
    make_shipped,
)
from ...factories import replay as replay_with

# The tables below judge the promise itself; the at-risk stage has its own tests at the end.
NO_RISK = Policy(at_risk_hours=0)


def replay(history: list[Any], policy: Policy | None = None, state: dict[str, Any] | None = None) -> Any:
    return replay_with(history, policy or NO_RISK, state)


DUE = T0 + 2 * DAY
CRITICAL = 72 * HOUR  # Policy().late_delivery_critical_hours
ORDER_VALUE = 25_000_000  # 10 x 2.50
ALERT_ID = alert_id_for("promise.late_delivery", CUSTOMER, "o-1")


def placed(**kwargs: Any) -> Event:
    return make_order_placed("o-1", at=T0, due=DUE, **kwargs)


def own_deadlines(state: dict[str, Any]) -> dict[str, int]:
    """This detector's deadlines (others, e.g. billing_error, set their own)."""
    return {name: due for name, due in state["deadlines"].items() if name.startswith("late_delivery|")}


def summary(changes: list[AlertChange]) -> list[tuple[str, int, str, str | None]]:
    """(lifecycle, revision, severity, stage) per emission: what a table can state."""
    return [(c.lifecycle, c.revision, c.severity, c.details.get("status")) for c in changes]


HISTORIES = [
    pytest.param([placed(), make_delivered(at=T0 + HOUR), AdvanceTo(DUE + 100 * HOUR)], [], id="delivered-well-before"),
    pytest.param([placed(), make_delivered(at=DUE), AdvanceTo(DUE + 100 * HOUR)], [], id="delivered-at-deadline"),
    pytest.param(
        [placed(), make_delivered(at=DUE + 1)], [("raised", 1, "warning", "delivered_late")], id="delivered-1ms-late"
    ),
    pytest.param(
        [placed(), make_delivered(at=DUE + CRITICAL - 1)],
        [("raised", 1, "warning", "delivered_late")],
        id="delivered-just-below-critical",
    ),
    pytest.param(
        [placed(), make_delivered(at=DUE + CRITICAL)],
        [("raised", 1, "critical", "delivered_late")],
        id="delivered-at-critical",
    ),
    pytest.param([placed(), AdvanceTo(DUE - 1)], [], id="time-just-before-deadline"),
    pytest.param([placed(), AdvanceTo(DUE)], [("raised", 1, "warning", "undelivered")], id="time-at-deadline"),
    pytest.param(
        [placed(), AdvanceTo(DUE + HOUR), make_delivered(at=DUE + 5 * HOUR)],
        [("raised", 1, "warning", "undelivered"), ("updated", 2, "warning", "delivered_late")],
        id="deadline-passed-then-delivered-late",
    ),
    pytest.param(
        [placed(), AdvanceTo(DUE + HOUR), make_delivered(at=DUE - HOUR)],
        [("raised", 1, "warning", "undelivered"), ("resolved", 2, "warning", None)],
        id="deadline-fired-but-delivery-was-in-time",
    ),
    pytest.param(
        [placed(), AdvanceTo(DUE + HOUR), make_delivered(at=DUE)],
        [("raised", 1, "warning", "undelivered"), ("resolved", 2, "warning", None)],
        id="deadline-fired-but-delivered-exactly-at-deadline",
    ),
    pytest.param(
        [placed(), make_cancelled(at=T0 + HOUR, by="customer"), AdvanceTo(DUE + 100 * HOUR)],
        [],
        id="cancelled-by-customer",
    ),
    pytest.param(
        [placed(), make_cancelled(at=T0 + HOUR, by="company"), AdvanceTo(DUE + 100 * HOUR)],
        [],
        id="cancelled-by-company",
    ),
    pytest.param(
        [placed(urgent=True), make_delivered(at=DUE + 1)],
        [("raised", 1, "critical", "delivered_late")],
        id="urgent-delivered-late-is-critical",
    ),
    pytest.param(
        [placed(urgent=True), AdvanceTo(DUE + 100 * HOUR)],
        [("raised", 1, "critical", "undelivered")],
        id="urgent-undelivered-is-critical-once",
    ),
    pytest.param(
        [placed(), AdvanceTo(DUE + CRITICAL - 1)],
        [("raised", 1, "warning", "undelivered")],
        id="undelivered-just-below-critical",
    ),
    pytest.param(
        [placed(), AdvanceTo(DUE + CRITICAL)],
        [("raised", 1, "warning", "undelivered"), ("updated", 2, "critical", "undelivered")],
        id="undelivered-escalates-at-critical",
    ),
    pytest.param(
        [placed(), AdvanceTo(DUE), AdvanceTo(DUE + HOUR), AdvanceTo(DUE + CRITICAL), AdvanceTo(DUE + 30 * DAY)],
        [("raised", 1, "warning", "undelivered"), ("updated", 2, "critical", "undelivered")],
        id="undelivered-stepwise-escalates-once",
    ),
    pytest.param(
        [placed(), AdvanceTo(DUE + CRITICAL), make_delivered(at=DUE + CRITICAL + HOUR)],
        [
            ("raised", 1, "warning", "undelivered"),
            ("updated", 2, "critical", "undelivered"),
            ("updated", 3, "critical", "delivered_late"),
        ],
        id="escalated-then-delivered",
    ),
    pytest.param(
        [make_delivered("o-unknown", at=DUE + DAY), AdvanceTo(DUE + 100 * HOUR)], [], id="delivered-unknown-order"
    ),
    pytest.param(
        [
            placed(),
            make_delivered(at=T0 + HOUR),
            make_order_placed("o-1", at=T0 + 2 * HOUR, due=DUE),
            AdvanceTo(DUE + 100 * HOUR),
        ],
        [],
        id="replacement-after-delivery-does-not-rearm",
    ),
    pytest.param(
        [
            placed(),
            AdvanceTo(DUE),
            AdvanceTo(DUE),
            make_delivered(at=DUE + 2 * HOUR),
            make_delivered(at=DUE + 2 * HOUR + 1),
        ],
        [("raised", 1, "warning", "undelivered"), ("updated", 2, "warning", "delivered_late")],
        id="repeated-time-and-delivery-reports-never-raise-again",
    ),
    pytest.param(
        [placed(), make_shipped(at=T0 + HOUR), AdvanceTo(DUE)],
        [("raised", 1, "warning", "undelivered")],
        id="shipped-but-not-delivered",
    ),
]


@pytest.mark.parametrize(("history", "expected"), HISTORIES)
def test_late_delivery(history: list[Any], expected: list[tuple[str, int, str, str | None]]) -> None:
    changes, _ = replay(history)
    assert summary(changes) == expected
    assert {c.alert_id for c in changes} <= {ALERT_ID}
    assert {c.kind for c in changes} <= {"promise.late_delivery"}
    # One alert per order: the condition is raised at most once.
    assert [c.lifecycle for c in changes].count("raised") <= 1


def test_deadline_alert_content() -> None:
    order = placed(
        event_id="p-1", lines=[make_line("l1", qty=10, unit_price="2.50"), make_line("l2", qty=1, unit_price="5")]
    )
    changes, state = replay([order, make_shipped(event_id="s-1", at=T0 + HOUR), AdvanceTo(DUE + 3 * HOUR)])
    [change] = changes
    assert change.at == DUE  # the deadline fires at its own time, not whenever time got there
    assert change.amount == 30_000_000
    assert change.per == "once"
    assert change.evidence == ("p-1", "s-1")
    assert change.summary == (
        "Your order o-1 was promised by 24 Nov 2026, 10:00 UTC and has not arrived; it is on its way."
    )
    assert change.details == {
        "order_id": "o-1",
        "promised_delivery_by": "2026-11-24T10:00:00Z",
        "late_by_hours": 0.0,
        "status": "undelivered",
        "urgent": False,
    }
    # It looks again when the order would become critical.
    assert own_deadlines(state) == {"late_delivery|o-1": DUE + CRITICAL}


def test_not_shipped_summary() -> None:
    changes, _ = replay([placed(), AdvanceTo(DUE)])
    assert changes[0].summary.endswith("it has not been shipped.")
    assert "Find out where order o-1 is" in changes[0].suggested_action


def test_delivered_late_alert_content() -> None:
    changes, state = replay([placed(event_id="p-1"), make_delivered(event_id="d-1", at=DUE + 26 * HOUR)])
    [change] = changes
    assert (change.at, change.amount, change.evidence) == (DUE + 26 * HOUR, ORDER_VALUE, ("p-1", "d-1"))
    assert change.summary == "Your order o-1 was promised by 24 Nov 2026, 10:00 UTC and arrived 26 hours late."
    assert change.details["late_by_hours"] == 26.0
    assert own_deadlines(state) == {}


def test_deadline_set_on_placement_and_cleared_on_delivery() -> None:
    _, state = replay([placed()])
    assert own_deadlines(state) == {"late_delivery|o-1": DUE}
    _, state = replay([make_delivered(at=T0 + HOUR)], state=state)
    assert own_deadlines(state) == {}


def test_cancelled_after_deadline_keeps_the_open_alert() -> None:
    changes, state = replay([placed(), AdvanceTo(DUE), make_cancelled(at=DUE + HOUR), AdvanceTo(DUE + 30 * DAY)])
    assert summary(changes) == [("raised", 1, "warning", "undelivered")]
    assert state["alerts"][ALERT_ID]["o"] is True
    assert own_deadlines(state) == {}


def test_escalation_follows_policy() -> None:
    policy = Policy(late_delivery_critical_hours=1, at_risk_hours=0)
    changes, _ = replay([placed(), AdvanceTo(DUE + HOUR)], policy)
    assert [(c.lifecycle, c.severity, c.at) for c in changes] == [
        ("raised", "warning", DUE),
        ("updated", "critical", DUE + HOUR),
    ]


def test_orders_have_separate_alerts() -> None:
    changes, _ = replay(
        [
            make_order_placed("o-1", at=T0, due=DUE),
            make_order_placed("o-2", at=T0, due=DUE + HOUR),
            AdvanceTo(DUE + HOUR),
        ]
    )
    assert [(c.details["order_id"], c.lifecycle, c.revision) for c in changes] == [
        ("o-1", "raised", 1),
        ("o-2", "raised", 1),
    ]
    assert changes[0].alert_id != changes[1].alert_id


def test_module_contract() -> None:
    assert late_delivery.NAME == "late_delivery"
    assert late_delivery.KIND == "promise.late_delivery"
    assert {"order.placed", "order.shipped", "order.delivered", "order.cancelled"} == late_delivery.EVENT_TYPES


def test_deadline_for_forgotten_order_is_nothing(state: dict[str, Any], policy: Policy) -> None:
    assert late_delivery.on_deadline(state, "o-gone", DUE, policy) == []


def test_delivery_reported_before_its_placement_is_not_late() -> None:
    history = [make_delivered(at=T0 + 2 * HOUR), placed(), AdvanceTo(DUE + 100 * HOUR)]
    changes, _ = replay(history)
    assert summary(changes) == []


def test_order_with_null_unit_price_still_alerts() -> None:
    changes, _ = replay(
        [placed(lines=[{"line_id": "l1", "sku": "BOX-M", "qty": 10, "unit_price": None}]), AdvanceTo(DUE)]
    )
    assert summary(changes) == [("raised", 1, "warning", "undelivered")]


# --- the at-risk stage: not shipped at_risk_hours before the promise ---------

RISK_AT = DUE - 24 * HOUR  # Policy().at_risk_hours


@pytest.mark.parametrize(
    ("history", "expected"),
    [
        pytest.param([placed(), AdvanceTo(RISK_AT - 1)], [], id="just-before-the-risk-point"),
        pytest.param([placed(), AdvanceTo(RISK_AT)], [("raised", 1, "warning", "at_risk")], id="at-the-risk-point"),
        pytest.param([placed(), make_shipped(at=RISK_AT - 1), AdvanceTo(RISK_AT)], [], id="shipped-in-time"),
        pytest.param(
            [placed(), AdvanceTo(RISK_AT), make_delivered(at=DUE - HOUR)],
            [("raised", 1, "warning", "at_risk"), ("resolved", 2, "warning", None)],
            id="at-risk-then-delivered-in-time-resolves",
        ),
        pytest.param(
            [placed(), AdvanceTo(RISK_AT), AdvanceTo(DUE)],
            [("raised", 1, "warning", "at_risk"), ("updated", 2, "warning", "undelivered")],
            id="at-risk-becomes-the-late-alert",
        ),
        pytest.param(
            [placed(), AdvanceTo(RISK_AT), make_shipped(at=RISK_AT + HOUR), make_delivered(at=DUE + 5 * HOUR)],
            [("raised", 1, "warning", "at_risk"), ("updated", 2, "warning", "delivered_late")],
            id="at-risk-then-delivered-late",
        ),
        pytest.param(
            [make_order_placed("o-1", at=DUE - HOUR, due=DUE), AdvanceTo(DUE - 1)],
            [],
            id="placed-inside-the-window-has-no-risk-stage",
        ),
    ],
)
def test_at_risk_stage(history: list[Any], expected: list[tuple[str, int, str, str | None]]) -> None:
    changes, _ = replay_with(history, Policy())
    assert summary(changes) == expected
    assert {c.alert_id for c in changes} <= {ALERT_ID}


def test_at_risk_stage_can_be_turned_off() -> None:
    changes, state = replay_with([placed(), AdvanceTo(RISK_AT)], Policy(at_risk_hours=0))
    assert changes == []
    assert list(own_deadlines(state)) == ["late_delivery|o-1"]
