"""A guard against skipped input messages: the next offset of each input partition, checked.

The input topics are plain logs (not compacted, no transactions), so a
partition's offsets arrive one after another. Faust 0.15's fetch loop can still
hand the agent a partition's messages with a hole in them around a rebalance
(seen in tests/integration/test_faults.py: offsets 84 then 86, with 85 never
delivered to any worker), and its gap bookkeeping then commits past the hole:
the message is lost. The guard notices the hole at the agent; the ingest agent
skips the messages after it and seeks the partition back to the missing
offset, so the hole is read again, in order.

Pure bookkeeping: the agent does the seeking.
"""

from __future__ import annotations

__all__ = ["OffsetGuard", "SKIP"]

#: Skip the message: a seek back to the hole is already on its way.
SKIP = -1

#: Seek again if this many messages past a hole went by and the hole did not come back.
RESEEK_AFTER = 1000

#: A partition whose end lies past the next expected offset, with no progress over this many
#: checks in a row (the live tick checks once a second), lost its last messages.
STALLED_CHECKS = 3


class OffsetGuard:
    def __init__(self) -> None:
        self._next: dict[tuple[str, int], int] = {}
        self._skipped: dict[tuple[str, int], int] = {}
        self._still: dict[tuple[str, int], tuple[int, int]] = {}  # next expected, checks without progress

    def admit(self, topic: str, partition: int, offset: int) -> int | None:
        """None: handle the message. SKIP: skip it. Otherwise skip it and seek the partition to the offset returned.

        An offset at or below the next expected one is a re-delivery (after a
        seek, or from the committed offset after a rebalance): handled, and
        reading resumes from it.
        """
        key = (topic, partition)
        expected = self._next.get(key)
        if expected is None or offset <= expected:
            self._next[key] = offset + 1
            self._skipped.pop(key, None)
            return None
        skipped = self._skipped.get(key, 0)
        self._skipped[key] = skipped + 1
        if skipped % RESEEK_AFTER == 0:
            return expected
        return SKIP

    def knows(self, topic: str, partition: int) -> bool:
        return (topic, partition) in self._next

    def start(self, topic: str, partition: int, offset: int) -> None:
        """Reading the partition starts here (its committed offset): a first message past it is a hole."""
        self._next[(topic, partition)] = offset

    def stalled(self, topic: str, partition: int, highwater: int | None) -> int | None:
        """The offset to seek to when the partition's tail never arrived: a hole with nothing after it.

        A hole is noticed when a later message arrives; the last messages of a
        partition have none after them. The tick asks here: if the partition's
        end (high-water mark) lies past the next expected offset and that has
        not moved for STALLED_CHECKS checks, the tail was skipped.
        """
        key = (topic, partition)
        expected = self._next.get(key)
        if expected is None or highwater is None or highwater <= expected:
            self._still.pop(key, None)
            return None
        seen, checks = self._still.get(key, (expected, 0))
        checks = checks + 1 if seen == expected else 1
        self._still[key] = (expected, checks)
        if checks >= STALLED_CHECKS:
            self._still.pop(key)
            return expected
        return None

    def forget(self, partitions: set[int]) -> None:
        """Partitions were revoked or assigned: reading starts again from the committed offset."""
        for key in [key for key in self._next if key[1] in partitions]:
            del self._next[key]
            self._skipped.pop(key, None)
            self._still.pop(key, None)
