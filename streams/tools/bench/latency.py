"""Event -> alert latency at a low rate, on the embedded broker (or FAIRWATCH_BROKER).

Starts a broker and a worker, then sends one late-delivery event at a time and
times it from send to the alert arriving on fairwatch.alerts. Prints the
worker's start -> ready time and the latency percentiles.

    .venv/bin/python -m streams.tools.bench.latency --events 100 --rate 10 [--fetch-wait-ms 1500]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from models.timestamps import MS_PER_DAY, format_ms
from streams.tools.broker import EmbeddedBroker
from streams.tools.supervisor import WorkerProcess
from streams.topics import ALERTS_TOPIC, ensure_topics

#: The gauge of customers with a deadline due and not yet fired (streams.metrics.DEADLINES_DUE).
DUE_GAUGE = "fairwatch_customers_deadline_due"
#: A catch-up counts as over once the gauge has read 0 for this long: longer than a live tick (1 s), so a
#: partition whose time the tick has yet to move cannot pass for one with nothing due.
SETTLED_SECONDS = 2.5


def deadlines_due(worker: WorkerProcess) -> float | None:
    """The worker's ``fairwatch_customers_deadline_due`` (None: not exposed, or no answer)."""
    try:
        status, body = worker.get("/metrics", timeout=10)
    except OSError:
        return None
    if status != 200:
        return None
    for line in body.decode().splitlines():
        if line.startswith(DUE_GAUGE + " "):
            return float(line.split()[1])
    return None


async def until_nothing_due(worker: WorkerProcess, limit: float, every: float = 0.25) -> tuple[float, float, bool]:
    """Poll the worker until it has had nothing due for SETTLED_SECONDS (at most ``limit`` s).

    Returns (seconds until the first reading of the final run of zeros, the largest reading, drained).
    """
    started = time.monotonic()
    zero_since: float | None = None
    most = 0.0
    while True:
        due = await asyncio.to_thread(deadlines_due, worker)
        now = time.monotonic()
        if due is not None:
            most = max(most, due)
        if due == 0:
            zero_since = now if zero_since is None else zero_since
            if now - zero_since >= SETTLED_SECONDS:
                return zero_since - started, most, True
        else:
            zero_since = None
        if now - started >= limit:
            return now - started, most, False
        await asyncio.sleep(every)


async def measure(address: str, events: int, rate: float) -> list[float]:
    consumer = AIOKafkaConsumer(
        ALERTS_TOPIC,
        bootstrap_servers=[address],
        auto_offset_reset="latest",
        enable_auto_commit=False,
        fetch_max_wait_ms=5,
    )
    producer = AIOKafkaProducer(bootstrap_servers=[address], linger_ms=0)
    await consumer.start()
    await producer.start()
    latencies: list[float] = []
    try:
        await consumer.seek_to_end()
        now = int(time.time() * 1000)
        for n in range(events):
            customer = f"lat-{n:05d}"
            placed = {
                "event_id": f"p-{n}",
                "type": "order.placed",
                "customer_id": customer,
                "occurred_at": format_ms(now - 3 * MS_PER_DAY),
                "data": {
                    "order_id": f"O-{n}",
                    "promised_delivery_by": format_ms(now - 2 * MS_PER_DAY),
                    "lines": [{"line_id": "1", "sku": "X", "qty": 1, "unit_price": 1}],
                },
            }
            delivered = {
                "event_id": f"d-{n}",
                "type": "order.delivered",
                "customer_id": customer,
                "occurred_at": format_ms(now - MS_PER_DAY),
                "data": {"order_id": f"O-{n}"},
            }
            await producer.send_and_wait("orders", orjson.dumps(placed), key=customer.encode())
            await asyncio.sleep(0.05)
            sent = time.perf_counter()
            await producer.send_and_wait("orders", orjson.dumps(delivered), key=customer.encode())
            while True:
                record = await asyncio.wait_for(consumer.getone(), timeout=30)
                if orjson.loads(record.value)["data"]["customer_id"] == customer:
                    latencies.append((time.perf_counter() - sent) * 1000)
                    break
            await asyncio.sleep(max(0.0, 1 / rate - 0.05))
    finally:
        await producer.stop()
        await consumer.stop()
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--rate", type=float, default=10.0, help="events per second offered")
    parser.add_argument("--fetch-wait-ms", type=int, default=None, help="override FAIRWATCH_FETCH_MAX_WAIT_MS")
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--profile", default="tansu", help="timing profile: tansu (fast) or kafka (defaults)")
    args = parser.parse_args()
    env = {} if args.fetch_wait_ms is None else {"FAIRWATCH_FETCH_MAX_WAIT_MS": str(args.fetch_wait_ms)}
    workdir = Path(tempfile.mkdtemp(prefix="fairwatch-latency-"))
    external = os.environ.get("FAIRWATCH_BROKER")
    broker = None if external else EmbeddedBroker(log_path=workdir / "broker.log")
    try:
        address = external or broker.start().address  # type: ignore[union-attr]
        asyncio.run(ensure_topics([address], args.partitions))
        with WorkerProcess(
            address, workdir / "data", workdir / "worker.log", env=env, partitions=args.partitions, profile=args.profile
        ) as worker:
            ready = worker.wait_ready()
            # A fresh worker has nothing to catch up on; this only keeps the figures off a catch-up if it does.
            _, _, drained = asyncio.run(until_nothing_due(worker, 120))
            if not drained:
                print("worker still had deadlines due after 120 s: the figures below include its catch-up")
            latencies = asyncio.run(measure(address, args.events, args.rate))
        cuts = statistics.quantiles(latencies, n=100)
        print(f"worker start -> ready: {ready:.2f} s")
        print(
            f"event -> alert over {len(latencies)} events at {args.rate:g}/s: "
            f"median {statistics.median(latencies):.1f} ms, p90 {cuts[89]:.1f} ms, p99 {cuts[98]:.1f} ms, "
            f"max {max(latencies):.1f} ms"
        )
    finally:
        if broker is not None:
            broker.stop()


if __name__ == "__main__":
    main()
