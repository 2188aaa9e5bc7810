"""Forgetting a customer (GDPR art. 17): ``fairwatch forget`` and the policy's ``inactive_customer_days``.

Forgotten: the customer's state (a tombstone in the changelog, so a worker that
restores from it finds nothing) and the live page's memory of them (a notice on
the alert topic, which every page reads, on a re-read from the beginning too).
Their alerts already on the alert topic stay (the company's, under its retention).
A later event for them starts a fresh state.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable

import orjson
import pytest

from models.alerts import FORGOTTEN_TYPE
from models.timestamps import MS_PER_DAY, format_ms
from streams.tools.supervisor import WorkerProcess
from tests.support.kafka_io import produce, read_topic, run
from tests.support.pipeline_scenario import WORKER_ENV, event, line, scenario

pytestmark = pytest.mark.integration

CHANGELOG = "fairwatch-customers-changelog"


def wait_for(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout} s: {what}")
        time.sleep(0.2)


def forget(broker: str, customer_id: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FAIRWATCH_BROKER": broker, "FAIRWATCH_PARTITIONS": "4"}
    return subprocess.run(
        [sys.executable, "-m", "streams.tools.cli", "forget", customer_id],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def forgotten_total(worker: WorkerProcess, reason: str) -> float:
    line_start = f'fairwatch_customers_forgotten_total{{reason="{reason}"}} '
    for text in worker.get("/metrics")[1].decode().splitlines():
        if text.startswith(line_start):
            return float(text.split()[-1])
    return 0.0


def test_forget_removes_the_state_and_the_page_memory_and_survives_a_restart(start_worker, broker) -> None:
    first = start_worker(env=WORKER_ENV, name="first")
    now = int(time.time() * 1000)
    messages, expected = scenario(now)
    run(produce(broker, messages))
    run(read_topic(broker, "fairwatch.alerts", expect=len(expected["alerts"]), timeout=30))
    assert first.get("/customers/c-late")[0] == 200
    wait_for(lambda: first.get("/api/customers/c-late/story")[0] == 200, "the page knows c-late")
    assert orjson.loads(first.get("/api/customers/c-late/story")[1])["findings"]

    done = forget(broker, "c-late")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("asked the worker owning partition ") and done.stdout.strip().endswith("c-late")

    wait_for(lambda: first.get("/customers/c-late")[0] == 404, "the state gone")
    wait_for(lambda: first.get("/api/customers/c-late/story")[0] == 404, "the page's memory of c-late gone")
    feed = orjson.loads(first.get("/api/alerts?limit=500")[1])["alerts"]
    assert feed and all(entry["customer_id"] != "c-late" for entry in feed)
    assert first.get("/customers/c-wrong")[0] == 200  # nobody else
    assert forgotten_total(first, "request") == 1
    # The customer_id is not written to the log either.
    assert "c-late" not in first.log_path.read_text(errors="replace")

    # The changelog ends with a tombstone for them; the alert topic keeps their alerts, then the notice.
    last = {record.key: record.value for record in run(read_topic(broker, CHANGELOG, expect=1, timeout=30))}
    assert b"c-late" in last and last[b"c-late"] is None
    documents = [orjson.loads(r.value) for r in run(read_topic(broker, "fairwatch.alerts", expect=6, timeout=30))]
    late = [d for d in documents if d["data"]["customer_id"] == "c-late"]
    assert [d["type"] for d in late][-1] == FORGOTTEN_TYPE
    assert len(late) == 3  # raised and updated, then the notice
    assert late[-1]["data"] == {"customer_id": "c-late", "reason": "request"}
    first.stop()

    # A worker restoring from the changelog, and reading the alert topic from the beginning, holds nothing of them.
    second = start_worker(env=WORKER_ENV, name="second")
    assert second.get("/customers/c-late")[0] == 404
    assert second.get("/customers/c-wrong")[0] == 200
    wait_for(lambda: orjson.loads(second.get("/api/summary")[1])["forgotten_customers"] == 1, "the page re-read")
    assert second.get("/api/customers/c-late/story")[0] == 404
    assert second.get("/api/customers/c-wrong/story")[0] == 200

    # A later event starts afresh: nothing of the old state, not even the event ids seen.
    fresh = event(
        "e-late-9",
        "order.placed",
        "c-late",
        int(time.time() * 1000),
        order_id="O-9",
        lines=[line("1", "MUG-W", 1, 8.90)],
        promised_delivery_by=format_ms(int(time.time() * 1000) + 5 * MS_PER_DAY),
    )
    again = next(m for m in messages if m[1] == b"c-late")  # the first event of the forgotten state, sent again
    run(produce(broker, [("orders", b"c-late", fresh), again]))
    wait_for(lambda: second.get("/customers/c-late")[0] == 200, "a fresh state")
    wait_for(lambda: "O-1" in orjson.loads(second.get("/customers/c-late")[1])["open_orders"], "the old order again")
    state = orjson.loads(second.get("/customers/c-late")[1])
    assert set(state["open_orders"]) == {"O-9", "O-1"}
    assert state["closed_orders"] == {}


def test_inactive_customers_are_forgotten_by_policy(start_worker, broker) -> None:
    now = int(time.time() * 1000)
    old, recent = now - 30 * MS_PER_DAY, now - MS_PER_DAY
    boxes = [line("1", "BOX-40", 1, 2.49)]
    messages = [
        ("orders", b"c-old", event("o-1", "order.placed", "c-old", old, order_id="O-1", lines=boxes,
                                    promised_delivery_by=format_ms(old + MS_PER_DAY))),
        ("orders", b"c-old", event("o-2", "order.delivered", "c-old", old + 3 * MS_PER_DAY, order_id="O-1")),
        ("orders", b"c-new", event("n-1", "order.placed", "c-new", recent, order_id="O-2", lines=boxes,
                                    promised_delivery_by=format_ms(now + MS_PER_DAY))),
    ]  # fmt: skip
    worker = start_worker(env={**WORKER_ENV, "FAIRWATCH_POLICY_INACTIVE_CUSTOMER_DAYS": "10"})
    run(produce(broker, messages))
    # c-old's late delivery raised alerts; then, 27 days without an event, c-old is forgotten.
    wait_for(lambda: forgotten_total(worker, "inactive") == 1, "c-old forgotten", timeout=60)
    assert worker.get("/customers/c-old")[0] == 404
    assert worker.get("/customers/c-new")[0] == 200
    wait_for(lambda: worker.get("/api/customers/c-old/story")[0] == 404, "the page forgot c-old")
    documents = [orjson.loads(r.value) for r in run(read_topic(broker, "fairwatch.alerts", expect=1, timeout=30))]
    notices = [d["data"] for d in documents if d["type"] == FORGOTTEN_TYPE]
    assert notices == [{"customer_id": "c-old", "reason": "inactive"}]
    time.sleep(2)  # more ticks: c-new (one day quiet) stays
    assert worker.get("/customers/c-new")[0] == 200 and forgotten_total(worker, "inactive") == 1


def test_forget_needs_a_customer_id(broker) -> None:
    done = forget(broker, " ")
    assert done.returncode == 2 and "give the customer_id to forget" in done.stderr
