"""The bench's rules phase (issue 14, target 1): fairwatch's own code alone, in this process, on one core.

No broker and no Faust: the pre-generated messages go, as raw bytes, through
streams.processor.Processor in batched mode as the ingest agent drives it
(batches of ``BATCH_MAX`` in arrival order; alerts encoded as CloudEvents with
``orjson.dumps``; then each dirty state encoded as the worker stores it,
streams.state_record, and written). The store keeps the encoded bytes and
decodes on every read, as the RocksDB store does, so the size of a state record
costs here what it costs the worker. A final tick per partition fires what is left, as ``evaluate
--in-process`` does; it is timed too.

The figure is events per second of wall time (one thread: one core), with the
CPU seconds beside it; the state size is the encoded records per customer at
the end of the run.
"""

from __future__ import annotations

import cProfile
import gc
import time
import zlib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import orjson

from models.alerts import to_cloudevent
from models.policy import Policy
from streams.processor import HOLD_DECODED, Processor, is_input_offsets_key
from streams.state_record import decode_state, encode_state, stored_bytes
from streams.tools.bench.workload import Message
from streams.tools.topic_commands import read_plans_file

__all__ = ["run_rules", "RULES_TARGET_EPS", "BATCH_MAX"]

#: Issue 14, target 1.
RULES_TARGET_EPS = 50_000
#: As agents.ingest (not imported: the bench never loads the Faust app).
BATCH_MAX = 1000
CATALOG = Path(__file__).resolve().parent.parent / "data" / "plans.toml"


class EncodedStore(Mapping[str, Any]):
    """customer_id -> state, held as stored bytes and decoded on each read (as the RocksDB store does)."""

    def __init__(self) -> None:
        self.records: dict[str, bytes] = {}

    def __getitem__(self, key: str) -> Any:
        return decode_state(self.records[key])

    def get(self, key: str, default: Any = None) -> Any:
        record = self.records.get(key)
        return default if record is None else decode_state(record)

    def __iter__(self) -> Iterator[str]:
        return iter(self.records)

    def __len__(self) -> int:
        return len(self.records)


def _catalog() -> dict[str, Any]:
    plans, problems = read_plans_file(CATALOG)
    if problems:
        raise SystemExit(f"fairwatch bench: {CATALOG}: {problems[0]}")
    return {key.decode(): orjson.loads(value) for key, value in plans}


def _write(records: dict[str, bytes], dirty: Mapping[str, Any]) -> None:
    """A checkpoint's writes, as the worker stores them (a state set aside is in those bytes already)."""
    for key, state in dirty.items():
        records[key] = stored_bytes(state)


def run_rules(
    messages: list[Message],
    partitions: int = 8,
    *,
    profile: Path | None = None,
    keep_alerts: bool = False,
    keep_records: bool = False,
    wall_clock: Callable[[], float] = time.time,
) -> dict[str, Any]:
    """Drive the Processor over ``messages``; figures (and, with ``keep_alerts``, the encoded alerts; with
    ``keep_records``, the stored records by key).

    ``wall_clock`` is what the final tick moves stream time to (less the grace): what it fires and what
    retention then forgets depend on it, so a run that must give the same states twice fixes it.
    """
    policy = Policy()
    currency = policy.currency
    store = EncodedStore()
    records = store.records
    # Partition as the worker would see it (any stable hash does: the rules only need a customer on one partition).
    routed = [(topic, zlib.crc32(key or b"") % partitions, key, value) for topic, key, value in messages]
    ends: dict[tuple[str, int], int] = {}
    for topic, partition, _, _ in routed:
        ends[topic, partition] = ends.get((topic, partition), 0) + 1
    processor = Processor(
        policy,
        store,
        lambda key, state: records.__setitem__(key, encode_state(state)),
        lambda topic, partition: ends.get((topic, partition), 0),
        wall_clock=wall_clock,
        catalog=_catalog(),
        batched=True,
        hold_decoded=HOLD_DECODED,
    )
    offsets: dict[tuple[str, int], int] = {}
    dumps = orjson.dumps
    alerts: list[bytes] = []
    alert_count = alert_bytes = 0
    profiler = cProfile.Profile() if profile is not None else None
    # The harness's own input (a tuple per message) is not what a worker holds: out of the collector's sight,
    # so that its size does not make every full collection of the timed part slower.
    gc.collect()
    gc.freeze()
    cpu_started = time.process_time()
    started = time.perf_counter()
    if profiler is not None:
        profiler.enable()
    for first in range(0, len(routed), BATCH_MAX):
        out: list[bytes] = []
        for topic, partition, key, value in routed[first : first + BATCH_MAX]:
            offset = offsets.get((topic, partition), 0)
            offsets[topic, partition] = offset + 1
            outcome = processor.handle(topic, partition, offset, key, value)
            for change in outcome.changes:
                out.append(dumps(to_cloudevent(change, currency)))
        processor.flush_metrics()
        _write(records, processor.take_dirty())
        alert_count += len(out)
        alert_bytes += sum(map(len, out))
        if keep_alerts:
            alerts += out
    out = []
    for partition in range(partitions):
        for change in processor.tick(partition):
            out.append(dumps(to_cloudevent(change, currency)))
    _write(records, processor.take_dirty())
    alert_count += len(out)
    if keep_alerts:
        alerts += out
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    gc.unfreeze()
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(str(profile))
    states = [record for key, record in records.items() if not is_input_offsets_key(key)]
    sizes = [len(record) for record in states]
    found: dict[str, Any] = {
        "events": len(messages),
        "seconds": seconds,
        "cpu_seconds": cpu,
        "eps": len(messages) / seconds if seconds > 0 else None,
        "alerts": alert_count,
        "alert_bytes": alert_bytes,
        "customers": len(sizes),
        "state_bytes_per_customer": sum(sizes) / len(sizes) if sizes else None,
        "state_bytes_max": max(sizes, default=None),
        # The same records uncompressed (the document models.state describes), for the reader of the figure.
        "state_json_bytes_per_customer": (
            sum(len(orjson.dumps(decode_state(record))) for record in states) / len(states) if states else None
        ),
    }
    if keep_alerts:
        found["encoded_alerts"] = alerts
    if keep_records:
        found["records"] = records
    return found
