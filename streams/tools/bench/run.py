"""``fairwatch bench``: one run, one broker, the same pre-produced events for every contender.

1. A realistic mixed stream (streams.tools.bench.workload) is produced to the input topics before any timing.
   Before that, the rules alone (streams.tools.bench.rules) run over the same stream in this process, with no
   broker, then over a "busy year" (50 events per customer): ``rules_eps``, state bytes per customer.
   ``--rules-only`` runs just that.
2. Baselines read all of it: a raw aiokafka consumer (``getmany`` + ``orjson.loads``), a bare Faust agent
   (streams.tools.bench.bare_faust) and Quix Streams with a stateful step (streams.tools.bench.quix).
3. fairwatch: a real worker process (its own consumer group, so it starts from the beginning) processes it
   end to end; events/s from its first to its last input message consumed (the worker's own clock, read
   from /metrics). Then the catch-up: the backlog ends a day before the wall clock, so stream time jumps a
   day and the deadlines in that day fire (in slices if agents.ingest.FIRE_MOST is set); live stories at
   the fixed rate until the worker has nothing due (``fairwatch_customers_deadline_due``): how long that
   took, and the consume -> alert latency meanwhile. Then, in steady state, live stories at the same rate
   for the latency figures (the worker's consume -> alert produced histogram), and its peak RSS, state size
   (the changelog's newest record per customer) and conservation count are read.
4. Optionally the same with N workers in one group (speed-up over one).

Figures print as a table and go to ``bench-results.json``. Timings are only as steady as the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from prometheus_client.parser import text_string_to_metric_families

from models.events import INPUT_TOPICS
from streams.security import EMBEDDED_ENV, client_kwargs
from streams.tools.bench.latency import DUE_GAUGE, until_nothing_due
from streams.tools.bench.rules import RULES_TARGET_EPS, run_rules
from streams.tools.bench.workload import Message, live_stories, mixed_stream
from streams.tools.broker import EmbeddedBroker, child_preexec
from streams.tools.supervisor import Counts, WorkerProcess, read_counts
from streams.tools.topic_commands import publish_plans, read_plans_file
from streams.topics import ensure_topics

__all__ = ["main", "run_bench", "REQUIRED_KEYS"]

REQUIRED_KEYS = (
    "raw_eps",
    "bare_faust_eps",
    "fairwatch_eps",
    "ratio_raw",
    "ratio_bare_faust",
    "quix_eps",
    "ratio_quix",
    "p50_latency_ms",
    "catchup_seconds",
    "p99_latency_ms",
    "state_bytes_per_customer",
    "peak_rss_mib",
    "events_in",
    "processed",
    "duplicates",
    "dead_lettered",
    "rules_eps",
)
CATALOG = Path(__file__).resolve().parent.parent / "data" / "plans.toml"
ROOT = Path(__file__).resolve().parents[3]
LATENCY_HISTOGRAM = "fairwatch_processing_latency_seconds"
#: The busy year of the rules phase (issue 14, target 4): a year of a real customer's events each.
BUSY_CUSTOMERS = 2_000
BUSY_EVENTS_PER_CUSTOMER = 50
#: How long the catch-up after the backlog may take before the latency phase starts all the same.
CATCHUP_LIMIT_SECONDS = 300.0


@dataclass
class Options:
    events: int = 500_000
    customers: int = 10_000
    partitions: int = 8
    workers: int = 1
    rate: float = 1000.0
    latency_seconds: float = 15.0
    store: str = "rocksdb"
    output: Path = Path("bench-results.json")
    quix: bool = True
    bare_faust: bool = True
    timeout: float = 1800.0
    profile_worker: bool = False
    rules_only: bool = False
    profile_rules: Path | None = None
    busy_customers: int = BUSY_CUSTOMERS
    faust_floor: bool = False


def parse_args(argv: list[str]) -> Options:
    parser = argparse.ArgumentParser(prog="fairwatch bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, help="events pre-produced (default 500000; --quick: 20000)")
    parser.add_argument("--customers", type=int, help="distinct customers (default 10000; --quick: 2000)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run in under two minutes: 20,000 events, 2,000 customers, a 5 s latency phase, a busy year "
        "of 200 customers (each still settable)",
    )
    parser.add_argument("--partitions", type=int, default=8, help="partitions per topic (default 8)")
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="also run this many fairwatch workers in one group and report the speed-up",
    )
    parser.add_argument("--rate", type=float, default=1000.0, help="offered events/s in the latency phase")
    parser.add_argument(
        "--latency-seconds", type=float, help="length of the latency phase (default 15; --quick: 5; 0: skip)"
    )
    parser.add_argument("--store", choices=("rocksdb", "memory"), default="rocksdb", help="fairwatch table store")
    parser.add_argument("--output", type=Path, default=Path("bench-results.json"))
    parser.add_argument("--no-quix", action="store_true", help="skip the Quix Streams baseline")
    parser.add_argument("--no-bare-faust", action="store_true", help="skip the bare Faust baseline")
    parser.add_argument("--timeout", type=float, default=1800.0, help="give up on a phase after this many s")
    parser.add_argument(
        "--profile-worker",
        action="store_true",
        help="record a py-spy profile of the single worker's throughput phase (needs py-spy)",
    )
    parser.add_argument(
        "--rules-only",
        action="store_true",
        help="only the rules phase (in-process, no broker) on the workload and on a busy year",
    )
    parser.add_argument(
        "--profile-rules", type=Path, metavar="FILE", help="cProfile the rules phase on the workload into FILE"
    )
    parser.add_argument(
        "--busy-customers",
        type=int,
        help=f"customers of the rules phase's busy year, {BUSY_EVENTS_PER_CUSTOMER} events each, at most --events "
        f"in all (default {BUSY_CUSTOMERS}; --quick: 200; 0: skip it)",
    )
    parser.add_argument(
        "--faust-floor",
        action="store_true",
        help="also run bare Faust plus, one at a time, what the worker adds (uvloop, batches, web, sensor, "
        "RocksDB state, an output record): the floor of a stateful Faust agent (streams.tools.bench.faust_floor)",
    )
    a = parser.parse_args(argv)
    for name, full, quick in (
        ("events", 500_000, 20_000),
        ("customers", 10_000, 2_000),
        ("latency_seconds", 15.0, 5.0),
        ("busy_customers", BUSY_CUSTOMERS, 200),
    ):
        if getattr(a, name) is None:
            setattr(a, name, quick if a.quick else full)
    if a.events < 100 or a.customers < 1 or a.partitions < 1 or a.workers < 1 or a.busy_customers < 0:
        parser.error("--events >= 100, --customers, --partitions and --workers >= 1, --busy-customers >= 0")
    return Options(
        a.events,
        a.customers,
        a.partitions,
        a.workers,
        a.rate,
        a.latency_seconds,
        a.store,
        a.output,
        not a.no_quix,
        not a.no_bare_faust,
        a.timeout,
        a.profile_worker,
        a.rules_only,
        a.profile_rules,
        a.busy_customers,
        a.faust_floor,
    )


# --- broker set-up -------------------------------------------------------------------------------


def _client() -> dict[str, Any]:
    """aiokafka security settings: the environment's for FAIRWATCH_BROKER, none for the embedded broker."""
    return client_kwargs(external=bool(os.environ.get("FAIRWATCH_BROKER")))


