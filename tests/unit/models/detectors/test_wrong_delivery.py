"""promise.wrong_delivery (SPEC §3.8): tables of history -> alerts, through models.engine."""

from __future__ import annotations

from typing import Any

import pytest

from models.alerts import AlertChange, alert_id_for
from models.detectors import wrong_delivery
from models.events import Event
from models.policy import Policy

from ...factories import CUSTOMER, DAY, HOUR, T0, AdvanceTo, make_delivered, make_line, make_order_placed, replay

DUE = T0 + 2 * DAY
ALERT_ID = alert_id_for("promise.wrong_delivery", CUSTOMER, "o-1")

BOXES = make_line("l1", "BOX-M", 10, "2.50", {"colour": "brown"})  # 25.00
TAPE = make_line("l2", "TAPE-50", 2, "4.00", {"width": "50mm"})  # 8.00
BOXES_VALUE, TAPE_VALUE = 25_000_000, 8_000_000


def line(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**base, **changes}


def placed() -> Event:
    return make_order_placed("o-1", event_id="p-1", at=T0, due=DUE, lines=[BOXES, TAPE])


def delivered(lines: list[dict[str, Any]] | None, at: int = T0 + DAY, event_id: str = "d-1") -> Event:
    return make_delivered("o-1", lines=lines, at=at, event_id=event_id)


def diff(line_id: str, field: str, ordered: Any, got: Any) -> dict[str, Any]:
    return {"line_id": line_id, "field": field, "ordered": ordered, "delivered": got}


@pytest.mark.parametrize(
    ("lines", "differences", "amount", "told"),
    [
        pytest.param(
            [line(BOXES, spec={"colour": "white"}), TAPE],
            [diff("l1", "spec.colour", "brown", "white")],
            BOXES_VALUE,
            "white colour came instead of brown",
            id="white-boxes-instead-of-brown",
        ),
        pytest.param(
            [line(BOXES, qty=8), TAPE],
            [diff("l1", "qty", 10, 8)],
            BOXES_VALUE,
            "8 of 10 ordered items came",
            id="qty-differs",
        ),
        pytest.param(
            [line(BOXES, qty=12), TAPE],
            [diff("l1", "qty", 10, 12)],
            BOXES_VALUE,
            "12 of 10 ordered items came",
            id="too-many",
        ),
        pytest.param(
            [BOXES, line(TAPE, sku="TAPE-25")],
            [diff("l2", "sku", "TAPE-50", "TAPE-25")],
            TAPE_VALUE,
            "TAPE-25 came instead of TAPE-50",
            id="sku-differs",
        ),
        pytest.param(
            [BOXES],
            [diff("l2", "line", "TAPE-50", None)],
            TAPE_VALUE,
            "TAPE-50 was missing",
            id="missing-line",
        ),
        pytest.param(
            [BOXES, TAPE, make_line("l3", "GIFT", 1, "0")],
            [diff("l3", "line", None, "GIFT")],
            0,
            "GIFT was sent but not ordered",
            id="extra-line",
        ),
        pytest.param(
            [line(BOXES, spec={}), TAPE],
            [diff("l1", "spec.colour", "brown", None)],
            BOXES_VALUE,
            "no colour was given instead of brown",
            id="spec-key-missing",
        ),
        pytest.param(
            [line(BOXES, spec={"colour": "brown", "print": "logo"}), TAPE],
            [diff("l1", "spec.print", None, "logo")],
            BOXES_VALUE,
            "logo print was sent though none was asked for",
            id="spec-key-extra",
        ),
        pytest.param(
            [line(BOXES, spec={"colour": "white"}), line(TAPE, qty=1)],
            [diff("l1", "spec.colour", "brown", "white"), diff("l2", "qty", 2, 1)],
            BOXES_VALUE + TAPE_VALUE,
            "white colour came instead of brown; 1 of 2 ordered items came",
            id="two-lines-wrong",
        ),
        pytest.param(
            [line(BOXES, sku="BOX-L", qty=5, spec={"colour": "white", "packaging": "loose"})],
            [
                diff("l1", "sku", "BOX-M", "BOX-L"),
                diff("l1", "qty", 10, 5),
                diff("l1", "spec.colour", "brown", "white"),
                diff("l1", "spec.packaging", None, "loose"),
                diff("l2", "line", "TAPE-50", None),
            ],
            BOXES_VALUE + TAPE_VALUE,
            "BOX-L came instead of BOX-M; 5 of 10 ordered items came (and 3 more differences)",
            id="many-differences",
        ),
        pytest.param(
            [TAPE, line(BOXES, unit_price="1.00")],
            [],
            None,
            None,
            id="same-lines-other-order-and-price-no-alert",
        ),
        pytest.param([BOXES, TAPE], [], None, None, id="identical-no-alert"),
        pytest.param(None, [], None, None, id="lines-omitted-no-alert"),
    ],
)
def test_wrong_delivery(
    lines: list[dict[str, Any]] | None, differences: list[dict[str, Any]], amount: int | None, told: str | None
) -> None:
    changes, _ = replay([placed(), delivered(lines)])
    if not differences:
        assert changes == []
        return
    [change] = changes
    assert (change.lifecycle, change.revision, change.alert_id, change.kind) == (
        "raised",
        1,
        ALERT_ID,
        "promise.wrong_delivery",
    )
    assert change.details == {
        "order_id": "o-1",
        "differences": differences,
        "lines_affected": sorted({d["line_id"] for d in differences}),
    }
    # Impact is the value of the affected ordered lines, once.
    assert (change.amount, change.per, change.severity) == (amount, "once", "warning")
    assert change.summary == f"Your order o-1 was not delivered as ordered: {told}."
    assert change.evidence == ("p-1", "d-1")


