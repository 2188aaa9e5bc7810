"""The building blocks of a generated world: a customer's events, orders, subscriptions and planted truth.

A :class:`Customer` collects event documents (with their event time) and the
conditions planted in them (:class:`Truth`). Helpers here make the ordinary,
clean parts of a life (an order delivered on time and billed once, a month of a
subscription billed and used); the scenarios (streams.tools.simulate.scenarios) bend
them to plant a condition, and say so in the truth.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from models.timestamps import MS_PER_DAY, MS_PER_HOUR, add_months, format_ms, period_end, period_of, period_start

__all__ = [
    "MINUTE",
    "HOUR",
    "DAY",
    "Truth",
    "NearMiss",
    "Customer",
    "Order",
    "Sub",
    "money",
    "PRODUCTS",
    "WRONG",
]

MINUTE = 60_000
HOUR = MS_PER_HOUR
DAY = MS_PER_DAY

#: What the shop sells: sku, unit price, spec.
PRODUCTS: list[tuple[str, str, dict[str, str]]] = [
    ("BOX-40", "2.49", {"colour": "brown", "packaging": "flat-pack"}),
    ("MUG-W", "8.90", {"colour": "white"}),
    ("TAPE-B", "3.20", {"colour": "brown"}),
    ("LAMP-1", "39.00", {"colour": "black", "plug": "EU"}),
    ("SHIRT-M", "49.00", {"colour": "blue", "size": "M"}),
    ("CHAIR-O", "129.00", {"colour": "grey"}),
    ("CABLE-2", "12.50", {"length": "2m"}),
]
#: A wrong value for each spec value (the white boxes instead of the brown ones).
WRONG = {
    "brown": "white",
    "flat-pack": "assembled",
    "white": "grey",
    "black": "silver",
    "EU": "UK",
    "blue": "green",
    "M": "L",
    "grey": "red",
    "2m": "1m",
}


def money(value: Decimal | str | int) -> float:
    """A JSON number for a money amount: the float whose shortest repr is the exact decimal."""
    return float(Decimal(value).quantize(Decimal("0.01")))


@dataclass
class Truth:
    """One episode of a planted condition: raised at ``start`` (event time), cleared at ``end`` (None: still open)."""

    kind: str
    customer_id: str
    key: str
    start: int
    end: int | None
    scenario: str
    note: str = ""
    #: When it counts as a broken promise (promise.* kinds that are not info); None if it does not.
    broken_at: int | None = None

    def as_json(self, alert_id: str) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "customer_id": self.customer_id,
            "key": self.key,
            "alert_id": alert_id,
            "becomes_true": format_ms(self.start),
            "clears": None if self.end is None else format_ms(self.end),
            "scenario": self.scenario,
            "note": self.note,
        }


@dataclass
class NearMiss:
    """A condition planted just short of a threshold: it must not raise."""

    kind: str
    customer_id: str
    key: str
    scenario: str
    note: str


@dataclass
class Order:
    order_id: str
    placed: int
    due: int
    lines: list[dict[str, Any]]
    urgent: bool = False

    def value(self) -> Decimal:
        return sum((Decimal(str(line["unit_price"])) * line["qty"] for line in self.lines), Decimal(0))


@dataclass
class Sub:
    """A subscription as the generator intends it; :meth:`Customer.run_sub` turns it into events."""

    sub_id: str
    plan: str
    fee: Decimal
    start: int
    term_months: int = 0
    #: Units used in a period.
    usage: Callable[[str], float] = lambda period: 10
    #: Price changes notified: (new fee, effective_at, notified_at).
    changes: list[tuple[Decimal, int, int]] = field(default_factory=list)
    #: Plan changes: (at, plan, fee, requested_by).
    plan_changes: list[tuple[int, str, Decimal, str]] = field(default_factory=list)
    #: Cancellation: (requested_at, effective_at).
    cancel: tuple[int, int] | None = None
    #: Billed unit price for a period, where it differs from the fee in force (a planted error).
    billed: dict[str, Decimal] = field(default_factory=dict)
    #: Periods billed although the subscription had stopped (a planted error).
    billed_after_end: list[str] = field(default_factory=list)
    #: Extra lines for a period's invoice (credits): (kind, amount).
    credits: dict[str, list[Decimal]] = field(default_factory=dict)
    #: Notices sent: (kind, at). None = the generator sends them diligently (never due).
    notices: list[tuple[str, int]] | None = None
    #: Notices sent diligently only after this time (the earlier ones are ``notices``).
    diligent_after: int | None = None
    #: Credit-note invoices on their own: (at, amount).
    credit_notes: list[tuple[int, Decimal]] = field(default_factory=list)

    @property
    def term_end(self) -> int | None:
        return add_months(self.start, self.term_months) if self.term_months else None

    def fee_at(self, at: int) -> Decimal:
        """The fee in force at ``at`` as intended: the agreement, plan changes and price changes in effect."""
        fee, agreed_at = self.fee, self.start
        for when, _, new_fee, _ in sorted(self.plan_changes):
            if when <= at:
                fee, agreed_at = new_fee, when
        for new_fee, effective, notified in sorted(self.changes, key=lambda change: change[1]):
            if effective <= at and notified >= agreed_at:
                fee = new_fee
        return fee

    def plan_at(self, at: int) -> str:
        plan = self.plan
        for when, new_plan, _, _ in sorted(self.plan_changes):
            if when <= at:
                plan = new_plan
        return plan


class Customer:
    """One customer's events and planted truth."""

    def __init__(self, customer_id: str, rng: random.Random, window_start: int, end: int) -> None:
        self.id = customer_id
        self.rng = rng
        self.window_start = window_start
        self.end = end
        self.events: list[tuple[int, dict[str, Any]]] = []
        self.truth: list[Truth] = []
        self.near: list[NearMiss] = []
        self.subs: list[Sub] = []
        self.scenarios: list[str] = []
        self._serial = 0
        self._ids: dict[str, int] = {}

    # --- identifiers and events ------------------------------------------------

    def new_id(self, prefix: str) -> str:
        self._ids[prefix] = self._ids.get(prefix, 0) + 1
        return f"{prefix}-{self.id[2:]}-{self._ids[prefix]}"

    def emit(self, event_type: str, at: int, /, **data: Any) -> str:
        """Record one event; its time must lie before the world's end."""
        if at >= self.end:
            raise ValueError(f"{self.id}: {event_type} at {format_ms(at)} is not before the world's end")
        self._serial += 1
        event_id = f"{self.id}-e{self._serial:05d}"
        self.events.append(
            (
                at,
                {
                    "event_id": event_id,
                    "type": event_type,
                    "customer_id": self.id,
                    "occurred_at": format_ms(at),
                    "source": _SOURCES[event_type.partition(".")[0]],
                    "data": data,
                },
            )
        )
        return event_id

    def plant(
        self,
        kind: str,
        key: str,
        start: int,
        end: int | None,
        scenario: str,
        note: str = "",
        broken_at: int | None = None,
    ) -> None:
        self.truth.append(Truth(kind, self.id, key, start, end, scenario, note, broken_at))

    def near_miss(self, kind: str, key: str, scenario: str, note: str) -> None:
        self.near.append(NearMiss(kind, self.id, key, scenario, note))

    def jitter(self, low_minutes: float, high_minutes: float) -> int:
        """A random span, in whole seconds."""
        return self.rng.randrange(int(low_minutes * 60), int(high_minutes * 60) + 1) * 1000

    # --- orders ------------------------------------------------------------------

    def lines(self, count: int | None = None) -> list[dict[str, Any]]:
        count = count or self.rng.choice([1, 1, 2, 3])
        chosen = self.rng.sample(PRODUCTS, count)
        return [
            {
                "line_id": str(index),
                "sku": sku,
                "qty": self.rng.choice([1, 1, 2, 4, 10]),
                "unit_price": float(price),
                "spec": dict(spec),
            }
            for index, (sku, price, spec) in enumerate(chosen, start=1)
        ]

    def place(self, at: int, due: int, lines: list[dict[str, Any]] | None = None, urgent: bool = False) -> Order:
        order = Order(self.new_id("O"), at, due, lines or self.lines(), urgent)
        self.emit(
            "order.placed",
            at,
            order_id=order.order_id,
            lines=order.lines,
            promised_delivery_by=format_ms(due),
            urgent=urgent,
            channel=self.rng.choice(["webshop", "app"]),
        )
        return order

    def ship(self, order: Order, at: int) -> None:
        self.emit("order.shipped", at, order_id=order.order_id, carrier=self.rng.choice(["DHL", "PostNL", "UPS"]))

    def deliver(self, order: Order, at: int, lines: list[dict[str, Any]] | None = None) -> None:
        if lines is None:
            self.emit("order.delivered", at, order_id=order.order_id)
        else:
            self.emit("order.delivered", at, order_id=order.order_id, lines=lines)

    def cancel_order(self, order: Order, at: int, by: str, reason: str | None = None) -> None:
        data: dict[str, Any] = {"order_id": order.order_id, "by": by}
        if reason:
            data["reason"] = reason
        self.emit("order.cancelled", at, **data)

    def invoice(
        self,
        at: int,
        lines: list[dict[str, Any]],
        period: str | None = None,
        pay_after: int | None = None,
    ) -> str:
        """An invoice (line ids numbered here) and, ``pay_after`` later, its payment if it is positive."""
        invoice_id = self.new_id("INV")
        numbered = [dict(line, line_id=str(index)) for index, line in enumerate(lines, start=1)]
        total = sum((Decimal(str(line["amount"])) for line in numbered), Decimal(0))
        data: dict[str, Any] = {"invoice_id": invoice_id, "lines": numbered, "total": money(total)}
        if period:
            data["period"] = period
        self.emit("invoice.issued", at, **data)
        if pay_after is not None and total > 0 and at + pay_after < self.end:
            self.emit("payment.received", at + pay_after, invoice_id=invoice_id, amount=money(total))
        return invoice_id

    @staticmethod
    def order_line(
        order: Order,
        line: dict[str, Any],
        qty: int | None = None,
        unit_price: str | None = None,
    ) -> dict[str, Any]:
        qty = line["qty"] if qty is None else qty
        price = Decimal(unit_price if unit_price is not None else str(line["unit_price"])).quantize(Decimal("0.01"))
        return {
            "line_id": "0",
            "kind": "order_line",
            "ref": f"{order.order_id}/{line['line_id']}",
            "qty": qty,
            "unit_price": money(price),
            "amount": money(price * qty),
        }

    def clean_order(self, placed: int, *, lines: list[dict[str, Any]] | None = None) -> Order | None:
        """An order placed, shipped, delivered on time, invoiced and paid; None if its life does not fit the world."""
        rng = self.rng
        due = placed + rng.choice([3, 4, 5]) * DAY + self.jitter(0, 600)
        shipped = placed + self.jitter(90, 20 * 60)
        delivered = shipped + self.jitter(12 * 60, 40 * 60)
        invoiced = delivered + self.jitter(30, 8 * 60)
        paid_after = self.jitter(24 * 60, 8 * 24 * 60)
        if invoiced + paid_after >= self.end - HOUR or placed < self.window_start:
            return None
        order = self.place(placed, due, lines)
        self.ship(order, shipped)
        self.deliver(order, delivered)
        self.invoice(invoiced, [self.order_line(order, line) for line in order.lines], pay_after=paid_after)
        return order

    # --- contacts and complaints ---------------------------------------------------

    def contact(self, at: int, minutes: int) -> None:
        self.emit(
            "contact.logged",
            at,
            contact_id=self.new_id("CT"),
            channel=self.rng.choice(["phone", "chat"]),
            handling_minutes=minutes,
        )

    def open_complaint(self, at: int, severity: str, resolve_by: int | None = None) -> str:
        complaint_id = self.new_id("K")
        data: dict[str, Any] = {
            "complaint_id": complaint_id,
            "category": self.rng.choice(["delivery", "billing", "product", "service"]),
            "severity": severity,
            "channel": "email",
        }
        if resolve_by is not None:
            data["resolve_by"] = format_ms(resolve_by)
        self.emit("complaint.opened", at, **data)
        return complaint_id

    def acknowledge(self, complaint_id: str, at: int) -> None:
        self.emit("complaint.acknowledged", at, complaint_id=complaint_id)

    def resolve(self, complaint_id: str, at: int, compensation: Decimal | None = None) -> None:
        data: dict[str, Any] = {"complaint_id": complaint_id, "outcome": "resolved"}
        if compensation:
            data["compensation"] = money(compensation)
        self.emit("complaint.resolved", at, **data)

    # --- subscriptions -------------------------------------------------------------

    def add_sub(self, sub: Sub) -> Sub:
        self.subs.append(sub)
        return sub

    def new_sub(self, plan: str, fee: str | Decimal, start: int, **kwargs: Any) -> Sub:
        return self.add_sub(Sub(self.new_id("S"), plan, Decimal(fee), start, **kwargs))

    def billed_periods(self, sub: Sub) -> list[str]:
        """The periods billed for a subscription: from its start (or the window's) while it runs, before the end."""
        stop = sub.cancel[1] if sub.cancel else None
        period = period_of(max(sub.start, self.window_start))
        periods = []
        while period_start(period) < self.end:
            if stop is None or period_start(period) < stop or period in sub.billed_after_end:
                periods.append(period)
            period = period_of(period_end(period))
        return periods


_SOURCES = {
    "order": "webshop",
    "subscription": "billing",
    "price": "billing",
    "notice": "crm",
    "usage": "metering",
    "invoice": "billing",
    "payment": "payments",
    "complaint": "crm",
    "contact": "contact-centre",
}
