"""GET /customers/{id} answers from either of two workers, for every customer (Faust routes it)."""

from __future__ import annotations

import time

import orjson
import pytest

from tests.support.kafka_io import produce, read_topic, run
from tests.support.pipeline_scenario import WORKER_ENV, scenario
from tests.support.workers import wait_until_split

pytestmark = pytest.mark.integration


def test_either_worker_answers_for_every_customer(start_worker, broker) -> None:
    first = start_worker(env=WORKER_ENV, name="first")
    second = start_worker(env=WORKER_ENV, name="second")
    wait_until_split([first, second])
    now = int(time.time() * 1000)
    messages, expected = scenario(now)
    run(produce(broker, messages))
    run(read_topic(broker, "fairwatch.alerts", expect=len(expected["alerts"]), timeout=30))

    customers = {"c-late", "c-wrong", "c-fine", "c-lost"}
    for worker in (first, second):
        for customer in customers:
            status, body = worker.get(f"/customers/{customer}")
            assert status == 200, (worker.url, customer, body)
            state = orjson.loads(body)
            assert state["customer_id"] == customer
        status, _ = worker.get("/customers/nobody-like-this")
        assert status == 404

    late = orjson.loads(first.get("/customers/c-late")[1])
    assert late["closed_orders"]["O-1"]["status"] == "delivered"
    assert [a["kind"] for a in late["alerts"].values()] == ["promise.late_delivery"]
    lost = orjson.loads(second.get("/customers/c-lost")[1])
    assert list(lost["open_orders"]) == ["O-4"]
    # Both workers hold partitions: the routing was exercised, not avoided.
    partitions = {orjson.loads(first.get(f"/customers/{c}")[1])["partition"] for c in customers}
    assert len(partitions) > 1
