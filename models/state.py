"""Per-customer state: the facts the detectors judge by, kept bounded.

State is a plain JSON-able dict (it is the Faust table value and its changelog
record), so it needs no model round trip on the hot path:

``id``         customer id
``p``          the partition the customer lives on (to rebuild deadline indexes)
``last``       newest event time seen, epoch ms
``seen``       recent event-id fingerprints, oldest first (de-duplication window)
``orders``     order_id -> order facts (see ``apply_order_event``)
``deadlines``  "<detector>|<key>" -> epoch ms when that detector must look again
``alerts``     alert_id -> lifecycle record (models.alerts)
``early``      order_id -> events about an order whose placement has not arrived yet
``complaints`` complaint_id -> complaint facts (models.detectors.complaint_unresolved)
``service``    "YYYY-MM" -> cost-to-serve figures, 12 months (models.detectors.unprofitable_service)
``broken``     recent broken-promise alerts (models.detectors.repeated_broken_promises)
``subs``       subscription_id -> subscription facts (models.subscriptions)
"""

from __future__ import annotations

import hashlib
from typing import Any

from models.events import Event
from models.policy import Policy
from models.subscriptions import prune_subscriptions
from models.timestamps import MS_PER_DAY

_MAX_EARLY_PER_ORDER = 5

__all__ = [
    "hold_early",
    "take_early",
    "new_state",
    "remember_event",
    "remember_mark",
    "event_mark",
    "apply_order_event",
    "prune",
    "order_value",
]


def new_state(customer_id: str, partition: int) -> dict[str, Any]:
    return {
        "id": customer_id,
        "p": partition,
        "last": None,
        "seen": [],
        "orders": {},
        "deadlines": {},
        "alerts": {},
        "early": {},
        "complaints": {},
        "service": {},
        "broken": [],
        "subs": {},
    }


def _fingerprint(event_id: str) -> int:
    # 64-bit fingerprints keep the window small in state; a false match needs a
    # 1-in-2^64 collision within one customer's window.
    return int.from_bytes(hashlib.blake2b(event_id.encode(), digest_size=8).digest(), "big")


def remember_event(state: dict[str, Any], event_id: str, window: int) -> bool:
    """Record ``event_id``; False if it is already in the customer's window (a duplicate)."""
    return remember_mark(state, _fingerprint(event_id), window)


def event_mark(event_id: str) -> int:
    """The fingerprint under which an event id is remembered."""
    return _fingerprint(event_id)


def remember_mark(state: dict[str, Any], mark: int, window: int) -> bool:
    """Record a fingerprint; False if it is already in the customer's window."""
    seen = state["seen"]
    if mark in seen:
        return False
    seen.append(mark)
    if len(seen) > window:
        del seen[: len(seen) - window]
    return True


def apply_order_event(state: dict[str, Any], event: Event) -> dict[str, Any] | None:
    """Update order facts from an order event; return the order record, or None if unknown.

    An order record: ``placed`` (event id), ``at`` (placed time), ``due``
    (promised_delivery_by), ``urgent``, ``lines`` {line_id: [sku, qty,
    unit_price, spec]}, ``status`` (open, shipped, delivered, cancelled),
    ``closed`` (time it was delivered or cancelled) and the event ids that
    changed it (``shipped_by``, ``delivered_by``, ``cancelled_by``).
    """
    data = event.data
    orders = state["orders"]
    order_id = data["order_id"]
    order = orders.get(order_id)
    if event.type == "order.placed":
        if order is not None:
            return order  # a second placement of the same order changes nothing
        order = {
            "placed": event.event_id,
            "at": event.at,
            "due": data["promised_delivery_by"],
            "urgent": data.get("urgent", False),
            "status": "open",
            "closed": None,
            "lines": {
                line["line_id"]: [line["sku"], line["qty"], line.get("unit_price", 0), line.get("spec", {})]
                for line in data["lines"]
            },
        }
        orders[order_id] = order
        return order
    if order is None:
        return None  # its placement predates what we have seen: nothing to judge against
    if event.type == "order.shipped":
        if order["status"] == "open":
            order["status"] = "shipped"
        order["shipped_by"] = event.event_id
    elif event.type == "order.delivered":
        order["status"] = "delivered"
        order["closed"] = event.at if order["closed"] is None else order["closed"]
        order["delivered_by"] = event.event_id
        lines = data.get("lines")
        # Quantities as delivered per line (omitted lines: delivered exactly as ordered).
        order["got"] = None if lines is None else {line["line_id"]: line["qty"] for line in lines}
    elif event.type == "order.cancelled" and order["status"] != "delivered":
        order["status"] = "cancelled"
        order["closed"] = event.at
        order["cancelled_by"] = event.event_id
    return order


