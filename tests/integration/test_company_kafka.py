"""fairwatch on a company's own Kafka: topics that exist before it, under the company's names, at the company's
partition count; logs with gaps in their offsets; a trailing transaction marker; a failure mid-batch.

Each test creates the input topics itself, before any worker starts, the way a
company's cluster already has them; the broker would create a missing topic at
its own default (4 partitions), so every test also checks that no topic of the
worker's was left to that.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.structs import TopicPartition

from models.timestamps import format_ms
from streams.tools.broker import EmbeddedBroker
from streams.tools.demo import DEMO_CATALOG, DEMO_ENV
from streams.tools.stories import StoryBook
from streams.tools.supervisor import WorkerProcess
from streams.tools.topic_commands import publish_plans, read_plans_file
from streams.topics import describe
from tests.support.kafka_io import read_topic
from tests.support.raw_batches import committed_offsets, gapped_batch, send_batch

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240), pytest.mark.usefixtures("logs_on_failure")]

#: The company's names for its topics, and the worker's settings that point at them.
NAMES = {"orders": "shop.orders.v1", "billing": "finance.invoices", "complaints": "care.tickets"}
ENV = {
    "FAIRWATCH_TOPIC_ORDERS": NAMES["orders"],
    "FAIRWATCH_TOPIC_BILLING": NAMES["billing"],
    "FAIRWATCH_TOPIC_COMPLAINTS": NAMES["complaints"],
    # The worker's default is 8: the inputs' count must win.
    "FAIRWATCH_PARTITIONS": "8",
}
#: The embedded broker's count for a topic it auto-creates.
BROKER_DEFAULT = 4


async def _create(broker: str, counts: dict[str, int]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=[broker])
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, count, 1) for name, count in counts.items()])
    finally:
        await admin.close()


def _topics(broker: str) -> dict[str, int]:
    async def run() -> dict[str, int]:
        admin = AIOKafkaAdminClient(bootstrap_servers=[broker])
        await admin.start()
        try:
            return await describe(admin)
        finally:
            await admin.close()

    return asyncio.run(run())


def _worker(broker: str, tmp_path: Path, name: str, env: dict[str, str] | None = None) -> WorkerProcess:
    return WorkerProcess(
        broker, tmp_path / f"{name}-data", tmp_path / f"{name}.log", env={**ENV, **(env or {})}, partitions=8
    )


async def _produce(broker: str, messages: list[tuple[str, bytes | None, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=[broker], linger_ms=2)
    await producer.start()
    try:
        for topic, key, value in messages:
            await producer.send_and_wait(NAMES[topic], value=value, key=key)
    finally:
        await producer.stop()


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


@pytest.fixture
def embedded(tmp_path: Path):
    with EmbeddedBroker(log_path=tmp_path / "broker.log") as broker:
        yield broker.address


def test_inputs_made_beforehand_at_3_partitions_every_story_alerts_and_both_workers_serve_state(
    embedded: str, tmp_path: Path
) -> None:
    asyncio.run(_create(embedded, {name: 3 for name in NAMES.values()}))
    plans, problems = read_plans_file(DEMO_CATALOG)
    assert not problems
    first = _worker(embedded, tmp_path, "first", DEMO_ENV).start()
    second = _worker(embedded, tmp_path, "second", DEMO_ENV)
    try:
        first.wait_ready(60)
        asyncio.run(publish_plans([embedded], plans))
        second.start().wait_ready(60)
        book = StoryBook(seed=3)
        stories = {
            "promise.late_delivery": book.late,
            "promise.wrong_delivery": book.wrong,
            "promise.billing_error": book.double_billed,
            "promise.urgent_order_refused": book.urgent_refused,
        }
        now = int(time.time() * 1000)
        customers = {kind: f"shop-{number:03d}" for number, kind in enumerate(stories)}
        messages = [m for kind, story in stories.items() for m in story(customers[kind], now)]
        asyncio.run(_produce(embedded, messages))
        _wait(
            lambda: first.counts()["in"] + second.counts()["in"] >= len(messages),
            60,
            "both workers to take every message",
        )
        wanted = set(customers.items())
        raised: set[tuple[str, str]] = set()
        deadline = time.monotonic() + 60
        while not wanted <= raised and time.monotonic() < deadline:
            # A double invoice is judged once both topics' stream time passed it: the live tick moves them.
            alerts = asyncio.run(read_topic(embedded, "fairwatch.alerts", expect=1, timeout=10, quiet=1.0))
            raised = {
                (doc["data"]["kind"], doc["data"]["customer_id"]) for doc in (orjson.loads(r.value) for r in alerts)
            }
        for kind, customer in customers.items():
            assert (kind, customer) in raised, f"{kind} never raised for {customer}: {sorted(raised)}"
        # Each worker answers for every customer: its own, or routed to the other.
        for worker in (first, second):
            for customer in customers.values():
                status, body = worker.get(f"/customers/{customer}", timeout=5)
                assert status == 200, (customer, status, body[:200])
        # The README's claim, from the worker itself: on uvloop (the loop is taken when the app is made).
        assert "running on uvloop.Loop" in (tmp_path / "first.log").read_text()
        topics = _topics(embedded)
        mine = {name: count for name, count in topics.items() if not name.startswith("fairwatch-__assignor")}
        assert mine.pop("plans") == 1
        assert set(mine.values()) == {3}, mine
        assert "orders" not in topics and "billing" not in topics, "a topic under the default name was created"
    finally:
        first.stop()
        second.stop()


def test_inputs_that_are_not_copartitioned_stop_the_worker_with_one_line(embedded: str, tmp_path: Path) -> None:
    asyncio.run(_create(embedded, {NAMES["orders"]: 4, NAMES["billing"]: 2, NAMES["complaints"]: 4}))
    worker = _worker(embedded, tmp_path, "worker").start()
    started = time.monotonic()
    ready_seen = False
    while worker.process.poll() is None and time.monotonic() - started < 15:
        with contextlib.suppress(OSError):
            ready_seen = ready_seen or worker.get("/ready", timeout=0.3)[0] == 200
        time.sleep(0.1)
    status = worker.process.poll()
    log = (tmp_path / "worker.log").read_text()
    worker.stop()
    assert status == 2, f"exit status {status}"
    assert not ready_seen
    lines = [line for line in log.splitlines() if "not co-partitioned" in line]
    assert len(lines) == 1, log[-2000:]
    for name, count in ((NAMES["orders"], 4), (NAMES["billing"], 2), (NAMES["complaints"], 4)):
        assert f"{name} has {count}" in lines[0]
    assert set(_topics(embedded)) == set(NAMES.values()), "the worker created topics before refusing"


def test_an_existing_changelog_at_another_count_stops_the_worker(embedded: str, tmp_path: Path) -> None:
    asyncio.run(_create(embedded, {**{name: 3 for name in NAMES.values()}, "fairwatch-customers-changelog": 6}))
    worker = _worker(embedded, tmp_path, "worker").start()
    deadline = time.monotonic() + 15
    while worker.process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    status = worker.process.poll()
    worker.stop()
    assert status == 2
    log = (tmp_path / "worker.log").read_text()
    assert "fairwatch-customers-changelog has 6 partitions, the input topics 3: delete" in log


def _placed(customer: str, number: int, at: int) -> bytes:
    return orjson.dumps(
        {
            "event_id": f"{customer}-placed-{number}",
            "type": "order.placed",
            "customer_id": customer,
            "occurred_at": format_ms(at),
            "data": {
                "order_id": f"{customer}-o{number}",
                "lines": [{"line_id": "1", "sku": "BOX-M", "qty": 1, "unit_price": 2.5, "spec": {}}],
                "promised_delivery_by": format_ms(at + 3 * 86_400_000),
                "urgent": False,
            },
        }
    )


def _one_customer_per_partition(partitions: int) -> dict[int, str]:
    """A customer id for each partition, as a producer's default partitioner places its key."""
    partitioner = DefaultPartitioner()
    found: dict[int, str] = {}
    number = 0
    while len(found) < partitions:
        customer = f"gap-{number}"
        found.setdefault(partitioner(customer.encode(), list(range(partitions)), list(range(partitions))), customer)
        number += 1
    return found


