"""Exact end offsets for table recovery: the one workaround for the embedded broker.

Tansu 0.6.0 answers ``ListOffsets(latest)`` wrongly when the last record batch
of a partition holds several records (10 records at offsets 0-9 give an end
offset of 1). Faust recovers a table's changelog up to that end offset, so it
would stop early and silently lose the newest state. A Fetch response carries
the partition's true high-water mark, so the end offset used for recovery is
the larger of the two. On Apache Kafka both agree and this changes nothing but
one small extra request per recovery.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping

from aiokafka import AIOKafkaConsumer
from aiokafka.protocol.fetch import FetchRequest
from aiokafka.structs import TopicPartition

__all__ = ["true_end_offsets"]

log = logging.getLogger(__name__)


async def true_end_offsets(consumer: AIOKafkaConsumer, listed: Mapping[TopicPartition, int]) -> dict:
    """``listed`` (ListOffsets' answer) corrected by the high-water marks of a Fetch response."""
    client = consumer._client
    by_node: dict[int, list[TopicPartition]] = defaultdict(list)
    for tp in listed:
        node = client.cluster.leader_for_partition(tp)
        if node is not None and node >= 0:
            by_node[node].append(tp)
    corrected = dict(listed)
    for node, tps in by_node.items():
        topics: dict[str, list[tuple[int, int, int]]] = defaultdict(list)
        for tp in tps:
            # Fetching at the listed offset is always valid and returns at most a byte.
            topics[tp.topic].append((tp.partition, max(listed[tp] or 0, 0), 1))
        # Tansu answers a fetch with no wait at all with no partitions; 10 ms is enough.
        request = FetchRequest(10, 1, 1, 0, list(topics.items()))
        try:
            response = await client.send(node, request)
        except Exception as exc:  # keep Faust's answer rather than fail recovery
            log.warning("high-water fetch from node %s failed (%s); using ListOffsets", node, exc)
            continue
        for topic, partitions in response.topics:
            for partition, error_code, highwater, *_ in partitions:
                tp = TopicPartition(topic, partition)
                if error_code == 0 and tp in corrected and highwater > (corrected[tp] or 0):
                    log.info(
                        "end offset of %s corrected from %s to %s (fetch high-water mark)", tp, corrected[tp], highwater
                    )
                    corrected[tp] = highwater
    return corrected
