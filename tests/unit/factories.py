"""Factories for validated events and plain state, so a test states only what matters to it.

Events are built as JSON documents and pushed through ``models.events.validate_event``,
so every event a test uses is one the real decoder would accept. Times are epoch
milliseconds; ``iso`` formats them independently of ``models.timestamps`` (the
code under test).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson

from models.alerts import AlertChange
from models.engine import advance_to, apply_event
from models.events import TOPIC_OF_TYPE, Event, validate_event
from models.policy import Policy
from models.state import new_state

__all__ = [
    "CUSTOMER",
    "T0",
    "MINUTE",
    "HOUR",
    "DAY",
    "iso",
    "next_event_id",
    "document",
    "encode",
    "make_event",
    "make_line",
    "make_order_placed",
    "make_shipped",
    "make_delivered",
    "make_cancelled",
    "AdvanceTo",
    "replay",
]

CUSTOMER = "c-000123"
MINUTE = 60_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: 2026-11-22T10:00:00Z, the SPEC's example time.
T0 = int((datetime(2026, 11, 22, 10, 0, tzinfo=UTC) - _EPOCH) / timedelta(milliseconds=1))

_ids = itertools.count(1)


def iso(epoch_ms: int) -> str:
    """RFC 3339 UTC with milliseconds, e.g. ``2026-11-22T10:00:00.000Z``."""
    moment = _EPOCH + timedelta(milliseconds=epoch_ms)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{epoch_ms % 1000:03d}Z"


def next_event_id() -> str:
    return f"evt-{next(_ids)}"


def document(
    event_type: str,
    data: Any,
    *,
    event_id: str | None = None,
    customer_id: str = CUSTOMER,
    at: int | str = T0,
    source: str | None = None,
) -> dict[str, Any]:
    """The raw JSON document of an event (before validation)."""
    doc: dict[str, Any] = {
        "event_id": event_id if event_id is not None else next_event_id(),
        "type": event_type,
        "customer_id": customer_id,
        "occurred_at": iso(at) if isinstance(at, int) else at,
        "data": data,
    }
    if source is not None:
        doc["source"] = source
    return doc


def encode(doc: Any) -> bytes:
    return orjson.dumps(doc)


def make_event(event_type: str, data: dict[str, Any], **kwargs: Any) -> Event:
    """A validated Event of any type, on its own topic, keyed by its customer."""
    doc = document(event_type, data, **kwargs)
    return validate_event(TOPIC_OF_TYPE[event_type], doc["customer_id"].encode(), doc)


def make_line(
    line_id: str = "l1",
    sku: str = "BOX-M",
    qty: int = 10,
    unit_price: Any = "2.50",
    spec: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An order line as it appears in ``order.placed``/``order.delivered`` data."""
    line: dict[str, Any] = {"line_id": line_id, "sku": sku, "qty": qty}
    if unit_price is not None:
        line["unit_price"] = unit_price
    if spec is not None:
        line["spec"] = spec
    return line


def make_order_placed(
    order_id: str = "o-1",
    *,
    lines: list[dict[str, Any]] | None = None,
    due: int = T0 + 2 * DAY,
    urgent: bool | None = None,
    channel: str | None = None,
    **kwargs: Any,
) -> Event:
    data: dict[str, Any] = {
        "order_id": order_id,
        "lines": lines if lines is not None else [make_line()],
        "promised_delivery_by": iso(due),
    }
    if urgent is not None:
        data["urgent"] = urgent
    if channel is not None:
        data["channel"] = channel
    return make_event("order.placed", data, **kwargs)


def make_shipped(order_id: str = "o-1", *, carrier: str | None = None, **kwargs: Any) -> Event:
    data: dict[str, Any] = {"order_id": order_id}
    if carrier is not None:
        data["carrier"] = carrier
    return make_event("order.shipped", data, **kwargs)


def make_delivered(order_id: str = "o-1", *, lines: list[dict[str, Any]] | None = None, **kwargs: Any) -> Event:
    """``lines`` None omits them: "delivered exactly as ordered"."""
    data: dict[str, Any] = {"order_id": order_id}
    if lines is not None:
        data["lines"] = lines
    return make_event("order.delivered", data, **kwargs)


def make_cancelled(order_id: str = "o-1", *, by: str = "customer", reason: str | None = None, **kwargs: Any) -> Event:
    data: dict[str, Any] = {"order_id": order_id, "by": by}
    if reason is not None:
        data["reason"] = reason
    return make_event("order.cancelled", data, **kwargs)


@dataclass(frozen=True, slots=True)
class AdvanceTo:
    """A history step: stream time reaches ``now`` (models.engine.advance_to)."""

    now: int