def _lag(worker: WorkerProcess) -> float:
    text = worker.get("/metrics")[1].decode()
    return sum(
        float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith("fairwatch_input_lag_messages{")
    )


def test_a_log_with_gaps_and_a_trailing_marker_is_processed_whole_with_no_seek(embedded: str, tmp_path: Path) -> None:
    """Offsets 0, 1, 5, 6, 9 on every partition (compaction), then one batch that ends past its last record (a
    transaction's commit marker), then ordinary events: all handled once, lag 0, /live 200, no seek."""
    asyncio.run(_create(embedded, {name: 2 for name in NAMES.values()}))
    now = int(time.time() * 1000) - 3_600_000
    customers = _one_customer_per_partition(2)
    deltas = (0, 1, 5, 6, 9)
    for partition, customer in customers.items():
        batch = [(d, customer.encode(), _placed(customer, d, now + d)) for d in deltas]
        asyncio.run(send_batch(embedded, NAMES["orders"], partition, gapped_batch(batch)))
        marker = [(0, customer.encode(), _placed(customer, 100, now + 100))]
        asyncio.run(send_batch(embedded, NAMES["orders"], partition, gapped_batch(marker, last_offset_delta=1)))
    worker = _worker(embedded, tmp_path, "worker").start()
    try:
        worker.wait_ready(60)
        expected = 2 * (len(deltas) + 1)
        _wait(lambda: worker.counts()["processed"] >= expected, 30, f"{expected} processed")
        _wait(lambda: _lag(worker) == 0, 20, "lag 0 after the trailing marker")
        later = [
            ("orders", c.encode(), _placed(c, 200 + n, now + 200 + n)) for n in range(3) for c in customers.values()
        ]
        asyncio.run(_produce(embedded, later))
        _wait(lambda: worker.counts()["processed"] >= expected + len(later), 30, "the events after the gaps")
        _wait(lambda: _lag(worker) == 0, 20, "lag 0")
        counts = worker.counts()
        assert counts["processed"] == expected + len(later) and counts.conserved, counts
        assert counts["duplicates"] == 0, counts
        assert worker.get("/live")[0] == 200
        log = (tmp_path / "worker.log").read_text()
        assert "reading it again" not in log and "SEEK" not in log
        # A gap in the log is no record skipped: nothing was read from the log to fill it.
        assert "the consumer skipped" not in log
    finally:
        worker.stop()


