"""A worker restarted on the same broker recovers its table from the changelog: nothing is raised twice."""

from __future__ import annotations

import time

import orjson
import pytest

from tests.integration.kafka_io import produce, read_topic, run
from tests.integration.test_pipeline import WORKER_ENV, scenario

pytestmark = pytest.mark.integration


def test_restart_recovers_state_and_raises_nothing_twice(start_worker, broker) -> None:
    now = int(time.time() * 1000)
    messages, expected = scenario(now)
    first = start_worker(env=WORKER_ENV, name="first")
    run(produce(broker, messages))
    alerts = run(read_topic(broker, "fairwatch.alerts", expect=len(expected["alerts"]), timeout=30))
    assert len(alerts) == len(expected["alerts"])
    assert first.stop() == 0

    second = start_worker(env=WORKER_ENV, name="second")
    # The same events again, as a producer replaying them would send: all duplicates now.
    replay = expected["good"]
    run(produce(broker, replay))
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and second.counts()["in"] < len(replay):
        time.sleep(0.2)
    counts = second.counts()
    assert counts["in"] == len(replay)
    assert counts["duplicates"] == len(replay)
    assert counts["processed"] == 0
    after = run(read_topic(broker, "fairwatch.alerts", expect=len(expected["alerts"]), timeout=10, quiet=3.0))
    ids = [orjson.loads(record.value)["id"] for record in after]
    assert sorted(ids) == sorted(orjson.loads(record.value)["id"] for record in alerts)
