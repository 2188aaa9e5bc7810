"""The Faust app, its topics and tables, built from a checked topic layout: ``create_app(config, policy, layout)``.

Nothing is built at import. The worker's partition count is known only once the
topics have been checked (streams.topics), so the CLI checks them, then builds
the app, installs it, and only then imports the agents, which register on the
installed runtime.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import faust
from mode import loop as mode_loop

from models.policy import Policy
from streams import codecs
from streams.compat import CustomersTable, FairwatchTransport, PlansTable
from streams.compat.producer import kafka_producer
from streams.config import Config
from streams.outbox import Outbox
from streams.security import faust_credentials
from streams.topics import Layout

__all__ = ["Runtime", "FairwatchApp", "create_app", "install", "runtime", "use_uvloop"]

#: The customer table's RocksDB options, per partition database: a worker opens one per partition it holds, and
#: Faust gives each its own block cache and write buffers, so Faust's defaults (64 MiB of cache each) let one
#: worker pass 1.2 GiB resident on the benchmark's default run. A partition's customers are a few MiB of
#: records; the reads the cache misses come from the page cache, and decoding a state costs more than reading
#: it. With 8 MiB caches and 4 MiB buffers a worker peaked 80-100 MiB higher (two runs each of 200,000 events).
ROCKSDB_OPTIONS = {
    "write_buffer_size": 2 << 20,
    "max_write_buffer_number": 2,
    "block_cache_size": 2 << 20,
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


class FairwatchApp(faust.App):
    fairwatch_config: Config
    fairwatch_policy: Policy
    #: Input topic names: the consumer seeks these (and only these) to the table's input offsets at assignment.
    fairwatch_input_topics: frozenset[str] = frozenset()
    #: Set by the ingest agent (streams.compat.consumer.ResumeHook): where each assigned input partition resumes.
    fairwatch_resume: Any = None

    def _new_transport(self) -> Any:
        return FairwatchTransport(self.conf.broker_consumer, self)


@dataclass
class Runtime:
    """The app and everything built on it; what the agents register on."""

    app: FairwatchApp
    config: Config
    policy: Policy
    layout: Layout
    inputs: Any
    ticks: Any
    alerts: Any
    dead_letter: Any
    customers: CustomersTable
    plans: PlansTable
    #: Input topic name -> its role (``orders``, ``billing``, ``complaints``).
    roles: dict[str, str] = field(default_factory=dict)
    #: Moments the agents record for health checks (streams.health).
    state: dict[str, Any] = field(default_factory=dict)

    def outbox(self) -> Outbox:
        """An empty outbox on the app's producer (started): a checkpoint's records, sent in batches."""
        return Outbox(kafka_producer(self.app))


def _faust_app(config: Config, layout: Layout) -> FairwatchApp:
    return FairwatchApp(
        config.app_id,
        broker=config.broker_url,
        broker_credentials=faust_credentials(config.kafka_security),
        store="rocksdb://" if config.store == "rocksdb" else "memory://",
        datadir=str(config.data_dir),
        autodiscover=False,
        web_host=config.web_host,
        web_port=config.web_port,
        web_bind=config.web_host,
        broker_session_timeout=config.session_timeout,
        broker_heartbeat_interval=config.heartbeat_interval,
        topic_partitions=layout.partitions,
        topic_replication_factor=config.replication_factor,
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
        producer_max_request_size=config.max_message_bytes,
        # The agent writes a batch's customers and alerts in a burst: a few milliseconds of linger and large
        # batches put them in a few produce requests instead of one per message (Faust's default: no
        # linger and 16 KiB batches, about eight 2 KiB customer states per request).
        producer_linger=PRODUCER_LINGER_SECONDS,
        producer_max_batch_size=min(1 << 20, config.max_message_bytes),
        **({"canonical_url": config.canonical_url} if config.canonical_url else {}),
    )


def create_app(config: Config, policy: Policy, layout: Layout) -> Runtime:
    """The app, its topics and tables, every per-partition topic at the layout's partition count."""
    codecs.register()
    app = _faust_app(config, layout)
    app.fairwatch_config = config
    app.fairwatch_policy = policy
    names, partitions = layout.names, layout.partitions
    app.fairwatch_input_topics = frozenset(names.inputs)
    raw = {"key_serializer": "raw", "value_serializer": "raw"}
    # The three co-partitioned input topics and the tick topic, consumed as one
    # stream: no repartitioning, and every state change happens inside it.
    inputs = app.topic(*names.inputs, names.ticks, partitions=partitions, **raw)
    ticks = app.topic(names.ticks, partitions=partitions, retention=3600.0, **raw)
    alerts = app.topic(names.alerts, partitions=partitions, **raw)
    dead_letter = app.topic(names.dead_letter, partitions=partitions, **raw)
    # Keys are the raw customer_id bytes, as on the input topics, so Faust's table
    # router hashes them to the partition that holds them (str keys: Faust decodes
    # them back to str on recovery). State is plain JSON-able data, so orjson
    # encodes it directly; older stored formats are upgraded as they are read (streams.codecs). The changelog
    # topic is declared here because recovery decodes with its serializers; the table's own serializers, used
    # by its store, are set to match.
    customers = app.tables.add(
        CustomersTable(
            app,
            name="customers",
            partitions=partitions,
            key_type=str,
            default=None,
            beacon=app.tables.beacon,
            # RocksDB store only. Faust's defaults (64 MiB write buffers, three per partition database, a 2 GiB
            # block cache) let one worker grow past 2 GiB resident on the benchmark; the state is small records.
            options=ROCKSDB_OPTIONS,
            changelog_topic=app.topic(
                names.changelog,
                key_type=str,
                key_serializer="raw",
                value_serializer=codecs.STATE_CODEC,
                partitions=partitions,
                compacting=True,
                deleting=False,
                acks=False,
                internal=True,
            ),
        )
    )
    customers.key_serializer = "raw"
    customers.value_serializer = codecs.STATE_CODEC
    # The plan catalog (SPEC §1): every worker holds all of it. The compacted plans
    # topic (plan_id -> plan record) is the table's changelog, so a worker recovers
    # the whole catalog before it is ready, and Faust's assignor makes every worker a
    # standby of every plans partition, which is how a plan published later reaches
    # a running worker. Values are decoded leniently (streams.codecs) so a record that
    # is not JSON cannot stop recovery: models.catalog rejects it when it is read.
    # Nothing in the worker writes to the table; `fairwatch produce --plans` writes the topic.
    plans = app.tables.add(
        PlansTable(
            app,
            name="plans",
            default=None,
            beacon=app.tables.beacon,
            partitions=layout.plans_partitions,
            key_type=str,
            is_global=True,
            # In memory, not RocksDB: the catalog is small and read on many events (every cheapest-plan
            # search walks it); Faust's memory store holds decoded values, so a read costs a dict lookup,
            # where the RocksDB store decoded every record and counted its keys on every len().
            # It is restored from the compacted plans topic at each start, as a standby keeps it after.
            # (A URL with a path: Faust falls back to the app's store when the table's URL is empty.)
            store="memory://catalog/",
            recovery_buffer_size=1,
            standby_buffer_size=1,
            help="The plan catalog, from the plans topic.",
            changelog_topic=app.topic(
                names.plans,
                key_type=str,
                key_serializer="raw",
                value_serializer="orjson-lenient",
                partitions=layout.plans_partitions,
                compacting=True,
                deleting=False,
                acks=False,
                internal=True,
            ),
        )
    )
    plans.key_serializer = "raw"
    plans.value_serializer = "orjson-lenient"
    return Runtime(
        app=app,
        config=config,
        policy=policy,
        layout=layout,
        inputs=inputs,
        ticks=ticks,
        alerts=alerts,
        dead_letter=dead_letter,
        customers=customers,
        plans=plans,
        roles=names.roles(),
    )


_installed: list[Runtime] = []


def install(built: Runtime) -> Runtime:
    """Make ``built`` the runtime the agents register on when they are imported (once per process)."""
    _installed[:] = [built]
    return built


def runtime() -> Runtime:
    """The installed runtime; the agents call it at import."""
    if not _installed:
        raise RuntimeError("no fairwatch runtime installed: the CLI builds it (streams.app.create_app) first")
    return _installed[0]
