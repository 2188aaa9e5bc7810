"""Baseline: a minimal Faust agent that only iterates and orjson-decodes each value (no state, no output).

Run by the benchmark in a child process: ``python -m streams.tools.bench.bare_faust RESULT_FILE`` with
``BENCH_BROKER``, ``BENCH_EXPECT``, ``BENCH_PARTITIONS`` and ``BENCH_GROUP`` in the environment. It writes
``{"first": t, "last": t, "count": n}`` (wall-clock seconds) to RESULT_FILE once it has seen the expected
number of messages, then idles until the benchmark stops it. Same broker timing as fairwatch's ``tansu``
profile (short session, short fetch wait), so the two compare like for like.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import faust
import orjson
from faust.transport.drivers import aiokafka as faust_aiokafka
from mode import loop as mode_loop

from models.events import INPUT_TOPICS
from streams.tools.bench.result import publish

FETCH_MAX_WAIT_MS = int(os.environ.get("BENCH_FETCH_MAX_WAIT_MS", "10"))


class _ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS  # as streams.app does for fairwatch
        return consumer


class _Consumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> _ConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class _Transport(faust_aiokafka.Transport):
    Consumer = _Consumer


class _App(faust.App):
    def _new_transport(self) -> Any:
        return _Transport(self.conf.broker_consumer, self)


def build(result: Path) -> faust.App:
    expect = int(os.environ["BENCH_EXPECT"])
    partitions = int(os.environ.get("BENCH_PARTITIONS", "8"))
    app = _App(
        os.environ.get("BENCH_GROUP", "bench-bare-faust"),
        broker=f"kafka://{os.environ['BENCH_BROKER']}",
        store="memory://",
        # In the bench's own work directory: Faust's default is "<app id>-data" in the current directory.
        datadir=str(result.parent / "bare-faust-data"),
        autodiscover=False,
        web_enabled=False,
        broker_session_timeout=2.0,
        broker_heartbeat_interval=0.5,
        topic_partitions=partitions,
        topic_replication_factor=1,
        consumer_auto_offset_reset="earliest",
        key_serializer="raw",
        value_serializer="raw",
        stream_wait_empty=False,
    )
    topic = app.topic(*INPUT_TOPICS, partitions=partitions, key_serializer="raw", value_serializer="raw")
    seen = [0, 0.0]

    @app.agent(topic)
    async def decode(stream: Any) -> None:
        async for value in stream:
            try:  # noqa: SIM105 (contextlib.suppress costs a context manager per event)
                orjson.loads(value)
            except orjson.JSONDecodeError:
                pass
            seen[0] += 1
            if seen[0] == 1:
                seen[1] = time.time()
            elif seen[0] == expect:
                publish(result, {"first": seen[1], "last": time.time(), "count": seen[0]})

    return app


def main() -> None:
    app = build(Path(sys.argv[1]))
    # Faust reads ``--loop`` from sys.argv only when ``faust`` is first imported (faust/__init__.py), so the
    # policy is set here, before the worker makes its loop.
    mode_loop.use(os.environ.get("BENCH_LOOP", "aio"))
    sys.argv = ["bench-bare-faust", "worker", "-l", "warn"]
    app.main()


if __name__ == "__main__":
    main()
