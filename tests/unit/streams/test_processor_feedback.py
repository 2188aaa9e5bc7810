"""The feedback topic in the processor: an input by its role, whose silence no deadline waits for."""

from __future__ import annotations

from typing import Any

import orjson

from models.alerts import alert_id_for
from models.policy import Policy
from streams.processor import Processor, input_offsets_key

from ..factories import DAY, HOUR, T0, document, encode, iso, make_line

CUSTOMER = "c-1"


class Harness:
    def __init__(self) -> None:
        self.store: dict[str, Any] = {}
        self.high: dict[str, int | None] = {}
        self.wall = (T0 + 2 * DAY) / 1000  # a day past the promise: late, not yet a week late
        self.processor = Processor(
            Policy(grace_minutes=10),
            self.store,
            lambda key, state: self.store.__setitem__(key, orjson.loads(orjson.dumps(state))),
            lambda topic, partition: self.high.get(topic),
            wall_clock=lambda: self.wall,
        )
        self.offsets: dict[str, int] = {}

    def send(self, role: str, doc: dict[str, Any]) -> Any:
        offset = self.offsets.get(role, 0)
        self.offsets[role] = offset + 1
        self.high[role] = offset + 1
        return self.processor.handle(role, 0, offset, CUSTOMER.encode(), encode(doc))


def placed(order_id: str, at: int, due: int) -> dict[str, Any]:
    data = {"order_id": order_id, "lines": [make_line()], "promised_delivery_by": iso(due), "urgent": False}
    return document("order.placed", data, customer_id=CUSTOMER, at=at)


def test_a_deadline_fires_by_the_tick_while_the_feedback_topic_was_never_read() -> None:
    harness = Harness()
    harness.send("orders", placed("o-1", T0, T0 + DAY))
    assert harness.high.get("feedback") is None  # nothing known of the feedback topic at all
    changes = harness.processor.tick(0)
    assert [(c.kind, c.lifecycle) for c in changes] == [("promise.late_delivery", "raised")]


def test_an_answer_on_the_feedback_topic_is_applied_emitted_and_its_offset_recorded() -> None:
    harness = Harness()
    harness.send("orders", placed("o-1", T0, T0 + DAY))
    (raised,) = harness.processor.tick(0)
    doc = document(
        "alert.acknowledged", {"alert_id": raised.alert_id, "by": "ann"}, customer_id=CUSTOMER, at=T0 + DAY + HOUR
    )
    outcome = harness.send("feedback", doc)
    assert outcome.status == "processed"
    assert [(c.lifecycle, c.revision) for c in outcome.changes] == [("acknowledged", 2)]
    assert harness.store[CUSTOMER]["alerts"][raised.alert_id]["ack"]["by"] == "ann"
    assert harness.store[input_offsets_key(0)]["input_offsets"] == {"orders": 1, "feedback": 1}
    # Redelivered: a duplicate, not a second answer.
    again = harness.processor.handle("feedback", 0, 0, CUSTOMER.encode(), encode(doc))
    assert again.status == "duplicate"


def test_a_bad_answer_is_dead_lettered_with_its_reason() -> None:
    harness = Harness()
    doc = document("alert.closed", {"alert_id": "a-1", "by": "ann", "outcome": "shrugged"}, customer_id=CUSTOMER)
    outcome = harness.send("feedback", doc)
    assert outcome.status == "dead_letter"
    assert outcome.rejected is not None and outcome.rejected.reason.startswith("data.outcome: must be one of")


def test_an_answer_read_ahead_of_the_orders_waits_for_its_alert() -> None:
    harness = Harness()
    alert_id = alert_id_for("promise.late_delivery", CUSTOMER, "o-1")
    answer = document(
        "alert.disputed",
        {"alert_id": alert_id, "by": "ann", "reason": "delivered by hand"},
        customer_id=CUSTOMER,
        at=T0 + DAY + HOUR,
    )
    assert harness.send("feedback", answer).changes == []
    harness.send("orders", placed("o-1", T0, T0 + DAY))
    # The orders topic's own later event passes the promise: raised, then the held dispute.
    later = placed("o-2", T0 + DAY + 2 * HOUR, T0 + 9 * DAY)
    changes = harness.send("orders", later).changes
    assert [(c.alert_id, c.lifecycle) for c in changes] == [(alert_id, "raised"), (alert_id, "disputed")]
    assert "held_feedback" not in harness.store[CUSTOMER]
    assert harness.store[CUSTOMER]["alerts"][alert_id]["disputed"]["by"] == "ann"