async def _create_inputs(address: str, partitions: int) -> None:
    """Input topics with explicit retention configs: Quix Streams reads them back (Tansu reports none)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=[address], **_client())
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        configs = {"retention.ms": "604800000", "retention.bytes": "-1"}
        missing = [
            NewTopic(name, partitions, 1, topic_configs=configs) for name in INPUT_TOPICS if name not in existing
        ]
        if missing:
            await admin.create_topics(missing)
    finally:
        await admin.close()
    await ensure_topics([address], partitions, client=_client())
    plans, _ = read_plans_file(CATALOG)
    await publish_plans([address], plans, client=_client())


async def _produce(
    address: str,
    messages: list[Message] | Iterator[Message],
    rate: float | None = None,
    seconds: float | None = None,
    stop: asyncio.Event | None = None,
) -> int:
    """Send everything (or, with ``rate``, paced for ``seconds`` or until ``stop`` is set); return the count
    acknowledged."""
    producer = AIOKafkaProducer(
        bootstrap_servers=[address], **_client(), linger_ms=0 if rate else 20, max_batch_size=1 << 20, acks=1
    )
    await producer.start()
    sent = 0
    try:
        pending: list[asyncio.Future] = []
        started = time.perf_counter()
        for topic, key, value in messages:
            pending.append(await producer.send(topic, value=value, key=key))
            sent += 1
            if rate:
                ahead = sent / rate - (time.perf_counter() - started)
                if ahead > 0:
                    await asyncio.sleep(ahead)
                if seconds is not None and time.perf_counter() - started >= seconds:
                    break
                if stop is not None and stop.is_set():
                    break
            if len(pending) >= 20_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return sent


# --- baselines -----------------------------------------------------------------------------------


async def raw_consume(address: str, expect: int, partitions: int, timeout: float) -> dict[str, float]:
    """The limit: one aiokafka consumer, large batches, orjson.loads on every value, nothing else."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=[address],
        **_client(),
        enable_auto_commit=False,
        group_id=None,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=10,
        max_partition_fetch_bytes=4 << 20,
        fetch_max_bytes=64 << 20,
    )
    await consumer.start()
    try:
        consumer.assign([TopicPartition(t, p) for t in INPUT_TOPICS for p in range(partitions)])
        await consumer.seek_to_beginning()
        count, first, loads, error = 0, 0.0, orjson.loads, orjson.JSONDecodeError
        deadline = time.monotonic() + timeout
        while count < expect and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500, max_records=50_000)
            if batches and not first:
                first = time.time()
            for records in batches.values():
                for record in records:
                    try:  # noqa: SIM105 (contextlib.suppress costs a context manager per event)
                        loads(record.value)
                    except error:
                        pass
                count += len(records)
        return {"first": first, "last": time.time(), "count": count}
    finally:
        await consumer.stop()


def _child(
    module: str, workdir: Path, name: str, env: dict[str, str], expect: int, timeout: float
) -> dict[str, float] | None:
    """Run a baseline in a child process until it reports the expected count; None if it could not."""
    result = workdir / f"{name}.json"
    log = workdir / f"{name}.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", module, str(result)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **env, "BENCH_EXPECT": str(expect)},
            preexec_fn=child_preexec,
            cwd=ROOT,
        )
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and process.poll() is None:
            if result.exists():
                return orjson.loads(result.read_bytes())
            time.sleep(0.2)
        print(f"fairwatch bench: {name} did not finish; see {log}", file=sys.stderr)
        return None
    finally:
        _stop(process)


def _stop(process: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, 15)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, 9)
            process.wait()


def _eps(found: dict[str, float] | None) -> float | None:
    if not found or found["last"] <= found["first"]:
        return None
    return found["count"] / (found["last"] - found["first"])


# --- fairwatch -----------------------------------------------------------------------------------


def _scrape(worker: WorkerProcess) -> str:
    return worker.get("/metrics", timeout=10)[1].decode()


