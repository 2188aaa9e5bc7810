"""Record batches as a compacted or transactional log leaves them, sent as raw ProduceRequests.

A compacted log keeps a v2 batch's offsets but drops records from it, and a
transactional producer's commit marker takes an offset no record has. A normal
producer cannot make either; the embedded broker stores what it is sent and
serves those offsets.
"""

from __future__ import annotations

import struct
import time

from aiokafka import AIOKafkaClient, AIOKafkaConsumer
from aiokafka.protocol.produce import ProduceRequest
from aiokafka.record.default_records import DefaultRecordBatchBuilder
from aiokafka.record.util import calc_crc32c
from aiokafka.structs import TopicPartition

__all__ = ["gapped_batch", "send_batch", "committed_offsets"]

# DefaultRecordBatch v2 header: baseOffset q, length i, leaderEpoch i, magic b, crc I, attributes h,
# lastOffsetDelta i, ... The CRC covers everything from attributes on.
_CRC_AT = 17
_ATTRIBUTES_AT = 21
_LAST_OFFSET_DELTA_AT = 23


def gapped_batch(records: list[tuple[int, bytes | None, bytes]], last_offset_delta: int | None = None) -> bytes:
    """A batch whose records sit at the given offset deltas (e.g. 0, 1, 5, 6, 9), as compaction leaves one.

    ``last_offset_delta`` past the last record's makes the batch end where a
    trailing transaction marker would: the log's next offset is one beyond it.
    """
    builder = DefaultRecordBatchBuilder(
        magic=2,
        compression_type=0,
        is_transactional=0,
        producer_id=-1,
        producer_epoch=-1,
        base_sequence=-1,
        batch_size=1 << 20,
    )
    now = int(time.time() * 1000)
    for delta, key, value in records:
        builder.append(delta, timestamp=now, key=key, value=value, headers=[])
    batch = bytearray(builder.build())
    if last_offset_delta is not None:
        struct.pack_into(">i", batch, _LAST_OFFSET_DELTA_AT, last_offset_delta)
        struct.pack_into(">I", batch, _CRC_AT, calc_crc32c(bytes(batch[_ATTRIBUTES_AT:])))
    return bytes(batch)


async def send_batch(broker: str, topic: str, partition: int, batch: bytes) -> None:
    """Send one raw batch to the partition's leader; raise on an error code."""
    client = AIOKafkaClient(bootstrap_servers=[broker])
    await client.bootstrap()
    try:
        await client.add_topic(topic)
        leader = client.cluster.leader_for_partition(TopicPartition(topic, partition))
        assert leader is not None and leader >= 0, f"no leader for {topic}/{partition}"
        request = ProduceRequest(
            transactional_id=None, required_acks=-1, timeout=10_000, topics=[(topic, [(partition, batch)])]
        )
        response = await client.send(leader, request)
        for _, partitions in response.topics:
            for partition_response in partitions:
                assert partition_response[1] == 0, f"produce error {partition_response}"
    finally:
        await client.close()


async def committed_offsets(broker: str, group: str, tps: list[TopicPartition]) -> dict[TopicPartition, int | None]:
    """The group's committed offsets, read as a client of the group that does not join it."""
    consumer = AIOKafkaConsumer(bootstrap_servers=[broker], group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        return {tp: await consumer.committed(tp) for tp in tps}
    finally:
        await consumer.stop()
