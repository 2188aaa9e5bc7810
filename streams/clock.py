"""Stream time: the one owner of watermarks, deadline indexes and the live tick (SPEC §4).

Each input topic of a partition number has its own time: the newest event time
seen on it, minus the grace, never going back. Every deadline is driven by the
one topic whose silence it is about (an order's promise by ``orders``, a
complaint's by ``complaints``, an unbilled delivery by ``billing``), so whether
it fires before or after another event depends only on that topic's order, not
on how the consumer happened to interleave the topics. In live operation the
tick advances a topic to the wall clock minus the grace, but only once that
topic is caught up: a worker starting on months of history therefore fires the
same deadlines, at the same points in the stream, as one that ran live through
them.

No Faust import here: the offsets and high-water marks come in as plain ints.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

__all__ = ["PartitionClock", "DeadlineIndex"]


@dataclass(slots=True)
class PartitionClock:
    """Stream time of one partition number, per input topic."""

    topics: tuple[str, ...]
    grace_ms: int
    times: dict[str, int] = field(default_factory=dict)  # topic -> stream time (epoch ms)
    next_offset: dict[str, int] = field(default_factory=dict)  # topic -> next offset to process

    def observe(self, topic: str, offset: int, at: int | None) -> bool:
        """A message at ``offset`` was processed (``at``: its event time, if valid); True if time moved."""
        self.next_offset[topic] = offset + 1
        return at is not None and self._move(topic, at - self.grace_ms)

    def tick(self, highwaters: Mapping[str, int | None], wall_ms: int) -> list[str]:
        """The live tick: each caught-up topic moves to the wall clock minus the grace; return those that moved."""
        moved = []
        for topic in self.topics:
            high = highwaters.get(topic)
            caught_up = high is not None and self.next_offset.get(topic, 0) >= high
            if caught_up and self._move(topic, wall_ms - self.grace_ms):
                moved.append(topic)
        return moved

    def ahead(self, highwaters: Mapping[str, int | None], wall_ms: int) -> dict[str, int]:
        """The times the live tick would give now (``tick``'s rule), without moving any."""
        times = dict(self.times)
        candidate = wall_ms - self.grace_ms
        for topic in self.topics:
            high = highwaters.get(topic)
            if high is not None and self.next_offset.get(topic, 0) >= high and times.get(topic, candidate) <= candidate:
                times[topic] = candidate
        return times

    def time(self, topic: str) -> int | None:
        return self.times.get(topic)

    def _move(self, topic: str, candidate: int) -> bool:
        current = self.times.get(topic)
        if current is None or candidate > current:
            self.times[topic] = candidate
            return True
        return False


@dataclass(slots=True)
class DeadlineIndex:
    """Customers by their next deadline on one topic's clock (a heap with lazy deletion).

    The customer's state is the truth (its ``deadlines``); an entry here is only
    a hint to look at that customer, checked against the state when it pops.
    An entry is added only if it comes before the customer's earliest one still
    in the heap (``earliest``): that one makes the customer pop first anyway,
    and the check then puts back the deadline the state holds. So a customer
    saved many times adds one entry, not one per save.
    """

    heap: list[tuple[int, str]] = field(default_factory=list)
    #: customer_id -> its earliest entry in the heap.
    earliest: dict[str, int] = field(default_factory=dict)

    @classmethod
    def build(cls, entries: Iterable[tuple[int, str]]) -> DeadlineIndex:
        earliest: dict[str, int] = {}
        for due, customer_id in entries:
            if due < earliest.get(customer_id, due + 1):
                earliest[customer_id] = due
        heap = [(due, customer_id) for customer_id, due in earliest.items()]
        heapq.heapify(heap)
        return cls(heap, earliest)

    def add(self, due: int, customer_id: str) -> None:
        known = self.earliest.get(customer_id)
        if known is None or due < known:
            self.earliest[customer_id] = due
            heapq.heappush(self.heap, (due, customer_id))

    def entries_due(self, now: int) -> list[str]:
        """The customers of every entry at or before ``now``, without popping: a walk of the heap's top, which
        stops under each entry past ``now`` (every entry below it is later), so it costs what is due."""
        heap = self.heap
        found: list[str] = []
        stack = [0] if heap and heap[0][0] <= now else []
        while stack:
            at = stack.pop()
            found.append(heap[at][1])
            for child in (2 * at + 1, 2 * at + 2):
                if child < len(heap) and heap[child][0] <= now:
                    stack.append(child)
        return found

    def pop_due(self, now: int, most: int | None = None) -> list[str]:
        """Customers with an entry at or before ``now`` (each once, at most ``most``), in deadline order."""
        heap = self.heap
        if not heap or heap[0][0] > now:
            return []
        due: dict[str, None] = {}
        earliest = self.earliest
        while heap and heap[0][0] <= now:
            if most is not None and len(due) >= most and heap[0][1] not in due:
                break  # the rest stay in the heap, due, for the next call
            customer_id = heapq.heappop(heap)[1]
            if customer_id not in due:
                due[customer_id] = None
                if earliest.get(customer_id, now + 1) <= now:
                    del earliest[customer_id]
        return list(due)