def _gauges(text: str, *names: str) -> dict[str, float]:
    found = {}
    for family in text_string_to_metric_families(text):
        if family.name in names:
            found[family.name] = sum(sample.value for sample in family.samples)
    return found


def _mean_batch(texts: list[str]) -> float | None:
    total = count = 0.0
    for text in texts:
        for family in text_string_to_metric_families(text):
            if family.name == "fairwatch_batch_messages":
                for sample in family.samples:
                    if sample.name.endswith("_sum"):
                        total += sample.value
                    elif sample.name.endswith("_count"):
                        count += sample.value
    return total / count if count else None


def _buckets(text: str) -> dict[float, float]:
    for family in text_string_to_metric_families(text):
        if family.name == LATENCY_HISTOGRAM:
            return {float(s.labels["le"]): s.value for s in family.samples if s.name.endswith("_bucket")}
    return {}


def quantile(buckets: dict[float, float], q: float) -> float | None:
    """Prometheus' histogram_quantile over cumulative buckets (upper bound -> count), in the bounds' unit."""
    bounds = sorted(buckets)
    if not bounds or buckets[bounds[-1]] <= 0:
        return None
    rank = q * buckets[bounds[-1]]
    lower, below = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if bound == float("inf"):
                return lower
            return lower + (bound - lower) * ((rank - below) / (count - below) if count > below else 1.0)
        lower, below = bound, count
    return lower


def _peak_rss_mib(pid: int) -> float | None:
    """VmHWM: the process' peak resident set, kept by the kernel (Linux)."""
    with contextlib.suppress(OSError), open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return None


async def _shortfall(address: str, group: str, partitions: int) -> dict[str, Any]:
    """Input partitions where the group's committed offset is short of the records there: where they stopped."""
    from aiokafka.admin import AIOKafkaAdminClient

    committed: dict[tuple[str, int], int] = {}
    admin = AIOKafkaAdminClient(bootstrap_servers=[address], **_client())
    await admin.start()
    try:
        listed = await admin.list_consumer_group_offsets(group)
        committed = {(tp.topic, tp.partition): meta.offset for tp, meta in listed.items()}
    except Exception as exc:  # a broker that cannot answer (Tansu 0.6 sometimes): records only
        _say(f"committed offsets of {group} unavailable: {exc!r}")
    finally:
        await admin.close()
    consumer = AIOKafkaConsumer(
        bootstrap_servers=[address],
        **_client(),
        enable_auto_commit=False,
        group_id=None,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=10,
    )
    await consumer.start()
    records: dict[tuple[str, int], int] = {}
    try:
        consumer.assign([TopicPartition(t, p) for t in INPUT_TOPICS for p in range(partitions)])
        await consumer.seek_to_beginning()
        quiet = 0
        while quiet < 3:
            batches = await consumer.getmany(timeout_ms=300, max_records=50_000)
            quiet = 0 if batches else quiet + 1
            for tp, found in batches.items():
                records[tp.topic, tp.partition] = found[-1].offset + 1
    finally:
        await consumer.stop()
    if not committed:
        return {"committed offsets": "unavailable from this broker"}
    return {
        f"{t}/{p}": (n, committed.get((t, p), -1))
        for (t, p), n in sorted(records.items())
        if committed.get((t, p), -1) < n
    }


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc), 0 where unknown."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wait_counts(
    workers: list[WorkerProcess], expect: int, timeout: float, stall: float = 45.0
) -> tuple[Counts, list[str]]:
    """Poll the workers' /metrics until they consumed ``expect`` input messages in all.

    Gives up after ``timeout``, or when the count has not moved for ``stall`` seconds (a message the worker
    never consumed must show as a short count in the results, not hang the benchmark).
    """
    deadline = time.monotonic() + timeout
    progress, moved = -1, time.monotonic()
    while True:
        texts = [_scrape(w) for w in workers]
        counts = [read_counts(t) for t in texts]
        total = sum(c["in"] - c["redelivered"] for c in counts)  # each message once
        if total != progress:
            progress, moved = total, time.monotonic()
        if total >= expect or time.monotonic() > min(deadline, moved + stall):
            merged = Counts(
                {
                    k: sum(c[k] for c in counts)
                    for k in ("in", "processed", "duplicates", "dead_lettered", "redelivered")
                }
            )
            return merged, texts
        time.sleep(0.5)


