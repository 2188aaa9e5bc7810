"""The ingest agent and the live tick: wiring only, registered on the installed runtime.

message -> Processor (decode, validate, de-duplicate, rules, stream time)
-> alerts and dead letters -> customer table + changelog -> ack.

The agent takes the stream in batches (``stream.take_events``). A batch is a
checkpoint, in this order, each step awaited and its result checked:

1. every message of the batch is handled, in order (nothing leaves the process yet);
2. the alerts and dead letters it produced are delivered;
3. each customer the batch touched is written once to the table, then each
   partition's input-offsets record, and every changelog send is delivered;
4. only then does Faust ack the batch, so the group commits it later.

A crash at any step leaves the input-offsets record in the changelog no further
than the states it covers: the batch comes again, what it already applied is
recognised as redelivered, and its outputs are sent again with the same
CloudEvents ids. An exception in any step is not bad input (that is
dead-lettered in step 1): the worker exits at once with one line, before Faust's
``take_events`` acks the batch in its ``finally`` and a commit could include it.
Its supervisor restarts it and it resumes from the changelog.

The tick is a message too: a timer sends one to each partition this worker
owns, and the agent handles it in order with that partition's events. So every
table write happens inside the stream, on the partition it belongs to.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
import weakref
from collections.abc import Iterable, Mapping
from typing import Any

import orjson
from faust.types import TP

from models.alerts import AlertChange, forgotten_cloudevent, to_cloudevent
from streams import metrics
from streams.app import runtime
from streams.compat import current_event_var
from streams.compat.stream import wait_batches_for
from streams.compat.tables import StateView
from streams.deadletter import dead_letter_headers, send_dead_letter
from streams.health import assigned_partitions, input_lag, is_ready, position_and_end
from streams.holes import LogReader
from streams.outbox import Outbox
from streams.positions import resume_position
from streams.processor import HOLD_DECODED, Processor
from streams.state_record import SetAside

__all__ = [
    "ingest",
    "processor",
    "handle_batch",
    "batch_within",
    "BATCH_MAX",
    "BATCH_WITHIN",
    "BATCH_WITHIN_BEHIND",
    "EXIT_PROCESSING_FAILED",
]

#: At most this many messages per batch, and at most this long waiting for it to fill while caught up: what
#: batching adds to an alert's latency at a low rate.
BATCH_MAX = 1000
BATCH_WITHIN = 0.01
#: How long a batch may wait to fill while the worker's input partitions are BATCH_MAX records or more behind
#: the ends of their logs (a backlog after downtime, a burst). Faust hands the stream about 10k messages a
#: second here, so 10 ms made batches of about 100 there, nearly every event a customer's only one in its batch.
#: With 0.1 s the benchmark's backlog came in batches of 860-930, 0.72-0.74 -> 0.54-0.55 table writes a message,
#: and the worker went from 1,534-1,628 to 1,981-2,241 events/s (500,000 events for 10,000 customers, two runs
#: each, alternated; README: Benchmark). Events that far behind already waited longer than this for their turn.
BATCH_WITHIN_BEHIND = 0.1
#: Customers whose deadlines one batch fires because stream time passed them; the rest, still due, fire in the
#: batches after (and a customer's own always before their next event). When stream time jumps (a worker
#: catching up after downtime over a quiet spell; the benchmark's backlog, which ends a day before the wall
#: clock) nearly every customer has a deadline in the jump, and one batch held all their states at once: on
#: the default benchmark, 10,000 states, 6 million objects, the worker from about 315 to 750 MiB. (What a
#: batch holds decoded is now bounded without slicing: streams.processor.HOLD_DECODED.)
#: Off (None) for now: a sliced firing changes the order of alerts across customers and what retention prunes
#: at the next save, and whether a step is sliced depends on whether the partition happened to be read to its
#: end at that moment, which is timing. With 100, test_faults' kill -9 case failed once under load (its
#: outcome is compared with a reference run), and on the benchmark the step is made by the first live event
#: with more behind it, so it fired whole anyway (512 MiB peak with 100).
FIRE_MOST: int | None = None
#: And at most this many seconds of such firings a batch (None: no limit). Measured, a budget bounds what the
#: live events of a batch wait better than the count: a customer's firing costs 0.35-1 ms of CPU (10 ms for a
#: few), so 100 of them took 54 ms a batch at the median and 122 ms at worst on the default bench's catch-up;
#: with 10 ms, 11 and 58 ms, and on the bench p99 consume -> alert 226 ms during the catch-up against 479.
#: Not on: a wall-clock budget makes which customers fire in which batch depend on the machine's speed, and a
#: worker's outcome, with the tick off, then depends on it (tests/integration/test_faults.py compares with a
#: reference). With leftovers drained on every event, its 11 cases pass with the count alone; with 10 ms,
#: 1 of the 5 run (control and the crash steps) still failed.
FIRE_WITHIN: float | None = None
#: A partition read to its end by the consumer but not by the agent, with no progress for this long: the
#: consumer passed records it never handed over (streams.holes), and the worker reads them itself.
TAIL_STALL_SECONDS = 5.0
#: The exit status when a batch fails for a reason other than bad input (EX_SOFTWARE).
EXIT_PROCESSING_FAILED = 70

log = logging.getLogger("fairwatch")
_CLOUDEVENTS_HEADERS = [("content-type", b"application/cloudevents+json")]

rt = runtime()
app, customers, policy = rt.app, rt.customers, rt.policy
_names = rt.layout.names
_ROLES: dict[str, str] = rt.roles  # input topic name -> role
_TOPIC_OF_ROLE = {role: name for name, role in _ROLES.items()}
_TICKS = _names.ticks
_ALERTS = _names.alerts


def _end(role: str, partition: int) -> int | None:
    """Where the partition's log ends for this consumer: the last stable offset (read_committed), else the
    high-water mark."""
    return position_and_end(app, TP(_TOPIC_OF_ROLE[role], partition))[1]


def _consumed(role: str, partition: int) -> int | None:
    """The offset past the last record the consumer handed to Faust, once what it handed over reaches the end of
    the log (None until then): the agent is caught up on the partition when it has handled up to there."""
    tp = TP(_TOPIC_OF_ROLE[role], partition)
    position, handed = app.consumer.handed_over(tp)
    end = _end(role, partition)
    if position is None or end is None or position < end:
        return None
    return 0 if handed is None else handed


processor = Processor(
    policy,
    StateView(customers),
    lambda key, state: None,
    _end,
    catalog=rt.plans.data,
    batched=True,
    consumed=_consumed,
    fire_most=FIRE_MOST,
    fire_within=FIRE_WITHIN,
    # Test only: a lower bound, so that a test's few customers are set aside too (tests/integration/test_faults.py).
    hold_decoded=int(os.environ.get("FAIRWATCH_TEST_HOLD_DECODED") or HOLD_DECODED),
)
# Read when /metrics is scraped (on the event loop, between batches), not kept up on the hot path.
metrics.DEADLINES_DUE.set_function(processor.due_customers)


async def _resume(
    assigned: Iterable[TP], committed: Mapping[TP, int | None], log_start: Mapping[TP, int]
) -> dict[TP, int]:
    """Where each newly assigned input partition resumes (streams.positions); called by the consumer at
    assignment, after recovery, before the stream runs."""
    seeks: dict[TP, int] = {}
    resumed = []
    for tp in assigned:
        role = _ROLES[tp.topic]
        recorded = processor.recorded_offset(role, tp.partition)
        decision = resume_position(recorded, committed.get(tp), log_start.get(tp))
        if recorded is None:
            # Nothing handled here yet: the first record must be the one the consumer starts at, so that
            # records skipped before it are noticed too.
            start = committed.get(tp)
            processor.start_at(role, tp.partition, start if start is not None else log_start.get(tp, 0))
        resumed.append(f"{tp.topic}/{tp.partition} committed {committed.get(tp)} recorded {recorded}")
        if decision.action == "log_start":
            log.warning(
                "fairwatch: %s/%d: the log now starts at %d, past offset %d recorded as next to handle "
                "(retention or DeleteRecords removed messages never handled): resuming from the log start",
                tp.topic,
                tp.partition,
                decision.offset,
                recorded,
            )
            metrics.LOG_START_MOVED.labels(tp.topic).inc()
        elif decision.action == "seek_back":
            log.warning(
                "fairwatch: %s/%d committed at %s but handled only up to %d: reading it again from there",
                tp.topic,
                tp.partition,
                committed.get(tp),
                recorded,
            )
            metrics.INPUT_REWINDS.labels(tp.topic, "assigned").inc()
        if decision.offset is not None:
            seeks[tp] = decision.offset
    log.info("fairwatch: input partitions resumed: %s", "; ".join(resumed))
    return seeks


app.fairwatch_resume = _resume

#: Reads what Faust's consumer skipped straight from the log (streams.holes).
reader = LogReader(rt.config.client_options, rt.config.isolation_level, max(rt.config.fetch_max_wait_ms, 10))
#: (topic, partition) -> (the next offset to handle, since when it has not moved) for partitions whose consumer
#: is at the end of the log while the agent is not.
_tails: dict[tuple[str, int], tuple[int, float]] = {}
#: The control message on the tick topic that asks the agent to read a partition's tail from the log.
_READ_TAIL = b'{"read_tail":true}'


async def _skipped(topic: str, partition: int, start: int, stop: int) -> list[Any]:
    """The records in [start, stop) of an input partition: none where the log has a gap, else records the
    consumer skipped (counted, logged)."""
    records = await reader.read(topic, partition, start, stop)
    if records:
        metrics.INPUT_SKIPPED_READ.labels(topic).inc(len(records))
        log.warning(
            "fairwatch: %s/%d: the consumer skipped %d record(s) between offsets %d and %d; read them from the log",
            topic,
            partition,
            len(records),
            start,
            stop,
        )
    return records


def _tail_behind(topic: str, partition: int) -> tuple[int, int] | None:
    """(next offset to handle, end of the log) when the consumer has read the partition to its end and the
    agent has not handled all of it; None otherwise. Reads without changing anything."""
    handled = processor.peek_handled(_ROLES[topic], partition)
    position, end = position_and_end(app, TP(topic, partition))
    if handled is None or position is None or end is None or not position >= end > handled:
        return None
    return handled, end


async def _read_tails(partition: int) -> list[Any]:
    """A tail-read request: the records past the agent's position on each input topic of the partition whose
    consumer is at the end of the log (streams.holes)."""
    found = []
    for topic in _ROLES:
        behind = _tail_behind(topic, partition)
        if behind is not None:
            found += await _skipped(topic, partition, *behind)
    return found


@app.timer(interval=1.0)
async def _watch_tails() -> None:
    """A record the consumer dropped at the very end of a partition has no later record to reveal it. When a
    partition's consumer has been at the end of the log for TAIL_STALL_SECONDS while the agent is behind, ask
    the agent (a control message on the tick topic, in order with the partition's events) to read the tail."""
    if not is_ready(rt):
        return
    now = time.monotonic()
    for partition in assigned_partitions(rt):
        for topic in _ROLES:
            behind = _tail_behind(topic, partition)
            if behind is None:
                _tails.pop((topic, partition), None)
                continue
            since = _tails.get((topic, partition))
            if since is None or since[0] != behind[0]:
                _tails[topic, partition] = (behind[0], now)
            elif now - since[1] >= TAIL_STALL_SECONDS:
                _tails[topic, partition] = (behind[0], now)
                await rt.ticks.send(value=_READ_TAIL, partition=partition)


_alert_counters: dict[tuple[str, str], Any] = {}


def _fault_hook() -> tuple[str, int] | None:
    """Test only: ``FAIRWATCH_TEST_FAULT=<step>:<batch>`` raises at that step of that batch (1-based);
    ``pause_after_<step>:<batch>`` stops the whole process there (SIGSTOP) until it is continued."""
    spec = os.environ.get("FAIRWATCH_TEST_FAULT")
    if not spec:
        return None
    step, _, number = spec.partition(":")
    return step, int(number or 1)


_FAULT = _fault_hook()
_batches = 0


def _checkpoint(step: str) -> None:
    if _FAULT is None or _FAULT[1] != _batches:
        return
    if _FAULT[0] == f"pause_after_{step}":
        # Frozen whole, as a stopped VM or a long GC pause freezes it: heartbeats stop too, the group moves on,
        # and on SIGCONT the batch goes on to write its state (the stale writer that fencing is for).
        os.kill(os.getpid(), signal.SIGSTOP)
    elif _FAULT[0] == step:
        raise RuntimeError(f"injected fault at step {step} of batch {_batches}")


def _emit(outbox: Outbox, changes: list[AlertChange], consumed_at: float | None) -> None:
    """Add the alerts to ``outbox`` and count them."""
    for change in changes:
        document = to_cloudevent(change, policy.currency)
        outbox.add(_ALERTS, change.customer_id.encode(), orjson.dumps(document), _CLOUDEVENTS_HEADERS)
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


def _handle(message: Any, consumed_at: float, produced: list[tuple[Any, Any]]) -> None:
    """One input record through the processor; what it produced is added to ``produced``."""
    outcome = processor.handle(_ROLES[message.topic], message.partition, message.offset, message.key, message.value)
    if outcome.rejected is not None:
        produced.append((message, outcome.rejected))
    if outcome.changes:
        # Consumed when Faust received it (its monitor stamps time_in): the wait for the batch counts.
        produced.append((outcome.changes, consumed_at))


def _forget(partition: int, customer_id: str, reason: str, forgotten: list[tuple[int, str]]) -> dict[str, Any]:
    """Forget a customer of ``partition``: the processor's memory of them now, their table entry with the
    batch's state (a tombstone in the changelog, so compaction drops it: ``forgotten``). Returns the notice for
    the alert topic, which makes every live page drop them too."""
    held = processor.forget_customer(partition, customer_id)
    if held:
        forgotten.append((partition, customer_id))
    metrics.CUSTOMERS_FORGOTTEN.labels(reason).inc()
    # The customer_id is not logged: the point is to stop keeping it.
    log.info(
        "fairwatch: a customer forgotten (%s) on partition %d%s",
        reason,
        partition,
        "" if held else ": nothing was held for them here",
    )
    return forgotten_cloudevent(customer_id, int(time.time() * 1000), reason)


def _forget_request(message: Any, forgotten: list[tuple[int, str]]) -> list[dict[str, Any]]:
    """A ``fairwatch forget`` request: a tick message carrying ``{"forget": customer_id}``."""
    try:
        customer_id = orjson.loads(message.value)["forget"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        customer_id = None
    if not isinstance(customer_id, str) or not customer_id:
        log.warning("fairwatch: a control message on %s/%d is not a forget request: ignored", _TICKS, message.partition)
        return []
    return [_forget(message.partition, customer_id, "request", forgotten)]


async def handle_batch(events: list[Any]) -> None:
    """One checkpoint: handle the batch in order, deliver its outputs, then its state (module docstring)."""
    global _batches
    _batches += 1
    started = time.monotonic()
    if not metrics.CONSUMED.first:
        metrics.CONSUMED.first = time.time()
    # (changes, consumed_at) or (dead-letter message, rejection), in the order the messages came.
    produced: list[tuple[Any, Any]] = []
    last_of_partition: dict[int, Any] = {}
    notices: list[dict[str, Any]] = []  # customers forgotten: for the alert topic
    forgotten: list[tuple[int, str]] = []  # (partition, customer_id) whose table entries go with the state
    previous = current_event_var.get(None)
    try:
        for event in events:
            message = event.message
            # As Faust's own iteration does: the store reads from this partition's database.
            current_event_var.set(weakref.ref(event))
            last_of_partition[message.partition] = event
            if message.topic == _TICKS:
                if message.value == _READ_TAIL:
                    for record in await _read_tails(message.partition):
                        _handle(record, started, produced)
                    continue
                if message.value:
                    notices += _forget_request(message, forgotten)
                    continue
                changes = processor.tick(message.partition)
                if changes:
                    produced.append((changes, None))
                for customer_id in processor.inactive_customers(message.partition):
                    notices.append(_forget(message.partition, customer_id, "inactive", forgotten))
                continue
            expected = processor.handled_offset(_ROLES[message.topic], message.partition)
            if expected is not None and message.offset > expected:
                # A gap in the log, or records the consumer dropped: the log says which.
                for record in await _skipped(message.topic, message.partition, expected, message.offset):
                    _handle(record, started, produced)
            _handle(message, message.time_in or started, produced)
        processor.flush_metrics()
        metrics.BATCH_MESSAGES.observe(len(events))
        _checkpoint("handled")
        # Alerts in the order they were made (a forgotten customer's notice after their alerts), in record
        # batches; dead letters are rare and go one by one (a too-large one is cut down: streams.deadletter).
        outputs = rt.outbox()
        delivered: list[Any] = []
        for output, detail in produced:
            if isinstance(output, list):  # alert changes, and when their message was consumed
                _emit(outputs, output, detail)
            else:  # a rejected message, and why
                delivered.append(
                    await send_dead_letter(
                        rt.dead_letter,
                        output.key,
                        output.value,
                        dead_letter_headers(detail.reason, detail.code, output.topic, output.partition, output.offset),
                    )
                )
        for notice in notices:
            outputs.add(_ALERTS, notice["data"]["customer_id"].encode(), orjson.dumps(notice), _CLOUDEVENTS_HEADERS)
        delivered += [delivery.future for delivery in await outputs.send()]
        if delivered:
            await asyncio.gather(*delivered)
        _checkpoint("outputs")
        # Each customer once, then each partition's input-offsets record (after the customers it covers), on
        # the customer's partition, under this worker's fencing epoch for it.
        states = rt.outbox()
        # The forgotten first: an event after the forget in this batch starts a fresh state, written below.
        for partition, customer_id in forgotten:
            current_event_var.set(weakref.ref(last_of_partition[partition]))
            customers.stage_removal(states, partition, customer_id, processor.epoch(partition))
        dirty = processor.take_dirty()
        for key, state in dirty.items():
            partition = state.partition if type(state) is SetAside else state["p"]
            current_event_var.set(weakref.ref(last_of_partition[partition]))
            customers.stage(states, partition, key, state, processor.epoch(partition))
        metrics.BATCH_WRITES.inc(len(dirty))
        written = await states.send()
        _checkpoint("state_sent")
        if written:
            # Each batch's result: a failed changelog send raises here, before the batch is acked.
            await asyncio.gather(*(delivery.future for delivery in written))
            customers.persisted(written)
        _checkpoint("state_delivered")
    finally:
        current_event_var.set(previous)
    metrics.CONSUMED.last = time.time()
    rt.state["progress"] = time.monotonic()


def _exit_now(reason: str) -> None:
    """Stop the worker at once: no graceful stop, whose final commit would include the failed batch."""
    line = f"fairwatch: stopping: {reason} (nothing of this batch is committed; it is handled again on restart)"
    log.critical(line)
    for handler in logging.getLogger().handlers:
        handler.flush()
    sys.stderr.flush()
    os._exit(EXIT_PROCESSING_FAILED)


def batch_within() -> float:
    """How long the next batch may wait to fill: BATCH_WITHIN_BEHIND while the owned input partitions are
    BATCH_MAX records or more behind the ends of their logs in all, else BATCH_WITHIN."""
    return BATCH_WITHIN_BEHIND if sum(input_lag(rt).values()) >= BATCH_MAX else BATCH_WITHIN


@app.agent(rt.inputs)
async def ingest(stream: Any) -> None:
    rt.state["agent_started"] = time.monotonic()
    wait_batches_for(stream, batch_within)
    async for events in stream.take_events(BATCH_MAX, within=BATCH_WITHIN):
        try:
            await handle_batch(events)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            _exit_now(f"processing a batch failed: {type(exc).__name__}: {exc}")


@app.timer(interval=rt.config.tick_seconds)
async def tick() -> None:
    if not is_ready(rt):
        return
    for partition in assigned_partitions(rt):
        await rt.ticks.send(value=b"", partition=partition)


@app.on_partitions_revoked.connect
async def _on_revoked(sender: Any, revoked: Any, **kwargs: Any) -> None:
    processor.forget({tp.partition for tp in revoked})


@app.on_partitions_assigned.connect
async def _on_assigned(sender: Any, assigned: Any, **kwargs: Any) -> None:
    rt.state["joined"] = True
    # Rebuild clocks, deadline indexes and fencing epochs from the recovered table on first use.
    processor.forget({tp.partition for tp in assigned})
