"""Faust tables as fairwatch needs them: a global table on a topic others write, and a fenced customer table."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import faust
from faust.types import EventT, FutureMessage

from streams import metrics

__all__ = ["PlansTable", "CustomersTable", "EPOCH_HEADER"]

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
    """The customer table: the agent writes it with ``put`` and awaits each changelog send; restore is fenced.

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

    def put(self, partition: int, key: str, value: Any, epoch: int) -> FutureMessage:
        """Write the local store and send the changelog record; the caller awaits the returned future.

        ``Table.__setitem__`` discards the send's future, so a failed changelog
        send would go unnoticed; and it checks co-partitioning at every write,
        which the start-up topic check already did once.
        """
        self.data[key] = value
        return self.changelog_topic.send_soon(
            key=key,
            value=value,
            partition=partition,
            headers=[(EPOCH_HEADER, str(epoch).encode())],
            key_serializer=self.key_serializer,
            value_serializer=self.value_serializer,
            callback=self._on_changelog_sent,
            eager_partitioning=True,
        )

    def remove(self, partition: int, key: str, epoch: int) -> FutureMessage | None:
        """Delete the key from the local store and send its tombstone; None when the store does not hold it."""
        if key not in self.data:
            return None
        del self.data[key]
        return self.changelog_topic.send_soon(
            key=key,
            value=None,
            partition=partition,
            headers=[(EPOCH_HEADER, str(epoch).encode())],
            key_serializer=self.key_serializer,
            # As Table.on_key_del sends it: the value codec would encode None as "null", not a tombstone.
            value_serializer="raw",
            callback=self._on_changelog_sent,
            eager_partitioning=True,
        )

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
