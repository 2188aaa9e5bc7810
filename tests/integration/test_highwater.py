"""streams.highwater: end offsets for recovery are exact on the real broker."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.structs import TopicPartition

from streams.highwater import true_end_offsets

pytestmark = pytest.mark.integration


async def _end_offsets(broker: str) -> tuple[dict, dict]:
    admin = AIOKafkaAdminClient(bootstrap_servers=[broker])
    await admin.start()
    await admin.create_topics([NewTopic("hw-check", 2, 1)])
    await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=[broker], linger_ms=100)
    await producer.start()
    # Ten records in one batch on partition 0, three single-record batches on partition 1.
    await asyncio.gather(*[await producer.send("hw-check", b"x", partition=0) for _ in range(10)])
    for _ in range(3):
        await producer.send_and_wait("hw-check", b"y", partition=1)
    await producer.stop()
    consumer = AIOKafkaConsumer(bootstrap_servers=[broker])
    await consumer.start()
    try:
        tps = [TopicPartition("hw-check", 0), TopicPartition("hw-check", 1)]
        await consumer._client.force_metadata_update()
        listed = await consumer.end_offsets(tps)
        return listed, await true_end_offsets(consumer, listed)
    finally:
        await consumer.stop()


def test_end_offsets_are_the_true_high_water_marks(broker: str) -> None:
    listed, corrected = asyncio.run(_end_offsets(broker))
    assert corrected == {TopicPartition("hw-check", 0): 10, TopicPartition("hw-check", 1): 3}
    # What ListOffsets said, for the record: on Tansu 0.6.0 partition 0 comes back short.
    assert all(listed[tp] <= corrected[tp] for tp in listed)
