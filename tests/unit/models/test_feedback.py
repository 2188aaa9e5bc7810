"""The CRM's answers (models.feedback, models.alerts.feedback_alert): validation, lifecycle, disorder."""

from __future__ import annotations

from typing import Any

import pytest

from models.alerts import alert_id_for, to_cloudevent
from models.engine import advance_to, apply_event
from models.errors import Rejected
from models.events import INPUT_TOPICS, TIME_TOPICS, validate_event
from models.policy import Policy
from models.state import new_state
from models.views import customer_view
from tests.unit.factories import CUSTOMER, DAY, HOUR, T0, document, make_cancelled, make_event, make_order_placed

POLICY = Policy()
KIND = "promise.urgent_order_refused"


def refused_order(state: dict[str, Any], order_id: str = "o-1", at: int = T0) -> str:
    """An urgent order the company cancelled: one alert, raised; its alert id."""
    apply_event(state, make_order_placed(order_id, urgent=True, at=at), POLICY)
    changes = apply_event(state, make_cancelled(order_id, by="company", at=at + HOUR), POLICY)
    assert [c.lifecycle for c in changes] == ["raised"]
    return alert_id_for(KIND, CUSTOMER, order_id)


def answer(kind: str, alert_id: str, at: int, **data: Any) -> Any:
    return make_event(kind, {"alert_id": alert_id, **data}, at=at)


def test_the_feedback_role_is_an_input_but_not_a_topic_of_time() -> None:
    assert "feedback" in INPUT_TOPICS
    assert "feedback" not in TIME_TOPICS


@pytest.mark.parametrize(
    ("kind", "data", "reason"),
    [
        ("alert.acknowledged", {"alert_id": "a-1"}, "data.by: is required"),
        ("alert.closed", {"alert_id": "a-1", "by": "ann"}, "data.outcome: is required"),
        ("alert.closed", {"alert_id": "a-1", "by": "ann", "outcome": "forgiven"}, "data.outcome: must be one of"),
        ("alert.disputed", {"alert_id": "a-1", "by": "ann"}, "data.reason: is required"),
        ("alert.disputed", {"alert_id": "", "by": "ann", "reason": "x"}, "data.alert_id: must be a non-empty"),
    ],
)
def test_bad_answers_are_rejected_with_the_field(kind: str, data: dict[str, Any], reason: str) -> None:
    with pytest.raises(Rejected) as caught:
        validate_event("feedback", CUSTOMER.encode(), document(kind, data))
    assert caught.value.reason.startswith(reason)


def test_answers_belong_on_the_feedback_topic() -> None:
    doc = document("alert.acknowledged", {"alert_id": "a-1", "by": "ann"})
    with pytest.raises(Rejected) as caught:
        validate_event("orders", CUSTOMER.encode(), doc)
    assert caught.value.code == "wrong_topic"
    assert validate_event("feedback", CUSTOMER.encode(), doc).data == {"alert_id": "a-1", "by": "ann"}


def test_acknowledged_then_closed_move_the_record_and_emit_the_next_revisions() -> None:
    state = new_state(CUSTOMER, 0)
    alert_id = refused_order(state)
    (ack,) = apply_event(state, answer("alert.acknowledged", alert_id, T0 + 3 * HOUR, by="ann", note="calling"), POLICY)
    assert (ack.lifecycle, ack.revision, ack.kind, ack.at) == ("acknowledged", 2, KIND, T0 + 3 * HOUR)
    closing = answer("alert.closed", alert_id, T0 + 5 * HOUR, by="bob", outcome="refunded")
    (closed,) = apply_event(state, closing, POLICY)
    assert (closed.lifecycle, closed.revision) == ("closed", 3)
    record = state["alerts"][alert_id]
    assert record["ack"] == {"by": "ann", "at": T0 + 3 * HOUR, "note": "calling"}
    assert record["closed"] == {"by": "bob", "at": T0 + 5 * HOUR, "outcome": "refunded"}
    assert record["o"] is True  # the condition is the detector's to clear, not the CRM's
    document_ = to_cloudevent(closed, "EUR")
    assert document_["type"] == "fairwatch.alert.closed"
    assert document_["id"] == f"{alert_id}-3"
    assert document_["data"]["feedback"]["acknowledged"]["by"] == "ann"
    assert document_["data"]["feedback"]["closed"] == {"by": "bob", "at": "2026-11-22T15:00:00Z", "outcome": "refunded"}
    view = customer_view(state, {}, "EUR")["alerts"][alert_id]
    assert view["closed"]["by"] == "bob" and view["acknowledged"]["at"] == "2026-11-22T13:00:00Z"


def test_the_same_answer_again_is_not_emitted_again() -> None:
    state = new_state(CUSTOMER, 0)
    alert_id = refused_order(state)
    assert len(apply_event(state, answer("alert.acknowledged", alert_id, T0 + 2 * HOUR, by="ann"), POLICY)) == 1
    assert apply_event(state, answer("alert.acknowledged", alert_id, T0 + 3 * HOUR, by="ann"), POLICY) == []
    # Someone else taking it over is news.
    (again,) = apply_event(state, answer("alert.acknowledged", alert_id, T0 + 4 * HOUR, by="cat"), POLICY)
    assert again.revision == 3 and state["alerts"][alert_id]["ack"]["by"] == "cat"


