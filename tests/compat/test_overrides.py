"""One test per override in streams.compat: each fails when an upgrade moves the private name it relies on.

They read the installed Faust and aiokafka, not a running broker.
"""

from __future__ import annotations

import asyncio
import inspect
from contextvars import ContextVar
from importlib.metadata import version
from types import SimpleNamespace
from typing import Any

import faust
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.consumer import fetcher as aiokafka_fetcher
from aiokafka.consumer.group_coordinator import GroupCoordinator
from aiokafka.consumer.subscription_state import SubscriptionState, TopicPartitionState
from faust.stores import rocksdb
from faust.stores.base import SerializedStore
from faust.tables.recovery import Recovery
from faust.transport.consumer import Consumer as FaustConsumer
from faust.transport.drivers import aiokafka as faust_aiokafka

from streams.compat import VERSIONS_CHECKED, current_event_var
from streams.compat.consumer import MAX_POLL_RECORDS, Consumer, ConsumerThread
from streams.compat.stream import wait_batches_for
from streams.compat.tables import CustomersTable, PlansTable


def test_the_installed_versions_are_the_ones_the_overrides_were_checked_against() -> None:
    assert version("faust-streaming") == VERSIONS_CHECKED["faust-streaming"]
    assert version("aiokafka") == VERSIONS_CHECKED["aiokafka"]


def test_the_consumer_reads_fetch_wait_and_isolation_level_from_the_attributes_set_before_start() -> None:
    async def make() -> AIOKafkaConsumer:
        return AIOKafkaConsumer(bootstrap_servers="127.0.0.1:1", fetch_max_wait_ms=1500)

    consumer = asyncio.run(make())
    assert consumer._fetch_max_wait_ms == 1500 and consumer._isolation_level == "read_uncommitted"
    start = inspect.getsource(AIOKafkaConsumer.start)
    assert "fetch_max_wait_ms=self._fetch_max_wait_ms" in start
    assert "isolation_level=self._isolation_level" in start
    assert "_create_worker_consumer" in vars(faust_aiokafka.AIOKafkaConsumerThread)
    assert "_create_worker_consumer" in vars(ConsumerThread)


def test_the_worker_consumer_hands_over_at_most_max_poll_records_a_fetch_unless_faust_is_told_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def make(max_poll_records: int | None) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(bootstrap_servers="127.0.0.1:1", max_poll_records=max_poll_records)

    config = SimpleNamespace(fetch_max_wait_ms=10, isolation_level="read_uncommitted")
    for configured, expected in ((None, MAX_POLL_RECORDS), (50, 50)):
        consumer = asyncio.run(make(configured))
        monkeypatch.setattr(
            faust_aiokafka.AIOKafkaConsumerThread, "_create_worker_consumer", lambda self, transport, c=consumer: c
        )
        thread = object.__new__(ConsumerThread)
        thread.app = SimpleNamespace(fairwatch_config=config)
        assert thread._create_worker_consumer(None)._max_poll_records == expected
    # What takes it to the fetcher: Faust's getmany passes it as max_records on every fetch.
    getmany = inspect.getsource(faust_aiokafka.AIOKafkaConsumerThread.getmany)
    assert "max_records=_consumer._max_poll_records" in getmany
    assert "max_records=max_records" in inspect.getsource(faust_aiokafka.AIOKafkaConsumerThread._fetch_records)


def test_recovery_end_offsets_come_through_highwaters() -> None:
    assert "_highwaters" in vars(faust_aiokafka.AIOKafkaConsumerThread)
    assert "self._highwaters" in inspect.getsource(faust_aiokafka.AIOKafkaConsumerThread.highwaters)


def test_the_group_coordinator_forgets_its_coordinator_id_when_lost() -> None:
    source = inspect.getsource(GroupCoordinator)
    assert "self.coordinator_id = None" in source


def test_a_partitions_position_and_ends_are_kept_in_its_subscription_state() -> None:
    async def make() -> TopicPartitionState:
        return TopicPartitionState(assignment=None)

    state = asyncio.run(make())
    assert state._position is None and state.highwater is None and state.lso is None
    assert hasattr(SubscriptionState, "subscription")
    assert "_subscription" in inspect.getsource(AIOKafkaConsumer.__init__)


def test_faust_seeks_to_committed_offsets_through_perform_seek_after_recovery() -> None:
    assert "perform_seek" in vars(FaustConsumer) and "perform_seek" in vars(Consumer)
    assert "consumer.perform_seek()" in inspect.getsource(Recovery._resume_streams)
    source = inspect.getsource(FaustConsumer.perform_seek)
    assert "_committed_offset" in source and "_read_offset" in source
    assert "_new_consumer_thread" in vars(faust_aiokafka.Consumer)


