"""Batched mode (what the ingest agent runs) decides exactly what one message at a time decides.

The bench's mixed stream (orders, billing, complaints, duplicates, bad input, a
year of event time) goes through a processor persisting every write at once and
through one that persists each touched customer once per batch, with batches of
varying size: same outcomes, same alert changes in the same order, same stored
state, same open-promise and open-alert counts, same metric counts.
"""

from __future__ import annotations

import random
import zlib
from typing import Any

import orjson
import pytest
from prometheus_client import REGISTRY

from models.policy import Policy
from streams.processor import Processor
from streams.state_record import SetAside, decode_state
from streams.tools.bench.workload import mixed_stream

PARTITIONS = 4
END_MS = 1_790_000_000_000  # a fixed "now" for the stream, so the run is the same every time
WALL = END_MS / 1000 + 86_400


def _partition(key: bytes) -> int:
    return zlib.crc32(key) % PARTITIONS


def _run(
    messages: list[tuple[str, bytes, bytes]], batch_sizes: list[int] | None, hold_decoded: int | None = None
) -> dict[str, Any]:
    store: dict[str, Any] = {}
    taken = {"decoded": 0, "set_aside": 0, "most_decoded": 0}

    def write(dirty: dict[str, Any]) -> None:
        decoded = 0
        for customer_id, state in dirty.items():
            if type(state) is SetAside:
                assert state.partition == _partition(customer_id.encode())
                taken["set_aside"] += 1
                state = decode_state(state.record)
            elif "input_offsets" not in state:
                decoded += 1
            store[customer_id] = orjson.loads(orjson.dumps(state))
        taken["decoded"] += decoded
        taken["most_decoded"] = max(taken["most_decoded"], decoded)

    highwater = {}
    for topic, key, _ in messages:
        tp = (topic, _partition(key))
        highwater[tp] = highwater.get(tp, 0) + 1
    processor = Processor(
        Policy(),
        store,
        lambda customer_id, state: store.__setitem__(customer_id, orjson.loads(orjson.dumps(state))),
        lambda topic, partition: highwater.get((topic, partition), 0),
        wall_clock=lambda: WALL,
        batched=batch_sizes is not None,
        hold_decoded=hold_decoded,
    )
    offsets: dict[tuple[str, int], int] = {}
    outcomes, changes = [], []
    sizes = iter(batch_sizes or [])
    left = next(sizes, 1)
    for topic, key, value in messages:
        tp = (topic, _partition(key))
        offset = offsets.get(tp, 0)
        offsets[tp] = offset + 1
        outcome = processor.handle(topic, tp[1], offset, key, value)
        outcomes.append(outcome.status)
        changes += [
            (c.alert_id, c.lifecycle, c.revision, c.at, orjson.dumps(c.details, option=orjson.OPT_SORT_KEYS))
            for c in outcome.changes
        ]
        if batch_sizes is not None:
            left -= 1
            if left == 0:
                write(processor.take_dirty())
                processor.flush_metrics()
                left = next(sizes, 1)
    if batch_sizes is not None:
        write(processor.take_dirty())
        processor.flush_metrics()
    return {
        "outcomes": outcomes,
        "changes": changes,
        "store": store,
        "open": processor.open_counts(),
        "taken": taken,
    }


def _counted() -> float:
    return sum(
        REGISTRY.get_sample_value("fairwatch_events_in_total", {"topic": t, "type": k}) or 0.0 for t, k in _labels()
    )


def _labels() -> list[tuple[str, str]]:
    found = []
    for family in REGISTRY.collect():
        if family.name == "fairwatch_events_in":
            found += [(s.labels["topic"], s.labels["type"]) for s in family.samples if s.name.endswith("_total")]
    return found


@pytest.fixture(scope="module")
def messages() -> list[tuple[str, bytes, bytes]]:
    return mixed_stream(3000, 60, end_ms=END_MS)


def test_the_stream_has_what_batching_must_get_right(messages: list[tuple[str, bytes, bytes]]) -> None:
    once = _run(messages, None)
    assert {"processed", "duplicate", "dead_letter"} <= set(once["outcomes"])
    assert len(once["changes"]) > 50
    assert len(once["store"]) > 50


@pytest.mark.parametrize("seed", range(3))
def test_batches_of_any_size_decide_what_single_messages_decide(
    messages: list[tuple[str, bytes, bytes]], seed: int
) -> None:
    rng = random.Random(seed)
    sizes = [rng.choice([1, 2, 7, 50, 400, 1000]) for _ in range(len(messages))]
    once = _run(messages, None)
    before = _counted()
    batched = _run(messages, sizes)
    assert _counted() - before == len(messages)  # every message counted in, once
    assert batched["outcomes"] == once["outcomes"]
    assert batched["changes"] == once["changes"]
    assert batched["store"] == once["store"]
    assert batched["open"] == once["open"]


@pytest.mark.parametrize("hold", [1, 4])
def test_states_set_aside_in_their_bytes_decide_what_states_held_decoded_decide(
    messages: list[tuple[str, bytes, bytes]], hold: int
) -> None:
    # Big batches: each touches dozens of customers, and many are read and written again after being set aside.
    sizes = [400, 1000, 50, 1000, 7, 1000] * (len(messages) // 1000 + 1)
    held = _run(messages, sizes)
    aside = _run(messages, sizes, hold_decoded=hold)
    assert held["taken"]["set_aside"] == 0
    assert aside["taken"]["set_aside"] > 200
    assert aside["taken"]["most_decoded"] <= hold
    assert aside["outcomes"] == held["outcomes"]
    assert aside["changes"] == held["changes"]
    assert aside["store"] == held["store"]
    assert aside["open"] == held["open"]
