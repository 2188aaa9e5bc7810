"""A jump of stream time, fired in slices: at most ``fire_most`` customers' deadlines a checkpoint.

When stream time jumps (a worker catching up after downtime over a quiet spell) nearly every customer has a
deadline in the jump. Bounded, the processor fires the earliest customers' first and leaves the rest due for the
batches after; a customer's own due deadlines fire before their next event whatever is left. Each customer's
alerts, and every state in the end, are what one unbounded firing gives.
"""

from __future__ import annotations

import random
from typing import Any

import orjson

from models.policy import Policy
from streams.clock import DeadlineIndex
from streams.processor import Processor
from streams.state_record import SetAside, decode_state

from ..factories import DAY, MINUTE, T0, document, encode, iso, make_line

GRACE_MINUTES = 10
#: The wall clock: far past every promise below.
WALL_MS = T0 + 6 * DAY
#: Promised two days or more after the order: each customer has two deadlines, at risk (a day before) and late.
DUES = [T0 + 2 * DAY + n * MINUTE for n in range(25)]


def _placed(customer_id: str, due: int, at: int = T0) -> bytes:
    data = {"order_id": f"o-{customer_id}", "lines": [make_line()], "promised_delivery_by": iso(due)}
    return encode(document("order.placed", data, customer_id=customer_id, at=at))


def _delivered(customer_id: str, at: int) -> bytes:
    return encode(document("order.delivered", {"order_id": f"o-{customer_id}"}, customer_id=customer_id, at=at))


#: The same bytes for every harness: 25 customers' orders, then one order days later that moves stream time.
PLACEMENTS = [(f"c-{n:02d}", _placed(f"c-{n:02d}", due)) for n, due in enumerate(DUES)]
JUMP = ("c-late", _placed("c-late", T0 + 5 * DAY + DAY, at=T0 + 5 * DAY))


class Harness:
    """One partition, batched as the agent drives it; the store written at each checkpoint."""

    def __init__(self, fire_most: int | None, fire_within: float | None = None, hold: int | None = None) -> None:
        self.store: dict[str, Any] = {}
        self.offset = 0
        #: Records on the log past those handled: the partition is caught up only at 0.
        self.behind = 0
        self.processor = Processor(
            Policy(grace_minutes=GRACE_MINUTES),
            self.store,
            lambda key, state: None,
            lambda topic, partition: self.offset + self.behind if topic == "orders" else None,
            wall_clock=lambda: WALL_MS / 1000,
            batched=True,
            fire_most=fire_most,
            fire_within=fire_within,
            hold_decoded=hold,
        )
        self.alerts: list[Any] = []
        #: States the checkpoints were given in their stored bytes.
        self.set_aside = 0

    def send(self, customer_id: str, value: bytes) -> list[Any]:
        outcome = self.processor.handle("orders", 0, self.offset, customer_id.encode(), value)
        self.offset += 1
        assert outcome.status == "processed"
        self.alerts += outcome.changes
        return outcome.changes

    def checkpoint(self) -> int:
        """Write the batch's states (as the agent's checkpoint does); how many customers it held."""
        dirty = self.processor.take_dirty()
        for key, state in dirty.items():
            if type(state) is SetAside:
                self.set_aside += 1
                state = decode_state(state.record)
            self.store[key] = orjson.loads(orjson.dumps(state))
        return sum(1 for key in dirty if key.startswith("c-"))

    def drain(self) -> list[int]:
        """Tick and checkpoint until a tick fires nothing; the customers each batch held."""
        held = []
        while True:
            fired = self.processor.tick(0)
            self.alerts += fired
            held.append(self.checkpoint())
            if not fired:
                return held


def _fed(fire_most: int | None, fire_within: float | None = None, hold: int | None = None) -> Harness:
    harness = Harness(fire_most, fire_within, hold)
    for customer_id, value in PLACEMENTS:
        harness.send(customer_id, value)
    harness.checkpoint()
    return harness


def _by_customer(alerts: list[Any]) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    for change in alerts:
        found.setdefault(change.customer_id, []).append(change)
    return found


def test_a_jump_fires_at_most_that_many_customers_a_batch_and_ends_where_one_unbounded_firing_does() -> None:
    unbounded, bounded = _fed(None), _fed(10)
    everything = unbounded.send(*JUMP)
    assert {change.customer_id for change in everything} == {name for name, _ in PLACEMENTS}

    first = bounded.send(*JUMP)
    assert len({change.customer_id for change in first}) == 10
    # The earliest promises first.
    assert {change.customer_id for change in first} == {name for name, _ in PLACEMENTS[:10]}
    assert bounded.checkpoint() <= 11  # the ten and the customer of the event
    unbounded.checkpoint()
    assert max(bounded.drain()) <= 10
    unbounded.drain()
    # Each customer's alerts as one unbounded firing gives them, in the same order; every state the same.
    assert _by_customer(bounded.alerts) == _by_customer(unbounded.alerts)
    assert bounded.store == unbounded.store


def test_a_customer_left_due_has_their_deadlines_fired_before_their_own_next_event() -> None:
    unbounded, bounded = _fed(None), _fed(1)
    unbounded.send(*JUMP)
    bounded.send(*JUMP)
    late = PLACEMENTS[-1][0]
    assert late not in {change.customer_id for change in bounded.alerts}  # left due by the bounded firing
    delivery = _delivered(late, T0 + 5 * DAY + MINUTE)
    unbounded.checkpoint()
    bounded.checkpoint()
    unbounded.send(late, delivery)
    expected = [c for c in unbounded.alerts if c.customer_id == late]
    got = [c for c in bounded.send(late, delivery) if c.customer_id == late]
    # At risk, then late (the deadlines), then delivered late (the event): as unbounded, in that order.
    assert [c.details.get("status") for c in got] == ["at_risk", "undelivered", "delivered_late"]
    assert got == expected


