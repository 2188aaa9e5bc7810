"""streams.clock: partition stream time (watermark, backlog, tick) and the deadline index (SPEC §4)."""

from __future__ import annotations

import pytest

from streams.clock import DeadlineIndex, PartitionClock

GRACE = 1_000
TOPICS = ("orders", "billing", "complaints")


def clock_with(observations: list[tuple[str, int, int | None]], topics: tuple[str, ...] = TOPICS) -> PartitionClock:
    clock = PartitionClock(topics, GRACE)
    for topic, offset, at in observations:
        clock.observe(topic, offset, at)
    return clock


@pytest.mark.parametrize(
    ("observations", "expected"),
    [
        pytest.param([], {}, id="nothing-seen"),
        pytest.param([("orders", 0, 50_000)], {"orders": 49_000}, id="newest-minus-grace"),
        pytest.param([("orders", 0, 50_000), ("orders", 1, 40_000)], {"orders": 49_000}, id="older-event-keeps-time"),
        pytest.param(
            [("orders", 0, 50_000), ("billing", 0, 30_000), ("complaints", 0, 20_000)],
            {"orders": 49_000, "billing": 29_000, "complaints": 19_000},
            id="each-topic-its-own-time",
        ),
        pytest.param([("orders", 0, None)], {}, id="invalid-message-moves-no-time"),
    ],
)
def test_each_topic_has_its_own_time(observations: list, expected: dict[str, int]) -> None:
    assert clock_with(observations).times == expected


def test_observe_says_whether_time_moved() -> None:
    clock = PartitionClock(TOPICS, GRACE)
    assert clock.observe("orders", 0, 10_000) is True
    assert clock.observe("orders", 1, 9_000) is False  # older: time never goes back
    assert clock.observe("orders", 2, 10_000) is False
    assert clock.observe("orders", 3, 10_001) is True
    assert clock.observe("orders", 4, None) is False
    assert clock.next_offset == {"orders": 5}


@pytest.mark.parametrize(
    ("observations", "highwaters", "moved", "expected"),
    [
        pytest.param(
            [("orders", 0, 10_000), ("billing", 0, 10_000), ("complaints", 0, 10_000)],
            {"orders": 1, "billing": 1, "complaints": 1},
            ["orders", "billing", "complaints"],
            {"orders": 99_000, "billing": 99_000, "complaints": 99_000},
            id="all-caught-up-all-move",
        ),
        pytest.param(
            [("orders", 0, 10_000), ("billing", 0, 10_000)],
            {"orders": 5, "billing": 1, "complaints": 0},
            ["billing", "complaints"],
            {"orders": 9_000, "billing": 99_000, "complaints": 99_000},
            id="a-backlogged-topic-is-never-jumped-over",
        ),
        pytest.param(
            [("orders", 0, 10_000)],
            {"orders": 1, "billing": None, "complaints": 0},
            ["orders", "complaints"],
            {"orders": 99_000, "complaints": 99_000},
            id="unknown-high-water-counts-as-behind",
        ),
        pytest.param(
            [("orders", 0, 200_000)],
            {"orders": 1, "billing": 0, "complaints": 0},
            ["billing", "complaints"],
            {"orders": 199_000, "billing": 99_000, "complaints": 99_000},
            id="the-tick-never-moves-time-back",
        ),
    ],
)
def test_tick_moves_caught_up_topics_to_the_wall_clock(
    observations: list, highwaters: dict[str, int | None], moved: list[str], expected: dict[str, int]
) -> None:
    clock = clock_with(observations)
    assert clock.tick(highwaters, 100_000) == moved
    assert clock.times == expected


def test_time_advances_as_the_backlog_drains() -> None:
    clock = PartitionClock(TOPICS, GRACE)
    assert clock.tick({"orders": 2, "billing": 0, "complaints": 0}, 100_000) == ["billing", "complaints"]
    clock.observe("orders", 0, 10_000)
    assert clock.tick({"orders": 2, "billing": 0, "complaints": 0}, 100_000) == []
    clock.observe("orders", 1, 20_000)
    assert clock.tick({"orders": 2, "billing": 0, "complaints": 0}, 100_000) == ["orders"]
    assert clock.time("orders") == 99_000


def test_zero_grace() -> None:
    clock = PartitionClock(TOPICS, 0)
    clock.observe("orders", 0, 7)
    assert clock.time("orders") == 7


def test_event_before_epoch() -> None:
    assert clock_with([("orders", 0, -500)]).times == {"orders": -1_500}


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
    index.add(101, "c-2")
    assert index.pop_due(99) == []
    assert index.pop_due(100) == ["c-1"]
    assert index.pop_due(101) == ["c-2"]


def test_a_customer_has_one_entry_for_its_earliest_deadline() -> None:
    index = DeadlineIndex()
    index.add(100, "c-1")
    index.add(101, "c-1")  # covered: c-1 pops at 100 and its state says what comes next
    index.add(90, "c-1")  # earlier: it must pop then
    assert index.heap == [(90, "c-1"), (100, "c-1")]
    assert index.pop_due(95) == ["c-1"]
    index.add(101, "c-1")  # its entry at 90 is gone; the one at 100 is still there
    assert index.earliest == {"c-1": 101}
    assert index.pop_due(101) == ["c-1"]
    assert index.heap == []
    assert index.earliest == {}


def test_equal_deadlines_pop_in_customer_order() -> None:
    index = DeadlineIndex()
    for customer in ("c-b", "c-a", "c-c", "c-a"):
        index.add(5, customer)
    assert index.pop_due(5) == ["c-a", "c-b", "c-c"]


def test_build_empty() -> None:
    assert DeadlineIndex.build([]).pop_due(0) == []
