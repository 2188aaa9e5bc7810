"""A restarted worker comes back with its state: nothing is processed or raised twice.

Memory store: the table is recovered from its changelog on the broker. RocksDB
store: the worker reopens its local store in the same data directory and reads
the changelog only past what it had persisted.
"""

from __future__ import annotations

import time

import orjson
import pytest

from tests.support.kafka_io import produce, read_topic, run
from tests.support.pipeline_scenario import WORKER_ENV, scenario

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(("store", "names"), [("memory", ("first", "second")), ("rocksdb", ("worker", "worker"))])
def test_restart_recovers_state_and_raises_nothing_twice(start_worker, broker, store, names) -> None:
    env = {**WORKER_ENV, "FAIRWATCH_STORE": store}
    now = int(time.time() * 1000)
    messages, expected = scenario(now)
    first = start_worker(env=env, name=names[0])
    run(produce(broker, messages))
    alerts = run(read_topic(broker, "fairwatch.alerts", expect=len(expected["alerts"]), timeout=30))
    assert len(alerts) == len(expected["alerts"])
    before = {c: orjson.loads(first.get(f"/customers/{c}")[1]) for c in ("c-late", "c-wrong", "c-lost")}
    assert first.stop() == 0

    second = start_worker(env=env, name=names[1])
    for customer, state in before.items():
        status, body = second.get(f"/customers/{customer}")
        assert status == 200
        after = orjson.loads(body)
        assert after["alerts"] == state["alerts"]
        assert after["open_orders"] == state["open_orders"]
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
