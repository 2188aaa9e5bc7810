"""streams.clock: partition stream time (watermark, backlog, tick) and the deadline index (SPEC §4)."""

from __future__ import annotations

import pytest

from streams.clock import DeadlineIndex, PartitionClock

GRACE = 1_000
TOPICS = ("orders", "billing", "complaints")


def clock_with(observations: list[tuple[str, int, int | None]], topics: tuple[str, ...] = TOPICS) -> PartitionClock:
    clock = PartitionClock(topics=topics, grace_ms=GRACE)
    for topic, offset, at in observations:
        clock.observe(topic, offset, at)
    return clock


CAUGHT_UP = {"orders": 2, "billing": 1, "complaints": 1}
SEEN_ALL = [("orders", 0, 50_000), ("orders", 1, 40_000), ("billing", 0, 30_000), ("complaints", 0, 20_000)]


@pytest.mark.parametrize(
    ("observations", "highwaters", "wall_ms", "expected"),
    [
        pytest.param(SEEN_ALL, CAUGHT_UP, None, 50_000 - GRACE, id="caught-up-newest-minus-grace"),
        pytest.param(SEEN_ALL, {**CAUGHT_UP, "billing": 5}, None, 30_000 - GRACE, id="backlogged-topic-holds-back"),
        pytest.param(
            SEEN_ALL,
            {**CAUGHT_UP, "orders": 3},
            None,
            50_000 - GRACE,
            id="caught-up-topics-with-older-events-do-not-hold-back",
        ),
        pytest.param(
            SEEN_ALL,
            {"orders": 3, "billing": 5, "complaints": 1},
            None,
            30_000 - GRACE,
            id="min-over-backlogged-topics-only",
        ),
        pytest.param(
            SEEN_ALL, {"orders": 3, "billing": 5, "complaints": 9}, None, 20_000 - GRACE, id="min-over-all-backlogged"
        ),
        pytest.param(
            SEEN_ALL, {**CAUGHT_UP, "complaints": None}, None, 20_000 - GRACE, id="unknown-highwater-counts-as-backlog"
        ),
        pytest.param(SEEN_ALL[:3], {**CAUGHT_UP, "complaints": 4}, None, None, id="backlogged-never-seen-holds"),
        pytest.param(
            SEEN_ALL[:3], {**CAUGHT_UP, "complaints": 0}, None, 50_000 - GRACE, id="empty-topic-never-seen-is-caught-up"
        ),
        pytest.param(SEEN_ALL, CAUGHT_UP, 90_000, 90_000 - GRACE, id="tick-advances-to-wall-when-caught-up"),
        pytest.param(SEEN_ALL, CAUGHT_UP, 10_000, 50_000 - GRACE, id="tick-behind-events-keeps-event-time"),
        pytest.param(SEEN_ALL, {**CAUGHT_UP, "billing": 5}, 90_000, 30_000 - GRACE, id="tick-ignored-with-backlog"),
        pytest.param(
            [], {"orders": 0, "billing": 0, "complaints": 0}, 90_000, 90_000 - GRACE, id="tick-on-empty-partition"
        ),
        pytest.param([], {"orders": 0, "billing": 0, "complaints": 0}, None, None, id="nothing-known"),
        pytest.param(
            [], {"orders": 0, "billing": 0, "complaints": 3}, 90_000, None, id="tick-on-partition-with-unread-backlog"
        ),
    ],
)
def test_partition_time(
    observations: list[tuple[str, int, int | None]],
    highwaters: dict[str, int | None],
    wall_ms: int | None,
    expected: int | None,
) -> None:
    clock = clock_with(observations)
    assert clock.advance(highwaters, wall_ms) == expected
    assert clock.time == expected


def test_backlogged_topic_never_seen_holds_time_completely() -> None:
    clock = clock_with([("orders", 0, 10_000)])
    highwaters = {"orders": 1, "billing": 1, "complaints": 0}
    assert clock.advance(highwaters, 10**9) is None
    for offset, at in enumerate(range(20_000, 100_000, 10_000), start=1):
        clock.observe("orders", offset, at)
        assert clock.advance({**highwaters, "orders": offset + 1}, 10**9) is None
    clock.observe("billing", 0, 15_000)
    assert clock.advance({**highwaters, "orders": 9}, None) == 90_000 - GRACE


