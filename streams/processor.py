"""One message in, its outcome out: decode, validate, de-duplicate, apply, advance time.

The processor is the stream wiring's engine room but knows nothing of Faust:
it reads customer state through a mapping and writes it through a ``persist``
callback, and asks ``highwater(topic, partition)`` how far each input goes.
Every message ends as exactly one of processed, duplicate or dead-lettered.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from models.alerts import AlertChange
from models.engine import advance_to, apply_event
from models.errors import Rejected
from models.events import INPUT_TOPICS, decode_event
from models.policy import Policy
from models.state import new_state, next_deadline, remember_event
from streams import metrics
from streams.clock import DeadlineIndex, PartitionClock

__all__ = ["Processor", "Outcome"]

State = dict[str, Any]


@dataclass(slots=True)
class Outcome:
    status: Literal["processed", "duplicate", "dead_letter"]
    changes: list[AlertChange] = field(default_factory=list)
    rejected: Rejected | None = None
    event_at: int | None = None


class Processor:
    def __init__(
        self,
        policy: Policy,
        store: Mapping[str, State],
        persist: Callable[[str, State], None],
        highwater: Callable[[str, int], int | None],
        topics: tuple[str, ...] = INPUT_TOPICS,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.policy = policy
        self.store = store
        self.persist = persist
        self.highwater = highwater
        self.topics = topics
        self.wall_clock = wall_clock
        self.grace_ms = int(policy.grace_minutes * 60_000)
        self.max_future_ms = int(policy.max_future_minutes * 60_000)
        self.clocks: dict[int, PartitionClock] = {}
        self.indexes: dict[int, DeadlineIndex] = {}

    # --- per message -------------------------------------------------------

    def handle(self, topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None) -> Outcome:
        clock = self._clock(partition)
        try:
            event = decode_event(topic, key, value)
            if event.at > self.wall_clock() * 1000 + self.max_future_ms:
                raise Rejected(
                    f"occurred_at: more than {self.policy.max_future_minutes / 60:g} hours in the future",
                    "future_time",
                )
        except Rejected as rejected:
            clock.observe(topic, offset, None)
            metrics.EVENTS_IN.labels(topic, "invalid").inc()
            metrics.DEAD_LETTERED.labels(topic, rejected.code).inc()
            return Outcome("dead_letter", rejected=rejected)
        metrics.EVENTS_IN.labels(topic, event.type).inc()
        customer_id = event.customer_id
        state = self.store.get(customer_id)
        if state is None:
            state = new_state(customer_id, partition)
        if not remember_event(state, event.event_id, self.policy.dedup_window):
            clock.observe(topic, offset, None)
            metrics.DUPLICATES.labels(topic).inc()
            return Outcome("duplicate")
        if clock.time is not None and event.at < clock.time:
            metrics.LATE_EVENTS.labels(topic).inc()
        changes = apply_event(state, event, self.policy)
        self._save(partition, state)
        clock.observe(topic, offset, event.at)
        metrics.PROCESSED.labels(topic).inc()
        changes.extend(self._advance(partition, clock, None))
        return Outcome("processed", changes, event_at=event.at)

    def tick(self, partition: int) -> list[AlertChange]:
        """The live tick: advance the partition to the wall clock minus the grace, if it is caught up."""
        return self._advance(partition, self._clock(partition), int(self.wall_clock() * 1000))

    def forget(self, partitions: Iterable[int]) -> None:
        """Partitions were revoked: their clocks and indexes are rebuilt if they come back."""
        for partition in partitions:
            self.clocks.pop(partition, None)
            self.indexes.pop(partition, None)

    def stream_time(self, partition: int) -> int | None:
        clock = self.clocks.get(partition)
        return clock.time if clock else None

    # --- time --------------------------------------------------------------

    def _advance(self, partition: int, clock: PartitionClock, wall_ms: int | None) -> list[AlertChange]:
        before = clock.time
        highwaters = {topic: self.highwater(topic, partition) for topic in self.topics}
        now = clock.advance(highwaters, wall_ms)
        if now is None or now == before:
            return []
        changes: list[AlertChange] = []
        index = self._index(partition)
        for customer_id in index.pop_due(now):
            state = self.store.get(customer_id)
            if state is None:
                continue
            due = next_deadline(state)
            if due is None or due > now:
                if due is not None:
                    index.add(due, customer_id)
                continue
            changes.extend(advance_to(state, now, self.policy))
            self._save(partition, state)
        return changes

    def _save(self, partition: int, state: State) -> None:
        self.persist(state["id"], state)
        due = next_deadline(state)
        if due is not None:
            self._index(partition).add(due, state["id"])

    def _clock(self, partition: int) -> PartitionClock:
        clock = self.clocks.get(partition)
        if clock is None:
            clock = self.clocks[partition] = PartitionClock(self.topics, self.grace_ms)
            # Resume roughly where stream time stood: the newest event of any customer here.
            newest = [s["last"] for s in self.store.values() if s["p"] == partition and s["last"] is not None]
            if newest:
                clock.time = max(newest) - self.grace_ms
        return clock

    def _index(self, partition: int) -> DeadlineIndex:
        index = self.indexes.get(partition)
        if index is None:
            entries = []
            for state in self.store.values():
                if state["p"] == partition:
                    due = next_deadline(state)
                    if due is not None:
                        entries.append((due, state["id"]))
            index = self.indexes[partition] = DeadlineIndex.build(entries)
        return index

