"""The ingest agent on fakes (tests/unit/agents/fakes.py): its checkpoint, dead letters, forgetting, the tick.

A batch is a checkpoint (agents/ingest.py): its outputs delivered, then its state written and delivered, then
the ack. Each fake send completes on a later turn of the loop, so an output the agent did not wait for shows up
in the journal after the step that should have waited for it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Any

import orjson
import pytest
from faust.types import TP

from streams.compat import current_event_var
from streams.processor import input_offsets_key

from ..factories import DAY, T0
from .fakes import CUSTOMER, OTHER, Agents, Event, FakeStream, Message, broken_promise_batch, messages, placed, ready


class Exited(BaseException):
    """What the test's os._exit raises instead of ending the test process."""


@pytest.fixture
def exits(agents: Agents, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    statuses: list[int] = []

    def exit_now(status: int) -> None:
        statuses.append(status)
        agents.journal.append(("exit", "process", status))
        raise Exited(status)

    monkeypatch.setattr(os, "_exit", exit_now)
    return statuses


def run_agent(agents: Agents, batches: list[list[Event]]) -> FakeStream:
    """The ingest agent over ``batches``, until the stream ends (or the worker exits)."""
    stream = FakeStream(batches, agents.journal)
    channel, agent = agents.app.agents["ingest"]
    assert channel is agents.rt.inputs  # registered on the runtime's input stream

    async def main() -> None:
        await asyncio.wait_for(agent(stream), 10)

    asyncio.run(main())
    return stream


def steps(agents: Agents, step: str, where: str | None = None) -> list[int]:
    return agents.journal.index_of(step, where)


def test_a_batch_delivers_its_outputs_then_writes_and_delivers_its_state_then_is_acked(agents: Agents) -> None:
    orders, alerts, dead = agents.topic("orders"), agents.topic("alerts"), agents.topic("dead_letter")
    batch = broken_promise_batch(agents)
    batch.append(Event(Message(orders, 1, 2, CUSTOMER.encode(), b"not json")))
    run_agent(agents, [batch])

    outputs = steps(agents, "delivered", alerts) + steps(agents, "delivered", dead)
    writes = steps(agents, "put", "changelog")
    state_delivered = steps(agents, "delivered", "changelog")
    (ack,) = steps(agents, "ack")
    assert steps(agents, "delivered", alerts) and steps(agents, "delivered", dead) and writes
    assert max(outputs) < min(writes), agents.journal
    assert len(state_delivered) == len(writes) and max(state_delivered) < ack, agents.journal
    # The customer once, however many of its events the batch held; then the partition's input offsets.
    keys = [key for _, key, _, _ in agents.customers.writes]
    assert keys == [CUSTOMER, input_offsets_key(1)]
    # Once delivered, the store is told how far its changelog is written: both records, on partition 1.
    assert agents.customers.persisted_calls == [[(1, 1), (1, 1)]]
    record = agents.customers.data[input_offsets_key(1)]
    assert record["input_offsets"] == {"orders": 3} and record["p"] == 1
    kinds = {orjson.loads(sent.value)["data"]["kind"] for sent in agents.alerts.sent}
    assert "promise.late_delivery" in kinds
    assert all(sent.key == CUSTOMER.encode() for sent in agents.alerts.sent)
    assert all(("content-type", b"application/cloudevents+json") in sent.headers for sent in agents.alerts.sent)
    assert agents.rt.state["progress"] <= time.monotonic()


def test_every_write_is_made_as_an_event_of_its_own_partition_and_the_context_is_restored(agents: Agents) -> None:
    orders = agents.topic("orders")
    batch = [
        *messages(orders, 1, [(CUSTOMER.encode(), placed("o-1", T0, T0 + DAY))]),
        *messages(orders, 0, [(OTHER.encode(), placed("o-9", T0, T0 + DAY, customer=OTHER))]),
    ]
    before = current_event_var.set(None)
    try:
        asyncio.run(agents.ingest.handle_batch(batch))
        assert current_event_var.get() is None
    finally:
        current_event_var.reset(before)
    written = {key: (partition, seen) for partition, key, _, seen in agents.customers.writes}
    assert written == {
        CUSTOMER: (1, 1),
        OTHER: (0, 0),
        input_offsets_key(0): (0, 0),
        input_offsets_key(1): (1, 1),
    }
    # Every record under the epoch this worker took for the partition: one above none restored.
    assert {epoch for _, _, epoch, _ in agents.customers.writes} == {1}


def test_a_failed_alert_send_exits_70_before_the_ack_and_writes_no_state(
    agents: Agents, exits: list[int], caplog: pytest.LogCaptureFixture
) -> None:
    agents.alerts.fail = lambda key, value: True
    with caplog.at_level(logging.CRITICAL, "fairwatch"), pytest.raises(Exited):
        run_agent(agents, [broken_promise_batch(agents), broken_promise_batch(agents, partition=0)])
    assert exits == [70]
    (exit_at,) = steps(agents, "exit")
    assert steps(agents, "failed", agents.topic("alerts"))
    assert not steps(agents, "put") and not agents.customers.data
    assert all(ack > exit_at for ack in steps(agents, "ack")), agents.journal
    assert "processing a batch failed: BrokerDown" in caplog.text
    assert "nothing of this batch is committed" in caplog.text


def test_a_failed_changelog_send_exits_70_before_the_ack(agents: Agents, exits: list[int]) -> None:
    agents.customers.fail = lambda key: key == CUSTOMER
    with pytest.raises(Exited):
        run_agent(agents, [broken_promise_batch(agents)])
    assert exits == [70]
    (exit_at,) = steps(agents, "exit")
    assert steps(agents, "failed", "changelog") and max(steps(agents, "delivered", agents.topic("alerts"))) < exit_at
    assert all(ack > exit_at for ack in steps(agents, "ack")), agents.journal


def test_bad_input_is_dead_lettered_with_its_original_bytes_and_why_and_the_batch_goes_on(agents: Agents) -> None:
    orders, billing = agents.topic("orders"), agents.topic("billing")
    wrong_key = placed("o-3", T0, T0 + DAY, customer=OTHER)
    bad = [
        (orders, 0, 7, CUSTOMER.encode(), b"\xff not json", "invalid_json"),
        (orders, 0, 8, CUSTOMER.encode(), wrong_key, "key_mismatch"),
        (billing, 0, 3, None, None, "no_value"),
        (orders, 0, 9, CUSTOMER.encode(), placed("o-4", T0, T0 + DAY), None),  # good: handled after them
    ]
    batch = [Event(Message(topic, partition, offset, key, value)) for topic, partition, offset, key, value, _ in bad]
    asyncio.run(agents.ingest.handle_batch(batch))

    rejected = [entry for entry in bad if entry[5] is not None]
    assert len(agents.dead_letter.sent) == len(rejected)
    for sent, (topic, partition, offset, key, value, code) in zip(agents.dead_letter.sent, rejected, strict=True):
        assert (sent.key, sent.value) == (key, value)
        headers = dict(sent.headers)
        assert headers["fairwatch.reason.code"] == code.encode()
        assert headers["fairwatch.reason"]  # one line saying why
        assert headers["fairwatch.source.topic"] == topic.encode()
        assert (headers["fairwatch.source.partition"], headers["fairwatch.source.offset"]) == (
            str(partition).encode(),
            str(offset).encode(),
        )
    assert b"not valid JSON" in dict(agents.dead_letter.sent[0].headers)["fairwatch.reason"]
    assert CUSTOMER in agents.customers.data and not agents.alerts.sent
    assert agents.customers.data[input_offsets_key(0)]["input_offsets"] == {"orders": 10, "billing": 4}


def test_a_batch_handled_again_is_recognised_as_redelivered_and_changes_nothing(agents: Agents) -> None:
    batch = broken_promise_batch(agents)
    asyncio.run(agents.ingest.handle_batch(batch))
    first = [(sent.key, sent.value) for sent in agents.alerts.sent]
    state = orjson.dumps(agents.customers.data[CUSTOMER])
    # The state is delivered but the ack is lost: a restarted worker restores the table and gets the batch again.
    restarted = agents.ingest.Processor(agents.rt.policy, agents.customers.data, lambda *_: None, lambda *_: None)
    for message in batch:
        outcome = restarted.handle("orders", 1, message.message.offset, message.message.key, message.message.value)
        assert outcome.status == "duplicate"
    asyncio.run(agents.ingest.handle_batch(batch))  # the same worker, the same batch: nothing new
    assert [(sent.key, sent.value) for sent in agents.alerts.sent] == first
    assert orjson.dumps(agents.customers.data[CUSTOMER]) == state


def forget(agents: Agents, partition: int, customer: Any, offset: int = 0) -> Event:
    return Event(Message(agents.topic("ticks"), partition, offset, None, orjson.dumps({"forget": customer})))


def later_order(agents: Agents) -> list[Event]:
    return messages(agents.topic("orders"), 1, [(CUSTOMER.encode(), placed("o-5", T0 + 11 * DAY, T0 + 13 * DAY))], 2)


def test_a_forget_request_sends_the_notice_then_the_tombstone_and_a_later_event_starts_afresh(agents: Agents) -> None:
    asyncio.run(agents.ingest.handle_batch(broken_promise_batch(agents)))
    agents.journal.clear()
    agents.alerts.sent.clear()
    asyncio.run(agents.ingest.handle_batch([forget(agents, 1, CUSTOMER, offset=0)]))

    (notice,) = [orjson.loads(sent.value) for sent in agents.alerts.sent]
    assert notice["type"] == "fairwatch.customer.forgotten" and notice["data"]["customer_id"] == CUSTOMER
    assert agents.alerts.sent[0].key == CUSTOMER.encode()
    assert [(step, key) for step, _, key in agents.journal if step in ("remove", "put")] == [("remove", CUSTOMER)]
    assert max(steps(agents, "delivered", agents.topic("alerts"))) < min(steps(agents, "remove"))
    assert steps(agents, "delivered", "changelog") and CUSTOMER not in agents.customers.data

    asyncio.run(agents.ingest.handle_batch(later_order(agents)))
    assert list(agents.customers.data[CUSTOMER]["orders"]) == ["o-5"]  # nothing of the forgotten state


def test_an_event_after_a_forget_request_in_the_same_batch_starts_afresh(agents: Agents) -> None:
    asyncio.run(agents.ingest.handle_batch(broken_promise_batch(agents)))
    agents.journal.clear()
    asyncio.run(agents.ingest.handle_batch([forget(agents, 1, CUSTOMER), *later_order(agents)]))
    writes = [(step, key) for step, _, key in agents.journal if step in ("remove", "put")]
    assert writes == [("remove", CUSTOMER), ("put", CUSTOMER), ("put", input_offsets_key(1))]
    assert list(agents.customers.data[CUSTOMER]["orders"]) == ["o-5"]


def test_forgetting_a_customer_this_partition_does_not_hold_sends_the_notice_and_no_tombstone(
    agents: Agents,
) -> None:
    asyncio.run(agents.ingest.handle_batch(broken_promise_batch(agents, partition=1)))
    agents.journal.clear()
    asyncio.run(agents.ingest.handle_batch([forget(agents, 0, CUSTOMER)]))
    assert not steps(agents, "remove") and CUSTOMER in agents.customers.data
    assert orjson.loads(agents.alerts.sent[-1].value)["data"]["customer_id"] == CUSTOMER


@pytest.mark.parametrize("value", [b"{", b'{"forget": 5}', b'{"forget": ""}', b"[1]", b'{"other": "c-1"}'])
def test_a_control_message_that_is_not_a_forget_request_is_ignored(
    agents: Agents, value: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    asyncio.run(agents.ingest.handle_batch(broken_promise_batch(agents)))
    sent = len(agents.alerts.sent)
    agents.journal.clear()
    control = Event(Message(agents.topic("ticks"), 1, 0, None, value))
    with caplog.at_level(logging.WARNING, "fairwatch"):
        asyncio.run(agents.ingest.handle_batch([control]))
    assert len(agents.alerts.sent) == sent and not steps(agents, "remove")
    assert CUSTOMER in agents.customers.data
    assert "is not a forget request: ignored" in caplog.text


def caught_up(agents: Agents, partition: int, end: int, handed: int | None = None) -> None:
    """The consumer has read orders/<partition> to ``end``, the end of the log, and handed Faust the records
    below ``handed`` (default: all of them)."""
    tp = TP(agents.topic("orders"), partition)
    agents.app.consumer.fairwatch_thread.positions[tp] = (end, end, None)
    agents.app.consumer.handed[tp] = (end, end if handed is None else handed)


def tick(agents: Agents, partition: int) -> Event:
    return Event(Message(agents.topic("ticks"), partition, 0, None, b""))


def test_a_tick_fires_the_deadlines_the_wall_clock_passed_once_the_topic_is_caught_up(agents: Agents) -> None:
    orders = agents.topic("orders")
    batch = messages(orders, 1, [(CUSTOMER.encode(), placed("o-1", T0, T0 + 2 * DAY))])
    asyncio.run(agents.ingest.handle_batch(batch))
    assert not agents.alerts.sent  # the event alone passes no deadline

    caught_up(agents, 1, end=5)  # a backlog: offsets 1-4 not handled yet; the tick does not jump over them
    asyncio.run(agents.ingest.handle_batch([tick(agents, 1)]))
    assert not agents.alerts.sent

    caught_up(agents, 1, end=1)
    agents.journal.clear()
    asyncio.run(agents.ingest.handle_batch([tick(agents, 1)]))
    raised = [orjson.loads(sent.value)["data"] for sent in agents.alerts.sent]
    assert {(alert["kind"], alert["customer_id"]) for alert in raised} == {("promise.late_delivery", CUSTOMER)}
    # The state the tick changed is written after the alerts are delivered.
    assert max(steps(agents, "delivered", agents.topic("alerts"))) < min(steps(agents, "put"))
    # A tick moves no input offset: the customer alone is written, as an event of the tick's partition.
    assert [(step, key) for step, _, key in agents.journal if step == "put"] == [("put", CUSTOMER)]
    assert agents.customers.writes[-1] == (1, CUSTOMER, 1, 1)


def test_a_tick_waits_for_every_record_handed_to_faust_and_not_for_a_trailing_marker(agents: Agents) -> None:
    orders = agents.topic("orders")
    asyncio.run(agents.ingest.handle_batch(messages(orders, 1, [(CUSTOMER.encode(), placed("o-1", T0, T0 + 2 * DAY))])))

    # Offset 1 is in Faust's hands (its fetch loop or the stream's buffer), not yet the agent's: a jump of stream
    # time now would fire deadlines that record may settle (as when complaints were taken for unanswered).
    caught_up(agents, 1, end=2)
    asyncio.run(agents.ingest.handle_batch([tick(agents, 1)]))
    assert not agents.alerts.sent

    # The consumer thread is at the end, but the fetch that took offset 1 has not reached Faust's loop yet.
    tp = TP(orders, 1)
    agents.app.consumer.fairwatch_thread.positions[tp] = (2, 2, None)
    agents.app.consumer.handed[tp] = (1, 1)
    asyncio.run(agents.ingest.handle_batch([tick(agents, 1)]))
    assert not agents.alerts.sent

    # Offset 1 is a transaction's commit marker: no record to wait for, and the high-water mark one past it.
    caught_up(agents, 1, end=2, handed=1)
    asyncio.run(agents.ingest.handle_batch([tick(agents, 1)]))
    raised = [orjson.loads(sent.value)["data"] for sent in agents.alerts.sent]
    assert {(alert["kind"], alert["customer_id"]) for alert in raised} == {("promise.late_delivery", CUSTOMER)}


def test_a_batch_waits_longer_to_fill_while_the_worker_is_a_batch_or_more_behind_its_logs(agents: Agents) -> None:
    ingest = agents.ingest
    orders, billing = agents.topic("orders"), agents.topic("billing")
    agents.app.active = {TP(orders, 0), TP(billing, 1)}
    thread = agents.app.consumer.fairwatch_thread

    def behind(on_orders: int, on_billing: int) -> None:
        thread.positions[TP(orders, 0)] = (100, 100 + on_orders, None)
        thread.positions[TP(billing, 1)] = (7, 7 + on_billing, None)

    behind(0, 0)
    assert ingest.batch_within() == ingest.BATCH_WITHIN
    behind(ingest.BATCH_MAX // 2, ingest.BATCH_MAX // 2 - 1)  # one record short of a batch, over both topics
    assert ingest.batch_within() == ingest.BATCH_WITHIN
    behind(ingest.BATCH_MAX // 2, ingest.BATCH_MAX // 2)
    assert ingest.batch_within() == ingest.BATCH_WITHIN_BEHIND > ingest.BATCH_WITHIN

    # The agent asks at each batch's wait: Faust's fixed ``within`` is not what it waits.
    stream = run_agent(agents, [[], []])
    assert stream.waits == [ingest.BATCH_WITHIN_BEHIND] * 2
    behind(0, 0)
    stream = run_agent(agents, [[]])
    assert stream.waits == [ingest.BATCH_WITHIN]


def test_the_tick_timer_sends_one_empty_tick_per_owned_input_partition_only_when_ready(agents: Agents) -> None:
    orders, alerts = agents.topic("orders"), agents.topic("alerts")
    assert agents.app.timers["tick"] == agents.rt.config.tick_seconds
    agents.app.active = {TP(orders, 0), TP(orders, 1)}
    asyncio.run(agents.ingest.tick())
    assert not agents.ticks.sent  # not joined yet: not ready

    ready(agents, {TP(orders, 0), TP(orders, 1), TP(alerts, 3)})
    asyncio.run(agents.ingest.tick())
    assert sorted((sent.partition, sent.value) for sent in agents.ticks.sent) == [(0, b""), (1, b"")]

    agents.app.rebalancing = True
    agents.ticks.sent.clear()
    asyncio.run(agents.ingest.tick())
    assert not agents.ticks.sent


def test_an_assignment_marks_the_worker_joined_and_drops_what_it_held_for_those_partitions(agents: Agents) -> None:
    asyncio.run(agents.ingest.handle_batch(broken_promise_batch(agents)))
    processor = agents.ingest.processor
    assert 1 in processor.partitions
    (assigned,) = agents.app.on_partitions_assigned.receivers
    asyncio.run(assigned(None, assigned={TP(agents.topic("orders"), 1)}))
    assert agents.rt.state["joined"] is True and 1 not in processor.partitions
    # Rebuilt from the table on next use, under a new fencing epoch.
    assert processor.epoch(1) == 2
