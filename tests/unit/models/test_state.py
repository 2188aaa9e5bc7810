"""models.state: per-customer facts, the de-duplication window, order records and pruning."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import orjson
import pytest

from models.policy import Policy
from models.state import (
    MARK_CHARS,
    STATE_VERSION,
    StateVersionError,
    apply_order_event,
    event_mark,
    has_mark,
    marks,
    new_state,
    order_value,
    prune,
    remember_event,
    upgrade_state,
)

from ..factories import (
    CUSTOMER,
    DAY,
    HOUR,
    T0,
    make_cancelled,
    make_delivered,
    make_line,
    make_order_placed,
    make_shipped,
)


def test_new_state_is_empty_and_json_serializable() -> None:
    state = new_state(CUSTOMER, 3)
    assert state == {
        "v": STATE_VERSION,
        "id": CUSTOMER,
        "p": 3,
        "last": None,
        "seen": "",
        "orders": {},
        "deadlines": {},
        "alerts": {},
        "early": {},
        "complaints": {},
        "service": {},
        "broken": [],
        "subs": {},
    }
    assert orjson.loads(orjson.dumps(state)) == state


# --- de-duplication ---------------------------------------------------------------


def test_duplicate_event_id_is_refused(state: dict[str, Any]) -> None:
    assert remember_event(state, "evt-1", 100) is True
    assert remember_event(state, "evt-2", 100) is True
    assert remember_event(state, "evt-1", 100) is False
    assert remember_event(state, "evt-2", 100) is False
    assert len(marks(state)) == 2  # a duplicate does not grow the window


def test_event_ids_are_compared_exactly(state: dict[str, Any]) -> None:
    assert remember_event(state, "evt-1", 100)
    assert remember_event(state, "EVT-1", 100)
    assert remember_event(state, "evt-1 ", 100)


def test_window_is_bounded_and_evicts_oldest(state: dict[str, Any], policy: Policy) -> None:
    window = policy.dedup_window
    for number in range(window + 1):
        assert remember_event(state, f"evt-{number}", window)
    assert len(marks(state)) == window
    # evt-0 was the oldest and has been forgotten; evt-1 (now the oldest) is still known.
    assert remember_event(state, "evt-1", window) is False
    assert remember_event(state, f"evt-{window}", window) is False
    assert remember_event(state, "evt-0", window) is True
    assert len(marks(state)) == window
    assert remember_event(state, "evt-1", window) is True  # evicted by evt-0's return


def test_window_shrinks_to_a_smaller_policy(state: dict[str, Any]) -> None:
    for number in range(10):
        remember_event(state, f"evt-{number}", 10)
    remember_event(state, "evt-10", 3)
    assert len(marks(state)) == 3
    assert remember_event(state, "evt-8", 3) is False
    assert remember_event(state, "evt-7", 3) is True


def test_seen_window_is_json_serializable(state: dict[str, Any]) -> None:
    remember_event(state, "evt-1", 10)
    restored = orjson.loads(orjson.dumps(state))
    assert remember_event(restored, "evt-1", 10) is False


def test_a_mark_is_found_only_where_a_mark_starts(state: dict[str, Any]) -> None:
    state["seen"] = "AAAABBBBCCCCDDDD"  # two marks; "BBBBCCCC" spans their boundary
    assert has_mark(state, "AAAABBBB") and has_mark(state, "CCCCDDDD")
    assert not has_mark(state, "BBBBCCCC")
    state["seen"] = "ABABABABABABABAB"  # the probe first matches at an odd place, then at the mark's start
    assert has_mark(state, "BABABABA") is False and has_mark(state, "ABABABAB") is True


def test_marks_are_eight_characters_of_the_event_ids_digest() -> None:
    assert len(event_mark("evt-1")) == MARK_CHARS
    assert event_mark("evt-1") != event_mark("evt-2")
    assert event_mark("evt-1") == event_mark("evt-1")


# --- the stored format ---------------------------------------------------------------

#: A customer's state as version 1 wrote it (before 2026-12): the two fields that changed, and enough around them.
_V1_DIGEST = 11599579833360534363


def _v1_record() -> dict[str, Any]:
    return {
        "id": CUSTOMER,
        "p": 3,
        "last": T0,
        "seen": [_V1_DIGEST, 8137986367825531241],
        "orders": {},
        "deadlines": {"late_delivery|o-1": T0 + DAY},
        "alerts": {
            "late-delivery-d955f2fdfeb253480a6c22f9": {
                "k": "promise.late_delivery",
                "r": 2,
                "o": False,
                "a": 692500000,
                "p": "once",
                "s": "warning",
                "g": "at_risk",
                "t": T0,
            }
        },
        "early": {},
        "complaints": {},
        "service": {},
        "broken": [],
        "subs": {},
        "lt": {"orders": T0},
    }


def test_a_version_1_record_is_read_as_version_2_with_nothing_lost() -> None:
    record = upgrade_state(orjson.loads(orjson.dumps(_v1_record())))
    assert record["v"] == STATE_VERSION
    assert len(marks(record)) == 2
    # The mark of v1's digest is its first 6 bytes, in base64.
    assert marks(record)[0] == base64.b64encode(_V1_DIGEST.to_bytes(8, "big")[:6]).decode()
    assert "k" not in record["alerts"]["late-delivery-d955f2fdfeb253480a6c22f9"]
    untouched = {key: value for key, value in _v1_record().items() if key not in ("seen", "alerts")}
    assert {key: record[key] for key in untouched} == untouched
    alert = dict(_v1_record()["alerts"]["late-delivery-d955f2fdfeb253480a6c22f9"])
    del alert["k"]
    assert record["alerts"]["late-delivery-d955f2fdfeb253480a6c22f9"] == alert


def test_an_event_seen_under_version_1_is_still_a_duplicate_after_the_upgrade() -> None:
    # Version 1's digest of an event id: the whole 64-bit BLAKE2b digest as an integer.
    digest = int.from_bytes(hashlib.blake2b(b"evt-7", digest_size=8).digest(), "big")
    record = upgrade_state({**_v1_record(), "seen": [digest]})
    assert remember_event(record, "evt-7", 100) is False
    assert remember_event(record, "evt-8", 100) is True


def test_version_2_and_other_records_pass_through_unchanged() -> None:
    current = new_state(CUSTOMER, 1)
    assert upgrade_state(current) is current
    offsets = {"p": 1, "input_offsets": {"orders": 5}, "epoch": 2}
    assert upgrade_state(offsets) == {"p": 1, "input_offsets": {"orders": 5}, "epoch": 2}
    assert upgrade_state(None) is None


def test_a_newer_format_stops_the_reader_rather_than_guessing() -> None:
    with pytest.raises(StateVersionError, match="newer than this fairwatch reads"):
        upgrade_state({**new_state(CUSTOMER, 1), "v": STATE_VERSION + 1})


# --- order records -------------------------------------------------------------------


def test_order_placed_creates_the_record(state: dict[str, Any]) -> None:
    placed = make_order_placed(
        "o-1",
        urgent=True,
        event_id="p-1",
        at=T0,
        due=T0 + DAY,
        lines=[make_line("l1", "BOX-M", 10, "2.50", {"colour": "brown"}), make_line("l2", "TAPE", 2, "4")],
    )
    order = apply_order_event(state, placed)
    assert order == {
        "placed": "p-1",
        "at": T0,
        "due": T0 + DAY,
        "urgent": True,
        "status": "open",
        "closed": None,
        "lines": {"l1": ["BOX-M", 10, 2_500_000, {"colour": "brown"}], "l2": ["TAPE", 2, 4_000_000, {}]},
    }
    assert state["orders"]["o-1"] is order


def test_second_placement_changes_nothing(state: dict[str, Any]) -> None:
    apply_order_event(state, make_order_placed("o-1", event_id="p-1", due=T0 + DAY))
    again = apply_order_event(state, make_order_placed("o-1", event_id="p-2", due=T0 + 9 * DAY))
    assert again is not None
    assert (again["placed"], again["due"]) == ("p-1", T0 + DAY)


@pytest.mark.parametrize(
    ("history", "status", "closed", "marks"),
    [
        pytest.param([], "open", None, {}, id="placed"),
        pytest.param([make_shipped(event_id="s", at=T0 + HOUR)], "shipped", None, {"shipped_by": "s"}, id="shipped"),
        pytest.param(
            [make_shipped(event_id="s", at=T0 + HOUR), make_delivered(event_id="d", at=T0 + 2 * HOUR)],
            "delivered",
            T0 + 2 * HOUR,
            {"shipped_by": "s", "delivered_by": "d"},
            id="delivered",
        ),
        pytest.param(
            [make_delivered(event_id="d", at=T0 + HOUR), make_shipped(event_id="s", at=T0 + 2 * HOUR)],
            "delivered",
            T0 + HOUR,
            {"shipped_by": "s", "delivered_by": "d"},
            id="shipped-report-after-delivery",
        ),
        pytest.param(
            [make_delivered(event_id="d1", at=T0 + HOUR), make_delivered(event_id="d2", at=T0 + 3 * HOUR)],
            "delivered",
            T0 + HOUR,
            {"delivered_by": "d2"},
            id="second-delivery-keeps-first-close-time",
        ),
        pytest.param(
            [make_cancelled(event_id="c", at=T0 + HOUR)], "cancelled", T0 + HOUR, {"cancelled_by": "c"}, id="cancelled"
        ),
        pytest.param(
            [make_delivered(event_id="d", at=T0 + HOUR), make_cancelled(event_id="c", at=T0 + 2 * HOUR)],
            "delivered",
            T0 + HOUR,
            {"delivered_by": "d"},
            id="cancel-after-delivery-ignored",
        ),
    ],
)
def test_order_status_transitions(
    state: dict[str, Any], history: list[Any], status: str, closed: int | None, marks: dict[str, str]
) -> None:
    apply_order_event(state, make_order_placed("o-1", event_id="p", at=T0))
    for event in history:
        apply_order_event(state, event)
    order = state["orders"]["o-1"]
    assert (order["status"], order["closed"]) == (status, closed)
    assert {k: order[k] for k in ("shipped_by", "delivered_by", "cancelled_by") if k in order} == marks


@pytest.mark.parametrize(
    "event",
    [make_shipped("o-9"), make_delivered("o-9"), make_cancelled("o-9")],
    ids=["shipped", "delivered", "cancelled"],
)
def test_event_for_unknown_order_returns_none(state: dict[str, Any], event: Any) -> None:
    assert apply_order_event(state, event) is None
    assert state["orders"] == {}


def test_order_value(state: dict[str, Any]) -> None:
    order = apply_order_event(
        state,
        make_order_placed(
            lines=[
                make_line("l1", qty=10, unit_price="2.50"),
                make_line("l2", qty=3, unit_price="0.000001"),
                make_line("l3", qty=1, unit_price=None),
            ]
        ),
    )
    assert order is not None
    assert order_value(order) == 25_000_003
    assert order_value(order, ["l2"]) == 3
    assert order_value(order, ["l1", "l3", "not-a-line"]) == 25_000_000
    assert order_value(order, []) == 0


def place(state: dict[str, Any], order_id: str, at: int, closed_at: int | None = None) -> None:
    apply_order_event(state, make_order_placed(order_id, at=at, due=at + DAY))
    state["deadlines"][f"late_delivery|{order_id}"] = at + DAY
    if closed_at is not None:
        apply_order_event(state, make_delivered(order_id, at=closed_at))
        del state["deadlines"][f"late_delivery|{order_id}"]


def test_prune_removes_closed_orders_past_retention(state: dict[str, Any]) -> None:
    policy = Policy(order_retention_days=10)
    now = T0 + 100 * DAY
    horizon = now - 10 * DAY
    place(state, "old-closed", T0, closed_at=horizon - 1)
    place(state, "closed-at-horizon", T0, closed_at=horizon)
    place(state, "recent-closed", T0, closed_at=now - DAY)
    place(state, "old-open", T0)

    prune(state, now, policy)

    assert set(state["orders"]) == {"closed-at-horizon", "recent-closed", "old-open"}
    assert state["deadlines"] == {"late_delivery|old-open": T0 + DAY}


def test_prune_enforces_max_orders_oldest_closed_first(state: dict[str, Any]) -> None:
    policy = Policy(max_orders_per_customer=3)
    place(state, "open-oldest", T0)
    place(state, "closed-1", T0 + 1 * HOUR, closed_at=T0 + 5 * HOUR)
    place(state, "closed-2", T0 + 2 * HOUR, closed_at=T0 + 4 * HOUR)
    place(state, "open-2", T0 + 3 * HOUR)
    place(state, "closed-3", T0 + 4 * HOUR, closed_at=T0 + 6 * HOUR)

    prune(state, T0 + DAY, policy)

    assert set(state["orders"]) == {"open-oldest", "open-2", "closed-3"}
    assert set(state["deadlines"]) == {"late_delivery|open-oldest", "late_delivery|open-2"}


def test_prune_drops_oldest_open_orders_and_their_deadlines_when_all_are_open(state: dict[str, Any]) -> None:
    policy = Policy(max_orders_per_customer=2)
    for number in range(4):
        place(state, f"o-{number}", T0 + number * HOUR)
    state["deadlines"]["wrong_delivery|o-0"] = T0

    prune(state, T0, policy)

    assert set(state["orders"]) == {"o-2", "o-3"}
    assert set(state["deadlines"]) == {"late_delivery|o-2", "late_delivery|o-3"}


def test_prune_within_bounds_changes_nothing(state: dict[str, Any], policy: Policy) -> None:
    place(state, "o-1", T0, closed_at=T0 + HOUR)
    place(state, "o-2", T0)
    before = orjson.loads(orjson.dumps(state))
    prune(state, T0 + DAY, policy)
    assert state == before


def test_prune_cap_keeps_deadlines_of_other_orders_with_similar_ids(state: dict[str, Any]) -> None:
    place(state, "x", T0)
    place(state, "a|x", T0 + HOUR)
    prune(state, T0, Policy(max_orders_per_customer=1))
    assert set(state["orders"]) == {"a|x"}
    assert state["deadlines"] == {"late_delivery|a|x": T0 + HOUR + DAY}


def _complain(state: dict[str, Any], complaint_id: str, at: int, done: int | None = None) -> None:
    state["complaints"][complaint_id] = {
        "at": at,
        "severity": "normal",
        "category": "delivery",
        "by": at + DAY,
        "ack": None,
        "done": done,
        "opened": f"e-{complaint_id}",
    }
    if done is None:
        for stage in ("ack", "due", "critical"):
            state["deadlines"][f"complaint_unresolved|{stage}:{complaint_id}"] = at + DAY


def test_prune_caps_complaints_oldest_resolved_first_then_oldest_open(state: dict[str, Any]) -> None:
    # A complaint never resolved upstream is kept until the cap, not forever.
    _complain(state, "open-oldest", T0)
    _complain(state, "done-1", T0 + 1 * HOUR, done=T0 + 2 * HOUR)
    _complain(state, "open-2", T0 + 3 * HOUR)
    _complain(state, "open-3", T0 + 4 * HOUR)
    _complain(state, "a:open-2", T0 + 5 * HOUR)  # an id holding the other's after a colon keeps its deadlines

    prune(state, T0 + DAY, Policy(max_complaints_per_customer=3))

    assert set(state["complaints"]) == {"open-2", "open-3", "a:open-2"}
    assert {name.partition(":")[2] for name in state["deadlines"]} == {"open-2", "open-3", "a:open-2"}
