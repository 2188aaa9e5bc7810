"""One scripted history, replayed by a fresh worker twice: in order, and shuffled within the grace.

Both runs start on history already in the topics (as a worker starting on
months of backlog does), so stream time, not the wall clock, decides every
deadline. The alerts must be the same, byte for byte.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import orjson
import pytest

from streams.tools.broker import EmbeddedBroker
from streams.tools.supervisor import WorkerProcess
from streams.topics import ensure_topics
from tests.support.disorder_history import GRACE_MINUTES, MINUTE, history
from tests.support.kafka_io import produce, read_topic, run

pytestmark = pytest.mark.integration


def shuffled_within_grace(events: list, seed: int) -> list:
    """Reorder: each event may move behind any event up to (grace - 1 minute) younger than it."""
    rng = random.Random(seed)
    jitter = (GRACE_MINUTES - 1) * MINUTE
    return sorted(events, key=lambda e: e[0] + rng.uniform(0, jitter))


def replay(events: list, workdir: Path) -> list[tuple[str, str, int, bytes]]:
    workdir.mkdir(parents=True)
    with EmbeddedBroker(log_path=workdir / "broker.log") as broker:
        asyncio.run(ensure_topics([broker.address], 4))
        run(produce(broker.address, [(topic, key, value) for _, topic, key, value in events]))
        env = {"FAIRWATCH_POLICY_GRACE_MINUTES": str(GRACE_MINUTES)}
        with WorkerProcess(broker.address, workdir / "data", workdir / "worker.log", env=env, partitions=4) as worker:
            worker.wait_ready(60)
            alerts = run(read_topic(broker.address, "fairwatch.alerts", expect=9, timeout=40, quiet=3.0))
    result = []
    for record in alerts:
        document = orjson.loads(record.value)
        result.append(
            (
                document["data"]["alert_id"],
                document["type"],
                document["data"]["revision"],
                orjson.dumps(document["data"], option=orjson.OPT_SORT_KEYS),
            )
        )
    return sorted(result)


def test_shuffled_within_the_grace_gives_the_same_alerts(tmp_path: Path) -> None:
    events = history()

    def position(order: list, event_id: str) -> int:
        return next(i for i, e in enumerate(order) if f'"event_id":"{event_id}"'.encode() in e[3])

    # The first shuffle that makes the disorder that matters: another customer's event
    # past the promise before the delivery in time, and the invoice before the delivery.
    shuffled = next(
        order
        for order in (shuffled_within_grace(events, seed) for seed in range(1000))
        if position(order, "x1") < position(order, "b3") and position(order, "c4") < position(order, "c3")
    )
    in_order = replay(events, tmp_path / "in-order")
    disordered = replay(shuffled, tmp_path / "shuffled")
    kinds = sorted(
        (orjson.loads(data)["customer_id"], orjson.loads(data)["kind"], kind.rsplit(".", 1)[1])
        for _, kind, _, data in in_order
    )
    assert kinds == [
        ("c-billed", "promise.billing_error", "raised"),  # billed twice
        ("c-close", "promise.billing_error", "raised"),  # delivered, never invoiced (info)
        ("c-complaint", "promise.complaint_unresolved", "raised"),  # not acknowledged in 48 h
        ("c-complaint", "promise.complaint_unresolved", "resolved"),
        ("c-complaint", "promise.complaint_unresolved", "updated"),  # past its 14 days
        ("c-late", "promise.billing_error", "raised"),  # never invoiced (info)
        ("c-late", "promise.late_delivery", "raised"),  # the promise passed ...
        ("c-late", "promise.late_delivery", "updated"),  # ... and it came two days late
        ("c-urgent", "promise.urgent_order_refused", "raised"),
    ]
    assert disordered == in_order