def test_suggested_action_names_the_value_of_goods() -> None:
    changes, _ = replay([placed(), delivered([line(BOXES, spec={"colour": "white"}), TAPE])])
    assert changes[0].suggested_action == (
        "Send the right items for order o-1 (EUR 25.00 of goods), collect the wrong ones and apologise."
    )
    changes, _ = replay([placed(), delivered([line(BOXES, spec={"colour": "white"}), TAPE])], Policy(currency="GBP"))
    assert "(GBP 25.00 of goods)" in changes[0].suggested_action


WHITE = [line(BOXES, spec={"colour": "white"}), TAPE]
CORRECT = [BOXES, TAPE]


def summary(changes: list[AlertChange]) -> list[tuple[str, int, int]]:
    return [(c.lifecycle, c.revision, c.amount) for c in changes]


@pytest.mark.parametrize(
    ("reports", "expected"),
    [
        pytest.param(
            [WHITE, CORRECT],
            [("raised", 1, BOXES_VALUE), ("resolved", 2, BOXES_VALUE)],
            id="later-correct-delivery-resolves",
        ),
        pytest.param([WHITE, WHITE], [("raised", 1, BOXES_VALUE)], id="same-report-twice-raises-once"),
        pytest.param(
            [WHITE, [line(BOXES, spec={"colour": "white"}), line(TAPE, qty=1)]],
            [("raised", 1, BOXES_VALUE), ("updated", 2, BOXES_VALUE + TAPE_VALUE)],
            id="more-wrong-updates",
        ),
        pytest.param([CORRECT, WHITE], [("raised", 1, BOXES_VALUE)], id="correct-then-wrong"),
        pytest.param(
            [WHITE, CORRECT, CORRECT], [("raised", 1, BOXES_VALUE), ("resolved", 2, BOXES_VALUE)], id="resolved-once"
        ),
        pytest.param(
            [WHITE, CORRECT, [BOXES]],
            [("raised", 1, BOXES_VALUE), ("resolved", 2, BOXES_VALUE), ("raised", 3, TAPE_VALUE)],
            id="comes-back-with-next-revision",
        ),
    ],
)
def test_wrong_delivery_lifecycle(reports: list[list[dict[str, Any]]], expected: list[tuple[str, int, int]]) -> None:
    history = [placed()] + [
        delivered(lines, at=T0 + DAY + number * HOUR, event_id=f"d-{number}") for number, lines in enumerate(reports)
    ]
    changes, _ = replay(history)
    assert summary(changes) == expected
    assert {c.alert_id for c in changes} == {ALERT_ID}


def test_resolution_content() -> None:
    changes, state = replay(
        [placed(), delivered(WHITE, event_id="d-1"), delivered(CORRECT, event_id="d-2", at=T0 + 2 * DAY)]
    )
    resolved = changes[-1]
    assert resolved.summary == "Order o-1 has now been delivered as ordered."
    assert (resolved.at, resolved.evidence) == (T0 + 2 * DAY, ("p-1", "d-2"))
    assert state["alerts"][ALERT_ID]["o"] is False


def test_delivery_for_unknown_order_is_nothing() -> None:
    changes, _ = replay([make_delivered("o-unknown", lines=[BOXES])])
    assert changes == []


def test_no_deadline_work(policy: Policy) -> None:
    changes, state = replay([placed(), delivered(WHITE), AdvanceTo(DUE + 100 * DAY)])
    assert [c.lifecycle for c in changes if c.kind == wrong_delivery.KIND] == ["raised"]
    assert wrong_delivery.on_deadline(state, "o-1", DUE, policy) == []


def test_late_and_wrong_are_separate_alerts() -> None:
    changes, _ = replay([placed(), delivered(WHITE, at=DUE + HOUR)])
    assert sorted(c.kind for c in changes) == ["promise.late_delivery", "promise.wrong_delivery"]
    assert len({c.alert_id for c in changes}) == 2


def test_differences_is_pure() -> None:
    ordered = {"l1": ["BOX-M", 10, 2_500_000, {"colour": "brown"}]}
    assert wrong_delivery.differences(ordered, [BOXES]) == []
    assert wrong_delivery.differences(ordered, []) == [diff("l1", "line", "BOX-M", None)]
    assert ordered == {"l1": ["BOX-M", 10, 2_500_000, {"colour": "brown"}]}


def test_later_report_without_lines_resolves() -> None:
    changes, _ = replay([placed(), delivered(WHITE, event_id="d-1"), delivered(None, event_id="d-2", at=T0 + 2 * DAY)])
    assert summary(changes) == [("raised", 1, BOXES_VALUE), ("resolved", 2, BOXES_VALUE)]


def test_null_spec_is_treated_as_no_spec() -> None:
    changes, _ = replay([placed(), delivered([line(BOXES, spec=None), TAPE])])
    assert [d["field"] for d in changes[0].details["differences"]] == ["spec.colour"]
