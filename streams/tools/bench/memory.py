"""Memory bound: a long stream through the real engine, state per customer and RSS sampled as it goes.

    python -m streams.tools.bench.memory --events 1000000 --customers 10000           # the engine in this process
    python -m streams.tools.bench.memory --events 1000000 --customers 10000 --worker  # a worker on the embedded broker

In-process, the Processor (the worker's engine room: validation,
de-duplication, every detector, stream time) runs over the benchmark's mixed
stream (stories over ``--years`` of event time, 1 in 200 bad, 1 in 100
repeated: longer than the longest retention, so windows fill and drain) with a plain dict as
its table; every ``--every`` events it prints the table's size (orjson bytes of
every customer's state, as the changelog carries it), the largest state, and
this process's RSS. Under each line: the average bytes per customer of each
top-level state key, the average (and largest) number of entries of each
bounded collection against its bound, and how many entries the retention rules
would already drop at the partition's stream time but have not ("overdue":
state only prunes when one of the customer's deadlines fires). Bounded state
shows as bytes per customer levelling off once every customer has history, and
RSS flat after warm-up. The stream is generated lazily (one story at a time), so
RSS is the processor's and its table's, not the input's.

With ``--worker``, the stream is produced to the embedded broker and one real
worker (memory store) consumes it; the worker's RSS is sampled from /proc
against the events it has taken in.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import orjson
from aiokafka.partitioner import DefaultPartitioner

from models.events import INPUT_TOPICS
from models.policy import Policy, load_policy
from models.state import marks
from models.subscriptions import ends_at
from models.timestamps import MS_PER_DAY
from streams.processor import Processor, is_input_offsets_key
from streams.tools.bench.workload import _stories, mixed_stream
from streams.tools.stories import Message, StoryBook
from streams.tools.topic_commands import read_plans_file

PLANS = Path(__file__).resolve().parents[1] / "data" / "plans.toml"
PARTITIONS = 8
_YEAR_MS = 365 * MS_PER_DAY
#: State keys in the breakdown, in this order (any other key a state carries is added after them).
COMPONENTS = ("seen", "orders", "subs", "alerts", "service", "complaints", "early", "deadlines", "broken", "lt")


def _rss_mib(pid: str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _lazy_mixed_stream(
    events: int, customers: int, *, seed: int, end_ms: int, bad_every: int = 200, dup_every: int = 100
) -> Iterator[Message]:
    """streams.tools.bench.workload.mixed_stream, message for message, but yielded as it is made.

    mixed_stream returns a list: a million messages are ~1.7 GiB of RSS that would hide the processor's
    own. This is its loop with ``out`` replaced by a counter; ``_check_lazy`` holds the two to the same bytes.
    """
    book = StoryBook(seed)
    rng = random.Random(seed)
    stories = _stories(book)
    choose = partial(rng.choices, [s for s, _ in stories], weights=[w for _, w in stories])
    ids = [f"c-{n:06d}" for n in range(customers)]
    step_ms = _YEAR_MS // max(1, events // 5)
    now = end_ms - _YEAR_MS
    made = 0
    delayed: list[tuple[int, Message]] = []  # duplicates waiting for their position
    while made < events:
        story = choose()[0]
        customer = rng.choice(ids)
        for message in story(customer, now):  # type: ignore[operator]
            made += 1
            yield message
            if rng.randrange(dup_every) == 0:
                delayed.append((made + rng.randrange(1, 50), message))
            if rng.randrange(bad_every) == 0:
                made += 1
                yield book.bad(rng.choice(ids), now)[0]
            if made >= events:
                return
        while delayed and delayed[0][0] <= made:
            made += 1
            yield delayed.pop(0)[1]
            if made >= events:
                return
        book.sent.clear()
        now = min(end_ms, now + step_ms)


def _check_lazy() -> None:
    """The lazy copy must give mixed_stream's messages exactly (it is a copy: this catches drift)."""
    end = 1_700_000_000_000
    for events in (20_000, 20_001):
        lazy = list(_lazy_mixed_stream(events, 500, seed=3, end_ms=end))
        assert lazy == mixed_stream(events, 500, seed=3, end_ms=end), (
            "streams/tools/bench/memory.py: lazy stream != mixed_stream"
        )


