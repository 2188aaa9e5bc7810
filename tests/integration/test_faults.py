"""Faults on the real embedded broker: a worker killed with -9, a rebalance, a broker restart.

Each fault run is compared with a reference: the same messages through a worker
on its own broker that nothing happens to. The live tick is switched off in
both (FAIRWATCH_TICK_SECONDS=3600), so stream time moves only with the events
and the outcome cannot depend on when things happened; what must hold is that
the fault changed nothing:

- every customer's state in the table equals the reference, customer by customer;
- every good event is in its customer's de-duplication memory, every bad one is
  on the dead-letter topic (a redelivered one may be there twice, under the same
  source offset);
- the alerts carry the same alert_ids and CloudEvents ids as the reference, and
  any re-sent alert is byte for byte the one sent before (consumers de-duplicate
  by the CloudEvents id).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from models.errors import Rejected
from models.events import decode_event
from models.policy import load_policy
from models.state import event_mark, marks
from models.timestamps import MS_PER_DAY
from streams.processor import is_input_offsets_key
from streams.state_record import decode_state
from streams.tools.broker import EmbeddedBroker
from streams.tools.stories import Message, StoryBook
from streams.tools.supervisor import WorkerProcess
from tests.support.kafka_io import PARTITIONS, prepare_topics_and_plans, read_topic

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240), pytest.mark.usefixtures("logs_on_failure")]

REFERENCE_ENV = {"FAIRWATCH_TICK_SECONDS": "3600"}
#: The workers under fault hold at most 8 written states of a batch decoded (the others in their stored bytes):
#: a paced batch here touches up to about 30 customers, far below the worker's own bound.
ENV = {**REFERENCE_ENV, "FAIRWATCH_TEST_HOLD_DECODED": "8"}
CHANGELOG = "fairwatch-customers-changelog"


def _history(customers: int = 120, rounds: int = 3, seed: int = 5) -> list[Message]:
    """Customer stories from the demo's generator, dated over the past weeks."""
    book = StoryBook(seed=seed)
    rng = random.Random(seed)
    end = int(time.time() * 1000) - 2 * MS_PER_DAY
    messages: list[Message] = []
    for round_ in range(rounds):
        for number in range(customers):
            story = book.weighted()
            now = end - (rounds - round_) * 7 * MS_PER_DAY - rng.randrange(MS_PER_DAY)
            messages.extend(story(f"f-{number:04d}", now))
    # A shop's systems send in event-time order, give or take: each message is
    # sent up to half the grace late, so the disorder stays within the grace
    # (beyond it the outcome depends on arrival order by design: SPEC §4).
    half_grace = load_policy(None, {}).grace_minutes * 30_000
    at = 0
    ordered = []
    for message in messages:
        with contextlib.suppress(Rejected):
            at = decode_event(*message).at
        ordered.append((at + rng.randrange(int(half_grace)), len(ordered), message))
    return [message for _, _, message in sorted(ordered)]


class _Producer:
    """Produces the history in the background, in paced chunks, so faults land mid-stream."""

    def __init__(self, broker: str, messages: list[Message], chunk: int = 60, pause: float = 0.05) -> None:
        self.broker, self.messages, self.chunk, self.pause = broker, messages, chunk, pause
        self.sent = 0
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> _Producer:
        self._thread.start()
        return self

    def join(self, timeout: float = 120.0) -> None:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the producer did not finish"
        if self.error is not None:
            raise self.error

    def _run(self) -> None:
        try:
            asyncio.run(self._produce())
        except BaseException as exc:  # reported by join()
            self.error = exc

    async def _produce(self) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=[self.broker], linger_ms=5)
        await producer.start()
        try:
            for start in range(0, len(self.messages), self.chunk):
                futures = [
                    await producer.send(topic, key=key, value=value)
                    for topic, key, value in self.messages[start : start + self.chunk]
                ]
                await asyncio.gather(*futures)
                self.sent += len(futures)
                await asyncio.sleep(self.pause)
        finally:
            await producer.stop()


