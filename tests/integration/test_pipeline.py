"""End to end on a real broker: good, bad and duplicate events in; exact alerts, dead letters and counts out."""

from __future__ import annotations

import time

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from models.timestamps import MS_PER_DAY, MS_PER_HOUR, format_ms
from tests.support.kafka_io import produce, read_topic, run

pytestmark = pytest.mark.integration

# A grace of 1.2 s lets the never-delivered order's deadline pass within the test.
WORKER_ENV = {"FAIRWATCH_POLICY_GRACE_MINUTES": "0.02"}


def event(event_id: str, kind: str, customer: str, at: int, **data: object) -> bytes:
    return orjson.dumps(
        {"event_id": event_id, "type": kind, "customer_id": customer, "occurred_at": format_ms(at), "data": data}
    )


def line(line_id: str, sku: str, qty: int, price: float, **spec: str) -> dict:
    return {"line_id": line_id, "sku": sku, "qty": qty, "unit_price": price, "spec": spec}


def scenario(now: int) -> tuple[list[tuple[str, bytes | None, bytes]], dict]:
    """The messages, and what must come out of them."""
    day = MS_PER_DAY
    boxes = [line("1", "BOX-40", 10, 2.49, colour="brown")]
    late_placed = event(
        "e-late-1",
        "order.placed",
        "c-late",
        now - 3 * day,
        order_id="O-1",
        lines=boxes,
        promised_delivery_by=format_ms(now - 2 * day),
    )
    late_delivered = event("e-late-2", "order.delivered", "c-late", now - 2 * day + 26 * MS_PER_HOUR, order_id="O-1")
    wrong_placed = event(
        "e-wrong-1",
        "order.placed",
        "c-wrong",
        now - 2 * day,
        order_id="O-2",
        lines=boxes,
        promised_delivery_by=format_ms(now + day),
    )
    wrong_delivered = event(
        "e-wrong-2",
        "order.delivered",
        "c-wrong",
        now - day,
        order_id="O-2",
        lines=[{"line_id": "1", "sku": "BOX-40", "qty": 10, "spec": {"colour": "white"}}],
    )
    good = [
        ("orders", b"c-late", late_placed),
        ("orders", b"c-late", late_delivered),
        ("orders", b"c-wrong", wrong_placed),
        ("orders", b"c-wrong", wrong_delivered),
        (
            "orders",
            b"c-fine",
            event(
                "e-fine-1",
                "order.placed",
                "c-fine",
                now - 2 * day,
                order_id="O-3",
                lines=boxes,
                promised_delivery_by=format_ms(now + day),
            ),
        ),
        ("orders", b"c-fine", event("e-fine-2", "order.delivered", "c-fine", now - day, order_id="O-3")),
        # Never delivered: its deadline passes in stream time (the live tick), not on a later event.
        (
            "orders",
            b"c-lost",
            event(
                "e-lost-1",
                "order.placed",
                "c-lost",
                now - day,
                order_id="O-4",
                lines=[line("1", "MUG-W", 2, 8.90)],
                promised_delivery_by=format_ms(now + 1000),
            ),
        ),
        (
            "billing",
            b"c-fine",
            event("e-bill-1", "usage.recorded", "c-fine", now - day, subscription_id="S-1", period="2026-10", units=12),
        ),
    ]
    duplicates = [("orders", b"c-late", late_placed), ("orders", b"c-wrong", wrong_delivered)]
    bad = [
        ("orders", b"c-bad", b'{"event_id": "b1", "type": "order.placed", ', "not valid JSON: "),
        (
            "orders",
            b"someone-else",
            event("b2", "order.shipped", "c-bad", now, order_id="O-9"),
            "key does not match customer_id",
        ),
        (
            "orders",
            b"c-bad",
            event(
                "b3",
                "order.placed",
                "c-bad",
                now,
                order_id="O-9",
                lines=[line("1", "X", -1, 1.0)],
                promised_delivery_by=format_ms(now),
            ),
            "data.lines[0].qty: must not be negative",
        ),
        (
            "orders",
            b"c-bad",
            event("b4", "order.teleported", "c-bad", now, order_id="O-9"),
            "type: unknown event type 'order.teleported'",
        ),
        (
            "billing",
            b"c-bad",
            event("b5", "order.shipped", "c-bad", now, order_id="O-9"),
            "type: order.shipped belongs on topic orders, not billing",
        ),
        (
            "complaints",
            b"c-bad",
            orjson.dumps(
                {
                    "event_id": "b6",
                    "type": "complaint.acknowledged",
                    "customer_id": "c-bad",
                    "occurred_at": "2026-11-22T10:00:00",
                    "data": {"complaint_id": "K-1"},
                }
            ),
            "occurred_at: must be RFC 3339 with a time zone offset",
        ),
    ]
    expected = {
        "good": good,
        "duplicates": duplicates,
        "bad": bad,
        "alerts": {
            ("c-late", "promise.late_delivery", "raised"),
            ("c-late", "promise.late_delivery", "updated"),
            ("c-wrong", "promise.wrong_delivery", "raised"),
            ("c-lost", "promise.late_delivery", "raised"),
            ("c-lost", "promise.late_delivery", "updated"),
        },
    }
    return good + duplicates + [(t, k, v) for t, k, v, _ in bad], expected


