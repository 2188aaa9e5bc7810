"""The worker's Kafka consumer: Faust's aiokafka driver, with what fairwatch needs of it.

Each override names the private attribute it relies on; ``tests/compat`` checks
that each still exists in the pinned versions.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP

from streams.highwater import true_end_offsets

__all__ = ["FairwatchTransport", "VERSIONS_CHECKED", "ResumeHook", "PartitionPosition", "MAX_POLL_RECORDS"]

log = logging.getLogger("fairwatch")

VERSIONS_CHECKED = {"faust-streaming": "0.15.3", "aiokafka": "0.14.0"}

#: Given the assigned input partitions, their committed offsets and their log start offsets, the offsets to seek
#: them to (only those that must move).
ResumeHook = Callable[[Iterable[TP], Mapping[TP, int | None], Mapping[TP, int]], Awaitable[Mapping[TP, int]]]

#: (position, high-water mark, last stable offset) of a partition, each None while unknown.
PartitionPosition = tuple[int | None, int | None, int | None]

#: At most this many records a fetch hands from the consumer thread to the streams. Unbounded (Faust's
#: broker_max_poll_records, None by default), a fetch hands over all the fetcher holds, up to 1 MiB a partition,
#: and Faust's getmany keeps all of it decoded until the last record has gone to the agent: through the
#: benchmark's backlog 51,000-57,000 records, 25 MiB by sys.getsizeof and 40 MiB of Python's allocated blocks,
#: and RSS settles above the high-water they leave. With 2,000, RSS through the backlog 195-207 MiB against
#: 238-268 (200,000 events, 4,000 customers) and 249-266 against 313-362 (500,000 events, 10,000 customers),
#: two runs each, at 1,407-1,748 events/s against 1,249-1,383 and 1,630-1,645 against 1,244-1,360. A
#: broker_max_poll_records set in Faust's configuration is kept.
MAX_POLL_RECORDS = 2000


class ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # Both read by AIOKafkaConsumer.start() when it builds its Fetcher. Faust fixes the fetch wait at 1500 ms
        # (the embedded broker waits it out on every multi-partition fetch), and reads committed data only under
        # its exactly-once guarantee: an aborted transaction on an input topic must never be applied, so
        # read_committed is the default (streams.config: the embedded broker's profile reads uncommitted).
        consumer._fetch_max_wait_ms = self.app.fairwatch_config.fetch_max_wait_ms
        consumer._isolation_level = self.app.fairwatch_config.isolation_level
        # Read by this thread's getmany (Faust's), which passes it to the fetcher as max_records on every fetch.
        if consumer._max_poll_records is None:
            consumer._max_poll_records = MAX_POLL_RECORDS
        return consumer

    async def _highwaters(self, partitions: Any) -> Any:
        # Recovery reads changelogs up to these offsets: see streams.highwater.
        listed = await super()._highwaters(partitions)
        if self.consumer.in_transaction:
            return listed
        return await true_end_offsets(self._ensure_consumer(), listed)

    def group_coordinator_known(self) -> bool:
        """False while the group coordinator is lost (the broker is gone): membership is in doubt.

        aiokafka forgets the coordinator on the first failed heartbeat and finds it
        again when a broker answers; it does not revoke partitions meanwhile, so
        without this the worker would keep saying ready with no broker at all.
        """
        coordinator = getattr(self._consumer, "_coordinator", None)
        return coordinator is None or getattr(coordinator, "coordinator_id", 0) is not None

    def partition_position(self, tp: TP) -> PartitionPosition:
        """Where the consumer is on ``tp`` and where the partition ends, read without a request.

        The position is the next offset the consumer will hand over; it moves past
        control records (a transaction's commit marker), which no message carries.
        """
        consumer = self._consumer
        subscription = getattr(consumer, "_subscription", None)
        assignment = getattr(getattr(subscription, "subscription", None), "assignment", None)
        state = assignment.state_value(tp) if assignment is not None else None
        if state is None:
            return None, None, None
        position = state._position
        return position, state.highwater, state.lso


class Consumer(faust_aiokafka.Consumer):
    fairwatch_thread: ConsumerThread | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: TP -> the consumer's position as of the last fetch Faust took (not the live one: see handed_over).
        self._handed_position: dict[TP, int | None] = {}
        #: TP -> the offset past the last record a fetch gave Faust since the last seek.
        self._handed_next: dict[TP, int] = {}

    def _new_consumer_thread(self) -> ConsumerThread:
        self.fairwatch_thread = ConsumerThread(self, loop=self.loop, beacon=self.beacon)
        return self.fairwatch_thread

    def handed_over(self, tp: TP) -> tuple[int | None, int | None]:
        """(position, next) of ``tp`` as of the last fetch Faust took: the consumer's position then, and the
        offset past the last record handed to Faust since the last seek (None: none since).

        Every record below ``next`` is Faust's to deliver, held in its fetch loop or in a stream's buffer,
        whether or not it has reached the agent yet; none at or past ``position`` is. The live position is no
        substitute: the consumer thread moves it when it takes a fetch's records, before Faust's fetch loop
        has them, and Faust's own read offset lags the records it still holds undelivered.
        """
        return self._handed_position.get(tp), self._handed_next.get(tp)

    async def _getmany(self, active_partitions: set[TP] | None, timeout: float) -> Any:
        records = await super()._getmany(active_partitions, timeout)
        thread = self.fairwatch_thread
        if thread is not None:
            # Faust calls this from one loop, one fetch at a time: nothing moves a position until the next call.
            for tp in active_partitions if active_partitions is not None else records:
                self._handed_position[tp] = thread.partition_position(tp)[0]
        for tp, taken in records.items():
            if taken:
                self._handed_next[tp] = taken[-1].offset + 1
        return records

    async def seek(self, partition: TP, offset: int) -> None:
        await super().seek(partition, offset)
        self._forget_handed((partition,))

    def _forget_handed(self, partitions: Iterable[TP]) -> None:
        """After a seek or a rebalance, nothing is handed over on these until the next fetch says so."""
        for tp in partitions:
            self._handed_position.pop(tp, None)
            self._handed_next.pop(tp, None)

    async def on_partitions_revoked(self, revoked: set[TP]) -> None:
        self._forget_handed(revoked)
        await super().on_partitions_revoked(revoked)

    async def perform_seek(self) -> None:
        """After Faust's seek to the committed offsets (recovery is complete by now), the table's input offsets
        decide where each input partition resumes: the one seek fairwatch makes, before the stream is resumed,
        so it cannot race the fetch of a running stream."""
        # Every assigned partition is sought here: nothing is handed over on any until the next fetch.
        self._handed_position.clear()
        self._handed_next.clear()
        await super().perform_seek()
        hook: ResumeHook | None = getattr(self.app, "fairwatch_resume", None)
        if hook is None:
            return
        assigned = sorted(self.assignment())
        inputs = [tp for tp in assigned if tp.topic in self.app.fairwatch_input_topics]
        if not inputs:
            return
        earliest = await self.earliest_offsets(*inputs)
        committed = {tp: self._committed_offset.get(tp) for tp in inputs}
        for tp, offset in (await hook(inputs, committed, earliest)).items():
            await self.seek(tp, offset)


class FairwatchTransport(faust_aiokafka.Transport):
    Consumer = Consumer
