"""Memory bound: a long stream through the real engine, state per customer and RSS sampled as it goes.

    python bench/memory.py --events 1000000 --customers 10000            # the engine in this process
    python bench/memory.py --events 1000000 --customers 10000 --worker   # a real worker on the embedded broker

In-process, the Processor (the worker's engine room: validation,
de-duplication, every detector, stream time) runs over the benchmark's mixed
stream (stories over ``--years`` of event time, 1 in 200 bad, 1 in 100
repeated: longer than the longest retention, so windows fill and drain) with a plain dict as
its table; every ``--every`` events it prints the table's size (orjson bytes of
every customer's state, as the changelog carries it), the largest state, and
this process's RSS. Bounded state shows as bytes per customer levelling off
once every customer has history, and RSS flat after warm-up (the message list
itself is generated up front, so it is in RSS from the first line).

With ``--worker``, the stream is produced to the embedded broker and one real
worker (memory store) consumes it; the worker's RSS is sampled from /proc
against the events it has taken in.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import orjson
from aiokafka.partitioner import DefaultPartitioner

from models.policy import load_policy
from models.timestamps import MS_PER_DAY
from streams.bench.workload import mixed_stream
from streams.processor import Processor, is_input_offsets_key
from streams.tools import read_plans_file

PLANS = Path(__file__).resolve().parents[1] / "streams" / "data" / "plans.toml"
PARTITIONS = 8


def _rss_mib(pid: str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _stream(events: int, customers: int, years: int) -> list:
    """The benchmark's mixed stream, one year of it after another (its event ids renamed per year)."""
    end = int(time.time() * 1000) - MS_PER_DAY
    out = []
    for year in range(years):
        year_end = end - (years - 1 - year) * 365 * MS_PER_DAY
        for topic, key, value in mixed_stream(events // years, customers, seed=8 + year, end_ms=year_end):
            out.append((topic, key, value.replace(b'"event_id":"demo-', b'"event_id":"y%d-' % year, 1)))
    return out


def in_process(events: int, customers: int, every: int, years: int) -> None:
    started = time.monotonic()
    messages = _stream(events, customers, years)
    plans, problems = read_plans_file(PLANS)
    assert not problems, problems
    catalog = {key.decode(): orjson.loads(value) for key, value in plans}
    store: dict[str, dict] = {}

    def persist(customer_id: str, state: dict) -> None:
        store[customer_id] = state

    processor = Processor(load_policy(None, {}), store, persist, lambda topic, partition: None, catalog=catalog)
    partition_of = DefaultPartitioner()
    partitions = list(range(PARTITIONS))
    offsets: dict[tuple[str, int], int] = {}
    print(f"{len(messages):,} messages for {customers:,} customers generated in {time.monotonic() - started:.0f} s;"
          f" RSS {_rss_mib():.0f} MiB")
    print(f"{'events':>10} {'customers':>9} {'state bytes':>12} {'per customer':>12} {'largest':>8} {'RSS MiB':>8}")
    tally = {"processed": 0, "duplicate": 0, "dead_letter": 0}
    for number, (topic, key, value) in enumerate(messages, 1):
        partition = partition_of(key, partitions, partitions)
        offset = offsets.get((topic, partition), 0)
        offsets[topic, partition] = offset + 1
        tally[processor.handle(topic, partition, offset, key, value).status] += 1
        if number % every == 0 or number == len(messages):
            sizes = [len(orjson.dumps(state)) for key, state in store.items() if not is_input_offsets_key(key)]
            total = sum(sizes)
            print(f"{number:>10,} {len(sizes):>9,} {total:>12,} {total / max(1, len(sizes)):>12,.0f} "
                  f"{max(sizes, default=0):>8,} {_rss_mib():>8.0f}")
    print(f"in {len(messages):,} = processed {tally['processed']:,} + duplicates {tally['duplicate']:,} + "
          f"dead-lettered {tally['dead_letter']:,}; {time.monotonic() - started:.0f} s")


def with_worker(events: int, customers: int, every: int, years: int) -> None:
    from streams.bench.run import _create_inputs, _produce
    from streams.broker import EmbeddedBroker
    from streams.supervisor import WorkerProcess

    messages = _stream(events, customers, years)
    with tempfile.TemporaryDirectory() as tmp, EmbeddedBroker(log_path=Path(tmp) / "broker.log") as broker:
        asyncio.run(_create_inputs(broker.address, PARTITIONS))
        plans, _ = read_plans_file(PLANS)
        from streams.tools import publish_plans

        asyncio.run(publish_plans([broker.address], plans))
        print(f"producing {len(messages):,} messages ...", flush=True)
        asyncio.run(_produce(broker.address, messages))
        del messages
        worker = WorkerProcess(broker.address, Path(tmp) / "data", Path(tmp) / "worker.log", partitions=PARTITIONS,
                               env={"FAIRWATCH_TICK_SECONDS": "3600"})
        worker.start()
        try:
            worker.wait_ready(120)
            pid = str(worker.process.pid)
            print(f"{'events in':>10} {'worker RSS MiB':>14} {'seconds':>8}")
            started = time.monotonic()
            last = -1
            while True:
                counts = worker.counts()
                if counts["in"] // every != last // every or counts["in"] >= events:
                    print(f"{counts['in']:>10,} {_rss_mib(pid):>14.0f} {time.monotonic() - started:>8.0f}", flush=True)
                    last = counts["in"]
                if counts["in"] >= events:
                    break
                time.sleep(1.0)
            print(f"conserved: {counts.conserved} ({counts['in']:,} = {counts['processed']:,} + "
                  f"{counts['duplicates']:,} + {counts['dead_lettered']:,})")
        finally:
            worker.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--every", type=int, default=100_000, help="print a line every N events")
    parser.add_argument("--years", type=int, default=3,
                        help="years of event time (default 3: longer than the longest retention, 400 days)")
    parser.add_argument("--worker", action="store_true", help="a real worker on the embedded broker")
    options = parser.parse_args()
    run = with_worker if options.worker else in_process
    run(options.events, options.customers, options.every, options.years)


if __name__ == "__main__":
    main()
