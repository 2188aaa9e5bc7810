"""The offset guard: a hole in a partition's offsets is skipped past and sought back to."""

from __future__ import annotations

from streams.offsets import RESEEK_AFTER, SKIP, STALLED_CHECKS, OffsetGuard


def test_consecutive_offsets_are_handled() -> None:
    guard = OffsetGuard()
    assert [guard.admit("orders", 0, offset) for offset in range(5)] == [None] * 5


def test_a_hole_asks_for_one_seek_then_skips_until_the_hole_comes_back() -> None:
    guard = OffsetGuard()
    for offset in range(85):
        assert guard.admit("orders", 0, offset) is None
    assert guard.admit("orders", 0, 86) == 85  # 85 never came: seek back to it
    assert guard.admit("orders", 0, 87) is SKIP
    assert guard.admit("billing", 0, 3) is None  # other partitions go on
    assert guard.admit("orders", 1, 40) is None
    assert [guard.admit("orders", 0, offset) for offset in (85, 86, 87, 88)] == [None] * 4


def test_a_re_delivery_after_a_rebalance_is_handled_and_reading_resumes_from_it() -> None:
    guard = OffsetGuard()
    for offset in range(10):
        guard.admit("orders", 0, offset)
    assert guard.admit("orders", 0, 4) is None  # from the committed offset again: duplicates, handled
    assert guard.admit("orders", 0, 5) is None
    assert guard.admit("orders", 0, 7) == 6


def test_the_seek_is_asked_for_again_when_the_hole_does_not_come_back() -> None:
    guard = OffsetGuard()
    guard.admit("orders", 0, 0)
    answers = [guard.admit("orders", 0, 2 + n) for n in range(RESEEK_AFTER + 1)]
    assert answers[0] == 1 and answers[RESEEK_AFTER] == 1
    assert set(answers[1:RESEEK_AFTER]) == {SKIP}


def test_forgetting_a_partition_starts_it_afresh() -> None:
    guard = OffsetGuard()
    guard.admit("orders", 0, 0)
    guard.admit("orders", 1, 0)
    guard.forget({0})
    assert guard.admit("orders", 0, 50) is None  # a new assignment starts at its committed offset
    assert guard.admit("orders", 1, 50) == 1


def test_a_lost_tail_shows_as_a_partition_stuck_short_of_its_end() -> None:
    guard = OffsetGuard()
    for offset in range(10):
        guard.admit("orders", 0, offset)
    assert guard.stalled("orders", 0, 10) is None  # at the end
    assert guard.stalled("orders", 0, None) is None  # end not known
    answers = [guard.stalled("orders", 0, 12) for _ in range(STALLED_CHECKS)]
    assert answers == [None] * (STALLED_CHECKS - 1) + [10]  # 10 and 11 never came


def test_a_partition_making_progress_is_not_stalled() -> None:
    guard = OffsetGuard()
    guard.admit("orders", 0, 0)
    for offset in range(1, 10):
        assert guard.stalled("orders", 0, 100) is None
        guard.admit("orders", 0, offset)


def test_a_hole_right_at_the_start_of_an_assignment_shows_against_the_committed_offset() -> None:
    guard = OffsetGuard()
    assert not guard.knows("orders", 2)
    guard.start("orders", 2, 18)  # committed
    assert guard.knows("orders", 2)
    assert guard.admit("orders", 2, 39) == 18  # the consumer ran ahead of the commit: 18..38 read again
    assert guard.admit("orders", 2, 18) is None