def test_a_failure_inside_a_batch_stops_the_worker_before_anything_is_committed(embedded: str, tmp_path: Path) -> None:
    asyncio.run(_create(embedded, {name: 2 for name in NAMES.values()}))
    worker = _worker(embedded, tmp_path, "worker", {"FAIRWATCH_TEST_FAULT": "state_delivered:3"}).start()
    worker.wait_ready(60)
    now = int(time.time() * 1000) - 3_600_000
    for n in range(6):
        # One event at a time, so each is a batch of its own while the worker runs.
        asyncio.run(_produce(embedded, [("orders", b"fail-1", _placed("fail-1", n, now + n))]))
        time.sleep(0.5)
    _wait(lambda: worker.process.poll() is not None, 20, "the worker to exit")
    status = worker.process.poll()
    worker.stop()
    assert status == 70, status
    log = (tmp_path / "worker.log").read_text()
    assert log.count("fairwatch: stopping: processing a batch failed: RuntimeError: injected fault") >= 1

    tps = [TopicPartition(NAMES["orders"], partition) for partition in range(2)]
    offsets = {
        tp: offset for tp, offset in asyncio.run(committed_offsets(embedded, "fairwatch", tps)).items() if offset
    }
    # Two batches of one event each were handled and acked; the third failed: the commit is at most 2.
    assert sum(offsets.values()) <= 2, offsets
    again = _worker(embedded, tmp_path, "again").start()
    try:
        again.wait_ready(60)
        _wait(lambda: again.counts()["in"] >= 6 - sum(offsets.values()), 30, "the rest")
        state = orjson.loads(again.get("/customers/fail-1")[1])
        assert len(state["open_orders"]) == 6, state
    finally:
        again.stop()


