"""One scripted history, replayed by a fresh worker twice: in order, and shuffled within the grace.

Both runs start on history already in the topics (as a worker starting on
months of backlog does), so stream time, not the wall clock, decides every
deadline. The alerts must be the same, byte for byte.
"""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path

import orjson
import pytest

from models.timestamps import MS_PER_DAY, MS_PER_HOUR, format_ms
from streams.tools.broker import EmbeddedBroker
from streams.tools.supervisor import WorkerProcess
from streams.topics import ensure_topics
from tests.support.kafka_io import produce, read_topic, run

pytestmark = pytest.mark.integration

MINUTE = 60_000
GRACE_MINUTES = 10
T0 = (int(time.time() * 1000) // MS_PER_DAY - 60) * MS_PER_DAY  # midnight, 60 days ago


def ev(event_id: str, kind: str, customer: str, at: int, **data: object) -> tuple[int, str, bytes, bytes]:
    topic = "orders" if kind.startswith("order.") else "complaints" if kind.startswith("complaint") else "billing"
    value = orjson.dumps(
        {"event_id": event_id, "type": kind, "customer_id": customer, "occurred_at": format_ms(at), "data": data}
    )
    return at, topic, customer.encode(), value


def lines(price: float = 10.0, qty: int = 2) -> list[dict]:
    return [{"line_id": "1", "sku": "BOX-40", "qty": qty, "unit_price": price, "spec": {"colour": "brown"}}]


def history() -> list[tuple[int, str, bytes, bytes]]:
    day, hour = MS_PER_DAY, MS_PER_HOUR
    charge = {"line_id": "1", "kind": "order_line", "ref": "O-3/1", "qty": 2, "unit_price": 10.0, "amount": 20.0}
    return sorted(
        [
            # Late: delivered two days after the promise.
            ev(
                "a1",
                "order.placed",
                "c-late",
                T0,
                order_id="O-1",
                lines=lines(),
                promised_delivery_by=format_ms(T0 + day),
            ),
            ev("a2", "order.shipped", "c-late", T0 + 2 * hour, order_id="O-1"),
            ev("a3", "order.delivered", "c-late", T0 + 3 * day, order_id="O-1"),
            # Delivered 3 minutes before the promise; another customer's event 5 minutes after the promise.
            # Shuffled, that event may come first: within the grace, so the deadline must not fire.
            ev(
                "b1",
                "order.placed",
                "c-close",
                T0 + 4 * day,
                order_id="O-2",
                lines=lines(),
                promised_delivery_by=format_ms(T0 + 6 * day),
            ),
            ev("b2", "order.shipped", "c-close", T0 + 5 * day, order_id="O-2"),
            ev("b3", "order.delivered", "c-close", T0 + 6 * day - 3 * MINUTE, order_id="O-2"),
            ev(
                "x1",
                "contact.logged",
                "c-other",
                T0 + 6 * day + 5 * MINUTE,
                contact_id="X-1",
                channel="phone",
                handling_minutes=5,
            ),
            # Billed twice, on one invoice, a minute after delivery.
            ev(
                "c1",
                "order.placed",
                "c-billed",
                T0 + 10 * day,
                order_id="O-3",
                lines=lines(),
                promised_delivery_by=format_ms(T0 + 12 * day),
            ),
            ev("c2", "order.shipped", "c-billed", T0 + 10 * day + hour, order_id="O-3"),
            ev("c3", "order.delivered", "c-billed", T0 + 11 * day, order_id="O-3"),
            ev(
                "c4",
                "invoice.issued",
                "c-billed",
                T0 + 11 * day + MINUTE,
                invoice_id="I-1",
                lines=[charge, dict(charge, line_id="2")],
                total=40.0,
            ),
            # The urgent order the company refused.
            ev(
                "d1",
                "order.placed",
                "c-urgent",
                T0 + 15 * day,
                order_id="O-4",
                lines=lines(),
                urgent=True,
                promised_delivery_by=format_ms(T0 + 16 * day),
            ),
            ev(
                "d2",
                "order.cancelled",
                "c-urgent",
                T0 + 15 * day + 2 * MINUTE,
                order_id="O-4",
                by="company",
                reason="out of stock",
            ),
            # A complaint acknowledged after 50 hours, resolved after 20 days.
            ev(
                "e1",
                "complaint.opened",
                "c-complaint",
                T0 + 20 * day,
                complaint_id="K-1",
                category="delivery",
                severity="normal",
                channel="email",
            ),
            ev("e2", "complaint.acknowledged", "c-complaint", T0 + 20 * day + 50 * hour, complaint_id="K-1"),
            ev("e3", "complaint.resolved", "c-complaint", T0 + 40 * day, complaint_id="K-1"),
        ]
    )


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
