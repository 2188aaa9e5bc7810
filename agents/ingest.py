"""The ingest agent and the live tick: wiring only.

message -> Processor (decode, validate, de-duplicate, rules, stream time)
-> customer table + changelog -> alerts or dead-letter.

The agent takes the stream in batches (``stream.take_events``): every message
of a batch is handled in order, then each customer the batch touched is written
to the table (and its changelog) once, then the alerts and dead letters go out,
and only then does Faust ack the batch, so offsets are committed after the state
they produced is written (at-least-once, as with one message at a time). A
batch is at most ``BATCH_MAX`` messages and waits at most ``BATCH_WITHIN``
seconds to fill, which bounds what batching adds to an alert's latency.

The tick is a message too: a timer sends one to each partition this worker
owns, and the agent handles it in order with that partition's events. So every
table write happens inside the stream, on the partition it belongs to (the
RocksDB store and the changelog both take the partition from the current event:
each write is made under an event of the customer's partition).
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from typing import Any

import orjson
from faust import streams as faust_streams
from faust.types import TP

from models.alerts import AlertChange, forgotten_cloudevent, to_cloudevent
from streams import metrics
from streams.app import alerts_topic, app, customers, dead_letter_topic, inputs, plans, policy, ticks_topic
from streams.deadletter import dead_letter_headers, send_dead_letter
from streams.health import assigned_partitions, is_ready
from streams.processor import Processor
from streams.topics import TICKS_TOPIC

__all__ = ["ingest", "processor", "BATCH_MAX", "BATCH_WITHIN"]

#: At most this many messages per batch, and at most this long waiting for it to fill: what batching adds to
#: an alert's latency at a low rate. Under a backlog, Faust hands the stream about 5-10k messages a second on
#: two shared cores, so a batch holds about 100: each customer it touches written once, not once per event.
BATCH_MAX = 1000
BATCH_WITHIN = 0.01

log = logging.getLogger("fairwatch")
_CLOUDEVENTS_HEADERS = [("content-type", b"application/cloudevents+json")]
_CURRENT_EVENT = faust_streams._current_event  # what Table and its RocksDB store read the partition from


def _persist(customer_id: str, state: dict[str, Any]) -> None:
    customers[customer_id] = state


def _highwater(topic: str, partition: int) -> int | None:
    try:
        return app.consumer.highwater(TP(topic, partition))
    except Exception:  # consumer not started or partition not fetched yet: unknown
        return None


# The plan catalog is read straight from the global table's store, as plans arrive.
processor = Processor(policy, customers.data, _persist, _highwater, catalog=plans.data, batched=True)
# Where the consumer resumes a newly assigned partition (streams.app._Consumer.perform_seek).
app.fairwatch_resume_offset = processor.resume_offset

_alert_counters: dict[tuple[str, str], Any] = {}


async def _emit(changes: list[AlertChange], consumed_at: float | None) -> list[Any]:
    """Send the alerts; return their delivery futures."""
    delivered = []
    for change in changes:
        document = to_cloudevent(change, policy.currency)
        delivered.append(
            await alerts_topic.send(
                key=change.customer_id.encode(), value=orjson.dumps(document), headers=_CLOUDEVENTS_HEADERS
            )
        )
        counter = _alert_counters.get((change.kind, change.lifecycle))
        if counter is None:
            counter = _alert_counters[change.kind, change.lifecycle] = metrics.ALERTS.labels(
                change.kind, change.lifecycle
            )
        counter.inc()
        if change.lifecycle == "raised":
            metrics.OVERPAY.labels(change.kind, change.per).inc(change.amount / 1_000_000)
        now = time.time()
        metrics.EVENT_TO_ALERT.observe(max(0.0, now - change.at / 1000))
        if consumed_at is not None:
            metrics.PROCESSING_LATENCY.observe(time.monotonic() - consumed_at)
    return delivered


def _forget(message: Any, customer_id: str, reason: str) -> dict[str, Any]:
    """Forget a customer of the message's partition, now (under that partition's current event): the table
    entry goes (a tombstone in the changelog, so compaction drops it), then the processor's memory of them.
    Returns the notice for the alert topic, which makes every live page drop them too."""
    held = processor.forget_customer(message.partition, customer_id)
    # Only a state of this partition: the store and the changelog take the partition from the current event.
    if held and customer_id in customers.data:
        del customers[customer_id]
    metrics.CUSTOMERS_FORGOTTEN.labels(reason).inc()
    # The customer_id is not logged: the point is to stop keeping it.
    log.info(
        "fairwatch: a customer forgotten (%s) on partition %d%s",
        reason,
        message.partition,
        "" if held else ": nothing was held for them here",
    )
    return forgotten_cloudevent(customer_id, int(time.time() * 1000), reason)


def _forget_request(message: Any) -> list[dict[str, Any]]:
    """A ``fairwatch forget`` request: a tick message carrying ``{"forget": customer_id}``."""
    try:
        customer_id = orjson.loads(message.value)["forget"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        customer_id = None
    if not isinstance(customer_id, str) or not customer_id:
        log.warning(
            "fairwatch: a control message on %s/%d is not a forget request: ignored", TICKS_TOPIC, message.partition
        )
        return []
    return [_forget(message, customer_id, "request")]


async def handle_batch(events: list[Any]) -> None:
    """Handle a batch in order; send what it produced; then write each touched customer once.

    The alerts and dead letters are delivered before the state that records their
    events as handled is written: a worker killed in between handles the events
    again from the table's input offsets and sends them again (the same CloudEvents
    ids), rather than finding them handled and their output lost.
    """
    started = time.monotonic()
    if not metrics.CONSUMED.first:
        metrics.CONSUMED.first = time.time()
    # (changes, consumed_at) or (dead-letter message, rejection), in the order the messages came.
    produced: list[tuple[Any, Any]] = []
    last_of_partition: dict[int, Any] = {}
    rewinds: dict[TP, tuple[int, int | None]] = {}  # -> (offset to read again from, offset that came instead)
    notices: list[dict[str, Any]] = []  # customers forgotten: for the alert topic
    previous = _CURRENT_EVENT.get(None)
    try:
        for event in events:
            message = event.message
            # As Faust's own iteration does: the store reads from this partition's database.
            _CURRENT_EVENT.set(weakref.ref(event))
            last_of_partition[message.partition] = event
            if message.topic == TICKS_TOPIC:
                if message.value:
                    notices += _forget_request(message)
                    continue
                changes = processor.tick(message.partition)
                if changes:
                    produced.append((changes, None))
                for customer_id in processor.inactive_customers(message.partition):
                    notices.append(_forget(message, customer_id, "inactive"))
                for topic, offset in processor.stalled(message.partition).items():
                    rewinds.setdefault(TP(topic, message.partition), (offset, None))
                continue
            outcome = processor.handle(message.topic, message.partition, message.offset, message.key, message.value)
            if outcome.rewind_to is not None:
                rewinds.setdefault(message.tp, (outcome.rewind_to, message.offset))
                continue
            if outcome.rejected is not None:
                produced.append((message, outcome.rejected))
            if outcome.changes:
                # Consumed when Faust received it (its monitor stamps time_in): the wait for the batch counts.
                produced.append((outcome.changes, message.time_in or started))
        processor.flush_metrics()
        metrics.BATCH_MESSAGES.observe(len(events))
        delivered: list[Any] = []
        for first, second in produced:
            if isinstance(first, list):
                delivered += await _emit(first, second)
            else:
                delivered.append(
                    await send_dead_letter(
                        dead_letter_topic,
                        first.key,
                        first.value,
                        dead_letter_headers(second.reason, second.code, first.topic, first.partition, first.offset),
                    )
                )
        for notice in notices:
            customer_id = notice["data"]["customer_id"]
            delivered.append(
                await alerts_topic.send(
                    key=customer_id.encode(), value=orjson.dumps(notice), headers=_CLOUDEVENTS_HEADERS
                )
            )
        if delivered:
            await asyncio.gather(*delivered)
        # Each customer once, then each partition's input offsets, written under an event of its own
        # partition: the store and the changelog take the partition from the current event.
        dirty = processor.take_dirty()
        for key, state in dirty.items():
            _CURRENT_EVENT.set(weakref.ref(last_of_partition[state["p"]]))
            customers[key] = state
        metrics.BATCH_WRITES.inc(len(dirty))
    finally:
        _CURRENT_EVENT.set(previous)
    for tp, (offset, seen) in rewinds.items():
        if seen is None:
            log.warning(
                "fairwatch: %s/%d: nothing handled since the last tick, with more on the topic from %d: "
                "reading again from there",
                tp.topic,
                tp.partition,
                offset,
            )
        else:
            log.warning(
                "fairwatch: %s/%d: offset %d arrived, but %d is the next to handle: reading again from there",
                tp.topic,
                tp.partition,
                seen,
                offset,
            )
        metrics.INPUT_REWINDS.labels(tp.topic, "tick" if seen is None else "stream").inc()
        await app.consumer.seek(tp, offset)
    metrics.CONSUMED.last = time.time()


@app.agent(inputs)
async def ingest(stream: Any) -> None:
    async for events in stream.take_events(BATCH_MAX, within=BATCH_WITHIN):
        await handle_batch(events)


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