def test_unbounded_a_tick_that_moves_no_time_fires_nothing() -> None:
    harness = _fed(None)
    harness.send(*JUMP)
    harness.checkpoint()
    harness.drain()
    assert harness.processor.tick(0) == []


def test_the_due_count_is_what_a_bounded_firing_left_and_drains_to_none() -> None:
    bounded = _fed(10)
    bounded.behind = 1  # not caught up: only stream time counts, and it has passed no deadline yet
    assert bounded.processor.due_customers() == 0
    bounded.send(*JUMP)
    bounded.checkpoint()
    # 25 customers due, 10 fired: the rest wait for the batches after.
    assert bounded.processor.due_customers() == 15
    # Caught up, the ticks go on in slices; the count now takes in what the tick's time (the wall clock) makes
    # due besides: the fired customers' later deadlines, and the event's customer's.
    bounded.behind = 0
    assert bounded.processor.due_customers() == 25
    counts = []
    while bounded.processor.due_customers():
        bounded.alerts += bounded.processor.tick(0)
        bounded.checkpoint()
        counts.append(bounded.processor.due_customers())
    assert counts == [15, 5, 0]


def test_a_caught_up_partition_counts_what_the_next_tick_makes_due() -> None:
    # Caught up on the placements with the wall clock days past every promise: the jump has not happened
    # (no tick yet), but every customer is due by the time the tick is about to give.
    harness = _fed(10)
    assert harness.processor.stream_time(0)["orders"] < DUES[0]
    assert harness.processor.due_customers() == 25
    harness.behind = 1
    assert harness.processor.due_customers() == 0
    harness.behind = 0
    assert max(harness.drain()) <= 10
    assert harness.processor.due_customers() == 0


def test_unbounded_nothing_is_left_due_after_a_jump() -> None:
    harness = _fed(None)
    harness.behind = 1
    harness.send(*JUMP)
    assert harness.processor.due_customers() == 0


def test_the_heap_walk_finds_every_entry_at_or_before_now_and_no_other() -> None:
    rng = random.Random(7)
    entries = [(rng.randrange(1_000), f"c-{n}") for n in range(500)]
    index = DeadlineIndex.build(entries)
    for now in (-1, 0, 10, 250, 500, 999, 1_000):
        expected = sorted(customer for due, customer in index.heap if due <= now)
        assert sorted(index.entries_due(now)) == expected


def test_a_time_budget_slices_a_jump_too_and_ends_where_one_unbounded_firing_does() -> None:
    # No time at all: the first customer of each checkpoint fires (a catch-up always moves), no other.
    unbounded, timed = _fed(None), _fed(None, fire_within=0.0)
    unbounded.send(*JUMP)
    first = timed.send(*JUMP)
    assert len({change.customer_id for change in first}) == 1
    timed.behind = 1  # stream time alone (caught up, the next tick would make the event's customer due too)
    assert timed.processor.due_customers() == 24
    timed.behind = 0
    unbounded.checkpoint()
    timed.checkpoint()
    held = timed.drain()
    unbounded.drain()
    # The 24 left, then the event's own customer (the tick moves time to the wall clock), one a batch; then
    # the tick that finds none.
    assert held == [1] * 25 + [0]
    assert _by_customer(timed.alerts) == _by_customer(unbounded.alerts)
    assert timed.store == unbounded.store


def test_reading_a_backlog_a_jump_fires_whole_as_unbounded() -> None:
    # Records wait on the log past the jump: a restarted or replaying worker gives the reference's outcome,
    # whatever its batches, so the bound (for the jump to the wall clock once caught up) does not apply.
    unbounded, backlog = _fed(None), _fed(10)
    backlog.behind = 5
    assert {c.customer_id for c in backlog.send(*JUMP)} == {c.customer_id for c in unbounded.send(*JUMP)}
    assert backlog.processor.due_customers() == 0


def test_what_a_bounded_firing_left_fires_with_the_partitions_next_events_tick_or_no_tick() -> None:
    unbounded, bounded = _fed(None), _fed(10)
    unbounded.send(*JUMP)
    bounded.send(*JUMP)
    unbounded.checkpoint()
    assert bounded.checkpoint() <= 11
    # Other customers' events that move no stream time, a batch each, no tick: 10 more of those left each.
    for n in range(2):
        at = T0 + 4 * DAY + n * MINUTE  # before stream time: it moves none
        bounded.send(f"c-other-{n}", _placed(f"c-other-{n}", T0 + 9 * DAY, at=at))
        bounded.checkpoint()
    placed = {name for name, _ in PLACEMENTS}
    fired = _by_customer(bounded.alerts)
    assert {name: fired[name] for name in placed} == {name: _by_customer(unbounded.alerts)[name] for name in placed}


def test_states_set_aside_in_their_bytes_change_nothing_of_a_sliced_catch_up() -> None:
    # Two decoded at most, of the four a checkpoint writes: states are set aside and read back all through a
    # sliced catch-up, and a customer left due fires from what was set aside before their next event.
    decoded, aside = _fed(3), _fed(3, hold=2)
    late = PLACEMENTS[-1][0]
    delivery = _delivered(late, T0 + 5 * DAY + MINUTE)  # one event id for both
    for harness in (decoded, aside):
        harness.send(*JUMP)
        harness.checkpoint()
        harness.send(late, delivery)
        harness.checkpoint()
        harness.drain()
    assert aside.set_aside > 10 and decoded.set_aside == 0
    assert [c.customer_id for c in aside.alerts] == [c.customer_id for c in decoded.alerts]
    assert aside.alerts == decoded.alerts
    assert aside.store == decoded.store
