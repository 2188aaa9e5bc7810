"""The end-to-end scenario many integration tests start from: good, bad and duplicate events, and what must come out."""

from __future__ import annotations

import orjson

from models.timestamps import MS_PER_DAY, MS_PER_HOUR, format_ms

__all__ = ["WORKER_ENV", "event", "line", "scenario"]

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
