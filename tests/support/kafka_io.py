"""Small aiokafka helpers for integration tests: produce, and read a topic until a count or a quiet spell."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import ConsumerRecord

from streams.tools.topic_commands import publish_plans, read_plans_file
from streams.topics import ensure_topics

#: The input topics' partition count on the broker the ``broker`` fixture starts (tests/integration/conftest.py).
PARTITIONS = 4
T = TypeVar("T")
#: The demo's plan catalog, which the stories' subscriptions are on.
DEMO_PLANS = Path(__file__).resolve().parents[2] / "streams" / "tools" / "data" / "plans.toml"


def prepare_topics_and_plans(broker: str) -> None:
    """fairwatch's topics at PARTITIONS, and the demo's catalog on the plans topic."""
    plans, problems = read_plans_file(DEMO_PLANS)
    assert not problems
    asyncio.run(ensure_topics([broker], PARTITIONS))
    asyncio.run(publish_plans([broker], plans))


async def produce(broker: str, messages: list[tuple[str, bytes | None, bytes]]) -> list[tuple[str, int, int]]:
    """Send in order, each acknowledged; return (topic, partition, offset) of each."""
    producer = AIOKafkaProducer(bootstrap_servers=[broker])
    await producer.start()
    try:
        placed = []
        for topic, key, value in messages:
            meta = await producer.send_and_wait(topic, value=value, key=key)
            placed.append((topic, meta.partition, meta.offset))
        return placed
    finally:
        await producer.stop()


async def read_topic(
    broker: str, topic: str, *, expect: int, timeout: float, quiet: float = 1.5
) -> list[ConsumerRecord]:
    """Read from the beginning until ``expect`` records arrived and then ``quiet`` s passed with no more."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=[broker], auto_offset_reset="earliest", enable_auto_commit=False, fetch_max_wait_ms=50
    )
    await consumer.start()
    records: list[ConsumerRecord] = []
    try:
        deadline = time.monotonic() + timeout
        quiet_until = None
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            fresh = [record for part in batch.values() for record in part]
            records.extend(fresh)
            if len(records) >= expect:
                if fresh or quiet_until is None:
                    quiet_until = time.monotonic() + quiet
                elif time.monotonic() >= quiet_until:
                    break
        return records
    finally:
        await consumer.stop()


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)
