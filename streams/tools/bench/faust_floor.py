"""The floor of a stateful Faust pipeline: bare Faust plus, one at a time, what fairwatch's worker adds.

Issue 14 asks the whole pipeline for 0.6 x the bare Faust agent. These variants say what Faust itself
costs on the way there, with no rules at all: each runs as a child process exactly as
streams.tools.bench.bare_faust does (same app class, same broker timing, same environment:
``BENCH_BROKER``, ``BENCH_EXPECT``, ``BENCH_PARTITIONS``, ``BENCH_GROUP``, and ``BENCH_VARIANT``; it writes
``{"first", "last", "count"}`` to RESULT_FILE once it has seen the expected number of messages).

The chain is cumulative, in the order fairwatch's worker has them, so the difference between a variant and
the one it builds on (its ``base``) is what that one thing costs per event:

- ``bare``: the bench's bare Faust agent (asyncio loop, one event at a time, orjson-decode only);
- ``uvloop``: on uvloop, switched on as the worker does it (streams.tools.cli calls streams.app.use_uvloop);
- ``batched``: ``stream.take_events(1000, within=0.01)``, as agents/ingest.py takes the stream;
- ``web``: Faust's web server on, as fairwatch's worker serves its port;
- ``sensor``: Faust's Prometheus sensor (``faust.sensors.prometheus.setup_prometheus_sensors``);
- ``light-sensor``: instead, the sensor agents/web.py sets up (streams.compat.sensor: Faust's metric families,
  counted plainly per event and made into families when scraped);
- ``state-256`` / ``state-2k`` / ``state-9k``: a RocksDB Faust table (fairwatch's RocksDB options, raw serializers, a
  changelog): per event the customer's record (keyed by the message key) is read from the store's bytes and
  orjson-decoded (once per batch per customer, as the processor keeps a batch's states), changed; per batch
  each touched customer is orjson-encoded once, written to the store and its changelog record sent in one
  record batch per partition (streams.outbox), awaited: fairwatch's write path, records of ~2 KB (10 events
  a customer) or ~9 KB (50), or of 256 B: about one order's facts, what an event would write if a customer's
  state were split into one small record per order, subscription and complaint (the least a stateful worker
  that keeps a customer's facts can write);
- ``state-256-produce`` / ``state-2k-produce`` / ``state-9k-produce``: the same plus one more record per event
  to an output topic (as the alerts go, in record batches, delivered before the state as fairwatch's
  checkpoint orders them).

``bare-last`` is ``bare`` again, run last: how far the shared machine drifted over the phase.
Off the chain, ``bare-noacks`` is ``bare`` with its topic's acks off (``app.topic(..., acks=False)``, Faust's
only supported switch for acks tracking; it also means the group never commits, which fairwatch cannot do).
Faust's consumer thread has no switch: the aiokafka driver's Consumer is always a ThreadDelegateConsumer
(faust/transport/drivers/aiokafka.py, ``class Consumer``; faust/transport/consumer.py, ``ThreadDelegateConsumer``).
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faust
import orjson

from models.events import INPUT_TOPICS
from streams.app import PRODUCER_LINGER_SECONDS, ROCKSDB_OPTIONS, use_uvloop
from streams.compat.producer import kafka_producer
from streams.compat.stream import current_event_var
from streams.outbox import Outbox
from streams.tools.bench.bare_faust import _App
from streams.tools.bench.result import publish

__all__ = ["Variant", "VARIANTS", "CHAIN", "state_record", "build"]

OUTPUT_TOPIC = "bench.floor-out"
BATCH_MAX = 1000
BATCH_WITHIN = 0.01


@dataclass(frozen=True)
class Variant:
    name: str
    #: The variant this one adds one thing to: its µs/event are measured against that one.
    base: str
    #: What it adds (the table's row label).
    adds: str
    loop: str = "aio"
    batched: bool = False
    web: bool = False
    #: The Prometheus sensor: "" (none), "faust" (Faust's own) or "light" (streams.compat.sensor).
    sensor: str = ""
    #: Bytes of the per-customer state record (0: no table).
    state_bytes: int = 0
    #: One more record per event to an output topic.
    produce: bool = False
    acks: bool = True


def _chain(*steps: tuple[str, str, str, dict[str, Any]]) -> tuple[Variant, ...]:
    made: dict[str, Variant] = {}
    for name, base, adds, changes in steps:
        fields = {**made[base].__dict__} if base in made else {}
        made[name] = Variant(**{**fields, "name": name, "base": base, "adds": adds, **changes})
    return tuple(made.values())


#: The variants in the order the bench runs them.
CHAIN: tuple[Variant, ...] = _chain(
    ("bare", "bare", "bare Faust agent (asyncio, per event, decode)", {}),
    ("uvloop", "bare", "+ uvloop", {"loop": "uvloop"}),
    ("batched", "uvloop", "+ take_events(1000, 0.01)", {"batched": True}),
    ("web", "batched", "+ web server", {"web": True}),
    ("sensor", "web", "+ Prometheus sensor", {"sensor": "faust"}),
    ("light-sensor", "web", "+ light Prometheus sensor", {"sensor": "light"}),
    ("state-256", "light-sensor", "+ RocksDB state 256 B r/w", {"state_bytes": 256}),
    ("state-256-produce", "state-256", "+ 1 output record/event", {"produce": True}),
    ("state-2k", "light-sensor", "+ RocksDB state 2 KB r/w", {"state_bytes": 2_048}),
    ("state-2k-produce", "state-2k", "+ 1 output record/event", {"produce": True}),
    ("state-9k", "light-sensor", "+ RocksDB state 9 KB r/w", {"state_bytes": 9_216}),
    ("state-9k-produce", "state-9k", "+ 1 output record/event", {"produce": True}),
    ("bare-noacks", "bare", "bare, topic acks=False", {"acks": False}),
    # The reference again, last: how far the shared machine drifted over the phase.
    ("bare-last", "bare", "bare again, run last", {}),
)
VARIANTS: dict[str, Variant] = {variant.name: variant for variant in CHAIN}


def state_record(size: int) -> dict[str, Any]:
    """A customer state of about ``size`` bytes encoded, shaped like models/state.py's: nested dicts of orders,
    subscriptions and complaints with integer money and epoch-ms times, a few counters."""
    state: dict[str, Any] = {
        "v": 2,
        "p": 0,
        "customer_id": "c-000000",
        "clock": 1_767_225_600_000,
        "counters": {"orders": 0, "billing": 0, "complaints": 0},
        "orders": {},
        "subscriptions": {},
        "complaints": {},
        "alerts": {},
    }
    n = 0
    while len(orjson.dumps(state)) < size:
        n += 1
        kind = ("orders", "subscriptions", "complaints", "alerts")[n % 4]
        state[kind][f"{kind[:3]}-{n:06d}"] = {
            "at": 1_767_225_600_000 + n * 86_400_000,
            "amount": 1_999 + n,
            "plan": f"plan-{n % 7}",
            "status": "open" if n % 3 else "settled",
            "periods": [n, n + 1, n + 2],
        }
    return state


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class _Seen:
    """Counts events and writes the result file when the expected number has been seen."""

    def __init__(self, result: Path, expect: int) -> None:
        self.result, self.expect, self.count, self.first, self.cpu_first = result, expect, 0, 0.0, 0.0
        #: Records delivered to the output topic and to the changelog (the state variants).
        self.produced = self.state_writes = 0
        #: Batches the agent was given (the batched variants): a batch's customers are written once.
        self.batches = 0

    def add(self, n: int) -> None:
        if not self.count:
            self.first, self.cpu_first = time.time(), time.process_time()
        before, self.count = self.count, self.count + n
        if before < self.expect <= self.count:
            found = {"first": self.first, "last": time.time(), "count": self.count}
            # The process' CPU seconds (every thread: the consumer's too) over the same span: busy or waiting.
            found["cpu_seconds"] = time.process_time() - self.cpu_first
            found["loop"] = type(asyncio.get_running_loop()).__module__
            found.update(produced=self.produced, state_writes=self.state_writes, batches=self.batches)
            publish(self.result, found)


def build(result: Path, variant: Variant) -> faust.App:
    expect = int(os.environ["BENCH_EXPECT"])
    partitions = int(os.environ.get("BENCH_PARTITIONS", "8"))
    datadir = result.parent / f"{result.stem}-data"
    app = _App(
        os.environ.get("BENCH_GROUP", f"bench-floor-{variant.name}"),
        broker=f"kafka://{os.environ['BENCH_BROKER']}",
        store="rocksdb://" if variant.state_bytes else "memory://",
        datadir=str(datadir),
        autodiscover=False,
        web_enabled=variant.web,
        web_port=_free_port() if variant.web else 6066,
        web_bind="127.0.0.1",
        web_host="127.0.0.1",
        broker_session_timeout=2.0,
        broker_heartbeat_interval=0.5,
        topic_partitions=partitions,
        topic_replication_factor=1,
        table_standby_replicas=0,
        consumer_auto_offset_reset="earliest",
        key_serializer="raw",
        value_serializer="raw",
        stream_wait_empty=False,
        # As fairwatch's producer (streams.app): a checkpoint's records in a few produce requests.
        producer_linger=PRODUCER_LINGER_SECONDS,
        producer_max_batch_size=1 << 20,
    )
    if variant.sensor == "faust":
        from faust.sensors.prometheus import setup_prometheus_sensors

        setup_prometheus_sensors(app, pattern="/metrics")
    elif variant.sensor == "light":
        from streams.compat.sensor import setup_light_prometheus_sensors

        setup_light_prometheus_sensors(app, pattern="/metrics")
    topic = app.topic(
        *INPUT_TOPICS, partitions=partitions, key_serializer="raw", value_serializer="raw", acks=variant.acks
    )
    seen = _Seen(result, expect)
    loads, error = orjson.loads, orjson.JSONDecodeError

    if not variant.batched:

        @app.agent(topic)
        async def decode(stream: Any) -> None:
            async for value in stream:
                try:  # noqa: SIM105 (contextlib.suppress costs a context manager per event)
                    loads(value)
                except error:
                    pass
                seen.add(1)

        return app

    if not variant.state_bytes:

        @app.agent(topic)
        async def decode_batches(stream: Any) -> None:
            async for events in stream.take_events(BATCH_MAX, within=BATCH_WITHIN):
                for event in events:
                    try:  # noqa: SIM105
                        loads(event.message.value)
                    except error:
                        pass
                seen.batches += 1
                seen.add(len(events))

        return app

    table = app.Table(
        "floor-state",
        partitions=partitions,
        default=None,
        options=ROCKSDB_OPTIONS,
    )
    # The app's serializers (raw) serve the changelog; the store is read and written as bytes below.
    table.key_serializer = table.value_serializer = "raw"
    app.topic(OUTPUT_TOPIC, partitions=partitions, key_serializer="raw", value_serializer="raw")
    template = orjson.dumps(state_record(variant.state_bytes))
    # About a fairwatch alert's size (a CloudEvent with its data).
    alert = orjson.dumps({"specversion": "1.0", "type": "fairwatch.alert", "pad": "x" * 520})
    produce = variant.produce

    @app.agent(topic)
    async def stateful(stream: Any) -> None:
        store = table.data
        changelog = table.changelog_topic.get_topic_name()
        async for events in stream.take_events(BATCH_MAX, within=BATCH_WITHIN):
            previous = current_event_var.get(None)
            touched: dict[bytes, tuple[dict[str, Any], Any]] = {}
            outputs = Outbox(kafka_producer(app))
            try:
                for event in events:
                    message = event.message
                    try:  # noqa: SIM105
                        loads(message.value)
                    except error:
                        pass
                    key = message.key
                    if not key:
                        continue
                    held = touched.get(key)
                    if held is None:
                        # As Faust's own iteration does: the store reads this partition's database.
                        current_event_var.set(weakref.ref(event))
                        raw = store._get(key)
                        held = touched[key] = (loads(raw if raw is not None else template), event)
                    state = held[0]
                    state["counters"]["orders"] += 1
                    state["clock"] = message.offset
                    if produce:
                        outputs.add(OUTPUT_TOPIC, key, alert)
                if produce:
                    sent = await outputs.send()
                    await asyncio.gather(*(delivery.future for delivery in sent))
                    seen.produced += sum(delivery.count for delivery in sent)
                states = Outbox(kafka_producer(app))
                for key, (state, event) in touched.items():
                    current_event_var.set(weakref.ref(event))
                    encoded = orjson.dumps(state)
                    store._set(key, encoded)
                    states.add(changelog, key, encoded, (), event.message.partition)
                written = await states.send()
                await asyncio.gather(*(delivery.future for delivery in written))
                seen.state_writes += sum(delivery.count for delivery in written)
            finally:
                current_event_var.set(previous)
            seen.batches += 1
            seen.add(len(events))

    return app


def main() -> None:
    variant = VARIANTS[os.environ["BENCH_VARIANT"]]
    app = build(Path(sys.argv[1]), variant)
    # Faust reads ``--loop`` from sys.argv when ``faust`` is first imported, long before this: a ``--loop`` put
    # in sys.argv here is ignored. The worker's own switch (streams.app.use_uvloop) sets the policy before the
    # loop is made; the result file records which loop ran.
    if variant.loop == "uvloop" and not use_uvloop():
        raise SystemExit("uvloop is not installed")
    sys.argv = [f"bench-floor-{variant.name}", "worker", "-l", "warn"]
    app.main()


if __name__ == "__main__":
    main()
