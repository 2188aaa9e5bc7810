"""One scripted history of several customers, 60 days of it: replayed in order and out of order by the
disorder test (a worker on a broker) and the processor's interleaving tests (in process)."""

from __future__ import annotations

import time

import orjson

from models.timestamps import MS_PER_DAY, MS_PER_HOUR, format_ms

__all__ = ["GRACE_MINUTES", "MINUTE", "T0", "history"]

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