def hold_early(state: dict[str, Any], event: Event, policy: Policy, order_id: str | None = None) -> None:
    """Keep an event about an order whose placement has not arrived yet (bounded).

    Order events come in order on their own topic, but an invoice (billing topic)
    can be consumed before the order it bills: both wait here for the placement.
    """
    early = state.setdefault("early", {})
    held = early.setdefault(order_id or event.data["order_id"], [])
    if len(held) < _MAX_EARLY_PER_ORDER:
        held.append([event.event_id, event.type, event.at, event.data])
    while len(early) > policy.max_orders_per_customer:
        del early[next(iter(early))]  # the oldest held order goes first


def take_early(state: dict[str, Any], order_id: str) -> list[Event]:
    """The held events of an order, in arrival order, removed from state."""
    held = state.get("early", {}).pop(order_id, [])
    return [Event(event_id, kind, state["id"], at, data) for event_id, kind, at, data in held]


def order_value(order: dict[str, Any], line_ids: list[str] | None = None) -> int:
    """Money of the order (or of some of its lines), micro-units."""
    lines = order["lines"]
    chosen = lines.values() if line_ids is None else (lines[i] for i in line_ids if i in lines)
    return sum(qty * unit_price for _, qty, unit_price, _ in chosen)


def prune(state: dict[str, Any], now: int, policy: Policy) -> None:
    """Forget closed orders past retention (and beyond the cap), so state stays bounded."""
    orders = state["orders"]
    horizon = now - int(policy.order_retention_days * MS_PER_DAY)
    for order_id in [o for o, rec in orders.items() if rec["closed"] is not None and rec["closed"] < horizon]:
        del orders[order_id]
    complaints = state.get("complaints", {})
    for complaint_id in [k for k, c in complaints.items() if c["done"] is not None and c["done"] < horizon]:
        del complaints[complaint_id]
    excess = len(complaints) - policy.max_complaints_per_customer
    if excess > 0:
        ranked = sorted(complaints, key=lambda k: (complaints[k]["done"] is None, complaints[k]["at"]))
        gone = set(ranked[:excess])
        for complaint_id in gone:
            del complaints[complaint_id]
        # complaint_unresolved's deadlines are named "complaint_unresolved|<stage>:<complaint_id>".
        for name in [
            d for d in state["deadlines"] if d.startswith("complaint_unresolved|") and d.partition(":")[2] in gone
        ]:
            del state["deadlines"][name]
    early = state.get("early", {})
    for order_id in [o for o, held in early.items() if held[-1][2] < horizon]:
        del early[order_id]
    prune_subscriptions(state, now, policy)
    excess = len(orders) - policy.max_orders_per_customer
    if excess > 0:
        # Oldest closed first; only if every order is open do open ones go.
        ranked = sorted(orders, key=lambda o: (orders[o]["closed"] is None, orders[o]["at"]))
        for order_id in ranked[:excess]:
            del orders[order_id]
            for name in [d for d in state["deadlines"] if d.partition("|")[2] == order_id]:
                del state["deadlines"][name]
