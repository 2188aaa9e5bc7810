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


class OffsetGuard:
    def __init__(self) -> None:
        self._next: dict[tuple[str, int], int] = {}
        self._skipped: dict[tuple[str, int], int] = {}

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

    def forget(self, partitions: set[int]) -> None:
        """Partitions were revoked or assigned: reading starts again from the committed offset."""
        for key in [key for key in self._next if key[1] in partitions]:
            del self._next[key]
            self._skipped.pop(key, None)
