"""The Faust app: settings, topics and the customer table. Built once, from the environment.

Faust fixes aiokafka's ``fetch_max_wait_ms`` at 1500; on the embedded Tansu
broker every multi-partition fetch then waits that long. The transport below
sets it from configuration through Faust's transport classes (no patching of
Faust's source); on Apache Kafka a fetch returns as soon as data arrives, so the
setting only matters when the broker waits it out.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka
from mode import loop as mode_loop

from models.events import INPUT_TOPICS
from models.policy import Policy, load_policy
from streams import codecs, metrics
from streams.config import Config, load_config
from streams.deadletter import DEAD_LETTER_TOPIC
from streams.highwater import true_end_offsets
from streams.security import faust_credentials
from streams.topics import ALERTS_TOPIC, PLANS_TOPIC, TICKS_TOPIC

__all__ = [
    "app",
    "config",
    "policy",
    "inputs",
    "ticks_topic",
    "alerts_topic",
    "dead_letter_topic",
    "customers",
    "plans",
]


log = logging.getLogger("fairwatch")

#: The customer table's RocksDB options (per partition database).
ROCKSDB_OPTIONS = {
    "write_buffer_size": 8 << 20,
    "max_write_buffer_number": 2,
    "block_cache_size": 64 << 20,
    "block_cache_compressed_size": 16 << 20,
}
#: Producer linger: what it may add to an alert's way out, for far fewer produce requests.
PRODUCER_LINGER_SECONDS = 0.005


def use_uvloop() -> bool:
    """Run the worker on uvloop when it is installed (a faster event loop; what Faust's ``--loop uvloop`` does)."""
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return False
    mode_loop.use("uvloop")
    return True


class _ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # Read by AIOKafkaConsumer.start() when it builds its Fetcher.
        consumer._fetch_max_wait_ms = self.app.fairwatch_config.fetch_max_wait_ms
        return consumer

    async def _highwaters(self, partitions: Any) -> Any:
        # Recovery reads changelogs up to these offsets: see streams.highwater.
        listed = await super()._highwaters(partitions)
        if self.consumer.in_transaction:
            return listed
        return await true_end_offsets(self._ensure_consumer(), listed)

    def group_coordinator_known(self) -> bool:
        """False while the group coordinator is lost (the broker is gone): membership is in doubt.

        aiokafka forgets the coordinator on the first failed heartbeat and finds it
        again when a broker answers; it does not revoke partitions meanwhile, so
        without this the worker would keep saying ready with no broker at all.
        """
        consumer = self._consumer
        coordinator = getattr(consumer, "_coordinator", None)
        return coordinator is None or getattr(coordinator, "coordinator_id", 0) is not None


class _Consumer(faust_aiokafka.Consumer):
    fairwatch_thread: _ConsumerThread | None = None

    def _new_consumer_thread(self) -> _ConsumerThread:
        self.fairwatch_thread = _ConsumerThread(self, loop=self.loop, beacon=self.beacon)
        return self.fairwatch_thread

    async def perform_seek(self) -> None:
        """After a rebalance, resume each input partition where the table says, if the group's commit is past it.

        Faust 0.15 can commit past messages no worker handled (around a
        rebalance its fetch position runs ahead of what was handled, and its
        check for a gap at the head of the acked offsets misses it). The table's
        input-offsets record is written with the state those messages made, so
        it is the one that knows. Only backwards: a table ahead of the commit
        (a crash before the commit) has its redelivered messages skipped by the
        processor, and seeking forward would leave Faust a gap it never commits.
        """
        await super().perform_seek()
        resume_offset = getattr(self.app, "fairwatch_resume_offset", None)
        if resume_offset is None:
            return
        resumed = []
        for tp in sorted(self.assignment()):
            if tp.topic not in INPUT_TOPICS:
                continue
            committed = self._committed_offset.get(tp)
            offset = resume_offset(tp.topic, tp.partition)
            resumed.append(f"{tp.topic}/{tp.partition} committed {committed} handled {offset}")
            if committed is not None and offset is not None and offset < committed:
                log.warning(
                    "fairwatch: %s/%d committed at %d but handled only up to %d: reading it again from there",
                    tp.topic,
                    tp.partition,
                    committed,
                    offset,
                )
                metrics.INPUT_REWINDS.labels(tp.topic, "assigned").inc()
                await self.seek(tp, offset)
        log.info("fairwatch: input partitions resumed: %s", "; ".join(resumed))


class _Transport(faust_aiokafka.Transport):
    Consumer = _Consumer


class FairwatchApp(faust.App):
    fairwatch_config: Config
    fairwatch_policy: Policy

    def _new_transport(self) -> Any:
        return _Transport(self.conf.broker_consumer, self)


def create_app(cfg: Config, pol: Policy) -> FairwatchApp:
    codecs.register()
    fw = FairwatchApp(
        cfg.app_id,
        broker=cfg.broker_url,
        broker_credentials=faust_credentials(cfg.kafka_security),
        store="rocksdb://" if cfg.store == "rocksdb" else "memory://",
        datadir=str(cfg.data_dir),
        autodiscover=False,
        web_host=cfg.web_host,
        web_port=cfg.web_port,
        web_bind=cfg.web_host,
        broker_session_timeout=cfg.session_timeout,
        broker_heartbeat_interval=cfg.heartbeat_interval,
        topic_partitions=cfg.partitions,
        topic_replication_factor=1,
        table_standby_replicas=0,
        consumer_auto_offset_reset="earliest",
        key_serializer="raw",
        value_serializer="raw",
        # Rebalance and shutdown wait until every message the agent was given is
        # processed and acked: otherwise it goes on writing state for partitions
        # already revoked, and processes messages after the last producer flush
        # whose offsets the final commit then includes (both lost writes, seen in
        # tests/integration/test_faults.py).
        stream_wait_empty=True,
        producer_max_request_size=cfg.max_message_bytes,
        # The agent writes a batch's customers and alerts in a burst: a few milliseconds of linger and large
        # batches put them in a few produce requests instead of one per message (Faust's default: no
        # linger and 16 KiB batches, about eight 2 KiB customer states per request).
        producer_linger=PRODUCER_LINGER_SECONDS,
        producer_max_batch_size=min(1 << 20, cfg.max_message_bytes),
        **({"canonical_url": cfg.canonical_url} if cfg.canonical_url else {}),
    )
    fw.fairwatch_config = cfg
    fw.fairwatch_policy = pol
    return fw


config = load_config()
policy = load_policy(config.policy_path, os.environ)
app = create_app(config, policy)

#: The three co-partitioned input topics and the tick topic, consumed as one
#: stream: no repartitioning, and every state change happens inside it.
inputs = app.topic(
    *INPUT_TOPICS, TICKS_TOPIC, partitions=config.partitions, key_serializer="raw", value_serializer="raw"
)
ticks_topic = app.topic(
    TICKS_TOPIC, partitions=config.partitions, key_serializer="raw", value_serializer="raw", retention=3600.0
)
alerts_topic = app.topic(ALERTS_TOPIC, partitions=config.partitions, key_serializer="raw", value_serializer="raw")
dead_letter_topic = app.topic(
    DEAD_LETTER_TOPIC, partitions=config.partitions, key_serializer="raw", value_serializer="raw"
)
# Keys are the raw customer_id bytes, as on the input topics, so Faust's table
# router hashes them to the partition that holds them (str keys: Faust decodes
# them back to str on recovery). State is plain JSON-able data, so orjson
# encodes it directly. The changelog topic is declared here because recovery
# decodes with its serializers (Faust would derive json for both from the types);
# the table's own serializers, used by its store, are set to match.
CHANGELOG_TOPIC = f"{config.app_id}-customers-changelog"
customers = app.Table(
    "customers",
    partitions=config.partitions,
    key_type=str,
    default=None,
    # RocksDB store only. Faust's defaults (64 MiB write buffers, three per partition database, a 2 GiB block
    # cache) let one worker grow past 2 GiB resident on the benchmark; the state here is small JSON records.
    options=ROCKSDB_OPTIONS,
    changelog_topic=app.topic(
        CHANGELOG_TOPIC,
        key_type=str,
        key_serializer="raw",
        value_serializer="orjson",
        partitions=config.partitions,
        compacting=True,
        deleting=False,
        acks=False,
        internal=True,
    ),
)
customers.key_serializer = "raw"
customers.value_serializer = "orjson"


class _PlansTable(faust.GlobalTable):
    """A global table whose changelog is a topic others write: the plans topic itself.

    Faust's assignor names a global table's changelog by ``_changelog_topic_name()``
    (``<app id>-<name>-changelog``) whatever changelog topic the table was given;
    here the name must be the topic's own.
    """

    def _changelog_topic_name(self) -> str:
        return PLANS_TOPIC


# The plan catalog (SPEC §1): every worker holds all of it. The compacted plans
# topic (plan_id -> plan record) is the table's changelog, so a worker recovers
# the whole catalog before it is ready, and Faust's assignor makes every worker a
# standby of every plans partition, which is how a plan published later reaches
# a running worker. (synchronize_all_active_partitions is not set: on the embedded
# broker it slowed the input stream to about one event a second, and it is not
# needed for that.) Keys are raw plan_id bytes (str on recovery); values are
# decoded leniently (streams.codecs) so a record that is not JSON cannot stop
# recovery: models.catalog rejects it when it is read. Nothing in the worker
# writes to the table; `fairwatch produce --plans` writes the topic.
plans = app.tables.add(
    _PlansTable(
        app,
        name="plans",
        default=None,
        beacon=app.tables.beacon,
        partitions=1,
        key_type=str,
        is_global=True,
        recovery_buffer_size=1,
        standby_buffer_size=1,
        help="The plan catalog, from the plans topic.",
        changelog_topic=app.topic(
            PLANS_TOPIC,
            key_type=str,
            key_serializer="raw",
            value_serializer="orjson-lenient",
            partitions=1,
            compacting=True,
            deleting=False,
            acks=False,
            internal=True,
        ),
    )
)
plans.key_serializer = "raw"
plans.value_serializer = "orjson-lenient"
