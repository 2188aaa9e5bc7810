"""Client-side tools beside a worker: publish events from a file, follow the alert topic."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from models.alerts import FORGOTTEN_TYPE
from models.catalog import read_catalog_file
from models.errors import CatalogError, Rejected
from models.events import TOPIC_OF_TYPE, validate_event
from streams.config import Config, load_config
from streams.security import client_kwargs
from streams.topics import PLANS_TOPIC, Layout, TopicCheckError, check_topics

__all__ = [
    "produce_file",
    "follow_alerts",
    "format_alert",
    "read_events_file",
    "read_plans_file",
    "publish_plans",
    "produce_plans",
    "forget_customer",
    "check_configured_topics",
]


def read_events_file(path: Path) -> tuple[list[tuple[str, bytes, bytes]], list[str]]:
    """Validate a JSON Lines file: ([(topic, key, value)], ["line N: reason"])."""
    good: list[tuple[str, bytes, bytes]] = []
    bad: list[str] = []
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            line = line.strip()
            if not line:
                continue
            try:
                document = orjson.loads(line)
                customer = document.get("customer_id") if isinstance(document, dict) else None
                key = customer.encode() if isinstance(customer, str) else b""
                event = validate_event(None, key, document)
            except orjson.JSONDecodeError as exc:
                bad.append(f"line {number}: not valid JSON: {str(exc).splitlines()[0]}")
                continue
            except Rejected as rejected:
                bad.append(f"line {number}: {rejected.reason}")
                continue
            good.append((TOPIC_OF_TYPE[event.type], key, line))
    return good, bad


async def produce_file(path: Path, *, skip_bad: bool = False) -> int:
    if not path.exists():
        print(f"fairwatch: {path} does not exist", file=sys.stderr)
        return 2
    good, bad = read_events_file(path)
    for problem in bad:
        print(f"{path}:{problem}", file=sys.stderr)
    if bad and not skip_bad:
        print(
            f"fairwatch: {len(bad)} bad line(s); nothing published (use --skip-bad to publish the rest)",
            file=sys.stderr,
        )
        return 1
    config = load_config()
    if not await _check(config):
        return 2
    producer = AIOKafkaProducer(**config.client_options, linger_ms=5)
    await producer.start()
    try:
        for role, key, value in good:
            await producer.send(config.topics.input_topic(role), value=value, key=key)
        await producer.flush()
    finally:
        await producer.stop()
    print(f"published {len(good)} event(s)" + (f", skipped {len(bad)} bad line(s)" if bad else ""))
    return 0


def format_alert(document: dict[str, Any]) -> str:
    """One readable line for a CloudEvents alert (or a notice that a customer was forgotten)."""
    data = document.get("data", {})
    if document.get("type") == FORGOTTEN_TYPE:
        customer, reason = data.get("customer_id", ""), data.get("reason", "")
        return f"{document.get('time', ''):<20} forgotten customer {customer} ({reason})"
    impact = data.get("impact", {})
    lifecycle = document.get("type", "").rsplit(".", 1)[-1]
    money = f"{impact.get('currency', '')} {impact.get('amount', 0):,.2f}/{impact.get('per', '')}"
    return (
        f"{document.get('time', ''):<20} {lifecycle:<8} {data.get('severity', ''):<8} "
        f"{data.get('kind', ''):<26} {data.get('customer_id', ''):<10} {money:>18}  {data.get('summary', '')}"
    )


async def follow_alerts(*, from_beginning: bool, as_json: bool) -> int:
    config = load_config()
    consumer = AIOKafkaConsumer(
        config.topics.alerts,
        **config.client_options,
        auto_offset_reset="earliest" if from_beginning else "latest",
        enable_auto_commit=False,
        fetch_max_wait_ms=config.fetch_max_wait_ms,
    )
    # Ctrl-C and SIGTERM end the loop between fetches, so the consumer always closes cleanly.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await consumer.start()
    try:
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=200)
            for records in batches.values():
                for message in records:
                    if as_json:
                        print(message.value.decode(), flush=True)
                    else:
                        print(format_alert(orjson.loads(message.value)), flush=True)
    finally:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(consumer.stop(), 5)
    return 0


def read_plans_file(path: Path) -> tuple[list[tuple[bytes, bytes]], list[str]]:
    """A catalog file (JSON or TOML) as plans-topic messages [(plan_id, record)], and its problems."""
    try:
        plans, problems = read_catalog_file(path)
    except CatalogError as exc:
        return [], [str(exc)]
    return [(plan.plan_id.encode(), orjson.dumps(document)) for plan, document in plans], problems


async def check_configured_topics(config: Config) -> Layout:
    """The worker's topic check (streams.topics) with the configuration's names, counts and permissions: the one
    call the worker and every command make, so none can check with other settings than the others."""
    return await check_topics(
        config.client_options,
        config.topics,
        config.partitions,
        create=config.create_topics,
        replication=config.replication_factor,
    )


async def _check(config: Config) -> bool:
    """The worker's own topic check, so a producer never lets the broker auto-create a topic; False (said in
    one line) when the topics do not fit."""
    try:
        await check_configured_topics(config)
    except TopicCheckError as exc:
        print(f"fairwatch: {exc}", file=sys.stderr)
        return False
    return True


async def publish_plans(
    bootstrap: list[str] | dict[str, Any],
    messages: list[tuple[bytes, bytes]],
    topic: str = PLANS_TOPIC,
    *,
    client: dict[str, Any] | None = None,
) -> None:
    """Publish plan records to the compacted plans topic (the worker's global table follows it).

    ``bootstrap``: the servers, or a config's whole ``client_options``. ``client``: with servers, the aiokafka
    security settings (streams.security); None reads them from the environment.
    """
    if isinstance(bootstrap, list):
        options = {"bootstrap_servers": bootstrap, **(client_kwargs() if client is None else client)}
    else:
        options = bootstrap
    producer = AIOKafkaProducer(**options, linger_ms=5)
    await producer.start()
    try:
        for key, value in messages:
            await producer.send(topic, value=value, key=key)
        await producer.flush()
    finally:
        await producer.stop()


async def produce_plans(path: Path) -> int:
    """``fairwatch produce --plans FILE``: validate the whole catalog, then publish every plan (or none)."""
    messages, problems = read_plans_file(path)
    for problem in problems:
        print(f"{path}: {problem}", file=sys.stderr)
    if problems:
        print("fairwatch: the catalog has problems; no plan published", file=sys.stderr)
        return 1
    config = load_config()
    if not await _check(config):
        return 2
    await publish_plans(config.client_options, messages, config.topics.plans)
    print(f"published {len(messages)} plan(s) to {config.topics.plans}")
    return 0


async def forget_customer(customer_id: str) -> int:
    """``fairwatch forget CUSTOMER_ID``: ask the worker that owns the customer to forget them.

    The request is a message on the tick topic, on the customer's partition (the one the default
    partitioner gives their key on the input topics), so the worker handles it in order with the
    customer's events, inside the stream, as every state change is. The worker deletes their state
    (a tombstone in the changelog), and puts a notice on the alert topic that makes every live page
    drop them. Their alerts already on the alert topic stay: they are the company's, under its retention.
    """
    from aiokafka.partitioner import DefaultPartitioner

    from models.events import INPUT_TOPICS

    if not customer_id or not customer_id.strip():
        print("fairwatch: give the customer_id to forget", file=sys.stderr)
        return 2
    config = load_config()
    if not await _check(config):
        return 2
    names = config.topics
    orders = names.input_topic(INPUT_TOPICS[0])
    producer = AIOKafkaProducer(**config.client_options)
    await producer.start()
    try:
        inputs = sorted(await producer.partitions_for(orders))
        ticks = await producer.partitions_for(names.ticks)
        if len(ticks) != len(inputs):
            print(
                f"fairwatch: {names.ticks} has {len(ticks)} partitions and {orders} {len(inputs)}: "
                "they must match (co-partitioned)",
                file=sys.stderr,
            )
            return 1
        key = customer_id.encode()
        partition = DefaultPartitioner()(key, inputs, inputs)
        value = orjson.dumps({"forget": customer_id})
        await (await producer.send(names.ticks, value=value, key=key, partition=partition))
    finally:
        await producer.stop()
    print(f"asked the worker owning partition {partition} to forget {customer_id}")
    return 0