def replay(
    history: Iterable[Event | AdvanceTo],
    policy: Policy | None = None,
    state: dict[str, Any] | None = None,
) -> tuple[list[AlertChange], dict[str, Any]]:
    """Run a history of events and time steps through the engine; return (changes, state)."""
    policy = policy if policy is not None else Policy()
    state = state if state is not None else new_state(CUSTOMER, 0)
    changes: list[AlertChange] = []
    for step in history:
        if isinstance(step, AdvanceTo):
            changes.extend(advance_to(state, step.now, policy))
        else:
            changes.extend(apply_event(state, step, policy))
    return changes, state


def replay_judged(
    history: Iterable[Event | AdvanceTo],
    policy: Policy | None = None,
    state: dict[str, Any] | None = None,
    moment: Callable[[int], int] = lambda at: at,
) -> tuple[list[AlertChange], dict[str, Any]]:
    """``replay``, with stream time on every topic reaching ``moment(event.at)`` right after each event.

    For the detectors that judge as of a moment once every topic they join has
    passed it (billing_error, unprofitable_service, repeated_broken_promises):
    here the topics pass each event as it is applied.
    """
    steps: list[Event | AdvanceTo] = []
    for step in history:
        steps.append(step)
        if not isinstance(step, AdvanceTo):
            steps.append(AdvanceTo(moment(step.at)))
    return replay(steps, policy, state)


# --- billing and complaint events (added for the billing/complaint/relationship detector tests) ---

__all__ += [
    "make_invoice_line",
    "make_invoice",
    "make_payment",
    "make_complaint_opened",
    "make_complaint_acknowledged",
    "make_complaint_resolved",
    "make_contact",
]


def make_invoice_line(
    ref: str | None = "o-1/l1",
    *,
    line_id: str = "i1",
    kind: str = "order_line",
    qty: int = 10,
    unit_price: Any = "2.50",
    amount: Any = None,
) -> dict[str, Any]:
    """An invoice line; ``amount`` defaults to qty x unit_price (a credit line has a negative qty or price)."""
    line: dict[str, Any] = {
        "line_id": line_id,
        "kind": kind,
        "qty": qty,
        "unit_price": unit_price,
        "amount": amount if amount is not None else str(qty * Decimal(str(unit_price))),
    }
    if ref is not None:
        line["ref"] = ref
    return line


def make_invoice(
    invoice_id: str = "inv-1",
    *,
    lines: list[dict[str, Any]] | None = None,
    total: Any = None,
    period: str | None = None,
    **kwargs: Any,
) -> Event:
    """``invoice.issued``; ``total`` defaults to the sum of the lines' amounts."""
    lines = lines if lines is not None else [make_invoice_line()]
    data: dict[str, Any] = {
        "invoice_id": invoice_id,
        "lines": lines,
        "total": total if total is not None else str(sum(Decimal(str(line["amount"])) for line in lines)),
    }
    if period is not None:
        data["period"] = period
    return make_event("invoice.issued", data, **kwargs)


def make_payment(invoice_id: str = "inv-1", *, amount: Any = "100.00", **kwargs: Any) -> Event:
    return make_event("payment.received", {"invoice_id": invoice_id, "amount": amount}, **kwargs)


def make_complaint_opened(
    complaint_id: str = "cp-1",
    *,
    severity: str = "normal",
    category: str = "delivery",
    channel: str = "phone",
    resolve_by: int | None = None,
    **kwargs: Any,
) -> Event:
    data: dict[str, Any] = {
        "complaint_id": complaint_id,
        "category": category,
        "severity": severity,
        "channel": channel,
    }
    if resolve_by is not None:
        data["resolve_by"] = iso(resolve_by)
    return make_event("complaint.opened", data, **kwargs)


def make_complaint_acknowledged(complaint_id: str = "cp-1", **kwargs: Any) -> Event:
    return make_event("complaint.acknowledged", {"complaint_id": complaint_id}, **kwargs)


def make_complaint_resolved(
    complaint_id: str = "cp-1", *, outcome: str | None = None, compensation: Any = None, **kwargs: Any
) -> Event:
    data: dict[str, Any] = {"complaint_id": complaint_id}
    if outcome is not None:
        data["outcome"] = outcome
    if compensation is not None:
        data["compensation"] = compensation
    return make_event("complaint.resolved", data, **kwargs)


def make_contact(
    contact_id: str | None = None, *, minutes: int | float = 5, channel: str = "phone", **kwargs: Any
) -> Event:
    data = {
        "contact_id": contact_id if contact_id is not None else f"ct-{next(_ids)}",
        "channel": channel,
        "handling_minutes": minutes,
    }
    return make_event("contact.logged", data, **kwargs)
