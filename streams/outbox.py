"""A checkpoint's records, sent as one record batch per topic partition.

Faust's ``Topic.send`` costs, per record, a FutureMessage, sensor calls and an
aiokafka ``send`` with its own future and accumulator lookup; a checkpoint sends
about two records per event (its alerts and the changelog), and on the benchmark
those sends were a quarter of the worker's time. aiokafka's batch interface
(``create_batch``/``send_batch``) takes a partition's records in one builder and
one future, through the same producer, so the same security, acks and retries.

Records of one topic partition go in the order they were added (a full builder
is submitted and the next one started; the producer sends one batch of a
partition at a time). A record added without a partition goes where the
producer's own partitioner would put its key, so a keyed topic reads the same as
if each record had been sent alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka.partitioner import DefaultPartitioner

__all__ = ["Outbox", "Delivery"]

Headers = Sequence[tuple[str, bytes]]


@dataclass(frozen=True, slots=True)
class Delivery:
    """One submitted batch: where it went, how many records, and its delivery (resolves to the first offset)."""

    topic: str
    partition: int
    count: int
    future: asyncio.Future[Any]

    def last_offset(self) -> int:
        """The offset of the batch's last record (once delivered)."""
        return int(self.future.result().offset) + self.count - 1


class Outbox:
    """Collects records with ``add`` and submits them with ``send``; one Outbox per checkpoint step."""

    def __init__(self, producer: Any, partitioner: Any = None) -> None:
        #: An aiokafka producer (started): ``create_batch``, ``send_batch``, ``partitions_for``.
        self._producer = producer
        self._partitioner = partitioner or DefaultPartitioner()
        self._records: dict[tuple[str, int | None], list[tuple[bytes | None, bytes | None, Headers]]] = {}

    def add(
        self, topic: str, key: bytes | None, value: bytes | None, headers: Headers = (), partition: int | None = None
    ) -> None:
        if value is not None:
            # A copy of exactly its length: orjson's output keeps its 4 KiB working buffer (and zstandard's the
            # compression bound) for as long as it lives, and a batch holds thousands until it is sent; a
            # catch-up batch's alerts held 4 KiB each for about 1 KB of JSON. 0.2-0.4 us a record.
            value = memoryview(value).tobytes()
        self._records.setdefault((topic, partition), []).append((key, value, headers))

    def __len__(self) -> int:
        return sum(map(len, self._records.values()))

    async def send(self) -> list[Delivery]:
        """Submit everything added, in order per partition; the caller awaits each delivery's future."""
        records, self._records = self._records, {}
        by_partition: dict[tuple[str, int], list[tuple[bytes | None, bytes | None, Headers]]] = {}
        for (topic, partition), items in records.items():
            if partition is not None:
                by_partition.setdefault((topic, partition), []).extend(items)
                continue
            every = sorted(await self._producer.partitions_for(topic))
            for item in items:
                chosen = self._partitioner(item[0], every, every)
                by_partition.setdefault((topic, chosen), []).append(item)
        deliveries: list[Delivery] = []
        for (topic, partition), items in by_partition.items():
            batch, count = self._producer.create_batch(), 0
            for key, value, headers in items:
                if not _append(batch, key, value, headers):
                    # Full: submitted as it is, the record starts the next one. An empty builder takes a record
                    # of any size; one too large for the broker fails its batch's delivery, which the caller awaits.
                    deliveries.append(await self._submit(batch, topic, partition, count))
                    batch, count = self._producer.create_batch(), 0
                    _append(batch, key, value, headers)
                count += 1
            deliveries.append(await self._submit(batch, topic, partition, count))
        return deliveries

    async def _submit(self, batch: Any, topic: str, partition: int, count: int) -> Delivery:
        batch.close()
        future = await self._producer.send_batch(batch, topic, partition=partition)
        return Delivery(topic, partition, count, future)


def _append(batch: Any, key: bytes | None, value: bytes | None, headers: Headers) -> bool:
    """Add a record to an aiokafka batch builder; False when it is full."""
    return batch.append(key=key, value=value, timestamp=None, headers=list(headers)) is not None
