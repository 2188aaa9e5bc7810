"""models.events: decode_event/validate_event, the one owner of what is a valid event (SPEC §1)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from models.errors import Rejected
from models.events import INPUT_TOPICS, MAX_EVENT_BYTES, TOPIC_OF_TYPE, Event, decode_event, validate_event

from ..factories import CUSTOMER, HOUR, MINUTE, T0, document, encode, iso, make_line

KEY = CUSTOMER.encode()
DUE = T0 + 2 * 24 * HOUR


def placed_doc(**top: Any) -> dict[str, Any]:
    """A valid order.placed document; keyword arguments replace top-level fields."""
    doc = document(
        "order.placed",
        {
            "order_id": "o-1",
            "lines": [make_line("l1", "BOX-M", 10, "2.50", {"colour": "brown"})],
            "promised_delivery_by": iso(DUE),
            "urgent": False,
        },
        event_id="evt-placed",
    )
    doc.update(top)
    return doc


def without(field: str) -> dict[str, Any]:
    doc = placed_doc()
    del doc[field]
    return doc


def with_data(**changes: Any) -> dict[str, Any]:
    doc = placed_doc()
    doc["data"].update(changes)
    return doc


def with_line(**changes: Any) -> dict[str, Any]:
    doc = placed_doc()
    doc["data"]["lines"][0].update(changes)
    return doc


def oversized() -> bytes:
    doc = placed_doc()
    doc["data"]["note"] = ""
    doc["data"]["note"] = "x" * (MAX_EVENT_BYTES + 1 - len(encode(doc)))
    value = encode(doc)
    assert len(value) == MAX_EVENT_BYTES + 1
    return value


def billing(event_type: str, data: dict[str, Any]) -> bytes:
    return encode(document(event_type, data, event_id="evt-billing"))


VALID = encode(placed_doc())

# (topic, key, value, reason, code); ids name the defect.
BAD_INPUTS = [
    # --- not a JSON object ---------------------------------------------------
    pytest.param("orders", KEY, None, "message has no value", "no_value", id="no-value"),
    pytest.param(
        "orders",
        KEY,
        b"not json",
        "not valid JSON: invalid literal, expected 'null': line 1 column 1 (char 0)",
        "invalid_json",
        id="not-json",
    ),
    pytest.param(
        "orders",
        KEY,
        b"",
        "not valid JSON: Input is a zero-length, empty document: line 1 column 1 (char 0)",
        "invalid_json",
        id="empty-bytes",
    ),
    pytest.param(
        "orders",
        KEY,
        VALID[:40],
        "not valid JSON: unexpected end of data: line 1 column 41 (char 40)",
        "invalid_json",
        id="truncated-json",
    ),
    pytest.param(
        "orders",
        KEY,
        b'{"event_id": "\xff\xfe"}',
        "not valid JSON: str is not valid UTF-8: surrogates not allowed: line 1 column 1 (char 0)",
        "invalid_json",
        id="invalid-utf8",
    ),
    pytest.param(
        "orders",
        KEY,
        b'{"event_id": NaN}',
        "not valid JSON: unexpected character, expected a JSON value: line 1 column 14 (char 13)",
        "invalid_json",
        id="nan-literal",
    ),
    pytest.param(
        "orders",
        KEY,
        b'{"event_id": 1e400}',
        "not valid JSON: number is infinity when parsed as double: line 1 column 14 (char 13)",
        "invalid_json",
        id="infinite-number",
    ),
    pytest.param(
        "orders",
        KEY,
        b"[" * 2000 + b"]" * 2000,
        "not valid JSON: depth limit exceeded: line 1 column 1026 (char 1025)",
        "invalid_json",
        id="deep-nesting-2000",
    ),
    pytest.param("orders", KEY, encode([placed_doc()]), "event must be a JSON object", "not_an_object", id="array"),
    pytest.param("orders", KEY, b"null", "event must be a JSON object", "not_an_object", id="json-null"),
    pytest.param("orders", KEY, b'"order.placed"', "event must be a JSON object", "not_an_object", id="json-string"),
    pytest.param(
        "orders",
        KEY,
        oversized(),
        f"message is larger than {MAX_EVENT_BYTES} bytes",
        "too_large",
        id="larger-than-max-event-bytes",
    ),
    # --- envelope ------------------------------------------------------------
    pytest.param(
        "orders", KEY, encode(without("event_id")), "event_id: is required", "missing_field", id="missing-event-id"
    ),
    pytest.param("orders", KEY, encode(without("type")), "type: is required", "missing_field", id="missing-type"),
    pytest.param("orders", KEY, encode(placed_doc(type=7)), "type: is required", "missing_field", id="type-not-string"),
    pytest.param(
        "orders",
        KEY,
        encode(without("customer_id")),
        "customer_id: is required",
        "missing_field",
        id="missing-customer-id",
    ),
    pytest.param(
        "orders",
        KEY,
        encode(without("occurred_at")),
        "occurred_at: is required",
        "missing_field",
        id="missing-occurred-at",
    ),
    pytest.param("orders", KEY, encode(without("data")), "data: is required", "missing_field", id="missing-data"),
    pytest.param(
        "orders", KEY, encode(placed_doc(event_id=None)), "event_id: is required", "missing_field", id="event-id-null"
    ),
    pytest.param(
        "orders",
        KEY,
        encode(placed_doc(type="order.lost")),
        "type: unknown event type 'order.lost'",
        "unknown_type",
        id="unknown-type",
    ),
    pytest.param(
        "billing",
        KEY,
        VALID,
        "type: order.placed belongs on topic orders, not billing",
        "wrong_topic",
        id="type-on-wrong-topic",
    ),
    pytest.param(
        "orders", b"c-999", VALID, "key does not match customer_id", "key_mismatch", id="key-differs-from-customer-id"
    ),
    pytest.param(
        "orders", None, VALID, "message has no key (must be the customer_id)", "key_mismatch", id="missing-key"
    ),
    pytest.param(
        "orders",
        KEY,
        encode(placed_doc(event_id="")),
        "event_id: must be a non-empty string",
        "invalid_field",
        id="empty-event-id",
    ),
    pytest.param(
        "orders",
        KEY,
        encode(placed_doc(event_id=42)),
        "event_id: must be a non-empty string",
        "invalid_field",
        id="event-id-number",
    ),
    pytest.param(
        "orders",
        KEY,
        encode(placed_doc(event_id="e" * 201)),
        "event_id: longer than 200 characters",
        "invalid_field",
        id="event-id-201-chars",
    ),
    pytest.param(
        "orders",
        KEY,
        encode(placed_doc(source="")),
        "source: must be a non-empty string",
        "invalid_field",
        id="empty-source",
    ),
    # --- event time ----------------------------------------------------------
    pytest.param(
        "orders",
        KEY,
        encode(placed_doc(occurred_at="2026-11-22T10:00:00")),
        "occurred_at: must be RFC 3339 with a time zone offset",
        "invalid_field",
        id="time-without-offset",
    ),
    pytest.param(
        "orders",
        KEY,
        encode(placed_doc(occurred_at="2026-11-22")),
        "occurred_at: must be RFC 3339 with a time zone offset",
        "invalid_field",
        id="date-only",
    ),
    pytest.param(
        "orders",
        KEY,
        encode(placed_doc(occurred_at="yesterday at noon")),
        "occurred_at: must be RFC 3339 with a time zone offset",
        "invalid_field",
        id="garbage-time",
    ),
    pytest.param(
        "orders",
        KEY,
        encode(placed_doc(occurred_at="2026-11-22T10:00:00+0200")),
        "occurred_at: must be RFC 3339 with a time zone offset",
        "invalid_field",
        id="basic-format-offset",
    ),
    pytest.param(
        "orders",
        KEY,
        encode(placed_doc(occurred_at="2026-02-30T10:00:00Z")),
        "occurred_at: is not a valid date and time",
        "invalid_field",
        id="february-30",
    ),
    pytest.param(
        "orders",
        KEY,
        encode(placed_doc(occurred_at=1795341600000)),
        "occurred_at: must be an RFC 3339 string",
        "invalid_field",
        id="time-as-number",
    ),
    pytest.param(
        "orders",
        KEY,
        encode(with_data(promised_delivery_by="2026-11-24")),
        "data.promised_delivery_by: must be RFC 3339 with a time zone offset",
        "invalid_field",
        id="deadline-date-only",
    ),
    # --- data ----------------------------------------------------------------
    pytest.param(
        "orders",
        KEY,
        encode(placed_doc(data=["o-1"])),
        "data: must be an object",
        "invalid_field",
        id="data-not-object",
    ),
    pytest.param(
        "orders",
        KEY,
        encode(placed_doc(data={"lines": []})),
        "data.order_id: is required",
        "missing_field",
        id="missing-order-id",
    ),
    pytest.param(
        "orders",
        KEY,
        encode(with_data(promised_delivery_by=None)),
        "data.promised_delivery_by: is required",
        "missing_field",
        id="missing-deadline",
    ),
    pytest.param(
        "orders",
        KEY,
        encode(with_data(urgent="yes")),
        "data.urgent: must be true or false",
        "invalid_field",
        id="urgent-not-bool",
    ),
    pytest.param(
        "orders",
        KEY,
        encode(with_data(urgent=1)),
        "data.urgent: must be true or false",
        "invalid_field",
        id="urgent-one",
    ),
    pytest.param(
        "orders",
        KEY,
        encode(with_data(lines=[])),
        "data.lines: must be a non-empty list",
        "invalid_field",
        id="empty-lines",
    ),
    pytest.param(
        "orders",
        KEY,
        encode(with_data(lines={"l1": {}})),
        "data.lines: must be a non-empty list",
        "invalid_field",
        id="lines-not-list",
    ),
    pytest.param(
        "orders",
        KEY,
        encode(with_data(lines=["l1"])),
        "data.lines[0]: must be an object",
        "invalid_field",
        id="line-not-object",
    ),
    pytest.param(
        "orders",
        KEY,
        encode(with_data(lines=[make_line("l1"), make_line("l1", "TAPE")])),
        "data.lines: line_id values must be unique",
        "invalid_field",
        id="duplicate-line-id",
    ),
    pytest.param(
        "orders",
        KEY,
        encode(with_data(lines=[make_line("l1"), {"line_id": "l2", "qty": 1}])),
        "data.lines[1].sku: is required",
        "missing_field",
        id="second-line-missing-sku",
    ),
    pytest.param(
        "orders",
        KEY,
        encode(with_line(qty=-1)),
        "data.lines[0].qty: must not be negative",
        "invalid_field",
        id="negative-qty",
    ),
    pytest.param(
        "orders",
        KEY,
        encode(with_line(qty="10")),
        "data.lines[0].qty: must be an integer",
        "invalid_field",
        id="qty-as-string",
    ),
    pytest.param(
        "orders",
        KEY,
        encode(with_line(qty=True)),
        "data.lines[0].qty: must be an integer",
        "invalid_field",
        id="qty-as-bool",
    ),
    pytest.param(
        "orders",
        KEY,
        encode(with_line(qty=1.5)),
        "data.lines[0].qty: must be an integer",
        "invalid_field",
        id="qty-fractional",
    ),
    pytest.param(
        "orders",
        KEY,
        encode(with_line(qty=10**9 + 1)),
        "data.lines[0].qty: is out of range",
        "invalid_field",
        id="qty-out-of-range",
    ),
    pytest.param(
        "orders",
        KEY,
        encode(with_line(unit_price="-2.50")),
        "data.lines[0].unit_price: must not be negative",
        "invalid_field",
        id="negative-money",
    ),
    pytest.param(
        "orders",
        KEY,
        encode(with_line(unit_price=-0.01)),
        "data.lines[0].unit_price: must not be negative",
        "invalid_field",
        id="negative-money-number",
    ),
    pytest.param(
        "orders",
        KEY,
        encode(with_line(unit_price=True)),
        "data.lines[0].unit_price: must be a decimal number",
        "invalid_field",
        id="money-as-bool",
    ),
    pytest.param(
        "orders",
        KEY,
        encode(with_line(unit_price="2.5000001")),
        "data.lines[0].unit_price: has more than 6 decimal places",
        "invalid_field",
        id="money-7-decimals",
    ),
    pytest.param(
        "orders",
        KEY,
        encode(with_line(unit_price="two fifty")),
        "data.lines[0].unit_price: must be a decimal number",
        "invalid_field",
        id="money-not-a-number",
    ),
    pytest.param(
        "orders",
        KEY,
        encode(with_line(unit_price="NaN")),
        "data.lines[0].unit_price: must be a finite decimal number",
        "invalid_field",
        id="money-nan-string",
    ),
    pytest.param(
        "orders",
        KEY,
        encode(with_line(unit_price=1e15)),
        "data.lines[0].unit_price: is out of range",
        "invalid_field",
        id="money-out-of-range",
    ),
    pytest.param(
        "orders",
        KEY,
        encode(with_line(unit_price=[2.5])),
        "data.lines[0].unit_price: must be a decimal number",
        "invalid_field",
        id="money-as-list",
    ),
    pytest.param(
        "orders",
        KEY,
        encode(with_line(spec={"colour": 1})),
        "data.lines[0].spec.colour: must be a string",
        "invalid_field",
        id="spec-non-string-value",
    ),
    pytest.param(
        "orders",
        KEY,
        encode(with_line(spec=["brown"])),
        "data.lines[0].spec: must be an object of strings",
        "invalid_field",
        id="spec-not-object",
    ),
    pytest.param(
        "orders",
        KEY,
        encode(with_line(spec={f"k{i}": "v" for i in range(51)})),
        "data.lines[0].spec: more than 50 keys",
        "invalid_field",
        id="spec-too-many-keys",
    ),
    pytest.param(
        "orders",
        KEY,
        encode(document("order.cancelled", {"order_id": "o-1", "by": "courier"})),
        "data.by: must be one of customer, company",
        "invalid_field",
        id="bad-enum-cancelled-by",
    ),
    pytest.param(
        "orders",
        KEY,
        encode(document("order.cancelled", {"order_id": "o-1", "reason": "x" * 2001, "by": "company"})),
        "data.reason: longer than 2000 characters",
        "invalid_field",
        id="free-text-too-long",
    ),
    pytest.param(
        "billing",
        KEY,
        billing("usage.recorded", {"subscription_id": "s-1", "period": "2026-13", "units": 3}),
        "data.period: must be a period YYYY-MM",
        "invalid_field",
        id="bad-period-month-13",
    ),
    pytest.param(
        "billing",
        KEY,
        billing("usage.recorded", {"subscription_id": "s-1", "period": "2026-1", "units": 3}),
        "data.period: must be a period YYYY-MM",
        "invalid_field",
        id="bad-period-one-digit-month",
    ),
    pytest.param(
        "billing",
        KEY,
        billing("usage.recorded", {"subscription_id": "s-1", "period": "2026-11", "units": -1}),
        "data.units: must not be negative",
        "invalid_field",
        id="negative-usage",
    ),
    pytest.param(
        "billing",
        KEY,
        billing("usage.recorded", {"subscription_id": "s-1", "period": "2026-11", "units": "3"}),
        "data.units: must be a number",
        "invalid_field",
        id="usage-as-string",
    ),
    pytest.param(
        "billing",
        KEY,
        billing("notice.sent", {"subscription_id": "s-1", "kind": "reminder"}),
        "data.kind: must be one of best_tariff, contract_end",
        "invalid_field",
        id="bad-enum-notice-kind",
    ),
    pytest.param(
        "billing",
        KEY,
        billing("invoice.issued", {"invoice_id": "i-1", "lines": [], "total": 0}),
        "data.lines: must be a non-empty list",
        "invalid_field",
        id="invoice-without-lines",
    ),
    pytest.param(
        "billing",
        KEY,
        billing(
            "invoice.issued",
            {
                "invoice_id": "i-1",
                "total": 1,
                "lines": [{"line_id": "a", "kind": "tax", "qty": 1, "unit_price": 1, "amount": 1}],
            },
        ),
        "data.lines[0].kind: must be one of subscription, order_line, fee",
        "invalid_field",
        id="bad-enum-invoice-line-kind",
    ),
    pytest.param(
        "billing",
        KEY,
        billing("payment.received", {"invoice_id": "i-1", "amount": "-10"}),
        "data.amount: must not be negative",
        "invalid_field",
        id="negative-payment",
    ),
    pytest.param(
        "complaints",
        KEY,
        encode(
            document(
                "complaint.opened",
                {"complaint_id": "k-1", "category": "delivery", "severity": "urgent", "channel": "phone"},
            )
        ),
        "data.severity: must be one of low, normal, high",
        "invalid_field",
        id="bad-enum-complaint-severity",
    ),
]


@pytest.mark.parametrize(("topic", "key", "value", "reason", "code"), BAD_INPUTS)
def test_bad_input_is_rejected_with_reason_and_code(
    topic: str, key: bytes | None, value: bytes | None, reason: str, code: str
) -> None:
    with pytest.raises(Rejected) as caught:
        decode_event(topic, key, value)
    assert (caught.value.reason, caught.value.code) == (reason, code)
    # The reason is a single line for the dead-letter record; the code a bounded label.
    assert "\n" not in caught.value.reason
    assert str(caught.value) == reason


def test_table_has_at_least_30_distinct_bad_inputs() -> None:
    values = {(p.values[0], p.values[1], p.values[2]) for p in BAD_INPUTS}
    assert len(values) == len(BAD_INPUTS) >= 30


def test_rejected_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="message has no value"):
        decode_event("orders", KEY, None)


# --- size boundary --------------------------------------------------------


def test_message_of_exactly_max_event_bytes_is_accepted() -> None:
    doc = placed_doc()
    doc["data"]["note"] = ""
    doc["data"]["note"] = "x" * (MAX_EVENT_BYTES - len(encode(doc)))
    value = encode(doc)
    assert len(value) == MAX_EVENT_BYTES
    assert decode_event("orders", KEY, value).event_id == "evt-placed"


# --- good inputs: normalized data -----------------------------------------


def test_order_placed_is_normalized_to_micros_and_epoch_ms() -> None:
    doc = placed_doc(occurred_at="2026-11-22T11:30:00+01:30", source="webshop")
    doc["data"]["lines"] = [
        make_line("l1", "BOX-M", 10, "2.50", {"colour": "brown", "packaging": "bulk"}),
        make_line("l2", "TAPE-50", 2, 4.1),
        make_line("l3", "LABEL", 1, 3),
        make_line("l4", "PEN", 0, "0.012345"),
    ]
    doc["data"]["urgent"] = True
    doc["data"]["channel"] = "app"

    event = decode_event("orders", KEY, encode(doc))

    assert event == Event(
        event_id="evt-placed",
        type="order.placed",
        customer_id=CUSTOMER,
        at=T0,
        source="webshop",
        data={
            "order_id": "o-1",
            "lines": [
                {
                    "line_id": "l1",
                    "sku": "BOX-M",
                    "qty": 10,
                    "unit_price": 2_500_000,
                    "spec": {"colour": "brown", "packaging": "bulk"},
                },
                {"line_id": "l2", "sku": "TAPE-50", "qty": 2, "unit_price": 4_100_000},
                {"line_id": "l3", "sku": "LABEL", "qty": 1, "unit_price": 3_000_000},
                {"line_id": "l4", "sku": "PEN", "qty": 0, "unit_price": 12_345},
            ],
            "promised_delivery_by": DUE,
            "urgent": True,
            "channel": "app",
        },
    )


@pytest.mark.parametrize(
    ("occurred_at", "expected_ms"),
    [
        pytest.param("2026-11-22T10:00:00Z", T0, id="utc-z"),
        pytest.param("2026-11-22T10:00:00+00:00", T0, id="utc-offset"),
        pytest.param("2026-11-22T12:00:00+02:00", T0, id="east-offset"),
        pytest.param("2026-11-22T04:30:00-05:30", T0, id="west-offset"),
        pytest.param("2026-11-22T10:00:00.250Z", T0 + 250, id="milliseconds"),
        pytest.param("2026-11-22T10:00:00.123456789Z", T0 + 123, id="nanoseconds-truncated"),
    ],
)
def test_occurred_at_becomes_epoch_ms(occurred_at: str, expected_ms: int) -> None:
    event = decode_event("orders", KEY, encode(placed_doc(occurred_at=occurred_at)))
    assert event.at == expected_ms


@pytest.mark.parametrize(
    ("topic", "event_type", "data", "expected"),
    [
        pytest.param(
            "orders",
            "order.delivered",
            {"order_id": "o-1"},
            {"order_id": "o-1"},
            id="delivered-lines-omitted",
        ),
        pytest.param(
            "orders",
            "order.shipped",
            {"order_id": "o-1", "carrier": "DHL"},
            {"order_id": "o-1", "carrier": "DHL"},
            id="shipped",
        ),
        pytest.param(
            "orders",
            "order.cancelled",
            {"order_id": "o-1", "by": "company", "reason": "out of stock"},
            {"order_id": "o-1", "by": "company", "reason": "out of stock"},
            id="cancelled",
        ),
        pytest.param(
            "billing",
            "subscription.started",
            {"subscription_id": "s-1", "plan_id": "p-50", "monthly_fee": 19.99, "minimum_term_months": 24},
            {"subscription_id": "s-1", "plan_id": "p-50", "monthly_fee": 19_990_000, "minimum_term_months": 24},
            id="subscription-started",
        ),
        pytest.param(
            "billing",
            "price.change_notified",
            {"subscription_id": "s-1", "new_monthly_fee": "21.50", "effective_at": "2027-01-01T00:00:00Z"},
            {"subscription_id": "s-1", "new_monthly_fee": 21_500_000, "effective_at": 1798761600000},
            id="price-change-notified",
        ),
        pytest.param(
            "billing",
            "usage.recorded",
            {"subscription_id": "s-1", "period": "2026-10", "units": 12.5},
            {"subscription_id": "s-1", "period": "2026-10", "units": 12.5},
            id="usage-recorded",
        ),
        pytest.param(
            "billing",
            "invoice.issued",
            {
                "invoice_id": "i-1",
                "period": "2026-11",
                "total": "-5.00",
                "lines": [
                    {
                        "line_id": "a",
                        "kind": "subscription",
                        "ref": "s-1",
                        "qty": 1,
                        "unit_price": "19.99",
                        "amount": "19.99",
                    },
                    {"line_id": "a", "kind": "fee", "qty": -1, "unit_price": "24.99", "amount": "-24.99"},
                ],
            },
            {
                "invoice_id": "i-1",
                "period": "2026-11",
                "total": -5_000_000,
                "lines": [
                    {
                        "line_id": "a",
                        "kind": "subscription",
                        "ref": "s-1",
                        "qty": 1,
                        "unit_price": 19_990_000,
                        "amount": 19_990_000,
                    },
                    {"line_id": "a", "kind": "fee", "qty": -1, "unit_price": 24_990_000, "amount": -24_990_000},
                ],
            },
            id="invoice-credit-line-and-repeated-line-id",
        ),
        pytest.param(
            "billing",
            "payment.received",
            {"invoice_id": "i-1", "amount": 0},
            {"invoice_id": "i-1", "amount": 0},
            id="payment-zero",
        ),
        pytest.param(
            "complaints",
            "complaint.opened",
            {
                "complaint_id": "k-1",
                "category": "delivery",
                "severity": "high",
                "channel": "phone",
                "resolve_by": "2026-11-25T10:00:00Z",
            },
            {
                "complaint_id": "k-1",
                "category": "delivery",
                "severity": "high",
                "channel": "phone",
                "resolve_by": T0 + 3 * 24 * HOUR,
            },
            id="complaint-opened",
        ),
        pytest.param(
            "complaints",
            "complaint.resolved",
            {"complaint_id": "k-1", "compensation": "15"},
            {"complaint_id": "k-1", "compensation": 15_000_000},
            id="complaint-resolved-with-compensation",
        ),
        pytest.param(
            "complaints",
            "contact.logged",
            {"contact_id": "x-1", "channel": "chat", "handling_minutes": 7.5},
            {"contact_id": "x-1", "channel": "chat", "handling_minutes": 7.5},
            id="contact-logged",
        ),
    ],
)
def test_good_inputs_are_normalized(
    topic: str, event_type: str, data: dict[str, Any], expected: dict[str, Any]
) -> None:
    event = decode_event(topic, KEY, encode(document(event_type, data, event_id="e-1", at=T0 + MINUTE)))
    assert (event.type, event.event_id, event.customer_id, event.at) == (event_type, "e-1", CUSTOMER, T0 + MINUTE)
    assert event.data == expected


def test_every_type_belongs_to_an_input_topic() -> None:
    assert set(TOPIC_OF_TYPE.values()) == set(INPUT_TOPICS)
    assert len(TOPIC_OF_TYPE) == 20  # 17 about the customer, 3 the CRM's answers


def test_validate_event_without_topic_skips_the_topic_check() -> None:
    doc = placed_doc()
    assert validate_event(None, KEY, copy.deepcopy(doc)).type == "order.placed"
    with pytest.raises(Rejected, match="belongs on topic orders, not complaints"):
        validate_event("complaints", KEY, doc)


def test_validation_does_not_mutate_the_document() -> None:
    doc = placed_doc()
    before = copy.deepcopy(doc)
    validate_event("orders", KEY, doc)
    assert doc == before


def test_unicode_customer_id_matches_its_utf8_key() -> None:
    doc = placed_doc(customer_id="kunde-ü")
    assert decode_event("orders", "kunde-ü".encode(), encode(doc)).customer_id == "kunde-ü"


# --- bugs -----------------------------------------------------------------


def test_money_with_huge_exponent_is_rejected_not_crashing() -> None:
    with pytest.raises(Rejected) as caught:
        decode_event("orders", KEY, encode(with_line(unit_price="1e999999")))
    assert caught.value.reason == "data.lines[0].unit_price: is out of range"


def test_optional_field_given_as_null_is_not_kept_as_none() -> None:
    event = decode_event("orders", KEY, encode(with_line(unit_price=None, spec=None)))
    line = event.data["lines"][0]
    assert line.get("unit_price", 0) is not None
    assert line.get("spec", {}) is not None
