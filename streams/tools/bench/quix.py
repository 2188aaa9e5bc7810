"""Baseline: the peer a user would pick instead, Quix Streams, with a stateful per-customer step.

Each event is decoded with orjson, a per-customer record in RocksDB state (with its changelog topic) is
updated, and one message per event is produced to an output topic. Run by the benchmark in a child
process: ``python -m streams.tools.bench.quix RESULT_FILE`` with ``BENCH_BROKER``, ``BENCH_EXPECT``,
``BENCH_GROUP``, ``BENCH_STATE_DIR``; it writes ``{"first", "last", "count"}`` like streams.tools.bench.bare_faust.
On the embedded Tansu broker the input topics must carry explicit retention.ms / retention.bytes (Quix reads
them back to configure its changelog topics; the benchmark creates them so) and a short session timeout.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import orjson
from quixstreams import Application, State

from models.events import INPUT_TOPICS
from streams.tools.bench.result import publish

OUTPUT_TOPIC = "bench.quix-out"


def main() -> None:
    result = Path(sys.argv[1])
    expect = int(os.environ["BENCH_EXPECT"])
    app = Application(
        broker_address=os.environ["BENCH_BROKER"],
        consumer_group=os.environ.get("BENCH_GROUP", "bench-quix"),
        auto_offset_reset="earliest",
        state_dir=os.environ.get("BENCH_STATE_DIR", "quix-state"),
        consumer_extra_config={"session.timeout.ms": 2000, "heartbeat.interval.ms": 500},
        loglevel="WARNING",
    )
    output = app.topic(OUTPUT_TOPIC, key_serializer="bytes", value_serializer="bytes")
    seen = [0, 0.0]

    def step(value: bytes, state: State) -> bytes:
        try:
            event: Any = orjson.loads(value)
        except orjson.JSONDecodeError:
            event = None
        kind = event.get("type", "?") if isinstance(event, dict) else "invalid"
        record = state.get("c") or {"n": 0, "types": {}}
        record["n"] += 1
        record["types"][kind] = record["types"].get(kind, 0) + 1
        state.set("c", record)
        seen[0] += 1
        if seen[0] == 1:
            seen[1] = time.time()
        elif seen[0] == expect:
            publish(result, {"first": seen[1], "last": time.time(), "count": seen[0]})
        return orjson.dumps({"n": record["n"], "type": kind})

    for name in INPUT_TOPICS:
        topic = app.topic(name, key_deserializer="bytes", value_deserializer="bytes")
        app.dataframe(topic).apply(step, stateful=True).to_topic(output)
    app.run()


if __name__ == "__main__":
    main()
