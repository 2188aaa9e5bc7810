"""A rolling upgrade over a changelog in an earlier state format (models.state: the record is versioned;
streams.state_record: its bytes).

``data/state-format-1.json`` was written once by fairwatch f6019c9, the last build of state format 1, and
``data/state-format-2.json`` by 71e6876, the last build whose records were plain JSON (format 2, before the
bytes were compressed): each a history of customer stories, and the changelog that build's processor left
after the first two thirds of it (the last record per key, as compaction leaves it, input-offsets records
included). This build restores that
changelog, is handed the whole history (the first two thirds come again, so they are duplicates), and must
end where a worker of this build that read the whole history itself ends: the same state for every customer,
as served and as stored, and every alert it sends byte for byte the reference's under the same CloudEvents id.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from models.state import STATE_VERSION, marks
from streams.compat.tables import EPOCH_HEADER
from streams.processor import is_input_offsets_key
from streams.state_record import decode_state
from streams.tools.broker import EmbeddedBroker
from streams.tools.supervisor import WorkerProcess
from tests.support.kafka_io import PARTITIONS, prepare_topics_and_plans, read_topic

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300), pytest.mark.usefixtures("logs_on_failure")]

DATA = Path(__file__).resolve().parent / "data"
MAGIC = b"\x28\xb5\x2f\xfd"  # a zstd frame: how this build stores a record
CHANGELOG = "fairwatch-customers-changelog"
# No live tick: stream time moves with the events only, so the outcome cannot depend on when things ran.
ENV = {"FAIRWATCH_TICK_SECONDS": "3600"}


def _fixture(version: int) -> tuple[list[tuple[str, bytes, bytes]], int, list[dict]]:
    document = orjson.loads((DATA / f"state-format-{version}.json").read_bytes())
    assert document["partitions"] == PARTITIONS
    messages = [(topic, key.encode(), value.encode()) for topic, key, value in document["messages"]]
    return messages, document["first"], document["changelog"]


async def _produce(broker: str, messages: list[tuple[str, bytes, bytes]], changelog: list[dict]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=[broker], linger_ms=5)
    await producer.start()
    try:
        sends = [
            # As the previous build wrote them: its own epoch (1, a first owner) on each record.
            await producer.send(
                CHANGELOG,
                key=record["key"].encode(),
                value=orjson.dumps(record["value"]),
                partition=record["partition"],
                headers=[(EPOCH_HEADER, b"1")],
            )
            for record in changelog
        ]
        sends += [await producer.send(topic, key=key, value=value) for topic, key, value in messages]
        await asyncio.gather(*sends)
    finally:
        await producer.stop()


def _run(broker: str, tmp_path: Path, name: str, messages: list, changelog: list[dict], new: int) -> WorkerProcess:
    """Put the changelog and the messages on the broker, start a worker, and wait until it has handled the
    ``new`` messages the changelog does not cover (the others it may see again: redelivered, not handled)."""
    prepare_topics_and_plans(broker)
    asyncio.run(_produce(broker, messages, changelog))
    worker = WorkerProcess(broker, tmp_path / f"{name}-data", tmp_path / f"{name}.log", env=ENV, partitions=PARTITIONS)
    worker.start()
    worker.wait_ready(90)
    deadline = time.monotonic() + 120
    while _handled(worker) < new and time.monotonic() < deadline:
        time.sleep(0.3)
    return worker


def _handled(worker: WorkerProcess) -> int:
    counts = worker.counts()
    return counts["in"] - counts["redelivered"]


def _latest(broker: str) -> dict[str, bytes]:
    """The changelog's last record per key, as stored."""
    records = asyncio.run(read_topic(broker, CHANGELOG, expect=1, timeout=30, quiet=2.0))
    return {record.key.decode(): record.value for record in records}


def _stored(broker: str) -> dict[str, dict]:
    """Each customer's state as the changelog holds it (the last record per key), read as a worker reads it."""
    latest = {key: decode_state(value) for key, value in _latest(broker).items()}
    states = {key: state for key, state in latest.items() if not is_input_offsets_key(key)}
    # The de-duplication window as a set: it is kept in arrival order, and topics interleave as they are fetched.
    return {key: {**state, "seen": sorted(marks(state))} for key, state in states.items()}


def _served(worker: WorkerProcess, customers: list[str]) -> dict[str, dict]:
    out = {}
    for customer in customers:
        status, body = worker.get(f"/customers/{customer}", timeout=5)
        assert status == 200, (customer, status, body[:200])
        out[customer] = orjson.loads(body)
    return out


@pytest.mark.parametrize("version", [1, 2])
def test_a_changelog_in_an_earlier_format_restores_and_the_worker_ends_where_one_that_read_everything_does(
    broker: str, tmp_path: Path, version: int
) -> None:
    messages, first, changelog = _fixture(version)
    old_states = [record["value"] for record in changelog if "id" in record["value"]]
    if version == 1:
        # What format 1 looked like: no version, the digests as integers, the kind in each alert.
        assert old_states and all("v" not in state and isinstance(state["seen"], list) for state in old_states)
        assert any(alert.get("k") for state in old_states for alert in state["alerts"].values())
    else:
        assert old_states and all(state["v"] == 2 and isinstance(state["seen"], str) for state in old_states)

    with EmbeddedBroker(log_path=tmp_path / "reference-broker.log") as reference_broker:
        reference = _run(reference_broker.address, tmp_path, "reference", messages, [], len(messages))
        try:
            counts = reference.counts()
            assert counts["in"] == len(messages) and counts.conserved, counts
            expected_stored = _stored(reference_broker.address)
            customers = sorted(expected_stored)
            expected_served = _served(reference, customers)
        finally:
            reference.stop()
        expected_alerts = {
            orjson.loads(record.value)["id"]: record.value
            for record in asyncio.run(
                read_topic(reference_broker.address, "fairwatch.alerts", expect=1, timeout=30, quiet=2.0)
            )
        }

    upgraded = _run(broker, tmp_path, "upgraded", messages, changelog, len(messages) - first)
    try:
        counts = upgraded.counts()
        # What format 1 recorded as handled is not applied a second time: the worker resumes after it (and a
        # record of it read again before the resume is a redelivery, not handled).
        assert _handled(upgraded) == len(messages) - first and counts.conserved, counts
        assert _served(upgraded, customers) == expected_served
    finally:
        upgraded.stop()

    # What the upgraded worker wrote is in this build's bytes; what it did not touch is the old record as it was.
    old = {record["key"]: orjson.dumps(record["value"]) for record in changelog}
    latest = _latest(broker)
    written = [key for key, value in latest.items() if value[:4] == MAGIC]
    assert written, "the upgraded worker wrote nothing in this build's format"
    assert all(value[:4] == MAGIC or value == old.get(key) for key, value in latest.items())
    stored = _stored(broker)
    assert stored.keys() == expected_stored.keys()
    for customer, state in expected_stored.items():
        differ = sorted(
            key for key in state.keys() | stored[customer].keys() if state.get(key) != stored[customer].get(key)
        )
        assert not differ, f"{customer}: " + "; ".join(
            f"{key}: {stored[customer].get(key)!r} vs {state.get(key)!r}" for key in differ
        )
    assert all(state["v"] == STATE_VERSION for state in stored.values())
    alerts = asyncio.run(read_topic(broker, "fairwatch.alerts", expect=1, timeout=30, quiet=2.0))
    assert alerts, "the last third of the history raises alerts"
    for record in alerts:
        cloud_id = orjson.loads(record.value)["id"]
        assert record.value == expected_alerts.get(cloud_id), f"alert {cloud_id} differs from the reference's"
