"""Positions and checkpoints over a fake log: every record applied exactly once, whatever happens.

The log has gaps in its offsets (compaction) and may end past its last record
(a trailing transaction marker). A worker reads it in batches and checkpoints
each as the ingest agent does (streams: agents.ingest): outputs delivered, then
the state records delivered to the changelog, then the offsets committed. It may
crash at any step (a state send may land in part: a prefix, as a partition keeps
order), commit only now and then, or stop cleanly (a rebalance). A restarted
worker restores from the changelog and resumes where streams.positions says.
The invariant: the final changelog equals that of one undisturbed run, and every
alert revision that run sent was sent, any repeat an exact copy.
"""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from models.alerts import to_cloudevent
from models.policy import Policy
from models.state import marks
from streams.positions import Resume, resume_position
from streams.processor import Processor, is_input_offsets_key

from ..factories import DAY, T0, document, encode, iso, make_line

POLICY = Policy()
WALL = T0 / 1000 + 30 * 86_400
STEPS = ("handled", "outputs", "state_sent", "state_delivered")


def _event(number: int, customer: str, kind: int) -> bytes:
    at = T0 + number * 60_000
    order = f"o-{customer}-{number // 3}"
    if kind == 0:
        data = {
            "order_id": order,
            "lines": [make_line("l1", "BOX-M", 1, "2.50")],
            "promised_delivery_by": iso(at + 2 * DAY),
            "urgent": False,
        }
        return encode(document("order.placed", data, event_id=f"e-{number}", customer_id=customer, at=at))
    if kind == 1:
        data = {"order_id": f"o-{customer}-{max(0, number - 1) // 3}"}
        return encode(document("order.delivered", data, event_id=f"e-{number}", customer_id=customer, at=at))
    return b"not json"  # bad input: dead-lettered, once


@st.composite
def logs(draw: st.DrawFn) -> tuple[list[tuple[int, bytes, bytes]], int]:
    """Records (offset, key, value) with gaps, and where the log ends (past the last record when a marker trails)."""
    count = draw(st.integers(min_value=1, max_value=30))
    offset = draw(st.integers(min_value=0, max_value=3))
    records = []
    for number in range(count):
        customer = f"c-{draw(st.integers(min_value=0, max_value=2))}"
        kind = draw(st.sampled_from([0, 0, 1, 1, 2]))
        records.append((offset, customer.encode(), _event(number, customer, kind)))
        offset += 1 + draw(st.sampled_from([0, 0, 0, 1, 3]))
    end = offset + draw(st.sampled_from([0, 0, 1]))
    return records, end


class World:
    """The changelog, the committed offset and the alert topic: what survives a crash."""

    def __init__(self) -> None:
        self.changelog: dict[str, bytes] = {}
        self.committed: int | None = None
        self.alerts: list[bytes] = []


class Crash(Exception):
    pass


def run_worker(
    world: World,
    records: list[tuple[int, bytes, bytes]],
    batch_sizes: list[int],
    faults: list[tuple[str, int] | None],
    commit_every: int,
) -> bool:
    """One worker's life from restore to the end of the log or a crash; True if it reached the end."""
    store = {key: orjson.loads(value) for key, value in world.changelog.items()}  # restored: wiped and rebuilt
    processor = Processor(POLICY, store, lambda *_: None, lambda *_: None, wall_clock=lambda: WALL, batched=True)
    recorded = processor.recorded_offset("orders", 0)
    decision = resume_position(recorded, world.committed, records[0][0] if records else 0)
    position = decision.offset if decision.offset is not None else (world.committed or 0)
    pending = [record for record in records if record[0] >= position]
    batch_number = 0
    while pending:
        size = batch_sizes[batch_number % len(batch_sizes)]
        fault = faults[batch_number % len(faults)]
        batch, pending = pending[:size], pending[size:]
        batch_number += 1
        outputs = []
        for offset, key, value in batch:
            outcome = processor.handle("orders", 0, offset, key, value)
            outputs += [orjson.dumps(to_cloudevent(change, POLICY.currency)) for change in outcome.changes]
            if outcome.rejected is not None:
                outputs.append(b"dead-letter:" + str(offset).encode())
        processor.flush_metrics()
        step = None if fault is None else fault[0]
        if step == "handled":
            return False
        world.alerts += outputs
        if step == "outputs":
            return False
        dirty = list(processor.take_dirty().items())
        # A crash while the sends are in flight: some of them land, in order.
        delivered = dirty[: fault[1] % (len(dirty) + 1)] if step == "state_sent" else dirty
        for key, state in delivered:
            store[key] = state
            world.changelog[key] = orjson.dumps(state)
        if step in ("state_sent", "state_delivered"):
            return False
        if batch_number % commit_every == 0:
            world.committed = batch[-1][0] + 1
    return True


def customer_states(world: World) -> dict[str, Any]:
    def normal(state: dict) -> dict:
        return {**state, "seen": sorted(marks(state))}

    return {key: normal(orjson.loads(value)) for key, value in world.changelog.items() if not is_input_offsets_key(key)}


def reference(records: list[tuple[int, bytes, bytes]]) -> World:
    world = World()
    assert run_worker(world, records, [1], [None], 1)
    return world


faults_strategy = st.lists(
    st.one_of(st.none(), st.none(), st.tuples(st.sampled_from(STEPS), st.integers(min_value=0, max_value=5))),
    min_size=1,
    max_size=6,
)


@settings(max_examples=150, deadline=None)
@given(
    log=logs(),
    lives=st.lists(
        st.tuples(
            st.lists(st.integers(min_value=1, max_value=7), min_size=1, max_size=4),
            faults_strategy,
            st.integers(min_value=1, max_value=3),
        ),
        min_size=1,
        max_size=5,
    ),
)
def test_every_record_is_applied_exactly_once_through_crashes_gaps_and_markers(log, lives) -> None:
    records, _end = log
    expected = reference(records)
    world = World()
    for sizes, faults, commit_every in lives:
        run_worker(world, records, sizes, faults, commit_every)
    assert run_worker(world, records, [5], [None], 1), "a last undisturbed life reaches the end"
    assert customer_states(world) == customer_states(expected)
    sent = {}
    for value in world.alerts:
        if value.startswith(b"dead-letter:"):
            continue
        document = orjson.loads(value)
        assert sent.setdefault(document["id"], value) == value, "a repeat differs from what was sent before"
    wanted = {orjson.loads(v)["id"] for v in expected.alerts if not v.startswith(b"dead-letter:")}
    assert set(sent) == wanted
    letters = {v for v in world.alerts if v.startswith(b"dead-letter:")}
    assert letters == {v for v in expected.alerts if v.startswith(b"dead-letter:")}


@given(
    recorded=st.one_of(st.none(), st.integers(min_value=0, max_value=100)),
    committed=st.one_of(st.none(), st.integers(min_value=0, max_value=100)),
    log_start=st.integers(min_value=0, max_value=100),
)
def test_a_partition_never_resumes_past_what_was_handled_unless_the_log_no_longer_has_it(
    recorded, committed, log_start
) -> None:
    decision = resume_position(recorded, committed, log_start)
    if recorded is None:
        assert decision == Resume("stay")
        return
    start = decision.offset if decision.offset is not None else (committed if committed is not None else log_start)
    start = max(start, log_start)
    if log_start > recorded:
        assert decision == Resume("log_start", log_start)
    else:
        assert start <= recorded, (decision, committed)
