"""Faust tables as fairwatch needs them: a global table on a topic others write, and a fenced customer table."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, ValuesView
from typing import Any

import faust
from faust.stores.base import SerializedStore
from faust.types import TP, EventT

from streams import metrics
from streams.outbox import Delivery, Outbox
from streams.state_record import SetAside, decode_state, stored_bytes

__all__ = ["PlansTable", "CustomersTable", "StateView", "EPOCH_HEADER"]

log = logging.getLogger("fairwatch")

#: The header every customer changelog record carries: the writer's fencing epoch for that partition.
EPOCH_HEADER = "fairwatch.epoch"


class PlansTable(faust.GlobalTable):
    """A global table whose changelog is a topic others write: the plans topic itself.

    Faust's assignor names a global table's changelog by ``_changelog_topic_name()``
    (``<app id>-<name>-changelog``) whatever changelog topic the table was given;
    here the name must be the topic's own.
    """

    def _changelog_topic_name(self) -> str:
        return self.changelog_topic.get_topic_name()


class CustomersTable(faust.Table):
    """The customer table: the agent writes it in record batches (streams.outbox) and awaits them; restore is
    fenced.

    Fencing: each owner of a partition writes under an epoch one above the
    highest it restored for that partition (streams.processor), stamped on every
    changelog record. A worker that was expelled while paused and resumes still
    writes under its old epoch; restore skips any record whose epoch is below the
    highest already seen earlier in that partition, so those late writes never
    roll the new owner's state back.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._restore_epochs: dict[int, int] = {}

    def stage(self, outbox: Outbox, partition: int, key: str, value: Any, epoch: int) -> None:
        """Write the local store and add the changelog record to ``outbox``; the caller sends and awaits it,
        then reports the deliveries with ``persisted``.

        ``Table.__setitem__`` sends through Faust with a future it discards, so a failed changelog send would
        go unnoticed; and it checks co-partitioning at every write, which the start-up topic check did once.
        """
        set_aside = type(value) is SetAside
        raw_key, encoded = key.encode(), stored_bytes(value)  # what the state codec writes (streams.codecs)
        store = self.data
        if isinstance(store, SerializedStore):
            # RocksDB: the bytes already made, not a second encoding through Faust's serializer registry.
            store._set(raw_key, encoded)
        else:
            store[key] = decode_state(encoded) if set_aside else value
        outbox.add(self._changelog_name, raw_key, encoded, [(EPOCH_HEADER, b"%d" % epoch)], partition)

    def stage_removal(self, outbox: Outbox, partition: int, key: str, epoch: int) -> bool:
        """Delete the key from the local store and add its tombstone to ``outbox``; False when the store does
        not hold it."""
        if key not in self.data:
            return False
        del self.data[key]
        outbox.add(self._changelog_name, key.encode(), None, [(EPOCH_HEADER, b"%d" % epoch)], partition)
        return True

    def persisted(self, deliveries: Iterable[Delivery]) -> None:
        """Delivered changelog batches: the store records how far its changelog is written (as Faust's own
        send callback does), so a restart on the same data directory replays only what came after."""
        name = self._changelog_name
        for delivery in deliveries:
            if delivery.topic == name:
                self.data.set_persisted_offset(TP(name, delivery.partition), delivery.last_offset())

    @property
    def _changelog_name(self) -> str:
        return self.changelog_topic.get_topic_name()

    def apply_changelog_batch(self, batch: Iterable[EventT]) -> None:
        kept = []
        epochs = self._restore_epochs
        for event in batch:
            epoch = _epoch(event.message.headers)
            partition = event.message.partition
            if epoch is not None:
                highest = epochs.get(partition, -1)
                if epoch < highest:
                    metrics.FENCED_RECORDS.inc()
                    continue
                epochs[partition] = epoch
            kept.append(event)
        super().apply_changelog_batch(kept)


_MISSING = object()


class StateView(Mapping[str, Any]):
    """The customer table's store as the processor reads it: a state at a time, decoded from the store's bytes
    by the state codec itself (streams.codecs), not through Faust's serializer registry, which cost more than
    the decoding on every read. Bulk reads (rebuilding a partition after an assignment) go through Faust."""

    def __init__(self, table: CustomersTable) -> None:
        self._table = table

    def get(self, key: str, default: Any = None) -> Any:
        store = self._table.data
        if isinstance(store, SerializedStore):
            # As SerializedStore.__getitem__ reads it (the current event's partition database first).
            raw = store._get(key.encode())
            return default if raw is None else decode_state(raw)
        return store.get(key, default)

    def __getitem__(self, key: str) -> Any:
        value = self.get(key, _MISSING)
        if value is _MISSING:
            raise KeyError(key)
        return value

    def __contains__(self, key: object) -> bool:
        return key in self._table.data

    def __iter__(self) -> Iterator[str]:
        return iter(self._table.data)

    def __len__(self) -> int:
        return len(self._table.data)

    def values(self) -> ValuesView[Any]:
        return self._table.data.values()


def _epoch(headers: Any) -> int | None:
    if not headers:
        return None
    items = headers.items() if isinstance(headers, dict) else headers
    for name, value in items:
        if name == EPOCH_HEADER:
            try:
                return int(value)
            except (TypeError, ValueError):
                return None
    return None