def test_a_deadline_on_a_quiet_topic_fires_by_the_tick_after_a_restore(embedded: str, tmp_path: Path) -> None:
    """Orders placed and delivered, then the workers stop; a fresh worker restores from the changelog and the
    invoices arrive, billing each line twice. The orders topic stays quiet: only the live tick can move its
    time past the invoices, which the billing judgement waits for."""
    asyncio.run(_create(embedded, {name: 3 for name in NAMES.values()}))
    book = StoryBook(seed=5)
    now = int(time.time() * 1000)
    customers = [f"quiet-{n:03d}" for n in range(20)]
    stories = [book.double_billed(customer, now - 60_000) for customer in customers]
    orders = [m for story in stories for m in story if m[0] == "orders"]
    invoices = [m for story in stories for m in story if m[0] == "billing"]
    env = {"FAIRWATCH_POLICY_GRACE_MINUTES": "0.05"}
    first = _worker(embedded, tmp_path, "first", env).start()
    try:
        first.wait_ready(60)
        asyncio.run(_produce(embedded, orders))
        _wait(lambda: first.counts()["processed"] >= len(orders), 30, "the orders")
    finally:
        first.stop()
    fresh = _worker(embedded, tmp_path, "fresh", env).start()  # an empty data dir: restored from the changelog
    try:
        fresh.wait_ready(60)
        asyncio.run(_produce(embedded, invoices))

        def billed_twice() -> set[str]:
            alerts = asyncio.run(read_topic(embedded, "fairwatch.alerts", expect=1, timeout=10, quiet=1.0))
            found = (orjson.loads(r.value)["data"] for r in alerts)
            return {d["customer_id"] for d in found if d["kind"] == "promise.billing_error"}

        deadline = time.monotonic() + 60
        found: set[str] = set()
        while found != set(customers) and time.monotonic() < deadline:
            found = billed_twice()
        assert found == set(customers), f"{len(found)} of {len(customers)} double invoices alerted"
    finally:
        fresh.stop()


def test_three_workers_on_two_partitions_the_idle_one_stays_up_and_ready(embedded: str, tmp_path: Path) -> None:
    asyncio.run(_create(embedded, {name: 2 for name in NAMES.values()}))
    workers = [_worker(embedded, tmp_path, f"w{n}") for n in range(3)]
    try:
        for worker in workers:
            worker.start().wait_ready(60)
        now = int(time.time() * 1000) - 3_600_000
        messages = [("orders", f"c-{n}".encode(), _placed(f"c-{n}", n, now + n)) for n in range(40)]
        asyncio.run(_produce(embedded, messages))
        _wait(lambda: sum(w.counts()["processed"] for w in workers) >= len(messages), 60, "every message")
        taking = [w.counts()["processed"] for w in workers]
        assert sum(taking) == len(messages), taking
        assert sorted(taking)[0] == 0 and sorted(taking)[1] > 0, f"expected one idle worker: {taking}"
        for worker in workers:
            assert worker.process.poll() is None
            assert worker.get("/ready")[0] == 200
            assert worker.get("/live")[0] == 200
    finally:
        for worker in workers:
            worker.stop()


def test_a_worker_that_may_not_create_topics_names_the_missing_ones_and_creates_nothing(
    embedded: str, tmp_path: Path
) -> None:
    asyncio.run(_create(embedded, {name: 3 for name in NAMES.values()}))
    worker = _worker(embedded, tmp_path, "worker", {"FAIRWATCH_CREATE_TOPICS": "0"}).start()
    deadline = time.monotonic() + 15
    while worker.process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    status = worker.process.poll()
    worker.stop()
    assert status == 2
    log = (tmp_path / "worker.log").read_text()
    line = next(line for line in log.splitlines() if "missing topics (FAIRWATCH_CREATE_TOPICS=0" in line)
    for topic in ("fairwatch.ticks", "fairwatch-customers-changelog", "fairwatch.alerts", "fairwatch.feedback"):
        assert f"{topic} (3 partitions)" in line
    assert set(_topics(embedded)) == set(NAMES.values()), "a topic was created"