def _worker(broker: str, tmp_path: Path, name: str, env: dict[str, str] = ENV) -> WorkerProcess:
    return WorkerProcess(broker, tmp_path / f"{name}-data", tmp_path / f"{name}.log", env=env, partitions=PARTITIONS)


def _tables(workers: list[WorkerProcess], customers: list[str]) -> dict[str, bytes]:
    """Each customer's state as one worker serves it (routed to the owner), canonical JSON."""
    out = {}
    for number, customer in enumerate(customers):
        status, body = workers[number % len(workers)].get(f"/customers/{customer}", timeout=5)
        assert status == 200, (customer, status, body[:200])
        out[customer] = orjson.dumps(orjson.loads(body), option=orjson.OPT_SORT_KEYS)
    return out


def _wait_equal(read: Callable[[], dict[str, bytes]], reference: dict[str, bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    failure: BaseException | None = None
    while True:
        try:
            seen, failure = read(), None
        except (AssertionError, OSError) as exc:  # not answering for every customer (yet)
            seen, failure = {}, exc
        if seen == reference or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    differing = sorted(c for c in reference if seen.get(c) != reference[c])
    assert not differing, (
        f"{len(differing)} customers differ from the reference (last error: {failure!r}), e.g. {differing[0]}:\n"
        f"{seen.get(differing[0])!r}\nvs\n{reference[differing[0]]!r}"
    )


class _Reference:
    """The same messages through an undisturbed worker on a broker of its own."""

    def __init__(self, messages: list[Message], tmp_path: Path) -> None:
        self.broker = EmbeddedBroker(log_path=tmp_path / "reference-broker.log").start()
        try:
            prepare_topics_and_plans(self.broker.address)
            self.worker = _worker(self.broker.address, tmp_path, "reference", REFERENCE_ENV).start()
            self.worker.wait_ready(60)
        except BaseException:
            self.close()
            raise
        producer = _Producer(self.broker.address, messages, chunk=500, pause=0).start()
        producer.join()
        deadline = time.monotonic() + 90
        while self.worker.counts()["in"] < len(messages) and time.monotonic() < deadline:
            time.sleep(0.2)
        counts = self.worker.counts()
        assert counts["in"] == len(messages) and counts.conserved, counts

    def alerts(self) -> list:
        return asyncio.run(read_topic(self.broker.address, "fairwatch.alerts", expect=1, timeout=30, quiet=2.0))

    def close(self) -> None:
        if getattr(self, "worker", None) is not None:
            self.worker.stop()
        self.broker.stop()


def _changelog(broker: str) -> dict[str, dict]:
    """The table as its changelog holds it: the last record written per key."""
    records = asyncio.run(read_topic(broker, CHANGELOG, expect=1, timeout=30, quiet=2.0))
    return {record.key.decode(): decode_state(record.value) for record in records}


def _changelog_states(broker: str) -> dict[str, dict]:
    """The customers as the changelog holds them (all of each state, not the view)."""
    return {key: state for key, state in _changelog(broker).items() if not is_input_offsets_key(key)}


def _check_offsets(broker: str, messages: list[Message]) -> None:
    """The table's input offsets say every message on every input topic was handled, none beyond."""
    handled: Counter[str] = Counter()
    for key, record in _changelog(broker).items():
        if is_input_offsets_key(key):
            handled.update(record["input_offsets"])
    assert handled == Counter(topic for topic, _, _ in messages)


def _same_states(got: dict[str, dict], expected: dict[str, dict]) -> None:
    """Equal, customer by customer; the de-duplication memory as a set (it is kept in arrival order)."""

    def normal(state: dict) -> dict:
        return {**state, "seen": sorted(marks(state))}

    assert got.keys() == expected.keys()
    for customer in sorted(expected):
        a, b = normal(got[customer]), normal(expected[customer])
        if a != b:
            fields = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
            raise AssertionError(
                f"{customer}: {fields} differ:\n" + "\n".join(f"{k}: {a.get(k)!r}\n vs {b.get(k)!r}" for k in fields)
            )


def _sorted_out(messages: list[Message]) -> tuple[dict[str, set[str]], int]:
    """The good events' de-duplication marks by customer, and how many messages are bad."""
    good: dict[str, set[str]] = {}
    bad = 0
    for topic, key, value in messages:
        try:
            event = decode_event(topic, key, value)
        except Rejected:
            bad += 1
            continue
        good.setdefault(event.customer_id, set()).add(event_mark(event.event_id))
    return good, bad


def _check_accounted(broker: str, messages: list[Message], states: dict[str, dict]) -> None:
    """Every good event remembered by its customer, every bad one on the dead-letter topic."""
    good, bad = _sorted_out(messages)
    for customer, wanted in good.items():
        missing = wanted - set(marks(states[customer]))
        assert not missing, f"{customer}: {len(missing)} of its events not in its state"
    letters = asyncio.run(read_topic(broker, "fairwatch.dead-letter", expect=bad, timeout=30, quiet=2.0))
    sources = {
        (
            dict(r.headers)["fairwatch.source.topic"],
            dict(r.headers)["fairwatch.source.offset"],
            dict(r.headers)["fairwatch.source.partition"],
        )
        for r in letters
    }
    assert len(sources) == bad, f"{bad} bad messages, {len(sources)} distinct on the dead-letter topic"


def _check_alerts(fault: list, reference: list) -> int:
    """Same alerts as the reference; a repeat is an exact copy under the same CloudEvents id. Returns repeats."""
    by_id: dict[str, bytes] = {}
    for record in fault:
        document = orjson.loads(record.value)
        earlier = by_id.setdefault(document["id"], record.value)
        assert earlier == record.value, f"alert {document['id']} re-sent with different content"
    expected = {orjson.loads(record.value)["id"]: record.value for record in reference}
    missing = sorted(set(expected) - set(by_id))
    extra = sorted(set(by_id) - set(expected))
    assert not missing and not extra, f"missing {missing[:5]} ({len(missing)}), extra {extra[:5]} ({len(extra)})"
    for cloud_id, value in expected.items():
        assert by_id[cloud_id] == value, f"alert {cloud_id} differs from the reference"
    return len(fault) - len(by_id)


@pytest.fixture
def history(tmp_path: Path):
    messages = _history()
    reference = _Reference(messages, tmp_path)
    try:
        customers = sorted(_sorted_out(messages)[0])
        yield messages, customers, reference
    finally:
        reference.close()


def test_control_paced_stream_matches_the_reference(broker, tmp_path, history) -> None:
    """No fault: the paced stream itself gives what the reference's backlog gave."""
    messages, customers, reference = history
    prepare_topics_and_plans(broker)
    worker = _worker(broker, tmp_path, "worker").start()
    try:
        worker.wait_ready(60)
        _Producer(broker, messages).start().join()
        _wait_equal(lambda: _tables([worker], customers), _tables([reference.worker], customers))
        _same_states(_changelog_states(broker), _changelog_states(reference.broker.address))
        _check_offsets(broker, messages)
    finally:
        worker.stop()


def test_kill_9_mid_stream_recovers_the_table_exactly(broker, tmp_path, history) -> None:
    messages, customers, reference = history
    prepare_topics_and_plans(broker)
    first = _worker(broker, tmp_path, "first").start()
    second = None
    try:
        first.wait_ready(60)
        producer = _Producer(broker, messages).start()
        deadline = time.monotonic() + 60
        while first.counts()["in"] < len(messages) // 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        before = first.counts()
        first.kill()
        assert 0 < before["in"] < len(messages), before
        second = _worker(broker, tmp_path, "second").start()
        second.wait_ready(60)
        producer.join()
        expected = _tables([reference.worker], customers)
        _wait_equal(lambda: _tables([second], customers), expected)
        states = _changelog_states(broker)
        _same_states(states, _changelog_states(reference.broker.address))
        _check_accounted(broker, messages, states)
        _check_offsets(broker, messages)
        repeats = _check_alerts(
            asyncio.run(read_topic(broker, "fairwatch.alerts", expect=1, timeout=30, quiet=2.0)), reference.alerts()
        )
        after = second.counts()
        assert after.conserved
        print(
            f"kill -9 after {before['in']} of {len(messages)} messages; the restarted worker took "
            f"{after['in']} ({after['duplicates']} duplicates); {repeats} alerts re-sent"
        )
    finally:
        first.stop()
        if second is not None:
            second.stop()


def test_a_worker_joining_and_leaving_mid_stream_changes_nothing(broker, tmp_path, history) -> None:
    messages, customers, reference = history
    prepare_topics_and_plans(broker)
    first = _worker(broker, tmp_path, "first").start()
    second = _worker(broker, tmp_path, "second")
    try:
        first.wait_ready(60)
        producer = _Producer(broker, messages, chunk=10, pause=0.1).start()  # about 11 s of stream
        deadline = time.monotonic() + 60
        while first.counts()["in"] < len(messages) // 5 and time.monotonic() < deadline:
            time.sleep(0.02)
        second.start()
        second.wait_ready(60)  # joined: the partitions are split between the two
        while second.counts()["in"] < len(messages) // 10 and time.monotonic() < deadline:
            time.sleep(0.02)
        taken = second.counts()
        left_at = producer.sent
        assert second.stop() == 0  # leaves: its partitions move back to the first worker
        assert taken["in"] > 0, "the second worker took no part"
        assert left_at < len(messages), "the stream ended before the second worker left"
        producer.join()
        first.wait_ready(60)
        time.sleep(10)
        states = _changelog_states(broker)
        _same_states(states, _changelog_states(reference.broker.address))
        _wait_equal(lambda: _tables([first], customers), _tables([reference.worker], customers), timeout=20)
        _check_accounted(broker, messages, states)
        _check_offsets(broker, messages)
        repeats = _check_alerts(
            asyncio.run(read_topic(broker, "fairwatch.alerts", expect=1, timeout=30, quiet=2.0)), reference.alerts()
        )
        print(f"rebalance: the second worker took {taken['in']} of {len(messages)} messages; {repeats} alerts re-sent")
    finally:
        first.stop()
        second.stop()


def test_broker_restart_the_worker_goes_not_ready_then_ready_and_works_on(tmp_path) -> None:
    """The embedded broker keeps nothing across a restart (memory storage): what is tested is the worker.

    It notices the broker gone (not ready), reconnects when it is back, is
    ready again once its topics exist again, and processes new events. On a
    real Kafka cluster the data survives a broker restart; here it does not,
    so the state built before the restart is not compared.
    """
    broker = EmbeddedBroker(log_path=tmp_path / "broker.log").start()
    worker = None
    try:
        prepare_topics_and_plans(broker.address)
        worker = _worker(broker.address, tmp_path, "worker").start()
        worker.wait_ready(60)
        broker.stop()
        deadline = time.monotonic() + 60
        while worker.get("/ready")[0] == 200 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert worker.get("/ready")[0] == 503, "the worker still says ready with the broker gone"
        time.sleep(3)
        assert worker.process is not None and worker.process.poll() is None, "the worker exited"
        broker = EmbeddedBroker(port=broker.port, log_path=tmp_path / "broker-again.log").start()
        prepare_topics_and_plans(broker.address)
        worker.wait_ready(90)
        messages = _history(customers=5, rounds=1)
        _Producer(broker.address, messages, chunk=len(messages)).start().join()
        deadline = time.monotonic() + 60
        while worker.counts()["in"] < len(messages) and time.monotonic() < deadline:
            time.sleep(0.2)
        counts = worker.counts()
        assert counts["in"] == len(messages) and counts.conserved, counts
    finally:
        if worker is not None:
            worker.stop()
        broker.stop()


@pytest.mark.parametrize("step", ["handled", "outputs", "state_sent", "state_delivered"])
def test_a_crash_at_each_step_of_the_checkpoint_changes_nothing(broker, tmp_path, history, step) -> None:
    """The worker dies at one step of its 5th batch (streams: agents.ingest's checkpoint), RocksDB store; a worker
    restarted on the same data dir ends where the reference did, and re-sends only exact copies."""
    messages, customers, reference = history
    prepare_topics_and_plans(broker)
    env = {**ENV, "FAIRWATCH_STORE": "rocksdb"}
    data = tmp_path / "data"
    first = WorkerProcess(
        broker, data, tmp_path / "first.log", env={**env, "FAIRWATCH_TEST_FAULT": f"{step}:5"}, partitions=PARTITIONS
    ).start()
    second = None
    try:
        first.wait_ready(60)
        producer = _Producer(broker, messages).start()
        deadline = time.monotonic() + 60
        while first.process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert first.process.poll() == 70, "the injected fault did not stop the worker"
        assert f"injected fault at step {step} of batch 5" in (tmp_path / "first.log").read_text()
        second = WorkerProcess(broker, data, tmp_path / "second.log", env=env, partitions=PARTITIONS).start()
        second.wait_ready(60)
        producer.join()
        _wait_equal(lambda: _tables([second], customers), _tables([reference.worker], customers))
        states = _changelog_states(broker)
        _same_states(states, _changelog_states(reference.broker.address))
        _check_accounted(broker, messages, states)
        _check_offsets(broker, messages)
        repeats = _check_alerts(
            asyncio.run(read_topic(broker, "fairwatch.alerts", expect=1, timeout=30, quiet=2.0)), reference.alerts()
        )
        assert second.counts().conserved
        print(f"crash at {step}: {repeats} alerts re-sent")
    finally:
        first.stop()
        if second is not None:
            second.stop()


def _epochs_out_of_order(broker: str) -> int:
    """Changelog records written under an epoch below one written earlier on the same partition (stale writes)."""
    records = asyncio.run(read_topic(broker, CHANGELOG, expect=1, timeout=30, quiet=2.0))
    highest: dict[int, int] = {}
    stale = 0
    for record in sorted(records, key=lambda r: (r.partition, r.offset)):
        epoch = int(dict(record.headers)["fairwatch.epoch"])
        if epoch < highest.get(record.partition, -1):
            stale += 1
        highest[record.partition] = max(epoch, highest.get(record.partition, -1))
    return stale


def _stopped(pid: int) -> bool:
    return Path(f"/proc/{pid}/stat").read_text().split()[2] == "T"


def test_a_stale_worker_resumed_after_its_partitions_moved_cannot_roll_state_back(broker, tmp_path, history) -> None:
    """A worker frozen (SIGSTOP) past its session timeout between handling a batch and writing its state;
    another worker takes over; SIGCONT: the frozen worker writes that batch's states late. Those writes are
    fenced, and a fresh worker restored from the changelog ends where the reference did."""
    messages, customers, reference = history
    prepare_topics_and_plans(broker)
    first = WorkerProcess(
        broker,
        tmp_path / "first-data",
        tmp_path / "first.log",
        env={**ENV, "FAIRWATCH_TEST_FAULT": "pause_after_outputs:20"},
        partitions=PARTITIONS,
    ).start()
    second = _worker(broker, tmp_path, "second")
    fresh = None
    try:
        first.wait_ready(60)
        producer = _Producer(broker, messages, chunk=10, pause=0.1).start()
        deadline = time.monotonic() + 60
        while not _stopped(first.process.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _stopped(first.process.pid), "the worker never reached its pause"
        try:
            second.start()
            second.wait_ready(60)  # the group moved on without the frozen worker
            while second.counts()["in"] < 50 and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            os.kill(first.process.pid, signal.SIGCONT)
        producer.join()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            counts = [w.counts() for w in (first, second)]
            if sum(c["in"] - c["redelivered"] for c in counts) >= len(messages):
                break
            time.sleep(0.5)
        time.sleep(3)
        first.stop()
        second.stop()
        stale = _epochs_out_of_order(broker)
        print(f"stale worker: {stale} changelog records written under a fenced epoch")
        assert stale > 0, "the frozen worker wrote nothing after the other took over: no fencing shown"
        fresh = _worker(broker, tmp_path, "fresh").start()
        fresh.wait_ready(60)
        _wait_equal(lambda: _tables([fresh], customers), _tables([reference.worker], customers))
    finally:
        for worker in (first, second, fresh):
            if worker is not None:
                worker.stop()