async def _changelog_sizes(address: str, topic: str, partitions: int, skip_prefix: str) -> tuple[int, int]:
    """(customers, bytes): the newest changelog record of every customer, as stored (streams.state_record)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=[address],
        **_client(),
        enable_auto_commit=False,
        group_id=None,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=10,
        max_partition_fetch_bytes=8 << 20,
        fetch_max_bytes=64 << 20,
    )
    await consumer.start()
    newest: dict[bytes, int] = {}
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning()
        quiet = 0
        while quiet < 3:
            batches = await consumer.getmany(timeout_ms=300, max_records=50_000)
            quiet = 0 if batches else quiet + 1
            for records in batches.values():
                for record in records:
                    if record.key is not None and not record.key.startswith(skip_prefix.encode()):
                        newest[record.key] = len(record.value or b"")
    finally:
        await consumer.stop()
    live = [size for size in newest.values() if size]
    return len(live), sum(live)


def run_fairwatch(address: str, opts: Options, workdir: Path, count: int, expect: int) -> dict[str, Any]:
    """One or more workers in a fresh group over the whole pre-produced stream."""
    app_id = f"bench-fw{count}-{uuid.uuid4().hex[:6]}"
    # A 10 s session: the embedded broker's 2 s profile expires sessions when two workers saturate both cores
    # (seen: "Thread keepalive is not responding", then rebalances for the rest of the run).
    env = {
        "FAIRWATCH_APP_ID": app_id,
        "FAIRWATCH_STORE": opts.store,
        "FAIRWATCH_SESSION_TIMEOUT": os.environ.get("FAIRWATCH_SESSION_TIMEOUT", "10"),
        "FAIRWATCH_HEARTBEAT_INTERVAL": os.environ.get("FAIRWATCH_HEARTBEAT_INTERVAL", "1"),
    }
    profile = os.environ.get("FAIRWATCH_BROKER_PROFILE", "kafka" if os.environ.get("FAIRWATCH_BROKER") else "tansu")
    workers = [
        WorkerProcess(
            address,
            workdir / f"{app_id}-{n}",
            workdir / f"{app_id}-{n}.log",
            env={**env, **({} if os.environ.get("FAIRWATCH_BROKER") else EMBEDDED_ENV)},
            partitions=opts.partitions,
            profile=profile,
        )
        for n in range(count)
    ]
    spy: subprocess.Popen[bytes] | None = None
    out: dict[str, Any] = {"app_id": app_id}
    try:
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.wait_ready(timeout=120)
        spy_bin = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
        if opts.profile_worker and count == 1 and spy_bin:
            # Collapsed stacks (one line per stack and its sample count): readable as text, and flamegraph
            # tools take them as they are.
            out["profile"] = str(workdir / "worker-profile.txt")
            spy = subprocess.Popen(
                [
                    spy_bin,
                    "record",
                    "--format",
                    "raw",
                    "-o",
                    out["profile"],
                    "-p",
                    str(workers[0].process.pid),
                    "--rate",
                    "250",
                    "--nonblocking",
                    "--idle",
                    "--threads",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                preexec_fn=child_preexec,
            )
        cpu_before = sum(_cpu_seconds(w.process.pid) for w in workers)  # type: ignore[union-attr]
        wall_before = time.monotonic()
        counts, texts = _wait_counts(workers, expect, opts.timeout)
        out["worker_cpu_utilisation"] = (
            (sum(_cpu_seconds(w.process.pid) for w in workers) - cpu_before)  # type: ignore[union-attr]
            / (time.monotonic() - wall_before)
            / count
        )
        if spy is not None:
            spy.send_signal(2)
            with contextlib.suppress(subprocess.TimeoutExpired):
                spy.wait(60)
        moments = [
            _gauges(
                t, "fairwatch_first_event_consumed_timestamp_seconds", "fairwatch_last_event_consumed_timestamp_seconds"
            )
            for t in texts
        ]
        first = min(m["fairwatch_first_event_consumed_timestamp_seconds"] for m in moments)
        last = max(m["fairwatch_last_event_consumed_timestamp_seconds"] for m in moments)
        batches = [_gauges(t, "fairwatch_batch_messages", "fairwatch_table_writes") for t in texts]
        out["writes_per_message"] = sum(b.get("fairwatch_table_writes", 0.0) for b in batches) / max(1, counts["in"])
        out["mean_batch"] = _mean_batch(texts)
        # Each worker's share: a worker that was assigned partitions and said ready but handled nothing shows as 0.
        shares = [read_counts(t)["in"] for t in texts]
        out.update(
            counts=dict(counts),
            eps=counts["in"] / (last - first) if last > first else None,
            seconds=last - first,
            shares=shares,
            complete=counts["in"] - counts["redelivered"] == expect,
        )
        if not out["complete"]:
            out["shortfall"] = asyncio.run(_shortfall(address, app_id, opts.partitions))
            _say(
                f"worker(s) consumed {counts['in']:,} of {expect:,}; per partition (records, committed): "
                f"{out['shortfall']}"
            )
        if count == 1:
            out.update(_catchup(address, workers[0], opts, expect))
        if count == 1 and opts.latency_seconds > 0:
            out.update(_latency(address, workers[0], opts, expect + out["catchup_events"]))
        if count == 1:
            total = out.get("latency_events", 0) + out["catchup_events"] + expect
            final, _ = _wait_counts(workers, total, 60)
            out["counts"] = dict(final)
            if final["in"] - final["redelivered"] != total and out["complete"]:
                out["complete"] = False
                out["shortfall"] = asyncio.run(_shortfall(address, app_id, opts.partitions))
                _say(
                    f"worker consumed {final['in']:,} of {total:,} after the latency phase; per partition "
                    f"(records, committed): {out['shortfall']}"
                )
            out["peak_rss_mib"] = _peak_rss_mib(workers[0].process.pid)  # type: ignore[union-attr]
            if opts.store == "memory":
                customers, size = asyncio.run(
                    _changelog_sizes(address, f"{app_id}-customers-changelog", opts.partitions, "live-")
                )
                out.update(state_customers=customers, state_bytes_per_customer=size / customers if customers else None)
    finally:
        if spy is not None and spy.poll() is None:
            _stop(spy)
        for worker in workers:
            worker.stop()
    if count == 1 and opts.store == "rocksdb":
        customers, size = _rocksdb_sizes(workdir / f"{app_id}-0", "live-")
        out.update(state_customers=customers, state_bytes_per_customer=size / customers if customers else None)
    return out


def _rocksdb_sizes(data_dir: Path, skip_prefix: str) -> tuple[int, int]:
    """(customers, bytes) in a stopped worker's RocksDB table files: the values as stored (orjson)."""
    from rocksdict import AccessType, Options, Rdict

    customers = size = 0
    skip = skip_prefix.encode()
    for path in sorted(data_dir.glob("v*/tables/customers-*.db")):
        db = Rdict(str(path), access_type=AccessType.read_only(), options=Options(raw_mode=True))
        try:
            for key, value in db.items():
                if key.startswith((b"__faust", skip)):
                    continue  # Faust's persisted offsets; the latency phase's customers
                customers += 1
                size += len(value)
        finally:
            db.close()
    return customers, size