def test_every_fetch_faust_takes_passes_through_getmany_one_at_a_time() -> None:
    # Consumer.handed_over is kept by the _getmany override: Faust must fetch through it, by these names, and
    # deliver a fetch's records before it asks for the next (so no position moves between the two).
    assert "_getmany" in vars(Consumer)
    assert "await self._thread.getmany(" in inspect.getsource(faust_aiokafka.Consumer._getmany)
    assert "await self._getmany(" in inspect.getsource(FaustConsumer._wait_next_records)
    assert list(inspect.signature(faust_aiokafka.Consumer._getmany).parameters) == [
        "self",
        "active_partitions",
        "timeout",
    ]
    drain = inspect.getsource(FaustConsumer._drain_messages)
    assert "ait = cast(AsyncIterator, getmany(timeout=1.0))" in drain and "async for tp, message in ait:" in drain
    # The position moves when the consumer thread takes a fetch's records, and only then.
    assert "state.consumed_to(self._partition_records.next_fetch_offset)" in inspect.getsource(
        aiokafka_fetcher.FetchResult._update_position
    )
    assert "on_partitions_revoked" in vars(FaustConsumer) and "seek" in vars(FaustConsumer)


def test_a_global_tables_changelog_is_named_by_changelog_topic_name() -> None:
    assert "_changelog_topic_name" in vars(faust.tables.base.Collection)
    assert "_changelog_topic_name" in vars(PlansTable)


def test_the_table_records_its_changelog_offset_as_fausts_own_send_callback_does() -> None:
    # CustomersTable.persisted does for a delivered record batch what _on_changelog_sent does per record.
    assert "self.data.set_persisted_offset(res.topic_partition, res.offset)" in inspect.getsource(
        faust.tables.base.Collection._on_changelog_sent
    )
    assert "set_persisted_offset" in vars(rocksdb.Store)
    # CustomersTable.stage writes a RocksDB store's bytes itself, as SerializedStore.__setitem__ would.
    assert "self._set(self._encode_key(key), self._encode_value(value))" in inspect.getsource(
        SerializedStore.__setitem__
    )
    assert issubclass(rocksdb.Store, SerializedStore)
    # StateView reads a RocksDB store's bytes itself, as SerializedStore.__getitem__ does, then decodes them.
    assert "value = self._get(self._encode_key(key))" in inspect.getsource(SerializedStore.__getitem__)
    assert "apply_changelog_batch" in vars(faust.tables.base.Collection)
    assert "apply_changelog_batch" in vars(CustomersTable)


def test_the_current_event_is_the_context_variable_the_table_reads() -> None:
    assert isinstance(current_event_var, ContextVar)
    assert "_current_event" in inspect.getsource(faust.streams.current_event)


def test_take_events_waits_for_each_batch_through_the_streams_wait_for_stopped() -> None:
    # wait_batches_for wraps the stream instance's wait_for_stopped: take_events must wait for every batch
    # through it, passing its timeout by keyword; and the method must be mode's, which an instance may shadow.
    take_events = inspect.getsource(faust.streams.Stream.take_events)
    loop = take_events[take_events.index("while not self.should_stop:") :]
    assert "await self.wait_for_stopped(" in loop and "buffer_full, timeout=timeout" in loop
    assert "timeout" in inspect.signature(faust.streams.Stream.wait_for_stopped).parameters
    assert "wait_for_stopped" not in vars(faust.streams.Stream)


def test_the_batch_window_is_asked_for_at_each_wait_and_replaces_the_timeout_faust_passes() -> None:
    calls: list[tuple[tuple[Any, ...], float | None]] = []

    class Stream:
        async def wait_for_stopped(self, *events: Any, timeout: float | None = None) -> bool:
            calls.append((events, timeout))
            return True

    windows = iter([0.1, 0.01])
    stream = Stream()
    wait_batches_for(stream, lambda: next(windows))

    async def two_waits() -> list[bool]:
        return [await stream.wait_for_stopped("full", timeout=5.0) for _ in range(2)]

    assert asyncio.run(two_waits()) == [True, True]
    assert calls == [(("full",), 0.1), (("full",), 0.01)]


def test_the_aiokafka_producer_is_reached_through_faust_producers_ensure_producer() -> None:
    source = inspect.getsource(faust_aiokafka.Producer._ensure_producer)
    assert "return self._producer" in source
    assert "self._producer = self._new_producer()" in inspect.getsource(faust_aiokafka.Producer.on_start)
    # The batch interface streams.outbox uses.
    assert {"create_batch", "send_batch", "partitions_for"} <= set(vars(AIOKafkaProducer))
