"""The ingest agent and the live tick: wiring only.

message -> Processor (decode, validate, de-duplicate, rules, stream time)
-> customer table + changelog -> alerts or dead-letter.

The tick is a message too: a timer sends one to each partition this worker
owns, and the agent handles it in order with that partition's events. So every
table write happens inside the stream, on the partition it belongs to (the
RocksDB store and the changelog both take the partition from the current event).
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from faust.types import TP

from models.alerts import AlertChange, to_cloudevent
from streams import metrics
from streams.app import alerts_topic, app, customers, dead_letter_topic, inputs, plans, policy, ticks_topic
from streams.deadletter import dead_letter_headers, send_dead_letter
from streams.health import assigned_partitions, is_ready
from streams.processor import Processor
from streams.topics import TICKS_TOPIC

__all__ = ["ingest", "processor"]

_CLOUDEVENTS_HEADERS = [("content-type", b"application/cloudevents+json")]


def _persist(customer_id: str, state: dict[str, Any]) -> None:
    customers[customer_id] = state


def _highwater(topic: str, partition: int) -> int | None:
    try:
        return app.consumer.highwater(TP(topic, partition))
    except Exception:  # consumer not started or partition not fetched yet: unknown
        return None


# The plan catalog is read straight from the global table's store, as plans arrive.
processor = Processor(policy, customers.data, _persist, _highwater, catalog=plans.data)


async def _emit(changes: list[AlertChange], consumed_at: float | None) -> None:
    for change in changes:
        document = to_cloudevent(change, policy.currency)
        await alerts_topic.send(
            key=change.customer_id.encode(), value=orjson.dumps(document), headers=_CLOUDEVENTS_HEADERS
        )
        metrics.ALERTS.labels(change.kind, change.lifecycle).inc()
        if change.lifecycle == "raised":
            metrics.OVERPAY.labels(change.kind, change.per).inc(change.amount / 1_000_000)
        now = time.time()
        metrics.EVENT_TO_ALERT.observe(max(0.0, now - change.at / 1000))
        if consumed_at is not None:
            metrics.PROCESSING_LATENCY.observe(time.perf_counter() - consumed_at)


@app.agent(inputs)
async def ingest(stream: Any) -> None:
    async for event in stream.events():
        message = event.message
        consumed_at = time.perf_counter()
        if message.topic == TICKS_TOPIC:
            changes = processor.tick(message.partition)
            if changes:
                await _emit(changes, None)
            continue
        outcome = processor.handle(message.topic, message.partition, message.offset, message.key, message.value)
        if outcome.rejected is not None:
            rejected = outcome.rejected
            await send_dead_letter(
                dead_letter_topic, message.key, message.value,
                dead_letter_headers(rejected.reason, rejected.code, message.topic, message.partition, message.offset),
            )
        if outcome.changes:
            await _emit(outcome.changes, consumed_at)


@app.timer(interval=app.fairwatch_config.tick_seconds)
async def tick() -> None:
    if not is_ready(app):
        return
    for partition in assigned_partitions(app):
        await ticks_topic.send(value=b"", partition=partition)


@app.on_partitions_revoked.connect
async def _on_revoked(sender: Any, revoked: Any, **kwargs: Any) -> None:
    processor.forget({tp.partition for tp in revoked})


@app.on_partitions_assigned.connect
async def _on_assigned(sender: Any, assigned: Any, **kwargs: Any) -> None:
    app.fairwatch_joined = True
    # Rebuild clocks and deadline indexes from the recovered table on first use.
    processor.forget({tp.partition for tp in assigned})
