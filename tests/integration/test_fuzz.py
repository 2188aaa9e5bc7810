"""Fuzzed input through the real broker and a real worker: nothing crashes, nothing is lost.

Hypothesis draws batches of messages, each labelled by how it was built: a valid
event, a repeat of one (a duplicate), or one of the ways input goes wrong
(truncated JSON, wrong types, huge strings, deep nesting, NaN/Infinity,
duplicate keys, invalid UTF-8, key != customer_id, times without offset,
negative money, unknown types, values over the size limit up to 1 MiB, ...).
Each batch is produced and the worker must account for every message before the
next batch; at the end every bad message is on the dead-letter topic with its
original bytes, its source and a reason, and in = processed + duplicates +
dead-lettered, exactly.

Duplicate JSON keys: the last one wins (as in orjson, Python's json and
JavaScript's JSON.parse); the key check then compares against that value, so
routing and validation see the same document.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from dataclasses import dataclass, replace
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from models.events import MAX_EVENT_BYTES
from models.state import event_mark
from models.timestamps import format_ms
from streams.deadletter import KEPT_BYTES
from tests.support.kafka_io import produce, read_topic

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

BATCHES = 340
MIN_BATCH = 46  # about two in three drawn messages are bad: >= 10,000 bad in all
MAX_BATCH = 58
CUSTOMERS = [f"fz-{n}" for n in range(64)]
DEDUP_WINDOW = 100  # the policy default; a repeat older than that is processed again
NOW_MS = int(time.time() * 1000)
_SERIAL = itertools.count()
#: Hypothesis favours repeating simple values, so drawn ids would mostly collide;
#: this placeholder is replaced by a serial number per message before sending.
_UNIQUE = "e-@unique@"


@dataclass(frozen=True, slots=True)
class Message:
    topic: str
    key: bytes | None
    value: bytes | None
    label: str  # "good", or "bad:<how>"
    customer: str | None = None
    event_id: str | None = None
    code: str | None = None  # the dead-letter reason code, where the way it is bad decides it


# --- valid events ----------------------------------------------------------------

_ids = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=40)
#: A customer_id may hold anything but control characters (the table keeps its own records under such keys).
_customer_ids = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=40)
_when = st.integers(min_value=NOW_MS - 90 * 86_400_000, max_value=NOW_MS).map(format_ms)
_money = st.one_of(
    st.integers(min_value=0, max_value=10_000),
    st.decimals(min_value=0, max_value=10_000, places=2).map(str),
)


@st.composite
def _valid_document(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    customer = draw(st.sampled_from(CUSTOMERS))
    kind = draw(
        st.sampled_from(
            [
                "order.placed",
                "order.shipped",
                "order.delivered",
                "payment.received",
                "usage.recorded",
                "complaint.opened",
                "complaint.acknowledged",
                "contact.logged",
            ]
        )
    )
    ref = draw(_ids)
    if kind == "order.placed":
        topic = "orders"
        lines = [
            {"line_id": f"l{n}", "sku": draw(_ids), "qty": draw(st.integers(0, 50)), "unit_price": draw(_money)}
            for n in range(draw(st.integers(1, 3)))
        ]
        data = {"order_id": ref, "lines": lines, "promised_delivery_by": draw(_when), "urgent": draw(st.booleans())}
    elif kind in ("order.shipped", "order.delivered"):
        topic, data = "orders", {"order_id": ref}
    elif kind == "payment.received":
        topic, data = "billing", {"invoice_id": ref, "amount": draw(_money)}
    elif kind == "usage.recorded":
        topic = "billing"
        data = {
            "subscription_id": ref,
            "period": f"2026-{draw(st.integers(1, 12)):02d}",
            "units": draw(st.one_of(st.integers(0, 10**6), st.floats(0, 1e6))),
        }
    elif kind == "complaint.opened":
        topic = "complaints"
        severity = draw(st.sampled_from(["low", "normal", "high"]))
        data = {"complaint_id": ref, "category": draw(_ids), "severity": severity, "channel": "phone"}
    elif kind == "complaint.acknowledged":
        topic, data = "complaints", {"complaint_id": ref}
    else:
        minutes = draw(st.integers(0, 600))
        topic, data = "complaints", {"contact_id": ref, "channel": "chat", "handling_minutes": minutes}
    document: dict[str, Any] = {
        "event_id": _UNIQUE,  # made unique per message when the batch is sent: repeats are drawn on purpose
        "type": kind,
        "customer_id": customer,
        "occurred_at": draw(_when),
        "data": data,
    }
    if draw(st.booleans()):
        document["note"] = draw(st.text(max_size=300))  # unknown fields are carried, not rejected
    return topic, document


def _good(topic: str, document: dict[str, Any], value: bytes | None = None) -> Message:
    customer = document["customer_id"]
    return Message(topic, customer.encode(), value or orjson.dumps(document), "good", customer, document["event_id"])


def _bad(topic: str, key: bytes | None, value: bytes | None, how: str, code: str | None = None) -> Message:
    return Message(topic, key, value, f"bad:{how}", code=code)


# --- the ways input goes wrong ------------------------------------------------------

_WRONG_VALUES = st.sampled_from([0, -1, 1.5, True, [], {}, ["x"], {"a": 1}, ""])


@st.composite
def _message(draw: st.DrawFn) -> Message:
    topic, document = draw(_valid_document())
    key = document["customer_id"].encode()
    raw = orjson.dumps(document)
    how = draw(
        st.sampled_from(
            [
                "truncated",
                "wrong_type",
                "huge_string",
                "deep_nesting",
                "non_finite",
                "duplicate_keys",
                "invalid_utf8",
                "key_mismatch",
                "no_key",
                "naive_time",
                "negative_money",
                "unknown_type",
                "wrong_topic",
                "not_an_object",
                "random_bytes",
                "no_value",
                "future",
                "oversized",
                "control_in_customer_id",
                *["good"] * 10,  # last: Hypothesis leans to the first choices
            ]
        )
    )
    if how == "good":
        return _good(topic, document, raw)
    if how == "truncated":
        return _bad(topic, key, raw[: draw(st.integers(0, len(raw) - 1))], how, "invalid_json")
    if how == "wrong_type":
        field = draw(st.sampled_from(["event_id", "customer_id", "occurred_at", "type", "data"]))
        wrong = draw(_WRONG_VALUES.filter(lambda v: not (field == "data" and v == {})))
        return _bad(topic, key, orjson.dumps({**document, field: wrong}), f"{how}:{field}")
    if how == "huge_string":
        field = draw(st.sampled_from(["event_id", "customer_id", "note"]))
        size = draw(st.integers(201, 2_000)) if field != "note" else MAX_EVENT_BYTES + draw(st.integers(1, 4096))
        doc = {**document, field: "x" * size}
        return _bad(topic, key, orjson.dumps(doc), f"{how}:{field}", "too_large" if field == "note" else None)
    if how == "deep_nesting":
        depth = draw(st.integers(2, 5_000))
        head = raw[: raw.rindex(b',"data":')] + b',"data":'
        return _bad(topic, key, head + b"[" * depth + b"]" * depth + b"}", how)
    if how == "non_finite":
        literal = draw(st.sampled_from([b"NaN", b"Infinity", b"-Infinity", b"nan", b"1e999999"]))
        value = raw[:-1] + b',"units":' + literal + b"}"
        return _bad(topic, key, value, how, "invalid_json")
    if how == "duplicate_keys":
        # The last value wins: a valid last customer_id makes the event good.
        other = draw(_customer_ids.filter(lambda c: c != document["customer_id"]))
        first_good = draw(st.booleans())
        first, last = (document["customer_id"], other) if first_good else (other, document["customer_id"])
        value = raw[:-1] + b',"customer_id":' + orjson.dumps(last) + b"}"
        value = value.replace(
            b'"customer_id":' + orjson.dumps(document["customer_id"]), b'"customer_id":' + orjson.dumps(first), 1
        )
        if first_good:
            return _bad(topic, key, value, how, "key_mismatch")
        return _good(topic, document, value)
    if how == "invalid_utf8":
        junk = draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"\x80"]))
        at = raw.index(b'"event_id":"') + len(b'"event_id":"')
        return _bad(topic, key, raw[:at] + junk + raw[at:], how, "invalid_json")
    if how == "key_mismatch":
        other = draw(st.one_of(st.binary(min_size=1, max_size=30), _ids.map(str.encode)))
        if other == key:
            other = key + b"!"
        return _bad(topic, other, raw, how, "key_mismatch")
    if how == "control_in_customer_id":
        control = draw(st.characters(categories=("Cc",)))
        customer = document["customer_id"] + control
        return _bad(topic, customer.encode(), orjson.dumps({**document, "customer_id": customer}), how, "invalid_field")
    if how == "no_key":
        return _bad(topic, None, raw, how, "key_mismatch")
    if how == "naive_time":
        return _bad(topic, key, orjson.dumps({**document, "occurred_at": document["occurred_at"][:19]}), how)
    if how == "negative_money":
        amount = draw(st.sampled_from([-1, "-0.01", -1000.5, "-1e3"]))
        doc = {**document, "type": "payment.received", "data": {"invoice_id": "i-1", "amount": amount}}
        return _bad("billing", key, orjson.dumps(doc), how)
    if how == "unknown_type":
        kind = draw(st.text(max_size=30).filter(lambda t: "." not in t or t.startswith("x")))
        return _bad(topic, key, orjson.dumps({**document, "type": kind}), how)
    if how == "wrong_topic":
        other = draw(st.sampled_from([t for t in ("orders", "billing", "complaints") if t != topic]))
        return _bad(other, key, raw, how, "wrong_topic")
    if how == "not_an_object":
        value = draw(st.sampled_from([b"[]", b"null", b"1", b'"event"', b"[{}]", b"true"]))
        return _bad(topic, key, value, how, "not_an_object")
    if how == "random_bytes":
        return _bad(topic, key, draw(st.binary(max_size=200)), how)
    if how == "no_value":
        return _bad(topic, key, None, how, "no_value")
    if how == "future":
        return _bad(
            topic,
            key,
            orjson.dumps({**document, "occurred_at": format_ms(NOW_MS + 7 * 86_400_000)}),
            how,
            "future_time",
        )
    # oversized: up to 1 MiB, kept rare because each one is a megabyte through the broker
    if draw(st.integers(0, 9)) != 0:
        return _good(topic, document, raw)
    size = draw(st.sampled_from([MAX_EVENT_BYTES + 1, 512 * 1024, 1024 * 1024]))
    return _bad(topic, key, raw[:-1] + b',"pad":"' + b"x" * size + b'"}', how, "too_large")


def _with_unique_ids(batch: list[Message]) -> list[Message]:
    """Give each drawn message its own event id; a repeat (the same object) keeps its original's."""
    unique: dict[int, Message] = {}
    for message in batch:
        if id(message) not in unique:
            event_id = f"e-{next(_SERIAL)}"
            value = message.value.replace(_UNIQUE.encode(), event_id.encode()) if message.value else message.value
            unique[id(message)] = replace(
                message, value=value, event_id=event_id if message.event_id == _UNIQUE else message.event_id
            )
    return [unique[id(message)] for message in batch]