def _stream(events: int, customers: int, years: int) -> Iterator[Message]:
    """The benchmark's mixed stream, one year of it after another (its event ids renamed per year)."""
    end = int(time.time() * 1000) - MS_PER_DAY
    for year in range(years):
        year_end = end - (years - 1 - year) * 365 * MS_PER_DAY
        for topic, key, value in _lazy_mixed_stream(events // years, customers, seed=8 + year, end_ms=year_end):
            yield topic, key, value.replace(b'"event_id":"demo-', b'"event_id":"y%d-' % year, 1)


def _bounds(policy: Policy) -> dict[str, int]:
    """The number of entries each bounded collection may hold (models.state, models.alerts, models.subscriptions)."""
    return {
        "seen": policy.dedup_window,
        "orders": policy.max_orders_per_customer,
        "subs": policy.max_subscriptions_per_customer,
        "alerts": policy.max_alerts_per_customer,
        "early": policy.max_orders_per_customer,
        "service": 12,
    }


def _overdue(state: dict[str, Any], horizon: int, policy: Policy) -> dict[str, int]:
    """Entries the retention rules would drop at stream time ``horizon`` (models.state.prune, prune_alerts)."""
    orders_before = horizon - int(policy.order_retention_days * MS_PER_DAY)
    subs_before = horizon - int(policy.subscription_retention_days * MS_PER_DAY)
    alerts_before = horizon - int(policy.alert_retention_days * MS_PER_DAY)
    return {
        "orders": sum(1 for o in state["orders"].values() if o["closed"] is not None and o["closed"] < orders_before),
        "complaints": sum(
            1 for c in state.get("complaints", {}).values() if c["done"] is not None and c["done"] < orders_before
        ),
        "early": sum(1 for held in state.get("early", {}).values() if held[-1][2] < orders_before),
        "subs": sum(1 for s in state.get("subs", {}).values() if (ends_at(s) or horizon + 1) < subs_before),
        "alerts": sum(1 for a in state["alerts"].values() if a["t"] < alerts_before),
    }


def _report(store: dict[str, dict], processor: Processor, policy: Policy) -> tuple[int, int, int, list[str]]:
    """A checkpoint's figures: customers, total state bytes, the largest state, and the breakdown lines."""
    horizons = {}  # per partition: the stream time every input topic has passed (what advance_to prunes by)
    for partition in processor.partitions:
        times = processor.stream_time(partition)
        if all(topic in times for topic in INPUT_TOPICS):
            horizons[partition] = min(times[topic] for topic in INPUT_TOPICS)
    keys = list(COMPONENTS)
    component_bytes: dict[str, int] = dict.fromkeys(keys, 0)
    entries: dict[str, int] = dict.fromkeys(keys, 0)
    most: dict[str, int] = dict.fromkeys(keys, 0)
    overdue: dict[str, int] = {}
    customers = total = largest = idle = 0
    for table_key, state in store.items():
        if is_input_offsets_key(table_key):
            continue
        customers += 1
        size = len(orjson.dumps(state))
        total += size
        largest = max(largest, size)
        for key, value in state.items():
            if key not in component_bytes:
                keys.append(key)
                component_bytes[key] = entries[key] = most[key] = 0
            component_bytes[key] += len(orjson.dumps(value))
            count = len(marks(state)) if key == "seen" else len(value) if isinstance(value, list | dict) else None
            if count is not None:
                entries[key] += count
                most[key] = max(most[key], count)
        idle += not state["deadlines"]  # retention runs when a deadline fires: none will until its next event
        horizon = horizons.get(state["p"])
        if horizon is not None:
            for key, count in _overdue(state, horizon, policy).items():
                overdue[key] = overdue.get(key, 0) + count
    n = max(1, customers)
    bounds = _bounds(policy)
    lines = [
        "      B/customer: " + "  ".join(f"{key} {component_bytes[key] / n:,.0f}" for key in keys),
        "      entries avg (max/bound): "
        + "  ".join(f"{key} {entries[key] / n:.1f} ({most[key]}/{bounds.get(key, '-')})" for key in COMPONENTS),
        "      overdue for retention (total): "
        + "  ".join(f"{key} {count:,}" for key, count in overdue.items())
        + f";  customers with no pending deadline {idle:,}",
    ]
    return customers, total, largest, lines


def _checkpoint(number: int, store: dict[str, dict], processor: Processor, policy: Policy, started: float) -> None:
    rss = _rss_mib()  # before the breakdown's own allocations
    customers, total, largest, lines = _report(store, processor, policy)
    print(
        f"{number:>10,} {customers:>9,} {total:>12,} {total / max(1, customers):>12,.0f} {largest:>8,} {rss:>8.0f}"
        f" {time.monotonic() - started:>7.0f}"
    )
    print("\n".join(lines), flush=True)


def in_process(events: int, customers: int, every: int, years: int) -> None:
    started = time.monotonic()
    _check_lazy()
    plans, problems = read_plans_file(PLANS)
    assert not problems, problems
    catalog = {key.decode(): orjson.loads(value) for key, value in plans}
    store: dict[str, dict] = {}

    def persist(customer_id: str, state: dict) -> None:
        store[customer_id] = state

    policy = load_policy(None, {})
    processor = Processor(policy, store, persist, lambda topic, partition: None, catalog=catalog)
    partition_of = DefaultPartitioner()
    partitions = list(range(PARTITIONS))
    offsets: dict[tuple[str, int], int] = {}
    print(
        f"{events:,} messages for {customers:,} customers over {years} years, generated as consumed;"
        f" RSS before the first {_rss_mib():.0f} MiB",
        flush=True,
    )
    print(
        f"{'events':>10} {'customers':>9} {'state bytes':>12} {'per customer':>12} {'largest':>8} {'RSS MiB':>8}"
        f" {'seconds':>7}"
    )
    tally = {"processed": 0, "duplicate": 0, "dead_letter": 0}
    number = 0
    for number, (topic, key, value) in enumerate(_stream(events, customers, years), 1):
        partition = partition_of(key, partitions, partitions)
        offset = offsets.get((topic, partition), 0)
        offsets[topic, partition] = offset + 1
        tally[processor.handle(topic, partition, offset, key, value).status] += 1
        if number % every == 0:
            _checkpoint(number, store, processor, policy, started)
    if number % every:
        _checkpoint(number, store, processor, policy, started)
    print(
        f"in {number:,} = processed {tally['processed']:,} + duplicates {tally['duplicate']:,} + "
        f"dead-lettered {tally['dead_letter']:,}; {time.monotonic() - started:.0f} s"
    )


def with_worker(events: int, customers: int, every: int, years: int) -> None:
    from streams.tools.bench.run import _create_inputs, _produce
    from streams.tools.broker import EmbeddedBroker
    from streams.tools.supervisor import WorkerProcess, read_counts

    with tempfile.TemporaryDirectory() as tmp, EmbeddedBroker(log_path=Path(tmp) / "broker.log") as broker:
        asyncio.run(_create_inputs(broker.address, PARTITIONS))
        plans, _ = read_plans_file(PLANS)
        from streams.tools.topic_commands import publish_plans

        asyncio.run(publish_plans([broker.address], plans))
        print(f"producing {events:,} messages ...", flush=True)
        produced = asyncio.run(_produce(broker.address, _stream(events, customers, years)))
        events = min(events, produced)  # the years split may leave a few out: wait for what was sent
        worker = WorkerProcess(
            broker.address,
            Path(tmp) / "data",
            Path(tmp) / "worker.log",
            partitions=PARTITIONS,
            env={"FAIRWATCH_TICK_SECONDS": "3600"},
        )
        worker.start()
        try:
            worker.wait_ready(120)
            pid = str(worker.process.pid)
            print(f"{'events in':>10} {'worker RSS MiB':>14} {'seconds':>8}")
            started = time.monotonic()
            last = -1
            while True:
                try:
                    # A busy worker on shared cores can take seconds to answer (a batch holds its event loop).
                    counts = read_counts(worker.get("/metrics", timeout=30.0)[1].decode())
                except OSError:
                    if worker.process is None or worker.process.poll() is not None:
                        raise
                    time.sleep(1.0)
                    continue
                if counts["in"] // every != last // every or counts["in"] >= events:
                    print(f"{counts['in']:>10,} {_rss_mib(pid):>14.0f} {time.monotonic() - started:>8.0f}", flush=True)
                    last = counts["in"]
                if counts["in"] >= events:
                    break
                time.sleep(1.0)
            print(
                f"conserved: {counts.conserved} ({counts['in']:,} = {counts['processed']:,} + "
                f"{counts['duplicates']:,} + {counts['dead_lettered']:,})"
            )
        finally:
            worker.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--every", type=int, default=100_000, help="print a line every N events")
    parser.add_argument(
        "--years",
        type=int,
        default=3,
        help="years of event time (default 3: longer than the longest retention, 400 days)",
    )
    parser.add_argument("--worker", action="store_true", help="a real worker on the embedded broker")
    options = parser.parse_args()
    run = with_worker if options.worker else in_process
    run(options.events, options.customers, options.every, options.years)


if __name__ == "__main__":
    main()