def _catchup(address: str, worker: WorkerProcess, opts: Options, expect: int) -> dict[str, Any]:
    """The backlog consumed, offer live stories at ``--rate`` until the worker has nothing due (or for at most
    CATCHUP_LIMIT_SECONDS): how long it took, and its consume -> alert histogram meanwhile, diffed."""
    before_text = _scrape(worker)
    before = _buckets(before_text)
    # Caught up, the worker counts what the next tick makes due at once (streams.processor.due_customers).
    at_start = _gauges(before_text, DUE_GAUGE).get(DUE_GAUGE)
    _say(f"catch-up: {_fmt(at_start)} customers with deadlines due; live stories at {opts.rate:g}/s until none ...")

    async def offer_until_drained() -> tuple[int, float, float, bool]:
        # Stories under their own names and seed: the steady phase's are told afresh, not as duplicates.
        stories = live_stories(max(100, opts.customers // 10), seed=10, prefix="live-catchup")
        stop = asyncio.Event()
        producing = asyncio.create_task(_produce(address, stories, opts.rate, CATCHUP_LIMIT_SECONDS + 60, stop))
        try:
            seconds, most, drained = await until_nothing_due(worker, CATCHUP_LIMIT_SECONDS)
        finally:
            stop.set()
        return await producing, seconds, most, drained

    sent, seconds, most, drained = asyncio.run(offer_until_drained())
    if not drained:
        _say(
            f"catch-up: the worker still had deadlines due after {CATCHUP_LIMIT_SECONDS:g} s (its "
            f"{DUE_GAUGE}): the latency phase below overlaps the rest of its catch-up"
        )
    _wait_counts([worker], expect + sent, 60)
    after = _buckets(_scrape(worker))
    delta = {bound: after[bound] - before.get(bound, 0.0) for bound in after}
    p50, p99 = quantile(delta, 0.5), quantile(delta, 0.99)
    return {
        "catchup_seconds": seconds,
        "catchup_drained": drained,
        "catchup_due_at_start": at_start,
        "catchup_due_most": max(most, at_start or 0.0),
        "catchup_events": sent,
        "catchup_samples": int(delta.get(float("inf"), 0)),
        "catchup_p50_latency_ms": None if p50 is None else p50 * 1000,
        "catchup_p99_latency_ms": None if p99 is None else p99 * 1000,
    }


def _latency(address: str, worker: WorkerProcess, opts: Options, expect: int) -> dict[str, Any]:
    """Offer live stories at a fixed rate to the caught-up worker; its consume -> alert histogram, diffed."""
    before = _buckets(_scrape(worker))
    sent = asyncio.run(_produce(address, live_stories(max(100, opts.customers // 10)), opts.rate, opts.latency_seconds))
    _wait_counts([worker], expect + sent, 60)
    time.sleep(1.0)
    after = _buckets(_scrape(worker))
    delta = {bound: after[bound] - before.get(bound, 0.0) for bound in after}
    p50, p99 = quantile(delta, 0.5), quantile(delta, 0.99)
    return {
        "latency_events": sent,
        "latency_samples": int(delta.get(float("inf"), 0)),
        "p50_latency_ms": None if p50 is None else p50 * 1000,
        "p99_latency_ms": None if p99 is None else p99 * 1000,
    }


# --- the floor of a stateful Faust agent ------------------------------------------------------------


def faust_floor_phase(address: str, opts: Options, workdir: Path, common: dict[str, str]) -> dict[str, Any]:
    """Each variant of streams.tools.bench.faust_floor over the same messages, as the bare Faust child runs;
    per variant its events/s, its ratio to ``bare`` (measured here, in this phase) and the µs an event it
    adds to the variant it builds on."""
    from streams.tools.bench.faust_floor import CHAIN  # imports Faust: only when this phase runs

    found: dict[str, Any] = {}
    for variant in CHAIN:
        _say(f"Faust floor: {variant.name} ...")
        child = _child(
            "streams.tools.bench.faust_floor",
            workdir,
            f"floor-{variant.name}",
            {**common, "BENCH_GROUP": f"bench-floor-{uuid.uuid4().hex[:6]}", "BENCH_VARIANT": variant.name},
            opts.events,
            opts.timeout,
        )
        found[variant.name] = {"eps": _eps(child), "base": variant.base, "adds": variant.adds}
        if child and child["count"]:
            # Records the variant sent per event: output records, and changelog records (one per customer a
            # batch touched, so fewer than one per event when a batch holds a customer twice).
            found[variant.name]["produced_per_event"] = child.get("produced", 0) / child["count"]
            found[variant.name]["state_writes_per_event"] = child.get("state_writes", 0) / child["count"]
            found[variant.name]["loop"] = child.get("loop")
            if child.get("batches"):
                found[variant.name]["mean_batch"] = child["count"] / child["batches"]
            if child["last"] > child["first"] and "cpu_seconds" in child:
                # On shared cores the CPU an event takes moves less than the wall clock: both are reported.
                found[variant.name]["cpu_utilisation"] = child["cpu_seconds"] / (child["last"] - child["first"])
                found[variant.name]["cpu_us_per_event"] = 1e6 * child["cpu_seconds"] / child["count"]
    bare = found["bare"]["eps"]
    for row in found.values():
        base = found[row["base"]]["eps"]
        row["ratio_bare"] = _ratio(row["eps"], bare)
        row["us_per_event"] = 1e6 / row["eps"] if row["eps"] else None
        row["us_per_event_added"] = 1e6 / row["eps"] - 1e6 / base if row["eps"] and base else None
    return found


def print_floor(floor: dict[str, Any]) -> None:
    print("  Faust floor (cumulative; each row adds one thing to the row it names):")
    width = max(len(f"{name} ({row['adds']})") for name, row in floor.items())
    print(
        f"    {'variant':<{width}}  {'ev/s':>8}  {'x bare':>6}  {'us/ev':>6}  {'added':>6}  {'cpu':>4}  "
        f"{'cpu us/ev':>9}  to"
    )
    for name, row in floor.items():
        added = "" if name == row["base"] else _fmt(row["us_per_event_added"], "", 1)
        print(
            f"    {name + ' (' + row['adds'] + ')':<{width}}  {_fmt(row['eps']):>8}  "
            f"{_fmt(row['ratio_bare'], '', 3):>6}  {_fmt(row['us_per_event'], '', 1):>6}  {added:>6}  "
            f"{_fmt(100 * row['cpu_utilisation'] if 'cpu_utilisation' in row else None, '%'):>4}  "
            f"{_fmt(row.get('cpu_us_per_event'), '', 1):>9}  "
            f"{'' if name == row['base'] else row['base']}"
        )


# --- the rules alone ------------------------------------------------------------------------------


def rules_phase(opts: Options, stream: list[Message]) -> dict[str, Any]:
    """The rules in this process on the bench's stream, then on a busy year (streams.tools.bench.rules)."""
    _say(f"rules alone, in-process, on the {len(stream):,} events ...")
    found = run_rules(stream, opts.partitions, profile=opts.profile_rules)
    results: dict[str, Any] = {
        "rules_eps": found["eps"],
        "rules_cpu_seconds": found["cpu_seconds"],
        "ratio_rules_target": _ratio(found["eps"], RULES_TARGET_EPS),
        "rules_alerts": found["alerts"],
        "rules_state_bytes_per_customer": found["state_bytes_per_customer"],
        "rules_state_json_bytes_per_customer": found["state_json_bytes_per_customer"],
        "rules_state_customers": found["customers"],
        "rules_events_per_customer": len(stream) / max(1, found["customers"]),
    }
    if opts.profile_rules is not None:
        results["rules_profile"] = str(opts.profile_rules)
    # Never more events than the workload itself: a small (smoke) run stays small.
    customers = min(opts.busy_customers, max(1, len(stream) // BUSY_EVENTS_PER_CUSTOMER))
    if opts.busy_customers:
        events = customers * BUSY_EVENTS_PER_CUSTOMER
        _say(f"rules alone on a busy year: {customers:,} customers x {BUSY_EVENTS_PER_CUSTOMER} events ...")
        busy = run_rules(mixed_stream(events, customers, seed=11), opts.partitions)
        results.update(
            rules_busy_eps=busy["eps"],
            rules_busy_state_bytes_per_customer=busy["state_bytes_per_customer"],
            rules_busy_state_json_bytes_per_customer=busy["state_json_bytes_per_customer"],
            rules_busy_state_bytes_max=busy["state_bytes_max"],
            rules_busy_customers=busy["customers"],
            ratio_rules_busy=_ratio(busy["eps"], found["eps"]),
        )
    return results


def print_rules(r: dict[str, Any]) -> None:
    rows = [
        (
            "rules alone, in-process",
            f"{_fmt(r['rules_eps'], ' ev/s')} ({_fmt(r['ratio_rules_target'], '', 2)} x the "
            f"{RULES_TARGET_EPS:,} ev/s target; {_fmt(r['rules_events_per_customer'], '', 1)} events per customer)",
        ),
        (
            "  state per customer",
            f"{_fmt(r['rules_state_bytes_per_customer'], ' B')} ({_fmt(r['rules_state_customers'])} customers; "
            f"{_fmt(r.get('rules_state_json_bytes_per_customer'), ' B')} as JSON)",
        ),
    ]
    if "rules_busy_eps" in r:
        rows += [
            (
                f"rules alone, busy year ({BUSY_EVENTS_PER_CUSTOMER}/customer)",
                f"{_fmt(r['rules_busy_eps'], ' ev/s')} ({_fmt(r['ratio_rules_busy'], '', 2)} x the workload's)",
            ),
            (
                "  state per customer",
                f"{_fmt(r['rules_busy_state_bytes_per_customer'], ' B')} (largest "
                f"{_fmt(r['rules_busy_state_bytes_max'], ' B')}; target <= 2,048 B; "
                f"{_fmt(r.get('rules_busy_state_json_bytes_per_customer'), ' B')} as JSON)",
            ),
        ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")


def run_rules_only(opts: Options) -> dict[str, Any]:
    _say(f"generating {opts.events} events for {opts.customers} customers ...")
    stream = mixed_stream(opts.events, opts.customers)
    results: dict[str, Any] = {
        "events": opts.events,
        "customers": opts.customers,
        "partitions": opts.partitions,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
    }
    results.update(rules_phase(opts, stream))
    return results


# --- the run -------------------------------------------------------------------------------------


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a and b else None


def run_bench(opts: Options) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="fairwatch-bench-"))
    external = os.environ.get("FAIRWATCH_BROKER")
    broker = None if external else EmbeddedBroker(log_path=workdir / "broker.log")
    results: dict[str, Any] = {
        "events": opts.events,
        "customers": opts.customers,
        "partitions": opts.partitions,
        "store": opts.store,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "broker": "external" if external else "embedded Tansu",
        "workdir": str(workdir),
    }
    try:
        address = external or broker.start().address  # type: ignore[union-attr]
        if external:
            address = address.split(",")[0].split("://")[-1]
        asyncio.run(_create_inputs(address, opts.partitions))
        _say(f"generating {opts.events} events for {opts.customers} customers ...")
        started = time.perf_counter()
        stream = mixed_stream(opts.events, opts.customers)
        results["generate_seconds"] = round(time.perf_counter() - started, 2)
        results.update(rules_phase(opts, stream))
        started = time.perf_counter()
        asyncio.run(_produce(address, stream))
        results["produce_eps"] = opts.events / (time.perf_counter() - started)
        results["bytes_per_event"] = sum(len(v) for _, _, v in stream) / len(stream)
        del stream
        _say(f"produced at {results['produce_eps']:,.0f} ev/s; raw aiokafka + orjson ...")
        raw = asyncio.run(raw_consume(address, opts.events, opts.partitions, opts.timeout))
        results["raw_eps"] = _eps(raw)
        common = {"BENCH_BROKER": address, "BENCH_PARTITIONS": str(opts.partitions)}
        results["bare_faust_eps"] = None
        if opts.bare_faust:
            _say("bare Faust agent ...")
            found = _child(
                "streams.tools.bench.bare_faust",
                workdir,
                "bare-faust",
                {**common, "BENCH_GROUP": f"bench-bare-{uuid.uuid4().hex[:6]}"},
                opts.events,
                opts.timeout,
            )
            results["bare_faust_eps"] = _eps(found)
        results["quix_eps"] = None
        if opts.quix and _has_quix():
            _say("Quix Streams, stateful ...")
            found = _child(
                "streams.tools.bench.quix",
                workdir,
                "quix",
                {
                    **common,
                    "BENCH_GROUP": f"bench-quix-{uuid.uuid4().hex[:6]}",
                    "BENCH_STATE_DIR": str(workdir / "quix-state"),
                },
                opts.events,
                opts.timeout,
            )
            results["quix_eps"] = _eps(found)
        _say(f"fairwatch, 1 worker ({opts.store} store) ...")
        one = run_fairwatch(address, opts, workdir, 1, opts.events)
        counts = one["counts"]
        results.update(
            fairwatch_eps=one["eps"],
            fairwatch_seconds=one["seconds"],
            fairwatch_complete=one["complete"],
            fairwatch_cpu_utilisation=one["worker_cpu_utilisation"],
            fairwatch_eps_per_cpu_second=(
                one["eps"] / one["worker_cpu_utilisation"] if one["eps"] and one["worker_cpu_utilisation"] else None
            ),
            mean_batch=one["mean_batch"],
            table_writes_per_message=one["writes_per_message"],
            catchup_seconds=one.get("catchup_seconds"),
            catchup_drained=one.get("catchup_drained"),
            catchup_due_at_start=one.get("catchup_due_at_start"),
            catchup_due_most=one.get("catchup_due_most"),
            catchup_events=one.get("catchup_events"),
            catchup_samples=one.get("catchup_samples"),
            catchup_p50_latency_ms=one.get("catchup_p50_latency_ms"),
            catchup_p99_latency_ms=one.get("catchup_p99_latency_ms"),
            fire_most=_ingest_constant("FIRE_MOST"),
            fire_within=_ingest_constant("FIRE_WITHIN"),
            p50_latency_ms=one.get("p50_latency_ms"),
            p99_latency_ms=one.get("p99_latency_ms"),
            latency_rate=opts.rate,
            latency_events=one.get("latency_events"),
            latency_samples=one.get("latency_samples"),
            peak_rss_mib=one.get("peak_rss_mib"),
            state_bytes_per_customer=one.get("state_bytes_per_customer"),
            state_customers=one.get("state_customers"),
            events_in=counts["in"],
            processed=counts["processed"],
            duplicates=counts["duplicates"],
            dead_lettered=counts["dead_lettered"],
            redelivered=counts.get("redelivered", 0),
            conserved=counts["in"] == counts["processed"] + counts["duplicates"] + counts["dead_lettered"],
        )
        if "shortfall" in one:
            results["shortfall"] = one["shortfall"]
        if "profile" in one:
            results["profile"] = one["profile"]
        if opts.workers > 1:
            _say(f"fairwatch, {opts.workers} workers ...")
            many = run_fairwatch(address, opts, workdir, opts.workers, opts.events)
            results[f"fairwatch_eps_{opts.workers}_workers"] = many["eps"]
            # The same under a name that does not depend on the count (issue 14: ``workers_eps``).
            results["workers_eps"] = many["eps"]
            results["workers"] = opts.workers
            results["workers_speedup"] = _ratio(many["eps"], one["eps"])
            results["workers_each_in"] = many["shares"]
            # Complete: every message handled, and every worker took part.
            results["workers_complete"] = many["complete"] and all(share > 0 for share in many["shares"])
        if opts.faust_floor:
            results["faust_floor"] = faust_floor_phase(address, opts, workdir, common)
        results["ratio_raw"] = _ratio(results["fairwatch_eps"], results["raw_eps"])
        results["ratio_bare_faust"] = _ratio(results["fairwatch_eps"], results["bare_faust_eps"])
        results["ratio_quix"] = _ratio(results["fairwatch_eps"], results["quix_eps"])
        return results
    finally:
        if broker is not None:
            broker.stop()


def _ingest_constant(name: str) -> Any:
    """A constant of agents.ingest (FIRE_MOST, FIRE_WITHIN), read from the source: importing the agent module
    would build a Faust app in this process."""
    import ast

    tree = ast.parse((ROOT / "agents" / "ingest.py").read_text())
    for node in tree.body:
        targets = (
            node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        )
        if any(getattr(t, "id", None) == name for t in targets):
            value = node.value  # type: ignore[union-attr]
            return value.value if isinstance(value, ast.Constant) else None
    return None


def _has_quix() -> bool:
    try:
        import quixstreams  # noqa: F401
    except ImportError:
        _say("quixstreams not installed (pip install -e '.[bench]'): Quix baseline skipped")
        return False
    return True


def _say(text: str) -> None:
    print(f"fairwatch bench: {text}", flush=True)


def _fmt(value: Any, unit: str = "", digits: int = 0) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.{digits}f}{unit}"
    return f"{value:,}{unit}"


def print_table(r: dict[str, Any]) -> None:
    rows = [
        (
            "events (customers)",
            f"{r['events']:,} ({r['customers']:,}), {r['bytes_per_event']:.0f} B/event, "
            f"{r['partitions']} partitions, {r['machine']['cpus']} cpus",
        ),
        ("raw aiokafka + orjson", _fmt(r["raw_eps"], " ev/s")),
        ("bare Faust agent", _fmt(r["bare_faust_eps"], " ev/s")),
        ("Quix Streams stateful", _fmt(r["quix_eps"], " ev/s")),
        (
            f"fairwatch, 1 worker ({r['store']})",
            _fmt(r["fairwatch_eps"], " ev/s")
            + f" (worker at {_fmt(100 * (r['fairwatch_cpu_utilisation'] or 0), '% cpu')}: "
            f"{_fmt(r['fairwatch_eps_per_cpu_second'], ' ev per cpu-s')})",
        ),
        (
            "  batches, table writes",
            f"{_fmt(r['mean_batch'], ' messages', 0)} on average, "
            f"{_fmt(r['table_writes_per_message'], ' writes per message', 2)}",
        ),
        ("fairwatch / raw", _fmt(r["ratio_raw"], "", 3)),
        ("fairwatch / bare Faust", _fmt(r["ratio_bare_faust"], "", 3)),
        ("fairwatch / Quix", _fmt(r["ratio_quix"], "", 3)),
    ]
    for key, value in r.items():
        if key.startswith("fairwatch_eps_") and key.endswith("_workers"):
            rows.append((key.removeprefix("fairwatch_eps_").replace("_", " "), _fmt(value, " ev/s")))
            rows.append(("speed-up over 1 worker", _fmt(r.get("workers_speedup"), "x", 2)))
    if r.get("catchup_seconds") is not None:
        rows.append(
            (
                "catch-up after the backlog",
                f"{_fmt(r['catchup_seconds'], ' s', 1)}, {_fmt(r['catchup_due_at_start'], '', 0)} customers due as "
                "the backlog ended "
                f"(FIRE_MOST {_fmt(r['fire_most'])}, FIRE_WITHIN "
                f"{_fmt(None if r['fire_within'] is None else r['fire_within'] * 1000, ' ms', 0)})"
                + ("" if r["catchup_drained"] else ": NOT DRAINED"),
            )
        )
        rows.append(
            (
                f"  latency p50 / p99 meanwhile, {r['latency_rate']:g} ev/s",
                f"{_fmt(r['catchup_p50_latency_ms'], ' ms', 1)} / {_fmt(r['catchup_p99_latency_ms'], ' ms', 1)} "
                f"({_fmt(r['catchup_samples'])} alerts)",
            )
        )
    rows += [
        (
            f"latency p50 / p99 at {r['latency_rate']:g} ev/s" + (", caught up" if r.get("catchup_drained") else ""),
            f"{_fmt(r['p50_latency_ms'], ' ms', 1)} / {_fmt(r['p99_latency_ms'], ' ms', 1)} "
            f"({_fmt(r['latency_samples'])} alerts)",
        ),
        ("peak RSS of the worker", _fmt(r["peak_rss_mib"], " MiB", 0)),
        (
            "state per customer",
            _fmt(r["state_bytes_per_customer"], " B", 0) + f" ({_fmt(r['state_customers'])} customers)",
        ),
        ("all produced consumed", "yes" if r["fairwatch_complete"] else f"NO: {r.get('shortfall')}"),
        (
            "in = processed + dup + dead",
            f"{r['events_in']:,} = {r['processed']:,} + {r['duplicates']:,} + "
            f"{r['dead_lettered']:,}: {'holds' if r['conserved'] else 'BROKEN'}",
        ),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")


def main(argv: list[str]) -> int:
    opts = parse_args(argv)
    started = time.monotonic()
    if opts.rules_only:
        results = run_rules_only(opts)
        results["bench_seconds"] = round(time.monotonic() - started, 1)
        opts.output.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
        print_rules(results)
        print(f"fairwatch bench: figures in {opts.output} ({results['bench_seconds']:,.0f} s in all)")
        return 0
    results = run_bench(opts)
    # How long the whole run took (issue 14: the default run within 10 minutes, --quick within 2).
    results["bench_seconds"] = round(time.monotonic() - started, 1)
    opts.output.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
    print_table(results)
    if "faust_floor" in results:
        print_floor(results["faust_floor"])
    print_rules(results)
    print(f"fairwatch bench: figures in {opts.output} ({results['bench_seconds']:,.0f} s in all)")
    if not results["fairwatch_complete"]:
        print(
            "fairwatch bench: WARNING: the worker did not consume every message produced (see shortfall in the "
            "JSON); the figures count what it consumed"
        )
    return 0 if results["conserved"] else 1