# --- the run ---------------------------------------------------------------------------


class _Ledger:
    """What the worker must have done: the labelled messages and where the broker placed them."""

    def __init__(self) -> None:
        self.sent: list[tuple[Message, tuple[str, int, int]]] = []
        self.windows: dict[str, list[str]] = {}  # customer -> recent processed event marks (the dedup window)
        self.processed = 0
        self.duplicates = 0

    def account(self, message: Message, placed: tuple[str, int, int]) -> None:
        self.sent.append((message, placed))
        if message.label != "good":
            return
        window = self.windows.setdefault(message.customer or "", [])
        mark = event_mark(message.event_id or "")
        if mark in window:
            self.duplicates += 1
            return
        self.processed += 1
        window.append(mark)
        del window[:-DEDUP_WINDOW]


def test_fuzzed_messages_are_all_accounted_for(broker, start_worker) -> None:
    worker = start_worker()
    ledger = _Ledger()
    loop = asyncio.new_event_loop()

    async def start_producer() -> AIOKafkaProducer:
        started = AIOKafkaProducer(bootstrap_servers=[broker], max_request_size=2 * 1024 * 1024)
        await started.start()
        return started

    producer = loop.run_until_complete(start_producer())

    async def send(batch: list[Message]) -> list[tuple[str, int, int]]:
        futures = [await producer.send(m.topic, key=m.key, value=m.value) for m in batch]
        acks = await asyncio.gather(*futures)
        return [(m.topic, meta.partition, meta.offset) for m, meta in zip(batch, acks, strict=True)]

    def wait_accounted(expect: int, timeout: float = 30.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            counts = worker.counts()
            if counts["in"] >= expect or time.monotonic() > deadline:
                return counts
            assert worker.process is not None and worker.process.poll() is None, "the worker died"
            time.sleep(0.02)

    batch_strategy = st.lists(_message(), min_size=MIN_BATCH, max_size=MAX_BATCH).flatmap(
        lambda fresh: st.lists(st.sampled_from([m for m in fresh if m.label == "good"] or fresh), max_size=4).map(
            lambda repeats: fresh + [r for r in repeats if r.label == "good"]
        )
    )

    @settings(
        # Generate only: the worker's state carries over from batch to batch, so a
        # shrunk replay would not mean what it meant; a failing batch is reported as drawn.
        max_examples=BATCHES,
        deadline=None,
        database=None,
        derandomize=os.environ.get("CI") == "true",
        phases=(Phase.generate,),
        suppress_health_check=list(HealthCheck),
    )
    @given(drawn=batch_strategy)
    def each_batch(drawn: list[Message]) -> None:
        batch = _with_unique_ids(drawn)
        placed = loop.run_until_complete(send(batch))
        for message, where in zip(batch, placed, strict=True):
            ledger.account(message, where)
        counts = wait_accounted(len(ledger.sent))
        assert counts["in"] == len(ledger.sent), "the worker did not take every message in"
        assert counts.conserved, counts
        bad = sum(1 for m, _ in ledger.sent if m.label != "good")
        assert counts["dead_lettered"] == bad, counts
        assert (counts["processed"], counts["duplicates"]) == (ledger.processed, ledger.duplicates), counts

    try:
        each_batch()
    finally:
        loop.run_until_complete(producer.stop())
        loop.close()

    total = len(ledger.sent)
    bad = [(m, where) for m, where in ledger.sent if m.label != "good"]
    print(f"fuzz: {total} messages, {len(bad)} bad, {ledger.duplicates} duplicates")
    assert len(bad) >= 10_000
    assert {m.label.split(":")[1] for m, _ in bad} >= {
        "truncated",
        "wrong_type",
        "huge_string",
        "deep_nesting",
        "non_finite",
        "duplicate_keys",
        "invalid_utf8",
        "key_mismatch",
        "naive_time",
        "negative_money",
        "unknown_type",
        "oversized",
        "no_value",
    }
    assert worker.get("/ready")[0] == 200

    letters = asyncio.run(read_topic(broker, "fairwatch.dead-letter", expect=len(bad), timeout=120, quiet=2.0))
    by_source = {}
    for record in letters:
        headers = dict(record.headers)
        source = (
            headers["fairwatch.source.topic"].decode(),
            int(headers["fairwatch.source.partition"]),
            int(headers["fairwatch.source.offset"]),
        )
        assert source not in by_source, f"dead-lettered twice: {source}"
        by_source[source] = (record, headers)
    assert len(letters) == len(bad)
    for message, where in bad:
        record, headers = by_source[where]
        assert record.key == message.key and record.value == message.value, message.label
        assert headers["fairwatch.reason"], message.label
        if message.code is not None:
            assert headers["fairwatch.reason.code"].decode() == message.code, (message.label, headers)


def test_a_value_too_large_for_the_dead_letter_topic_goes_there_truncated(broker, start_worker) -> None:
    worker = start_worker(env={"FAIRWATCH_MAX_MESSAGE_BYTES": str(300 * 1024)})
    value = b'{"event_id":"e-big","pad":"' + b"x" * (400 * 1024) + b'"}'
    asyncio.run(produce(broker, [("orders", b"c-big", value), ("orders", b"c-big", b"{not json")]))
    letters = asyncio.run(read_topic(broker, "fairwatch.dead-letter", expect=2, timeout=30))
    assert len(letters) == 2
    big, small = sorted(letters, key=lambda record: -len(record.value))
    headers = dict(big.headers)
    assert headers["fairwatch.truncated"] == str(len(value)).encode()
    assert headers["fairwatch.reason.code"] == b"too_large"
    assert big.value == value[:KEPT_BYTES]
    assert small.value == b"{not json" and "fairwatch.truncated" not in dict(small.headers)
    counts = worker.counts()
    assert (counts["in"], counts["dead_lettered"]) == (2, 2)
