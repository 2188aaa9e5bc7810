"""The table's input offsets: where processing got to, whatever the consumer group committed.

The processor knows the next offset to handle on each input topic of each
partition and keeps it in the table with the states: a message from before it
was handled already and is a duplicate; a message beyond it is the next one (a
log may skip offsets: compaction, transaction markers).
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from models.policy import Policy
from streams.processor import Processor, input_offsets_key, is_input_offsets_key

from ..factories import T0, document, encode, iso, make_line

WALL = T0 / 1000 + 86_400


def placed(number: int, customer: str = "c-1") -> bytes:
    doc = document(
        "order.placed",
        {
            "order_id": f"o-{number}",
            "lines": [make_line("l1", "BOX-M", 1, "2.50")],
            "promised_delivery_by": iso(T0 + 48 * 3_600_000),
            "urgent": False,
        },
        event_id=f"e-{number}",
        customer_id=customer,
        at=T0 + number * 1000,
    )
    return encode(doc)


class Harness:
    def __init__(self, batched: bool = False, store: dict[str, Any] | None = None) -> None:
        self.store: dict[str, Any] = {} if store is None else store
        self.high: dict[str, int] = {"orders": 100}  # where the topic ends
        self.wall = WALL
        self.processor = Processor(
            Policy(),
            self.store,
            lambda key, state: self.store.__setitem__(key, orjson.loads(orjson.dumps(state))),
            lambda topic, partition: self.high.get(topic),
            wall_clock=lambda: self.wall,
            batched=batched,
        )

    def handle(self, offset: int, customer: str = "c-1", value: bytes | None = None) -> str:
        outcome = self.processor.handle("orders", 0, offset, customer.encode(), value or placed(offset, customer))
        return outcome.status

    def persist(self) -> list[str]:
        dirty = self.processor.take_dirty()
        for key, state in dirty.items():
            self.store[key] = orjson.loads(orjson.dumps(state))
        return list(dirty)


def test_a_gap_in_the_offsets_is_the_next_message() -> None:
    h = Harness()
    assert [h.handle(o) for o in (0, 1, 5, 6, 9)] == ["processed"] * 5
    assert h.store[input_offsets_key(0)] == {"p": 0, "input_offsets": {"orders": 10}, "epoch": 1}
    assert [h.handle(o) for o in (5, 9)] == ["duplicate", "duplicate"]


def test_a_message_before_the_next_offset_is_a_duplicate_even_if_bad() -> None:
    h = Harness()
    for offset in range(3):
        h.handle(offset)
    assert h.handle(1) == "duplicate"
    assert h.handle(2, value=b"not json") == "duplicate"  # handled before: not dead-lettered a second time
    assert h.handle(3, value=b"not json") == "dead_letter"


def test_a_topic_that_ends_before_what_was_handled_was_recreated_and_is_taken_from_the_start() -> None:
    h = Harness()
    for offset in range(10):
        h.handle(offset)
    h.high["orders"] = 2  # the topic now ends at 2: a new topic, its offsets start again
    assert h.processor.handle("orders", 0, 0, b"c-2", placed(100, "c-2")).status == "processed"
    assert h.store[input_offsets_key(0)]["input_offsets"] == {"orders": 1}


def test_batched_the_offsets_record_comes_after_the_customers_it_covers() -> None:
    h = Harness(batched=True)
    h.handle(0, "c-1")
    h.handle(1, "c-2")
    assert h.persist() == ["c-1", "c-2", input_offsets_key(0)]
    assert h.handle(1, "c-2") == "duplicate"
    assert h.persist() == []  # redelivered: nothing moved
    assert h.handle(2, "c-2", value=placed(1, "c-2")) == "duplicate"  # a new message, an event seen before
    assert h.persist() == [input_offsets_key(0)]
    assert h.store[input_offsets_key(0)]["input_offsets"] == {"orders": 3}


def test_a_partition_taken_up_again_resumes_from_the_table() -> None:
    h = Harness(batched=True)
    for offset in range(4):
        h.handle(offset)
    h.persist()
    again = Harness(batched=True, store=h.store)  # another worker, the table recovered
    assert again.processor.recorded_offset("orders", 0) == 4
    assert again.processor.recorded_offset("billing", 0) is None
    assert again.processor.recorded_offset("orders", 1) is None
    assert again.handle(2) == "duplicate"
    assert again.handle(4) == "processed"
    again.persist()  # the batch ends: its customers' open items are counted once each
    # The record is no customer: the rebuild of the partition skips it.
    assert again.processor.open_counts()[0] == 5
    # The new owner fences the partition: its records carry an epoch above the one it restored.
    assert again.processor.epoch(0) == h.processor.epoch(0) + 1


@pytest.mark.parametrize("customer", ["\x00input-offsets/0", "c\n1", "c\x7f", "c\x85"])
def test_no_customer_id_can_take_a_reserved_key(customer: str) -> None:
    h = Harness()
    assert h.handle(0, customer) == "dead_letter"
    assert is_input_offsets_key(input_offsets_key(3)) and not is_input_offsets_key("c-1")


def test_a_partition_with_nothing_recorded_starts_where_the_consumer_starts() -> None:
    h = Harness()
    h.processor.start_at("orders", 0, 5)
    assert h.processor.handled_offset("orders", 0) == 5
    assert h.handle(3) == "duplicate"  # before where the consumer starts: not for this worker to handle
    assert h.handle(5) == "processed"
    h.processor.start_at("orders", 0, 0)  # a record exists now: the start no longer applies
    assert h.processor.handled_offset("orders", 0) == 6
