"""Validation of input events (SPEC §1): the one place that decides what is a valid event.

``decode_event`` takes the raw key and value of a Kafka message, decodes the value
once with orjson and returns an :class:`Event` whose ``data`` is normalized:
money in micro-units (models.money), times in epoch milliseconds
(models.timestamps). Anything else raises :class:`Rejected` with a one-line reason
naming the field, for the dead-letter record.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, NamedTuple

import orjson

from models.errors import Rejected
from models.fields import MAX_ID, Check, money, required, text
from models.money import to_micros
from models.timestamps import parse_rfc3339

__all__ = ["Event", "decode_event", "validate_event", "TOPIC_OF_TYPE", "INPUT_TOPICS", "TIME_TOPICS", "MAX_EVENT_BYTES"]

#: Larger values are rejected before decoding: no real event needs more.
MAX_EVENT_BYTES = 256 * 1024
_MAX_TEXT = 2000
_MAX_LINES = 1000
_MAX_SPEC_KEYS = 50
_PERIOD = re.compile(r"\d{4}-(0[1-9]|1[0-2])\Z")


class Event(NamedTuple):
    """A validated event. ``data`` holds the normalized type-specific fields."""

    event_id: str
    type: str
    customer_id: str
    at: int  # occurred_at, epoch ms (event time)
    data: dict[str, Any]
    source: str | None = None


# --- field checks: each returns the normalized value or raises ValueError -----


_id = text(MAX_ID)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _customer_id(value: Any, name: str) -> str:
    # The customer table keeps its own records under keys no customer_id can take (a leading NUL).
    customer_id = _id(value, name)
    if _CONTROL.search(customer_id):
        raise Rejected(f"{name}: must not contain control characters")
    return customer_id


_free_text = text(_MAX_TEXT)


def _time(value: Any, name: str) -> int:
    try:
        return parse_rfc3339(value)
    except ValueError as exc:
        raise Rejected(f"{name}: {exc}") from None


def _signed_money(value: Any, name: str) -> int:
    # Invoice amounts may be negative: that is how credit notes correct a bill.
    try:
        return to_micros(value)
    except ValueError as exc:
        raise Rejected(f"{name}: {exc}") from None


def _count(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise Rejected(f"{name}: must be an integer")
    if value < 0:
        raise Rejected(f"{name}: must not be negative")
    if value > 10**9:
        raise Rejected(f"{name}: is out of range")
    return value


def _signed_qty(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or abs(value) > 10**9:
        raise Rejected(f"{name}: must be an integer")
    return value


def _units(value: Any, name: str) -> int | float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Rejected(f"{name}: must be a number")
    if value != value or value in (float("inf"), float("-inf")):
        raise Rejected(f"{name}: must be a finite number")
    if value < 0:
        raise Rejected(f"{name}: must not be negative")
    return value


def _flag(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise Rejected(f"{name}: must be true or false")
    return value


def _one_of(*choices: str) -> Check:
    allowed = frozenset(choices)
    shown = ", ".join(choices)

    def check(value: Any, name: str) -> str:
        if not isinstance(value, str) or value not in allowed:
            raise Rejected(f"{name}: must be one of {shown}")
        return value

    return check


def _period(value: Any, name: str) -> str:
    if not isinstance(value, str) or _PERIOD.match(value) is None:
        raise Rejected(f"{name}: must be a period YYYY-MM")
    return value


def _spec(value: Any, name: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise Rejected(f"{name}: must be an object of strings")
    if len(value) > _MAX_SPEC_KEYS:
        raise Rejected(f"{name}: more than {_MAX_SPEC_KEYS} keys")
    for key, item in value.items():
        if len(key) > MAX_ID:
            raise Rejected(f"{name}: key longer than {MAX_ID} characters")
        if not isinstance(item, str):
            raise Rejected(f"{name}.{key}: must be a string")
        if len(item) > _MAX_TEXT:
            raise Rejected(f"{name}.{key}: longer than {_MAX_TEXT} characters")
    return value


def _record(fields: Mapping[str, tuple[Check, bool]]) -> Check:
    """A check for a JSON object with the given fields (check, required)."""

    checks = tuple((field, field_check, needed) for field, (field_check, needed) in fields.items())
    # The fields' full names under each name the record is checked under (few: "data", "data.lines[3]"),
    # made once rather than at every check of every event.
    named: dict[str, tuple[tuple[str, Check, bool, str], ...]] = {}

    def check(value: Any, name: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise Rejected(f"{name}: must be an object")
        steps = named.get(name)
        if steps is None:
            steps = tuple((field, field_check, needed, f"{name}.{field}") for field, field_check, needed in checks)
            if len(named) < 4096:
                named[name] = steps
        out = dict(value)
        get = value.get
        for field, field_check, needed, field_name in steps:
            item = get(field)
            if item is None:
                if needed:
                    raise Rejected(f"{field_name}: is required", "missing_field")
                out.pop(field, None)  # an explicit null means "not given"
                continue
            out[field] = field_check(item, field_name)
        return out

    return check


def _list_of(item_check: Check, key: str) -> Check:
    """A non-empty list of records whose ``key`` field is unique."""

    def check(value: Any, name: str) -> list[dict[str, Any]]:
        if not isinstance(value, list) or not value:
            raise Rejected(f"{name}: must be a non-empty list")
        if len(value) > _MAX_LINES:
            raise Rejected(f"{name}: more than {_MAX_LINES} entries")
        out = [item_check(item, f"{name}[{index}]") for index, item in enumerate(value)]
        if len({item[key] for item in out}) != len(out):
            raise Rejected(f"{name}: {key} values must be unique")
        return out

    return check


_order_line = _record(
    {
        "line_id": (_id, True),
        "sku": (_id, True),
        "qty": (_count, True),
        "unit_price": (money, False),
        "spec": (_spec, False),
    }
)
_invoice_line = _record(
    {
        "line_id": (_id, True),
        "kind": (_one_of("subscription", "order_line", "fee"), True),
        "ref": (_id, False),
        "qty": (_signed_qty, True),
        "unit_price": (_signed_money, True),
        "amount": (_signed_money, True),
    }
)
_order_lines = _list_of(_order_line, "line_id")


def _invoice_lines(value: Any, name: str) -> list[dict[str, Any]]:
    # Billed twice on one invoice is a billing error to detect, not bad input, so
    # line ids need not be unique here.
    if not isinstance(value, list) or not value:
        raise Rejected(f"{name}: must be a non-empty list")
    if len(value) > _MAX_LINES:
        raise Rejected(f"{name}: more than {_MAX_LINES} entries")
    return [_invoice_line(item, f"{name}[{index}]") for index, item in enumerate(value)]


# --- the contract: every type, its topic and its data fields ------------------

_SCHEMAS: dict[str, tuple[str, dict[str, tuple[Check, bool]]]] = {
    "order.placed": (
        "orders",
        {
            "order_id": (_id, True),
            "lines": (_order_lines, True),
            "promised_delivery_by": (_time, True),
            "urgent": (_flag, False),
            "channel": (_id, False),
        },
    ),
    "order.shipped": ("orders", {"order_id": (_id, True), "carrier": (_id, False)}),
    "order.delivered": ("orders", {"order_id": (_id, True), "lines": (_order_lines, False)}),
    "order.cancelled": (
        "orders",
        {
            "order_id": (_id, True),
            "by": (_one_of("customer", "company"), True),
            "reason": (_free_text, False),
        },
    ),
    "subscription.started": (
        "billing",
        {
            "subscription_id": (_id, True),
            "plan_id": (_id, True),
            "monthly_fee": (money, True),
            "minimum_term_months": (_count, False),
        },
    ),
    "subscription.changed": (
        "billing",
        {
            "subscription_id": (_id, True),
            "plan_id": (_id, True),
            "monthly_fee": (money, True),
            "requested_by": (_one_of("customer", "company"), True),
        },
    ),
    "subscription.cancel_requested": (
        "billing",
        {"subscription_id": (_id, True), "effective_at": (_time, True), "channel": (_id, False)},
    ),
    "subscription.ended": ("billing", {"subscription_id": (_id, True)}),
    "price.change_notified": (
        "billing",
        {
            "subscription_id": (_id, True),
            "new_monthly_fee": (money, True),
            "effective_at": (_time, True),
        },
    ),
    "notice.sent": (
        "billing",
        {
            "subscription_id": (_id, True),
            "kind": (_one_of("best_tariff", "contract_end"), True),
            "best_plan_id": (_id, False),
        },
    ),
    "usage.recorded": (
        "billing",
        {"subscription_id": (_id, True), "period": (_period, True), "units": (_units, True)},
    ),
    "invoice.issued": (
        "billing",
        {
            "invoice_id": (_id, True),
            "period": (_period, False),
            "lines": (_invoice_lines, True),
            "total": (_signed_money, True),
        },
    ),
    "payment.received": ("billing", {"invoice_id": (_id, True), "amount": (money, True)}),
    "complaint.opened": (
        "complaints",
        {
            "complaint_id": (_id, True),
            "category": (_id, True),
            "severity": (_one_of("low", "normal", "high"), True),
            "channel": (_id, True),
            "resolve_by": (_time, False),
        },
    ),
    "complaint.acknowledged": ("complaints", {"complaint_id": (_id, True)}),
    "complaint.resolved": (
        "complaints",
        {
            "complaint_id": (_id, True),
            "outcome": (_free_text, False),
            "compensation": (money, False),
        },
    ),
    "contact.logged": (
        "complaints",
        {"contact_id": (_id, True), "channel": (_id, True), "handling_minutes": (_units, True)},
    ),
    # The CRM's answer about an alert fairwatch emitted (SPEC §1, topic fairwatch.feedback).
    "alert.acknowledged": (
        "feedback",
        {"alert_id": (_id, True), "by": (_id, True), "note": (_free_text, False)},
    ),
    "alert.closed": (
        "feedback",
        {
            "alert_id": (_id, True),
            "by": (_id, True),
            "outcome": (_one_of("fixed", "refunded", "contacted", "no_action"), True),
        },
    ),
    "alert.disputed": (
        "feedback",
        {"alert_id": (_id, True), "by": (_id, True), "reason": (_free_text, True)},
    ),
}

TOPIC_OF_TYPE: dict[str, str] = {kind: topic for kind, (topic, _) in _SCHEMAS.items()}
#: Every input topic's role: the co-partitioned topics the worker consumes (their names are configuration).
INPUT_TOPICS: tuple[str, ...] = ("orders", "billing", "complaints", "feedback")
#: The inputs whose stream time judges deadlines and retention: the facts about the customer. The CRM's
#: feedback is about fairwatch's own alerts, may be silent for days, and no deadline waits for it (README).
TIME_TOPICS: tuple[str, ...] = ("orders", "billing", "complaints")
_DATA_CHECKS = {kind: _record(fields) for kind, (_, fields) in _SCHEMAS.items()}


def decode_event(topic: str, key: bytes | None, value: bytes | None) -> Event:
    """Decode and validate one message from an input topic; raise Rejected if it is bad."""
    if value is None:
        raise Rejected("message has no value", "no_value")
    if len(value) > MAX_EVENT_BYTES:
        raise Rejected(f"message is larger than {MAX_EVENT_BYTES} bytes", "too_large")
    try:
        document = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise Rejected(f"not valid JSON: {str(exc).splitlines()[0]}", "invalid_json") from None
    return validate_event(topic, key, document)


def validate_event(topic: str | None, key: bytes | None, document: Any) -> Event:
    """Validate an already decoded event; ``topic`` None skips the topic check."""
    if not isinstance(document, dict):
        raise Rejected("event must be a JSON object", "not_an_object")
    event_type = document.get("type")
    if not isinstance(event_type, str):
        raise Rejected("type: is required", "missing_field")
    data_check = _DATA_CHECKS.get(event_type)
    if data_check is None:
        raise Rejected(f"type: unknown event type {event_type[:80]!r}", "unknown_type")
    expected_topic = TOPIC_OF_TYPE[event_type]
    if topic is not None and topic != expected_topic:
        raise Rejected(f"type: {event_type} belongs on topic {expected_topic}, not {topic}", "wrong_topic")
    event_id = required(document, "event_id", _id)
    customer_id = required(document, "customer_id", _customer_id)
    if key is None:
        raise Rejected("message has no key (must be the customer_id)", "key_mismatch")
    if key != customer_id.encode():
        raise Rejected("key does not match customer_id", "key_mismatch")
    at = required(document, "occurred_at", _time)
    source = document.get("source")
    if source is not None:
        source = _id(source, "source")
    data = document.get("data")
    if data is None:
        raise Rejected("data: is required", "missing_field")
    return Event(event_id, event_type, customer_id, at, data_check(data, "data"), source)
