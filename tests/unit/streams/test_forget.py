"""Forgetting customers in the processor (on request, and after inactive_customer_days) and in the page's ledger."""

from __future__ import annotations

from typing import Any

import orjson

from models.alerts import FORGOTTEN_TYPE, forgotten_cloudevent
from models.ledger import Ledger
from models.policy import Policy
from models.timestamps import MS_PER_DAY, format_ms
from streams.processor import Processor

NOW = 1_790_000_000_000


def order(event_id: str, customer: str, at: int) -> bytes:
    return orjson.dumps(
        {
            "event_id": event_id,
            "type": "order.placed",
            "customer_id": customer,
            "occurred_at": format_ms(at),
            "data": {
                "order_id": f"O-{event_id}",
                "lines": [{"line_id": "1", "sku": "BOX", "qty": 1, "unit_price": 1.0, "spec": {}}],
                "promised_delivery_by": format_ms(at + 5 * MS_PER_DAY),
            },
        }
    )


def shipped(event_id: str, customer: str, placed_by: str, at: int) -> bytes:
    return orjson.dumps(
        {
            "event_id": event_id,
            "type": "order.shipped",
            "customer_id": customer,
            "occurred_at": format_ms(at),
            "data": {"order_id": f"O-{placed_by}"},
        }
    )


def processor(store: dict[str, Any], policy: Policy, wall: list[float]) -> Processor:
    return Processor(
        policy, store, store.__setitem__, lambda topic, partition: None, wall_clock=lambda: wall[0], batched=True
    )


def test_forget_customer_drops_the_processor_memory_and_a_later_event_starts_afresh() -> None:
    store: dict[str, Any] = {}
    wall = [NOW / 1000]
    proc = processor(store, Policy(), wall)
    proc.handle("orders", 0, 0, b"c-1", order("e-1", "c-1", NOW - MS_PER_DAY))
    proc.handle("orders", 0, 1, b"c-2", order("e-2", "c-2", NOW - MS_PER_DAY))
    store.update(proc.take_dirty())
    assert proc.open_counts()[0] == 2
    assert not proc.forget_customer(1, "c-1")  # not on that partition: nothing touched
    assert proc.forget_customer(0, "c-1")
    del store["c-1"]  # what the agent does: the table entry (a tombstone)
    assert proc.open_counts()[0] == 1
    assert not proc.forget_customer(0, "c-1") and not proc.forget_customer(0, "nobody")
    # The same event again is not a duplicate any more: a fresh state.
    assert proc.handle("orders", 0, 2, b"c-1", order("e-1", "c-1", NOW - MS_PER_DAY)).status == "processed"
    assert list(proc.take_dirty()["c-1"]["orders"]) == ["O-e-1"]


def test_forget_customer_in_the_middle_of_a_batch_drops_its_unwritten_state() -> None:
    store: dict[str, Any] = {}
    proc = processor(store, Policy(), [NOW / 1000])
    proc.handle("orders", 0, 0, b"c-1", order("e-1", "c-1", NOW))
    assert proc.forget_customer(0, "c-1")
    assert "c-1" not in proc.take_dirty()


def test_inactive_customers_by_stream_time_looked_over_once_a_minute() -> None:
    store: dict[str, Any] = {}
    wall = [NOW / 1000]
    assert processor(store, Policy(), wall).inactive_customers(0) == []  # no customers: not looked at
    proc = processor(store, Policy(inactive_customer_days=10), wall)
    assert proc.inactive_customers(0) == []
    proc.handle("orders", 0, 0, b"c-old", order("e-1", "c-old", NOW - 20 * MS_PER_DAY))
    proc.handle("orders", 0, 1, b"c-new", order("e-2", "c-new", NOW - 9 * MS_PER_DAY))
    proc.handle("orders", 0, 2, b"c-now", order("e-3", "c-now", NOW))
    assert proc.inactive_customers(0) == ["c-old"]
    assert proc.inactive_customers(0) == []  # not again within the minute
    wall[0] += 61
    assert proc.inactive_customers(0) == ["c-old"]  # still there: the agent had not forgotten it
    proc.forget_customer(0, "c-old")
    wall[0] += 61
    assert proc.inactive_customers(0) == []
    never = processor({}, Policy(inactive_customer_days=0), wall)
    never.handle("orders", 0, 0, b"c-old", order("e-1", "c-old", NOW - 400 * MS_PER_DAY))
    never.handle("orders", 0, 1, b"c-now", order("e-2", "c-now", NOW))
    assert never.inactive_customers(0) == []


def test_a_customer_whose_new_event_leaves_their_open_items_as_they_were_is_not_inactive() -> None:
    store: dict[str, Any] = {}
    wall = [NOW / 1000]
    proc = processor(store, Policy(inactive_customer_days=10), wall)
    proc.handle("orders", 0, 0, b"c-1", order("e-1", "c-1", NOW - 20 * MS_PER_DAY))
    store.update(proc.take_dirty())  # a batch ends
    # Shipped: the order is still open, so the customer's open items are what they were.
    proc.handle("orders", 0, 1, b"c-1", shipped("e-2", "c-1", "e-1", NOW - MS_PER_DAY))
    proc.handle("orders", 0, 2, b"c-2", order("e-3", "c-2", NOW))
    assert proc.inactive_customers(0) == []  # within this batch, and after it
    store.update(proc.take_dirty())
    wall[0] += 61
    assert proc.inactive_customers(0) == []


def alert(customer: str, alert_id: str) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": f"{alert_id}-1",
        "type": "fairwatch.alert.raised",
        "time": format_ms(NOW),
        "data": {
            "alert_id": alert_id,
            "revision": 1,
            "kind": "promise.late_delivery",
            "customer_id": customer,
            "severity": "warning",
            "summary": "late",
            "impact": {"amount": "1.00", "currency": "EUR", "per": "once"},
            "evidence": [],
        },
    }


def test_the_ledger_drops_a_forgotten_customer_and_keeps_what_comes_after() -> None:
    ledger = Ledger()
    for document in (alert("c-1", "a1"), alert("c-2", "a2"), alert("c-1", "a3")):
        assert ledger.add_document(document)
    notice = forgotten_cloudevent("c-1", NOW, "request")
    assert notice["type"] == FORGOTTEN_TYPE
    seq = ledger.seq
    assert ledger.add_document(notice)
    assert ledger.of_customer("c-1") == [] and set(ledger.findings) == {"a2"}
    assert [entry.emission.customer_id for entry in ledger.after(0)] == ["c-2"]
    assert ledger.seq > seq and ledger.forgotten_customers == 1 and ledger.malformed == 0
    assert ledger.add_document(alert("c-1", "a4"))  # a later alert: a new finding
    assert [f.alert_id for f in ledger.of_customer("c-1")] == ["a4"]
    assert not ledger.add_document({"type": FORGOTTEN_TYPE, "data": {}}) and ledger.malformed == 1
