"""End to end on a real broker: good, bad and duplicate events in; exact alerts, dead letters and counts out."""

from __future__ import annotations

import time

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from models.timestamps import MS_PER_DAY, MS_PER_HOUR, format_ms
from tests.support.kafka_io import produce, read_topic, run
from tests.support.pipeline_scenario import WORKER_ENV, scenario

pytestmark = pytest.mark.integration


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
    # Faust's own sensor metrics (streams.compat.sensor publishes them under Faust's names): every input message
    # counted once under its topic, and the whole as the sum of the topics.
    per_topic = {
        dict(labels)["topic"]: count
        for (name, labels), count in samples.items()
        if name == "fairwatch_messages_received_per_topic_total"
    }
    for topic in ("orders", "billing", "complaints"):
        assert per_topic[topic] == sum(1 for sent_to, _, _ in messages if sent_to == topic), topic
    assert value("fairwatch_messages_received_total") == sum(per_topic.values())
    assert value("fairwatch_total_events_total") > 0
    assert "customer_id" not in text and "c-late" not in text  # never a customer as a label
