"""streams.outbox: a checkpoint's records as one record batch per topic partition, in the order added."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from aiokafka.partitioner import DefaultPartitioner
from aiokafka.producer.message_accumulator import BatchBuilder

from streams.outbox import Outbox


class RecordingBatch(BatchBuilder):
    """aiokafka's own builder, remembering the keys it took."""

    def __init__(self, batch_size: int) -> None:
        super().__init__(batch_size, 0)
        self.keys: list[bytes | None] = []

    def append(self, *, timestamp: Any, key: Any, value: Any, headers: Any = ()) -> Any:
        taken = super().append(timestamp=timestamp, key=key, value=value, headers=headers)
        if taken is not None:
            self.keys.append(key)
        return taken


class Producer:
    """The three calls the outbox makes of an aiokafka producer; each batch "delivered" at the next offset."""

    def __init__(self, partitions: int = 3, batch_size: int = 16384) -> None:
        self.partitions = set(range(partitions))
        self.batch_size = batch_size
        self.sent: list[tuple[str, int, list[bytes | None]]] = []
        self.ends: dict[tuple[str, int], int] = {}

    async def partitions_for(self, topic: str) -> set[int]:
        return self.partitions

    def create_batch(self) -> RecordingBatch:
        return RecordingBatch(self.batch_size)

    async def send_batch(self, batch: RecordingBatch, topic: str, *, partition: int) -> asyncio.Future[Any]:
        self.sent.append((topic, partition, batch.keys))
        base = self.ends.get((topic, partition), 0)
        self.ends[topic, partition] = base + len(batch.keys)
        future = asyncio.get_running_loop().create_future()
        future.set_result(SimpleNamespace(offset=base))
        return future


def test_keyed_records_go_where_the_producers_partitioner_puts_them_in_the_order_added() -> None:
    producer = Producer()
    keys = [f"c-{number}".encode() for number in range(30)]

    async def run() -> list[Any]:
        outbox = Outbox(producer)
        for key in keys:
            outbox.add("alerts", key, b"{}", [("content-type", b"application/cloudevents+json")])
        return await outbox.send()

    deliveries = asyncio.run(run())
    partitioner = DefaultPartitioner()
    expected: dict[int, list[bytes]] = {}
    for key in keys:
        expected.setdefault(partitioner(key, [0, 1, 2], [0, 1, 2]), []).append(key)
    assert {partition: sent for _, partition, sent in producer.sent} == expected
    assert len(producer.sent) == len(expected)  # one batch per partition
    assert sum(delivery.count for delivery in deliveries) == len(keys)


def test_a_partition_whose_records_outgrow_a_batch_goes_in_several_in_order_with_their_last_offsets() -> None:
    producer = Producer(batch_size=200)
    keys = [f"k-{number:02d}".encode() for number in range(12)]

    async def run() -> list[Any]:
        outbox = Outbox(producer)
        for key in keys:
            outbox.add("changelog", key, b"x" * 60, partition=2)
        deliveries = await outbox.send()
        await asyncio.gather(*(delivery.future for delivery in deliveries))
        return deliveries

    deliveries = asyncio.run(run())
    assert len(producer.sent) > 1
    assert [key for _, partition, sent in producer.sent for key in sent] == keys
    assert {partition for _, partition, _ in producer.sent} == {2}
    assert [delivery.last_offset() for delivery in deliveries][-1] == len(keys) - 1
    assert all(delivery.count == len(sent) for delivery, (_, _, sent) in zip(deliveries, producer.sent, strict=True))


def test_an_empty_outbox_sends_nothing() -> None:
    producer = Producer()
    assert asyncio.run(Outbox(producer).send()) == [] and producer.sent == []


def test_a_record_larger_than_a_batch_goes_alone_in_one() -> None:
    producer = Producer(batch_size=100)

    async def run() -> None:
        outbox = Outbox(producer)
        outbox.add("changelog", b"a", b"x" * 50, partition=0)
        outbox.add("changelog", b"k", b"x" * 10_000, partition=0)
        await outbox.send()

    # aiokafka's builder takes a first record of any size (the broker judges it): the big one starts a batch.
    asyncio.run(run())
    assert [(partition, sent) for _, partition, sent in producer.sent] == [(0, [b"a"]), (0, [b"k"])]
