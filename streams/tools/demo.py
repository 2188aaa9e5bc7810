"""``fairwatch demo``: embedded broker, a worker, synthetic customers, alerts printed live.

Ctrl-C, SIGTERM or ``--seconds`` all end the same way: the generator stops, the
worker is given time to finish what was produced, the final counts are printed
(with the conservation check), then the worker and the broker are stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from streams.config import load_config
from streams.security import EMBEDDED_ENV, client_kwargs
from streams.tools.alertmanager import redact
from streams.tools.broker import EmbeddedBroker
from streams.tools.stories import StoryBook
from streams.tools.supervisor import BridgeProcess, Counts, WorkerProcess
from streams.tools.topic_commands import format_alert, publish_plans, read_plans_file
from streams.topics import ensure_topics

__all__ = ["run_demo"]

PARTITIONS = 4
# Stories play out in seconds, not days: a short grace lets the never-delivered
# order's deadline pass in stream time within the demo.
DEMO_ENV = {"FAIRWATCH_POLICY_GRACE_MINUTES": "0.05"}
#: The plans the subscription stories use (streams.tools.stories).
DEMO_CATALOG = Path(__file__).resolve().parent / "data" / "plans.toml"


def run_demo(seconds: float | None, customers: int) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="fairwatch-demo-"))
    started = time.monotonic()
    external = os.environ.get("FAIRWATCH_BROKER")
    broker = None if external else EmbeddedBroker(log_path=workdir / "broker.log")
    worker: WorkerProcess | None = None
    bridge: BridgeProcess | None = None
    try:
        address = external or broker.start().address  # type: ignore[union-attr]
        profile = os.environ.get("FAIRWATCH_BROKER_PROFILE", "kafka" if external else "tansu")
        print(
            f"fairwatch demo: broker {address} ({'external' if external else 'embedded Tansu'}); logs in {workdir}",
            flush=True,
        )
        client = client_kwargs(external=bool(external))
        names = load_config().topics
        asyncio.run(ensure_topics([address], PARTITIONS, names=names, client=client))
        # The plan catalog first: the worker recovers it before it is ready.
        plans, _ = read_plans_file(DEMO_CATALOG)
        asyncio.run(publish_plans([address], plans, names.plans, client=client))
        print(f"fairwatch demo: published {len(plans)} plans from {DEMO_CATALOG.name} to the plans topic", flush=True)
        worker = WorkerProcess(
            address,
            workdir / "data",
            workdir / "worker.log",
            env={**DEMO_ENV, **({} if external else EMBEDDED_ENV)},
            partitions=PARTITIONS,
            profile=profile,
        ).start()
        print(f"fairwatch demo: worker on {worker.url} (/metrics, /ready); Ctrl-C stops", flush=True)
        print(
            f"fairwatch demo: live page {worker.url}/ (open it in a browser); while the demo runs, "
            f"FAIRWATCH_BROKER={address} fairwatch report --out DIR writes the report",
            flush=True,
        )
        if os.environ.get("FAIRWATCH_ALERTMANAGER_URL"):
            # Notifications too: the bridge posts the demo's alerts to the Alertmanager named.
            bridge = BridgeProcess(
                address,
                workdir / "alertmanager-bridge.log",
                env={"FAIRWATCH_BROKER_PROFILE": profile, "FAIRWATCH_PUBLIC_URL": worker.url},
            ).start()
            named = ", ".join(redact(url.strip()) for url in os.environ["FAIRWATCH_ALERTMANAGER_URL"].split(","))
            print(
                f"fairwatch demo: alerts posted to Alertmanager at {named} "
                f"(bridge metrics on 127.0.0.1:{bridge.metrics_port}/metrics)",
                flush=True,
            )
        return asyncio.run(_demo(worker, address, client, seconds, customers, started))
    finally:
        if bridge is not None:
            bridge.stop()
        if worker is not None:
            worker.stop()
        if broker is not None:
            broker.stop()


async def _demo(
    worker: WorkerProcess, address: str, client: dict[str, Any], seconds: float | None, customers: int, started: float
) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    if seconds is not None:
        loop.call_later(seconds, stop.set)
    produced = [0]
    alerts: dict[str, int] = {}
    printer = asyncio.create_task(_print_alerts(address, client, alerts, started))
    produced_at: dict[str, int] = {}
    generator = asyncio.create_task(_generate(address, client, customers, produced, stop, produced_at))
    await stop.wait()
    print("\nfairwatch demo: stopping; letting the worker finish what was produced ...", flush=True)
    await generator
    counts = await _settle(worker, produced[0])
    await asyncio.sleep(1.0)  # the last alerts on their way to the printer
    printer.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await printer
    _summary(produced[0], counts, alerts, time.monotonic() - started)
    complete = counts is not None and counts["in"] - counts["redelivered"] == produced[0]
    if not complete:
        # Where did the worker stop short? Produced per topic/partition against what Faust received.
        print(f"  produced per topic/partition: {dict(sorted(produced_at.items()))}")
        with contextlib.suppress(OSError):
            text = (await asyncio.to_thread(worker.get, "/metrics"))[1].decode()
            prefix = "fairwatch_messages_received_per_topics_partition"
            received = [line for line in text.splitlines() if line.startswith(prefix)]
            print("  worker received:\n    " + "\n    ".join(received))
    return 0 if counts is not None and counts.conserved and complete else 1


async def _generate(
    address: str,
    client: dict[str, Any],
    customers: int,
    produced: list[int],
    stop: asyncio.Event,
    produced_at: dict[str, int],
) -> None:
    book = StoryBook()
    names = load_config().topics
    producer = AIOKafkaProducer(bootstrap_servers=[address], linger_ms=2, **client)
    await producer.start()
    try:
        ids = [f"c-{n:04d}" for n in range(1, customers + 1)]
        # The first customers tell the headline stories, so alerts show at once.
        opening = book.opening()
        step = 0
        pending: list[asyncio.Future] = []
        while not stop.is_set():
            story = opening[step] if step < len(opening) else book.weighted()
            customer = ids[step % len(ids)]
            now = int(time.time() * 1000)
            for topic, key, value in story(customer, now):
                pending.append(await producer.send(names.input_topic(topic), value=value, key=key))
            step += 1
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.2)
        await producer.flush()
        # Count what the broker acknowledged, not what was handed to the producer.
        for result in await asyncio.gather(*pending, return_exceptions=True):
            if isinstance(result, BaseException):
                print(f"fairwatch demo: a message was not produced: {result!r}", flush=True)
            else:
                produced[0] += 1
                where = f"{result.topic}/{result.partition}"
                produced_at[where] = produced_at.get(where, 0) + 1
    finally:
        await producer.stop()


async def _print_alerts(address: str, client: dict[str, Any], alerts: dict[str, int], started: float) -> None:
    consumer = AIOKafkaConsumer(
        load_config().topics.alerts,
        bootstrap_servers=[address],
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_max_wait_ms=20,
        **client,
    )
    await consumer.start()
    first = True
    try:
        async for message in consumer:
            document = orjson.loads(message.value)
            if first:
                print(f"first alert {time.monotonic() - started:.1f} s after start", flush=True)
                first = False
            kind = f"{document['data']['kind']} ({document['type'].rsplit('.', 1)[-1]})"
            alerts[kind] = alerts.get(kind, 0) + 1
            print(format_alert(document), flush=True)
    finally:
        await consumer.stop()


async def _settle(worker: WorkerProcess, produced: int, timeout: float = 30.0) -> Counts | None:
    deadline = time.monotonic() + timeout
    counts = None
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            counts = await asyncio.to_thread(worker.counts)
            if counts["in"] - counts["redelivered"] >= produced:
                return counts
        await asyncio.sleep(0.2)
    return counts


def _summary(produced: int, counts: Counts | None, alerts: dict[str, int], elapsed: float) -> None:
    print(f"\nfairwatch demo: {elapsed:.1f} s")
    if counts is None:
        print("  the worker's counts could not be read")
        return
    verdict = "holds" if counts.conserved else "DOES NOT HOLD"
    print(f"  produced      {produced}")
    print(f"  in            {counts['in']}")
    print(f"  processed     {counts['processed']}")
    print(
        f"  duplicates    {counts['duplicates']}"
        + (
            f" (of which {counts['redelivered']} delivered again at an offset already handled)"
            if counts["redelivered"]
            else ""
        )
    )
    print(f"  dead-lettered {counts['dead_lettered']}")
    print(
        f"  in == processed + duplicates + dead_lettered: "
        f"{counts['in']} == {counts['processed']} + {counts['duplicates']} + {counts['dead_lettered']} "
        f"({verdict})"
    )
    print("  alerts by kind:")
    for kind, number in sorted(alerts.items()):
        print(f"    {kind:<45} {number}")
