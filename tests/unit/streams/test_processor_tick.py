"""A bounded tick: how far one tick moves stream time when many customers' deadlines are due at once."""

from __future__ import annotations

from typing import Any

import orjson

from models.policy import Policy
from streams.processor import Processor

from ..factories import DAY, MINUTE, T0, document, encode, iso, make_line

GRACE_MINUTES = 10
#: Far past every promise below: an unbounded tick fires them all.
WALL_MS = T0 + 5 * DAY


class Harness:
    """One partition, many customers, each with one order promised at its own moment (or a shared one)."""

    def __init__(self) -> None:
        self.store: dict[str, Any] = {}
        self.high: dict[str, int] = {}
        self.processor = Processor(
            Policy(grace_minutes=GRACE_MINUTES),
            self.store,
            lambda key, state: self.store.__setitem__(key, orjson.loads(orjson.dumps(state))),
            lambda topic, partition: self.high.get(topic),
            wall_clock=lambda: WALL_MS / 1000,
        )

    def place(self, customer_id: str, value: bytes) -> None:
        offset = self.high.get("orders", 0)
        self.high["orders"] = offset + 1
        assert self.processor.handle("orders", 0, offset, customer_id.encode(), value).status == "processed"

    def ticks(self, most: int | None) -> list[list[Any]]:
        """Tick until a tick moves nothing; the alert changes of each tick, in order."""
        rounds = []
        while True:
            before = dict(self.processor.stream_time(0))
            rounds.append(self.processor.tick(0, most))
            if self.processor.stream_time(0) == before:
                return rounds


def _orders(dues: list[int]) -> list[tuple[str, bytes]]:
    """Each customer's order placement, promised by its due (the same bytes for every harness fed them)."""
    placements = []
    for n, due in enumerate(dues):
        customer_id = f"c-{n:02d}"
        data = {"order_id": f"o-{customer_id}", "lines": [make_line()], "promised_delivery_by": iso(due)}
        placements.append((customer_id, encode(document("order.placed", data, customer_id=customer_id, at=T0))))
    return placements


def _customers(harness: Harness, dues: list[int], placements: list[tuple[str, bytes]] | None = None) -> list[str]:
    placements = placements or _orders(dues)
    for customer_id, value in placements:
        harness.place(customer_id, value)
    return [customer_id for customer_id, _ in placements]


def _deadlines(harness: Harness, customer_id: str) -> list[int]:
    return sorted(harness.store[customer_id]["deadlines"].values())


# Promised two days or more after the order: each has two deadlines, the day before (at risk) and the promise.
DUES = [T0 + 2 * DAY + n * MINUTE for n in range(25)]


def test_ticks_held_to_ten_customers_fire_what_one_unbounded_tick_fires() -> None:
    unbounded, bounded = Harness(), Harness()
    placements = _orders(DUES)
    names = _customers(unbounded, DUES, placements)
    _customers(bounded, DUES, placements)
    (everything,) = [batch for batch in unbounded.ticks(None) if batch]
    rounds = [batch for batch in bounded.ticks(10) if batch]
    assert len(rounds) > 2
    assert all(len({change.customer_id for change in batch}) <= 10 for batch in rounds)
    # The same alerts, each as it would have been emitted at once (in another order: deadline by deadline
    # across customers, not customer by customer); the same states and stream time in the end.
    assert sorted(everything, key=repr) == sorted((change for batch in rounds for change in batch), key=repr)
    assert {change.customer_id for change in everything} == set(names)
    assert bounded.store == unbounded.store
    assert bounded.processor.stream_time(0) == unbounded.processor.stream_time(0)
    assert unbounded.processor.stream_time(0)["orders"] == WALL_MS - GRACE_MINUTES * MINUTE


def test_held_back_time_stops_just_short_of_the_first_customer_left_for_the_next_tick() -> None:
    harness = Harness()
    _customers(harness, DUES[:5])
    left = _deadlines(harness, "c-02")
    assert {change.customer_id for change in harness.processor.tick(0, 2)} == {"c-00", "c-01"}
    assert harness.processor.stream_time(0)["orders"] == left[0] - 1
    assert _deadlines(harness, "c-02") == left
    assert len(_deadlines(harness, "c-00")) == 1  # its first deadline fired, the promise itself is to come


def test_customers_sharing_the_earliest_moment_fire_together_so_time_always_moves_on() -> None:
    harness = Harness()
    names = _customers(harness, [DUES[0]] * 6 + [DUES[1]])
    assert {change.customer_id for change in harness.processor.tick(0, 2)} == set(names[:6])
    # Then c-06's first deadline alone: the six's promises, all at one later moment, wait for the tick after.
    assert {change.customer_id for change in harness.processor.tick(0, 2)} == {names[6]}
    assert {change.customer_id for change in harness.processor.tick(0, 2)} == set(names[:6])


def test_a_bound_above_what_is_due_moves_time_to_the_wall_clock_at_once() -> None:
    harness = Harness()
    names = _customers(harness, DUES[:3])
    assert {change.customer_id for change in harness.processor.tick(0, 10)} == set(names)
    assert harness.processor.stream_time(0)["orders"] == WALL_MS - GRACE_MINUTES * MINUTE