def test_good_bad_and_duplicate_events_give_exact_alerts_dead_letters_and_counts(start_worker, broker) -> None:
    worker = start_worker(env=WORKER_ENV)
    now = int(time.time() * 1000)
    messages, expected = scenario(now)
    placed = run(produce(broker, messages))

    alerts = run(read_topic(broker, "fairwatch.alerts", expect=len(expected["alerts"]), timeout=30))
    documents = [orjson.loads(record.value) for record in alerts]
    got = {(d["data"]["customer_id"], d["data"]["kind"], d["type"].rsplit(".", 1)[1]) for d in documents}
    assert got == expected["alerts"]
    assert len(documents) == len(expected["alerts"])  # nothing raised twice
    for record, document in zip(alerts, documents, strict=True):
        assert record.key == document["data"]["customer_id"].encode()
        assert (b"content-type", b"application/cloudevents+json") in [(k.encode(), v) for k, v in record.headers]
        assert document["specversion"] == "1.0"
        assert document["id"] == f"{document['data']['alert_id']}-{document['data']['revision']}"

    by_id = {(d["data"]["customer_id"], d["type"]): d for d in documents}
    # The promise passed (in event time, before the delivery) ...
    late_raised = by_id[("c-late", "fairwatch.alert.raised")]
    assert late_raised["time"] == format_ms(now - 2 * MS_PER_DAY)
    assert late_raised["data"]["details"]["status"] == "undelivered"
    # ... and the late delivery updated that same alert.
    late = by_id[("c-late", "fairwatch.alert.updated")]
    assert late["data"]["alert_id"] == late_raised["data"]["alert_id"]
    assert late["time"] == format_ms(now - 2 * MS_PER_DAY + 26 * MS_PER_HOUR)
    assert late["data"]["details"]["status"] == "delivered_late"
    assert late["data"]["details"]["late_by_hours"] == 26.0
    assert late["data"]["impact"] == {"amount": 24.9, "currency": "EUR", "per": "once"}
    assert late["data"]["evidence"] == ["e-late-1", "e-late-2"]
    wrong = by_id[("c-wrong", "fairwatch.alert.raised")]
    assert wrong["data"]["details"]["differences"] == [
        {"line_id": "1", "field": "spec.colour", "ordered": "brown", "delivered": "white"}
    ]
    assert "white colour came instead of brown" in wrong["data"]["summary"]
    # Not shipped a day before its promise: at risk; then the promise passes. Both
    # fire by stream time (the live tick), at the deadlines themselves.
    at_risk = by_id[("c-lost", "fairwatch.alert.raised")]
    assert at_risk["data"]["details"]["status"] == "at_risk"
    assert at_risk["time"] == format_ms(now + 1000 - 24 * MS_PER_HOUR)
    lost = by_id[("c-lost", "fairwatch.alert.updated")]
    assert lost["data"]["details"]["status"] == "undelivered"
    assert lost["data"]["alert_id"] == at_risk["data"]["alert_id"]
    assert lost["time"] == format_ms(now + 1000)

    letters = run(read_topic(broker, "fairwatch.dead-letter", expect=len(expected["bad"]), timeout=20))
    assert len(letters) == len(expected["bad"])
    first_bad = len(expected["good"]) + len(expected["duplicates"])
    want = {}
    for (topic, key, value, reason), (_, partition, offset) in zip(expected["bad"], placed[first_bad:], strict=True):
        want[(topic, partition, offset)] = (key, value, reason)
    for record in letters:
        headers = {k: v.decode() for k, v in record.headers}
        source = (
            headers["fairwatch.source.topic"],
            int(headers["fairwatch.source.partition"]),
            int(headers["fairwatch.source.offset"]),
        )
        key, value, reason = want.pop(source)
        assert record.key == key
        assert record.value == value  # the original bytes, untouched
        assert headers["fairwatch.reason"].startswith(reason)
    assert want == {}

    counts = worker.counts()
    assert counts["in"] == len(messages)
    assert counts["processed"] == len(expected["good"])
    assert counts["duplicates"] == len(expected["duplicates"])
    assert counts["dead_lettered"] == len(expected["bad"])
    assert counts.conserved


def test_metrics_show_domain_and_faust_figures(start_worker, broker) -> None:
    worker = start_worker(env=WORKER_ENV)
    messages, expected = scenario(int(time.time() * 1000))
    run(produce(broker, messages))
    run(read_topic(broker, "fairwatch.alerts", expect=len(expected["alerts"]), timeout=30))
    time.sleep(1.5)  # the open-count gauges are published every second
    text = worker.get("/metrics")[1].decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value

    def value(name: str, **labels: str) -> float:
        return samples[(name, tuple(sorted(labels.items())))]

    assert value("fairwatch_events_in_total", topic="orders", type="order.placed") == 4 + 1  # one duplicate
    assert value("fairwatch_events_processed_total", topic="billing") == 1
    assert value("fairwatch_events_duplicate_total", topic="orders") == 2
    assert value("fairwatch_events_dead_lettered_total", topic="orders", reason="invalid_json") == 1
    assert value("fairwatch_events_dead_lettered_total", topic="billing", reason="wrong_topic") == 1
    assert value("fairwatch_alerts_total", kind="promise.late_delivery", lifecycle="raised") == 2
    assert value("fairwatch_alerts_total", kind="promise.late_delivery", lifecycle="updated") == 2
    assert value("fairwatch_money_at_stake_total", kind="promise.wrong_delivery", per="once") == 24.9
    assert value("fairwatch_open_alerts", kind="promise.late_delivery") == 2
    assert value("fairwatch_open_promises", kind="order_delivery") == 1  # c-lost's order
    assert value("fairwatch_processing_latency_seconds_count") > 0
    assert value("fairwatch_event_to_alert_seconds_count") == len(expected["alerts"])
    assert value("fairwatch_ready") == 1
    # Faust's own sensor metrics, through faust.sensors.prometheus.
    assert any(name == "fairwatch_messages_received_total" for name, _ in samples)
    assert "customer_id" not in text and "c-late" not in text  # never a customer as a label
