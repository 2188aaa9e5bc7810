"""Topic names and creation for the tools that run beside a worker (demo, produce, tests).

The worker declares its own topics through Faust; producers must not race it
and let a broker auto-create an input topic with the wrong partition count.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from models.events import INPUT_TOPICS
from streams.deadletter import DEAD_LETTER_TOPIC

__all__ = ["ALERTS_TOPIC", "DEAD_LETTER_TOPIC", "INPUT_TOPICS", "TICKS_TOPIC", "PLANS_TOPIC", "ensure_topics"]

ALERTS_TOPIC = "fairwatch.alerts"
#: Internal: the live tick, one message per partition, so that deadlines fired
#: by the wall clock are processed inside the stream, in order with the
#: partition's events, and their table writes land on the right partition.
TICKS_TOPIC = "fairwatch.ticks"
#: Reference data (SPEC §1): the plan catalog, keyed by plan_id, compacted. One
#: partition: it is small, every worker reads all of it (a global table), and
#: Faust's global tables recover reliably from one partition.
PLANS_TOPIC = "plans"


async def ensure_topics(
    bootstrap: list[str], partitions: int, replication: int = 1, *, client: Mapping[str, Any] | None = None
) -> None:
    """Create the input, alert and dead-letter topics that do not exist yet.

    ``client``: aiokafka security settings (streams.security); None reads them from the environment.
    """
    from streams.security import client_kwargs

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **(client_kwargs() if client is None else client))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [*INPUT_TOPICS, ALERTS_TOPIC, DEAD_LETTER_TOPIC, TICKS_TOPIC]
        missing = [NewTopic(name, partitions, replication) for name in wanted if name not in existing]
        if PLANS_TOPIC not in existing:
            missing.append(NewTopic(PLANS_TOPIC, 1, replication, topic_configs={"cleanup.policy": "compact"}))
        if missing:
            await admin.create_topics(missing)
    finally:
        await admin.close()
