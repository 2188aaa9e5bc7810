"""``fairwatch evaluate DIR``: run a generated world through the real pipeline and score the alerts against its truth.

The plan catalog and every event are published first (to the embedded broker,
or to FAIRWATCH_BROKER), then a real worker starts from the beginning: a worker
started before the history is complete could find a topic caught up half-way
and let its live tick jump that topic's time to the wall clock. The evaluation
waits until every event is accounted for (in = processed + duplicates +
dead-lettered) and every partition's stream time has passed the world's end
(the live tick takes it to the wall clock), reads the alert topic, and scores.

Scoring is per kind, per condition (alert_id = fingerprint of kind, customer,
key): a true positive is a planted condition that was raised, a false positive
an alert no truth explains, a false negative a planted condition never raised.
Only what happened up to the world's end counts, on both sides. Lag is the
alert's event time (CloudEvents ``time``) minus the moment the truth says the
condition became true. Resolutions are checked too: an episode that clears
before the end must have a ``resolved`` emission, one that does not must not.

``--in-process`` replays through streams.processor.Processor in this process
instead (no broker, no worker): the same rules, for a quick look.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
import urllib.error
import zlib
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

from models.alerts import to_cloudevent
from models.kinds import ALERT_KINDS
from models.policy import Policy
from models.timestamps import format_ms, parse_rfc3339

__all__ = ["evaluate", "score", "format_table", "run_pipeline", "run_in_process", "load_truth"]

KINDS = list(ALERT_KINDS)


def load_truth(world: Path) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """(world.json, truth episodes, near-misses)."""
    summary = orjson.loads((world / "world.json").read_bytes())
    truth = [orjson.loads(line) for line in (world / "truth.jsonl").read_bytes().splitlines() if line.strip()]
    near_path = world / "near_misses.jsonl"
    near = (
        [orjson.loads(line) for line in near_path.read_bytes().splitlines() if line.strip()]
        if near_path.exists()
        else []
    )
    return summary, truth, near


# --- scoring ------------------------------------------------------------------------------


def _counts(tp: int, fp: int, fn: int) -> dict[str, Any]:
    """True and false positives, false negatives, and the precision and recall they make (None: undefined)."""
    return {
        "truth": tp + fn,
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "precision": round(tp / (tp + fp), 4) if tp + fp else None,
        "recall": round(tp / (tp + fn), 4) if tp + fn else None,
    }


def score(
    alerts: Iterable[dict[str, Any]], truth: list[dict[str, Any]], near: list[dict[str, Any]], horizon: int
) -> dict[str, Any]:
    """Score CloudEvents alerts against truth episodes up to ``horizon`` (epoch ms)."""
    emissions: dict[str, list[tuple[int, int, str]]] = defaultdict(list)  # alert_id -> (revision, time, lifecycle)
    kind_of: dict[str, str] = {}
    customer_of: dict[str, str] = {}
    seen: set[tuple[str, int]] = set()
    for alert in alerts:
        at = parse_rfc3339(alert["time"])
        identity = (alert["data"]["alert_id"], alert["data"]["revision"])
        if at > horizon or identity in seen:
            continue  # after the world's end, or an emission re-sent (same CloudEvents id): counted once
        seen.add(identity)
        data = alert["data"]
        emissions[data["alert_id"]].append((data["revision"], at, alert["type"].rsplit(".", 1)[-1]))
        kind_of[data["alert_id"]] = data["kind"]
        customer_of[data["alert_id"]] = data["customer_id"]
    episodes: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for item in truth:
        if parse_rfc3339(item["becomes_true"]) <= horizon:
            episodes[item["alert_id"]].append(item)
            kind_of.setdefault(item["alert_id"], item["kind"])
    near_ids = {item["alert_id"]: item for item in near}
    kinds: dict[str, dict[str, Any]] = {}
    mismatches: list[dict[str, Any]] = []
    for kind in sorted({*KINDS, *kind_of.values()}, key=lambda k: (KINDS.index(k) if k in KINDS else 99, k)):
        tp = fp = fn = 0
        lags: list[float] = []
        clears_expected = clears_seen = clears_on_time = 0
        near_alerted = 0
        for alert_id in sorted(a for a, k in kind_of.items() if k == kind):
            sent = sorted(emissions.get(alert_id, []))
            raised = [at for _, at, lifecycle in sent if lifecycle == "raised"]
            resolved = [at for _, at, lifecycle in sent if lifecycle == "resolved"]
            planted = sorted(episodes.get(alert_id, []), key=lambda e: e["becomes_true"])
            if planted and raised:
                tp += 1
                lags.append((raised[0] - parse_rfc3339(planted[0]["becomes_true"])) / 1000)
            elif planted:
                fn += 1
                mismatches.append({"kind": kind, "what": "missed", "alert_id": alert_id, **_who(planted[0])})
            elif raised:
                fp += 1
                near_alerted += alert_id in near_ids
                mismatches.append(
                    {
                        "kind": kind,
                        "what": "unexpected",
                        "alert_id": alert_id,
                        "customer_id": customer_of.get(alert_id),
                        "raised_at": format_ms(raised[0]),
                        "near_miss": near_ids.get(alert_id, {}).get("scenario"),
                    }
                )
            if planted:
                clears = [parse_rfc3339(e["clears"]) for e in planted if e["clears"]]
                clears_expected += len(clears)
                clears_seen += min(len(clears), len(resolved))
                clears_on_time += len(set(clears) & set(resolved))
                if len(raised) != len(planted) or len(resolved) != len(clears):
                    mismatches.append(
                        {
                            "kind": kind,
                            "what": "lifecycle",
                            "alert_id": alert_id,
                            **_who(planted[0]),
                            "episodes": len(planted),
                            "clears": [format_ms(t) for t in clears],
                            "raised": [format_ms(t) for t in raised],
                            "resolved": [format_ms(t) for t in resolved],
                        }
                    )
        kinds[kind] = {
            **_counts(tp, fp, fn),
            "lag_mean_s": round(statistics.fmean(lags), 1) if lags else None,
            "lag_max_s": round(max(lags), 1) if lags else None,
            "clears_expected": clears_expected,
            "clears_resolved": clears_seen,
            "clears_on_time": clears_on_time,
            "near_misses": sum(1 for n in near if n["kind"] == kind),
            "near_misses_alerted": near_alerted,
        }
    tp, fp, fn = (sum(k[f] for k in kinds.values()) for f in ("tp", "fp", "fn"))
    totals = {
        **_counts(tp, fp, fn),
        "clears_expected": sum(k["clears_expected"] for k in kinds.values()),
        "clears_resolved": sum(k["clears_resolved"] for k in kinds.values()),
        "clears_on_time": sum(k["clears_on_time"] for k in kinds.values()),
        "near_misses": len(near),
        "near_misses_alerted": sum(k["near_misses_alerted"] for k in kinds.values()),
        "lifecycle_mismatches": sum(1 for m in mismatches if m["what"] == "lifecycle"),
    }
    return {"kinds": kinds, "totals": totals, "mismatches": mismatches}


def _who(episode: dict[str, Any]) -> dict[str, Any]:
    return {
        "customer_id": episode["customer_id"],
        "key": episode["key"],
        "becomes_true": episode["becomes_true"],
        "scenario": episode["scenario"],
    }


def _figure(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def format_table(result: dict[str, Any]) -> str:
    header = (
        f"{'kind':<38} {'truth':>5} {'tp':>5} {'fp':>4} {'fn':>4} {'precision':>9} {'recall':>6} "
        f"{'lag mean s':>10} {'lag max s':>9} {'clears':>7} {'near-miss':>9}"
    )
    rows = [header, "-" * len(header)]
    for name, k in [*result["kinds"].items(), ("total", result["totals"])]:
        if name == "total":
            rows.append("-" * len(header))
        rows.append(
            f"{name:<38} {k['truth']:>5} {k['tp']:>5} {k['fp']:>4} {k['fn']:>4} {_figure(k['precision']):>9} "
            f"{_figure(k['recall']):>6} {_figure(k.get('lag_mean_s'), 1):>10} {_figure(k.get('lag_max_s'), 1):>9} "
            f"{k['clears_resolved']:>3}/{k['clears_expected']:<3} {k['near_misses_alerted']:>3}/{k['near_misses']:<5}"
        )
    return "\n".join(rows)


# --- running the world -----------------------------------------------------------------------


def _events(world: Path) -> list[tuple[str, bytes, bytes]]:
    from streams.tools.topic_commands import read_events_file

    good, bad = read_events_file(world / "events.jsonl")
    if bad:
        raise SystemExit(f"fairwatch: {world / 'events.jsonl'} has {len(bad)} invalid line(s): {bad[0]}")
    return good


def _plans(world: Path) -> list[tuple[bytes, bytes]]:
    from streams.tools.topic_commands import read_plans_file

    messages, problems = read_plans_file(world / "plans.toml")
    if problems:
        raise SystemExit(f"fairwatch: {world / 'plans.toml'}: {problems[0]}")
    return messages


def run_in_process(world: Path, partitions: int = 4) -> list[dict[str, Any]]:
    """Replay the world through the Processor in this process; return the alerts as CloudEvents."""
    from streams.processor import Processor

    policy = Policy()
    catalog = {key.decode(): orjson.loads(value) for key, value in _plans(world)}
    store: dict[str, Any] = {}
    offsets: dict[tuple[str, int], int] = defaultdict(int)
    processor = Processor(
        policy, store, store.__setitem__, lambda topic, partition: offsets[(topic, partition)], catalog=catalog
    )
    changes = []
    for topic, key, value in _events(world):
        partition = zlib.crc32(key) % partitions
        offset = offsets[(topic, partition)]
        offsets[(topic, partition)] = offset + 1
        changes.extend(processor.handle(topic, partition, offset, key, value).changes)
    for partition in range(partitions):
        changes.extend(processor.tick(partition))
    return [to_cloudevent(change, policy.currency) for change in changes]


async def _publish(
    bootstrap: list[str],
    partitions: int,
    plans: list[tuple[bytes, bytes]],
    events: list[tuple[str, bytes, bytes]],
    client: dict[str, Any],
) -> None:
    from aiokafka import AIOKafkaProducer

    from streams.config import load_config
    from streams.tools.topic_commands import publish_plans
    from streams.topics import ensure_topics

    names = load_config().topics
    await ensure_topics(bootstrap, partitions, names=names, client=client)
    await publish_plans(bootstrap, plans, names.plans, client=client)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, max_batch_size=256 * 1024, **client)
    await producer.start()
    try:
        for role, key, value in events:
            await producer.send(names.input_topic(role), value=value, key=key)
        await producer.flush()
    finally:
        await producer.stop()


async def _read_alerts(
    bootstrap: list[str], expect: int, timeout: float, client: dict[str, Any]
) -> list[dict[str, Any]]:
    from aiokafka import AIOKafkaConsumer

    from streams.config import load_config

    consumer = AIOKafkaConsumer(
        load_config().topics.alerts,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_max_wait_ms=50,
        **client,
    )
    await consumer.start()
    alerts: list[dict[str, Any]] = []
    try:
        deadline = time.monotonic() + timeout
        quiet_until = None
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200, max_records=5000)
            fresh = [orjson.loads(record.value) for records in batch.values() for record in records]
            alerts.extend(fresh)
            if len(alerts) >= expect:
                if fresh or quiet_until is None:
                    quiet_until = time.monotonic() + 1.0
                elif time.monotonic() >= quiet_until:
                    break
        return alerts
    finally:
        await consumer.stop()


def _log(message: str) -> None:
    print(f"[evaluate] {message}", file=sys.stderr, flush=True)


def run_pipeline(
    world: Path,
    *,
    partitions: int = 4,
    timeout: float = 1800.0,
    work: Path | None = None,
    broker_address: str | None = None,
) -> list[dict[str, Any]]:
    """Publish the world, run a real worker over it, return every alert it emitted (CloudEvents).

    The broker: ``broker_address``, else FAIRWATCH_BROKER, else a fresh embedded one (stopped at the end).
    It must hold none of the input topics' data yet.
    """
    from streams.security import EMBEDDED_ENV, client_kwargs
    from streams.tools.broker import EmbeddedBroker
    from streams.tools.supervisor import WorkerProcess

    summary = orjson.loads((world / "world.json").read_bytes())
    end = parse_rfc3339(summary["end"])
    work = work or world / "evaluate"
    work.mkdir(parents=True, exist_ok=True)
    events = _events(world)
    customers = sorted({key.decode() for _, key, _ in events})
    external = broker_address or os.environ.get("FAIRWATCH_BROKER")
    broker = None if external else EmbeddedBroker(log_path=work / "broker.log").start()
    address = external or broker.address  # type: ignore[union-attr]
    worker = None
    client = client_kwargs(external=bool(external))
    try:
        started = time.monotonic()
        asyncio.run(_publish(address.split(","), partitions, _plans(world), events, client))
        _log(f"published {len(events)} events in {time.monotonic() - started:.1f} s to {address}")
        profile = os.environ.get("FAIRWATCH_BROKER_PROFILE", "kafka" if os.environ.get("FAIRWATCH_BROKER") else "tansu")
        worker = WorkerProcess(
            address,
            work / "worker-data",
            work / "worker.log",
            env=None if external else EMBEDDED_ENV,
            partitions=partitions,
            profile=profile,
        )
        # The truth was planted by the default policy: a policy from the environment would judge another world.
        for name in [n for n in worker.env if n.startswith("FAIRWATCH_POLICY")]:
            del worker.env[name]
        worker.start()
        worker.wait_ready(timeout=120)
        deadline = time.monotonic() + timeout
        counts = worker.counts()
        while counts["in"] - counts["redelivered"] < len(events) or not counts.conserved:
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {counts['in']} of {len(events)} events accounted for; see {worker.log_path}")
            time.sleep(1.0)
            counts = worker.counts()
        _log(
            f"{counts['in']} events in: {counts['processed']} processed, {counts['duplicates']} duplicates, "
            f"{counts['dead_lettered']} dead-lettered ({time.monotonic() - started:.1f} s)"
        )
        _wait_past(worker, customers, end, partitions, deadline)
        expect = sum(worker.counts()["alerts"].values())
        alerts = asyncio.run(_read_alerts(address.split(","), expect, max(30.0, deadline - time.monotonic()), client))
        _log(f"{len(alerts)} alert emissions read ({time.monotonic() - started:.1f} s)")
        return alerts
    finally:
        if worker is not None:
            worker.stop()
        if broker is not None:
            broker.stop()


def _wait_past(worker: Any, customers: list[str], end: int, partitions: int, deadline: float) -> None:
    """Until every partition's stream time, on every input topic, has passed the world's end."""
    from models.events import TIME_TOPICS

    probes: dict[int, str] = {}
    for customer in customers:
        if len(probes) == partitions:
            break
        try:
            status, body = worker.get(f"/customers/{customer}", timeout=5)
        except (OSError, urllib.error.URLError):
            continue
        if status == 200:
            probes.setdefault(orjson.loads(body)["partition"], customer)
    while True:
        behind = []
        for partition, customer in probes.items():
            view = orjson.loads(worker.get(f"/customers/{customer}", timeout=5)[1])
            times = view.get("stream_time", {})
            if any(topic not in times or parse_rfc3339(times[topic]) < end for topic in TIME_TOPICS):
                behind.append(partition)
        if not behind:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"stream time of partitions {behind} has not passed {format_ms(end)}")
        time.sleep(0.5)


def evaluate(world: Path, *, in_process: bool = False, partitions: int = 4, timeout: float = 1800.0) -> int:
    summary, truth, near = load_truth(world)
    started = time.monotonic()
    alerts = (
        run_in_process(world, partitions) if in_process else run_pipeline(world, partitions=partitions, timeout=timeout)
    )
    result = score(alerts, truth, near, parse_rfc3339(summary["end"]))
    result["world"] = {k: summary[k] for k in ("seed", "customers", "months", "window_start", "end", "published")}
    result["mode"] = "in-process" if in_process else "pipeline"
    result["alert_emissions"] = len(alerts)
    result["seconds"] = round(time.monotonic() - started, 1)
    (world / "score.json").write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    print(format_table(result))
    for mismatch in result["mismatches"][:20]:
        print("  " + orjson.dumps(mismatch).decode())
    if len(result["mismatches"]) > 20:
        print(f"  ... {len(result['mismatches']) - 20} more in {world / 'score.json'}")
    perfect = all(k["precision"] in (None, 1.0) and k["recall"] in (None, 1.0) for k in result["kinds"].values())
    return 0 if perfect and not result["mismatches"] else 1
