"""Per-customer state: the facts the detectors judge by, kept bounded; and its stored format.

State is a plain JSON-able dict (it is the Faust table value and its changelog
record), so it needs no model round trip on the hot path. This docstring is the
one description of the stored record, format version 2 (``STATE_VERSION``):

``v``          the format version (2; a record without it is version 1, read by ``upgrade_state``)
``id``         customer id
``p``          the partition the customer lives on (to rebuild deadline indexes)
``last``       newest event time seen, epoch ms
``lt``         newest event time per input topic, epoch ms (where stream time resumes)
``seen``       recent event-id marks, oldest first (de-duplication window): one string, 8 characters per
               event (the base64 of the first 6 bytes of the event id's 64-bit BLAKE2b digest)
``orders``     order_id -> order facts (see ``apply_order_event``)
``deadlines``  "<detector>|<key>" -> epoch ms when that detector must look again
``alerts``     alert_id -> lifecycle record (models.alerts); its kind is read from the id (models.kinds)
``early``      order_id -> events about an order whose placement has not arrived yet
``complaints`` complaint_id -> complaint facts (models.detectors.complaint_unresolved)
``service``    "YYYY-MM" -> cost-to-serve figures, 12 months (models.detectors.unprofitable_service)
``broken``     recent broken-promise alerts (models.detectors.repeated_broken_promises)
``subs``       subscription_id -> subscription facts (models.subscriptions)

Detectors and the CRM-answer handler keep a few keys of their own beside these (``service_judged``,
``broken_judged``, ``held_feedback``, ``unmatched_feedback``), each described where it is written.
Money is integer micro-units and times are integer epoch ms throughout.

The record's bytes (the changelog's and RocksDB's) are this document as JSON,
compressed with a trained dictionary: streams.state_record says how, and how
records of earlier builds (plain JSON) are still read.

Version 1 (before 2026-12) differed in two fields: ``seen`` was a list of the
64-bit digests as integers (about 20 bytes each, 2.4 times the mark), and each
alert record repeated its kind under ``k``. A worker reads both, so a rolling
upgrade over an existing changelog works; it writes version 2 only.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from models.events import Event
from models.policy import Policy
from models.subscriptions import prune_subscriptions
from models.timestamps import MS_PER_DAY

_MAX_EARLY_PER_ORDER = 5
#: The stored format this build writes (see the module docstring).
STATE_VERSION = 2
#: Characters per mark in ``seen``: 6 digest bytes in base64, so marks never straddle a base64 quantum.
MARK_CHARS = 8

__all__ = [
    "STATE_VERSION",
    "MARK_CHARS",
    "StateVersionError",
    "upgrade_state",
    "has_mark",
    "marks",
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
        "v": STATE_VERSION,
        "id": customer_id,
        "p": partition,
        "last": None,
        "seen": "",
        "orders": {},
        "deadlines": {},
        "alerts": {},
        "early": {},
        "complaints": {},
        "service": {},
        "broken": [],
        "subs": {},
    }


class StateVersionError(ValueError):
    """A stored state in a format this build does not know (written by a newer fairwatch)."""


def upgrade_state(record: Any) -> Any:
    """A stored record as this build holds state: version 1 converted, version 2 as it is.

    Records that are not a customer's state (the input-offsets record, a tombstone) pass through.
    A newer version raises StateVersionError: guessing at it could lose facts, so the worker stops.
    """
    if not isinstance(record, dict) or "id" not in record:
        return record
    version = record.get("v", 1)
    if version == STATE_VERSION:
        return record
    if version != 1:
        raise StateVersionError(
            f"customer state format {version!r} is newer than this fairwatch reads (up to {STATE_VERSION}): "
            "run the newer version, or reset the changelog"
        )
    record["v"] = STATE_VERSION
    # The v1 integer is the whole 64-bit digest; its first 6 bytes are the v2 mark.
    record["seen"] = "".join(_mark_of_digest((int(digest) >> 16).to_bytes(6, "big")) for digest in record["seen"])
    for alert in record.get("alerts", {}).values():
        alert.pop("k", None)
    return record


def _mark_of_digest(head: bytes) -> str:
    return base64.b64encode(head).decode("ascii")


def event_mark(event_id: str) -> str:
    """The mark under which an event id is remembered (``MARK_CHARS`` characters).

    48 bits: a false match needs a 1-in-2^48 collision within one customer's
    window of ``dedup_window`` events (about 1 in 2.8e12 per event at 100).
    """
    return _mark_of_digest(hashlib.blake2b(event_id.encode(), digest_size=8).digest()[:6])


def has_mark(state: dict[str, Any], mark: str) -> bool:
    """True if ``mark`` is in the customer's window."""
    seen = state["seen"]
    found = seen.find(mark)
    while found != -1:
        if found % MARK_CHARS == 0:
            return True
        found = seen.find(mark, found + 1)  # matched across two marks: not this one
    return False


def marks(state: dict[str, Any]) -> list[str]:
    """The marks in the customer's window, oldest first."""
    seen = state["seen"]
    return [seen[i : i + MARK_CHARS] for i in range(0, len(seen), MARK_CHARS)]


def remember_event(state: dict[str, Any], event_id: str, window: int) -> bool:
    """Record ``event_id``; False if it is already in the customer's window (a duplicate)."""
    return remember_mark(state, event_mark(event_id), window)


def remember_mark(state: dict[str, Any], mark: str, window: int) -> bool:
    """Record a mark; False if it is already in the customer's window."""
    if has_mark(state, mark):
        return False
    seen = state["seen"] + mark
    if len(seen) > window * MARK_CHARS:
        seen = seen[len(seen) - window * MARK_CHARS :]
    state["seen"] = seen
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
    for order_id in [o for o, rec in orders.items() if (closed := rec["closed"]) is not None and closed < horizon]:
        del orders[order_id]
    complaints = state.get("complaints", {})
    for complaint_id in [k for k, c in complaints.items() if (done := c["done"]) is not None and done < horizon]:
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
