"""promise.urgent_order_refused (SPEC §3.11): tables of history -> alerts, through models.engine."""

from __future__ import annotations

from typing import Any

import pytest

from models.alerts import AlertChange, alert_id_for
from models.detectors import urgent_order_refused
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
    replay,
)

KIND = "promise.urgent_order_refused"
ALERT_ID = alert_id_for(KIND, CUSTOMER, "o-1")
DUE = T0 + 2 * DAY
LINES = [make_line("l1", "BOX-M", 10, "2.50"), make_line("l2", "TAPE-50", 2, "4.00")]
ORDER_VALUE = 33_000_000  # 25.00 + 8.00


def placed(urgent: bool | None = True, **kwargs: Any) -> Event:
    return make_order_placed("o-1", event_id="p-1", at=T0, due=DUE, urgent=urgent, lines=LINES, **kwargs)


def cancelled(by: str = "company", at: int = T0 + HOUR, **kwargs: Any) -> Event:
    return make_cancelled("o-1", by=by, at=at, **kwargs)


def summary(changes: list[AlertChange]) -> list[tuple[str, int, str, int, int]]:
    """(lifecycle, revision, severity, amount, at) of this detector's emissions."""
    return [(c.lifecycle, c.revision, c.severity, c.amount, c.at) for c in changes if c.kind == KIND]


RAISED = [("raised", 1, "critical", ORDER_VALUE, T0 + HOUR)]


@pytest.mark.parametrize(
    ("history", "expected"),
    [
        pytest.param([placed(), cancelled()], RAISED, id="urgent-cancelled-by-company"),
        pytest.param([placed(), make_shipped("o-1", at=T0 + 30 * 60_000), cancelled()], RAISED, id="after-shipping"),
        pytest.param([placed(), cancelled(by="customer")], [], id="urgent-cancelled-by-customer"),
        pytest.param([placed(urgent=False), cancelled()], [], id="not-urgent"),
        pytest.param([placed(urgent=None), cancelled()], [], id="urgent-omitted-means-not-urgent"),
        pytest.param(
            [placed(), make_delivered("o-1", at=T0 + HOUR), cancelled(at=T0 + 2 * HOUR)],
            [],
            id="cancelled-after-delivery",
        ),
        pytest.param(
            [placed(), cancelled(), cancelled(at=T0 + 2 * HOUR, reason="again")],
            RAISED,
            id="cancelled-twice-raises-once",
        ),
        pytest.param(
            [placed(), cancelled(by="customer"), cancelled(at=T0 + 2 * HOUR)],
            [("raised", 1, "critical", ORDER_VALUE, T0 + 2 * HOUR)],
            id="customer-then-company",
        ),
        pytest.param([placed(), cancelled(), AdvanceTo(DUE + 30 * DAY)], RAISED, id="stays-open-as-time-passes"),
        pytest.param([cancelled(at=T0 + HOUR)], [], id="unknown-order"),
        pytest.param([cancelled(), placed()], RAISED, id="cancellation-reported-before-placement"),
    ],
)
def test_urgent_order_refused(history: list[Any], expected: list[tuple[str, int, str, int, int]]) -> None:
    changes, _ = replay(history)
    assert summary(changes) == expected
    assert {c.alert_id for c in changes if c.kind == KIND} <= {ALERT_ID}


def test_alert_content() -> None:
    changes, _ = replay([placed(), cancelled(event_id="x-1", reason="out of stock")])
    [change] = [c for c in changes if c.kind == KIND]
    assert (change.alert_id, change.per, change.evidence) == (ALERT_ID, "once", ("p-1", "x-1"))
    assert change.summary == "Your urgent order o-1 was cancelled by us (out of stock)."
    assert change.suggested_action.startswith("Call the customer today about urgent order o-1")
    assert change.details == {"order_id": "o-1", "reason": "out of stock", "skus": ["BOX-M", "TAPE-50"]}


def test_summary_without_reason() -> None:
    changes, _ = replay([placed(), cancelled()])
    assert changes[0].summary == "Your urgent order o-1 was cancelled by us."
    assert changes[0].details["reason"] is None


def test_impact_is_the_order_value_even_without_prices() -> None:
    lines = [make_line("l1", qty=3, unit_price="1.10"), make_line("l2", unit_price=None)]
    changes, _ = replay([make_order_placed("o-1", at=T0, due=DUE, urgent=True, lines=lines), cancelled()])
    assert [c.amount for c in changes] == [3_300_000]


def test_orders_have_separate_alerts() -> None:
    history = [
        make_order_placed("o-1", at=T0, due=DUE, urgent=True),
        make_order_placed("o-2", at=T0, due=DUE, urgent=True),
        make_cancelled("o-1", by="company", at=T0 + HOUR),
        make_cancelled("o-2", by="company", at=T0 + HOUR),
    ]
    changes, _ = replay(history)
    assert [c.alert_id for c in changes if c.kind == KIND] == [ALERT_ID, alert_id_for(KIND, CUSTOMER, "o-2")]


def test_module_contract(state: dict[str, Any], policy: Policy) -> None:
    assert urgent_order_refused.NAME == "urgent_order_refused"
    assert urgent_order_refused.KIND == KIND
    assert {"order.cancelled"} == urgent_order_refused.EVENT_TYPES
    assert urgent_order_refused.on_deadline(state, "o-1", DUE, policy) == []