def test_time_never_goes_backwards() -> None:
    clock = clock_with([("orders", 0, 50_000), ("billing", 0, 40_000)], topics=("orders", "billing"))
    assert clock.advance({"orders": 1, "billing": 1}, 60_000) == 60_000 - GRACE
    # New backlog on billing, whose newest event is older: time holds, it does not go back.
    assert clock.advance({"orders": 1, "billing": 7}, None) == 60_000 - GRACE
    assert clock.advance({"orders": 1, "billing": 1}, 30_000) == 60_000 - GRACE
    clock.observe("orders", 1, 10_000)  # a late event
    assert clock.advance({"orders": 2, "billing": 1}, None) == 60_000 - GRACE
    assert clock.time == 60_000 - GRACE


def test_time_advances_as_the_backlog_drains() -> None:
    clock = PartitionClock(topics=("orders", "billing"), grace_ms=GRACE)
    clock.observe("billing", 0, 5_000)
    highwaters = {"orders": 3, "billing": 100}
    times = []
    for offset, at in enumerate((10_000, 20_000, 30_000)):
        clock.observe("orders", offset, at)
        times.append(clock.advance(highwaters))
    # billing still lags at 5,000: orders cannot move time past it.
    assert times == [5_000 - GRACE] * 3
    clock.observe("billing", 99, 25_000)
    assert clock.advance(highwaters) == 30_000 - GRACE


def test_observe_tracks_offsets_and_newest() -> None:
    clock = PartitionClock(topics=TOPICS, grace_ms=GRACE)
    clock.observe("orders", 4, 20_000)
    clock.observe("orders", 5, 10_000)  # older event: newest stays
    clock.observe("orders", 6, None)  # dead-lettered message: offset only
    assert clock.newest == {"orders": 20_000}
    assert clock.next_offset == {"orders": 7}
    assert clock.backlogged({"orders": 7, "billing": 0, "complaints": None}) == ["complaints"]
    assert clock.backlogged({"orders": 8, "billing": 1, "complaints": 0}) == ["orders", "billing"]


def test_observe_accepts_event_before_epoch() -> None:
    clock = PartitionClock(topics=("orders",), grace_ms=0)
    clock.observe("orders", 0, -5)
    assert clock.newest == {"orders": -5}
    assert clock.advance({"orders": 1}) == -5


def test_zero_grace() -> None:
    clock = clock_with([("orders", 0, 7_000)], topics=("orders",))
    clock.grace_ms = 0
    assert clock.advance({"orders": 1}) == 7_000


# --- DeadlineIndex --------------------------------------------------------------


def test_pop_due_in_deadline_order_each_customer_once() -> None:
    index = DeadlineIndex.build([(30, "c-3"), (10, "c-1"), (20, "c-2"), (15, "c-1"), (40, "c-4"), (25, "c-3")])
    assert index.pop_due(30) == ["c-1", "c-2", "c-3"]
    assert index.heap == [(40, "c-4")]
    assert index.pop_due(39) == []
    assert index.pop_due(40) == ["c-4"]
    assert index.heap == []
    assert index.pop_due(10**12) == []


def test_pop_due_is_inclusive_and_leaves_later_entries() -> None:
    index = DeadlineIndex()
    index.add(100, "c-1")
    index.add(101, "c-1")
    index.add(100, "c-2")
    assert index.pop_due(99) == []
    assert index.pop_due(100) == ["c-1", "c-2"]
    assert index.pop_due(101) == ["c-1"]


def test_equal_deadlines_pop_in_customer_order() -> None:
    index = DeadlineIndex()
    for customer in ("c-b", "c-a", "c-c", "c-a"):
        index.add(5, customer)
    assert index.pop_due(5) == ["c-a", "c-b", "c-c"]


def test_build_empty() -> None:
    assert DeadlineIndex.build([]).pop_due(0) == []