def test_disputed_and_closed_exclude_each_other_and_take_ownership() -> None:
    state = new_state(CUSTOMER, 0)
    alert_id = refused_order(state)
    (disputed,) = apply_event(
        state, answer("alert.disputed", alert_id, T0 + 2 * HOUR, by="dan", reason="was a test order"), POLICY
    )
    record = state["alerts"][alert_id]
    assert record["ack"] == {"by": "dan", "at": T0 + 2 * HOUR}
    assert record["disputed"]["reason"] == "was a test order"
    assert disputed.summary == "Disputed by dan: was a test order"
    apply_event(state, answer("alert.closed", alert_id, T0 + 3 * HOUR, by="dan", outcome="no_action"), POLICY)
    assert "disputed" not in record and record["closed"]["outcome"] == "no_action"


def test_an_update_reopens_a_closed_alert_with_its_owner_and_a_new_episode_starts_clean() -> None:
    state = new_state(CUSTOMER, 0)
    apply_event(state, make_order_placed("o-9", due=T0 + DAY, at=T0), POLICY)
    changes = advance_to(state, T0 + DAY + HOUR, POLICY)
    late = next(c for c in changes if c.kind == "promise.late_delivery")
    apply_event(state, answer("alert.acknowledged", late.alert_id, T0 + DAY + 2 * HOUR, by="ann"), POLICY)
    closing = answer("alert.closed", late.alert_id, T0 + DAY + 3 * HOUR, by="ann", outcome="contacted")
    apply_event(state, closing, POLICY)
    # A week late is a material change (the stage moves): notified again, still Ann's.
    changes = advance_to(state, T0 + 30 * DAY, POLICY)
    updated = [c for c in changes if c.alert_id == late.alert_id]
    assert updated and updated[-1].lifecycle == "updated"
    record = state["alerts"][late.alert_id]
    assert "closed" not in record and record["ack"]["by"] == "ann"
    assert updated[-1].feedback == {"acknowledged": {"by": "ann", "at": "2026-11-23T12:00:00Z"}}


def test_an_answer_before_its_alert_is_held_and_applied_when_the_alert_comes() -> None:
    state = new_state(CUSTOMER, 0)
    alert_id = alert_id_for(KIND, CUSTOMER, "o-1")
    early = answer("alert.acknowledged", alert_id, T0 + 3 * HOUR, by="ann")
    assert apply_event(state, early, POLICY) == []
    assert state["held_feedback"][0][0] == early.event_id
    assert state["deadlines"] == {f"feedback|{early.event_id}": T0 + 3 * HOUR}
    apply_event(state, make_order_placed("o-1", urgent=True, at=T0), POLICY)
    changes = apply_event(state, make_cancelled("o-1", by="company", at=T0 + HOUR), POLICY)
    assert [(c.lifecycle, c.revision) for c in changes] == [("raised", 1), ("acknowledged", 2)]
    assert "held_feedback" not in state
    assert not any(name.startswith("feedback|") for name in state["deadlines"])


def test_an_answer_whose_alert_never_comes_is_set_aside_once_every_topic_of_facts_passed_it() -> None:
    state = new_state(CUSTOMER, 0)
    early = answer("alert.closed", "nothing-like-it", T0, by="ann", outcome="fixed")
    apply_event(state, early, POLICY)
    # The feedback topic's own time, however far, decides nothing; nor do two of the three topics of facts.
    advance_to(state, {"feedback": T0 + DAY, "orders": T0 + DAY, "billing": T0 + DAY}, POLICY)
    assert len(state["held_feedback"]) == 1
    advance_to(state, {"orders": T0 + DAY, "billing": T0 + DAY, "complaints": T0}, POLICY)
    assert "held_feedback" not in state
    assert state["unmatched_feedback"] == [
        {"event_id": early.event_id, "type": "alert.closed", "alert_id": "nothing-like-it", "at": T0}
    ]
    view = customer_view(state, {}, "EUR")
    assert view["unmatched_feedback"][0]["at"] == "2026-11-22T10:00:00Z" and view["held_feedback"] == []


def test_held_answers_are_bounded() -> None:
    state = new_state(CUSTOMER, 0)
    for index in range(25):
        apply_event(state, answer("alert.acknowledged", f"gone-{index}", T0 + index, by="ann"), POLICY)
    assert state["held_feedback"][0][3]["alert_id"] == "gone-5"
    assert len(state["held_feedback"]) == 20
    assert [entry["alert_id"] for entry in state["unmatched_feedback"]] == [f"gone-{i}" for i in range(5)]
    assert sum(name.startswith("feedback|") for name in state["deadlines"]) == 20


def test_an_answer_on_a_broken_promise_is_not_counted_as_another_broken_promise() -> None:
    state = new_state(CUSTOMER, 0)
    alert_id = refused_order(state)
    broken = list(state["broken"])
    apply_event(state, answer("alert.acknowledged", alert_id, T0 + 2 * HOUR, by="ann"), POLICY)
    apply_event(state, answer("alert.closed", alert_id, T0 + 3 * HOUR, by="ann", outcome="fixed"), POLICY)
    assert state["broken"] == broken
