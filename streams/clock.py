"""Stream time: the one owner of watermarks, deadline indexes and the live tick (SPEC §4).

Each partition number has its own clock, shared by the co-partitioned input
topics. Its time is the newest event time seen, minus the grace, taken over the
topics that still have a backlog (a topic that is caught up must not hold time
back, and one that lags must not be jumped over). In live operation the tick
advances a partition to the wall clock minus the grace, but only once every
input topic of that partition is caught up: a worker starting on months of
history therefore fires the same deadlines, at the same stream times, as one
that ran live through them.

No Faust import here: the offsets and high-water marks come in as plain ints.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

__all__ = ["PartitionClock", "DeadlineIndex"]


@dataclass(slots=True)
class PartitionClock:
    """Stream time of one partition number across the input topics."""

    topics: tuple[str, ...]
    grace_ms: int
    time: int | None = None
    newest: dict[str, int] = field(default_factory=dict)  # topic -> newest event time
    next_offset: dict[str, int] = field(default_factory=dict)  # topic -> next offset to process

    def observe(self, topic: str, offset: int, at: int | None) -> None:
        """A message at ``offset`` was processed; ``at`` is its event time if it had one."""
        self.next_offset[topic] = offset + 1
        if at is not None and at > self.newest.get(topic, at - 1):
            self.newest[topic] = at

    def backlogged(self, highwaters: Mapping[str, int | None]) -> list[str]:
        """Topics whose high-water mark is beyond what has been processed (unknown counts as behind)."""
        behind = []
        for topic in self.topics:
            high = highwaters.get(topic)
            if high is None or self.next_offset.get(topic, 0) < high:
                behind.append(topic)
        return behind

    def advance(self, highwaters: Mapping[str, int | None], wall_ms: int | None = None) -> int | None:
        """Move time forward as far as the evidence allows; return the new time.

        ``wall_ms`` is the live tick's wall clock; it counts only when no input
        topic of the partition has a backlog.
        """
        behind = self.backlogged(highwaters)
        if behind:
            if any(topic not in self.newest for topic in behind):
                return self.time  # a lagging topic we have not read from yet: wait for it
            candidate = min(self.newest[topic] for topic in behind) - self.grace_ms
        elif self.newest:
            candidate = max(self.newest.values()) - self.grace_ms
            if wall_ms is not None:
                candidate = max(candidate, wall_ms - self.grace_ms)
        elif wall_ms is not None:
            candidate = wall_ms - self.grace_ms
        else:
            return self.time
        if self.time is None or candidate > self.time:
            self.time = candidate
        return self.time


@dataclass(slots=True)
class DeadlineIndex:
    """Customers of one partition by their next deadline (a heap with lazy deletion).

    The customer's state is the truth (its ``deadlines``); an entry here is only
    a hint to look at that customer, checked against the state when it pops.
    """

    heap: list[tuple[int, str]] = field(default_factory=list)

    @classmethod
    def build(cls, entries: Iterable[tuple[int, str]]) -> DeadlineIndex:
        heap = list(entries)
        heapq.heapify(heap)
        return cls(heap)

    def add(self, due: int, customer_id: str) -> None:
        heapq.heappush(self.heap, (due, customer_id))

    def pop_due(self, now: int) -> list[str]:
        """Customers with an entry at or before ``now`` (each once), in deadline order."""
        due: list[str] = []
        heap = self.heap
        while heap and heap[0][0] <= now:
            customer_id = heapq.heappop(heap)[1]
            if customer_id not in due:
                due.append(customer_id)
        return due
