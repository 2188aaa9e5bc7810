"""Reading a stretch of an input partition straight from the log, apart from Faust's consumer.

Faust 0.15's ``Consumer.getmany`` drops the rest of a fetched batch when flow
stops or the group generation changes mid-batch (a rebalance), and when a
record's partition is not active at that moment; aiokafka's position has already
moved past those records. When the next record arrives, Faust takes the jump for
a gap in the log (as compaction leaves one) and commits over it. Seen here: a
worker that took over a partition never got offsets 82 and 92 of ``orders/0``.

A jump in offsets is therefore ambiguous: a gap in the log, or records dropped
on the way. The worker settles it by reading that stretch of the log itself
with a consumer of its own (no group, no seek on Faust's consumer, so nothing
races Faust's fetcher): records found there were skipped and are handled now,
in order, before the record that revealed the jump; none found means a real gap.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.structs import ConsumerRecord, TopicPartition

__all__ = ["LogReader"]


class LogReader:
    """Reads [start, stop) of one partition at a time; one consumer, started on first use."""

    def __init__(self, options: Mapping[str, Any], isolation_level: str, fetch_max_wait_ms: int) -> None:
        self.options = dict(options)
        self.isolation_level = isolation_level
        self.fetch_max_wait_ms = fetch_max_wait_ms
        self._consumer: AIOKafkaConsumer | None = None
        self._lock = asyncio.Lock()

    async def read(self, topic: str, partition: int, start: int, stop: int, timeout: float = 30.0) -> list[Any]:
        """Every record of ``topic``/``partition`` with start <= offset < stop (a gap in the log yields none).

        Raises TimeoutError when the stretch cannot be read in ``timeout`` seconds: that is not bad input,
        and the caller stops the worker rather than skip it.
        """
        tp = TopicPartition(topic, partition)
        async with self._lock:
            consumer = await self._started()
            consumer.assign([tp])
            consumer.seek(tp, start)
            found: list[ConsumerRecord] = []
            deadline = time.monotonic() + timeout
            while True:
                batch = await consumer.getmany(tp, timeout_ms=200, max_records=500)
                for record in batch.get(tp, []):
                    if record.offset >= stop:
                        return found
                    if record.offset >= start:
                        found.append(record)
                position = await consumer.position(tp)
                if position >= stop:
                    return found
                end = consumer.last_stable_offset(tp) if self.isolation_level == "read_committed" else None
                end = end if end is not None and end >= 0 else consumer.highwater(tp)
                if not batch and end is not None and position >= end:
                    return found
                if time.monotonic() > deadline:
                    raise TimeoutError(f"could not read {topic}/{partition} from {start} to {stop} in {timeout:.0f} s")

    async def _started(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            consumer = AIOKafkaConsumer(
                **self.options,
                group_id=None,
                enable_auto_commit=False,
                isolation_level=self.isolation_level,
                fetch_max_wait_ms=self.fetch_max_wait_ms,
                auto_offset_reset="earliest",
            )
            await consumer.start()
            self._consumer = consumer
        return self._consumer

    async def close(self) -> None:
        if self._consumer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._consumer.stop(), 5)
            self._consumer = None
