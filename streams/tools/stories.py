"""Synthetic customers for the demo: small stories that trip each detector built so far.

A story is a list of (topic, key, value bytes) messages in the order a shop's
systems would send them. Event times are relative to ``now`` (some in the past:
the order placed two days ago is reported now), so the alerts read like real ones.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from functools import partial

import orjson

from models.events import TOPIC_OF_TYPE
from models.timestamps import (
    MS_PER_DAY,
    MS_PER_HOUR,
    add_months,
    format_ms,
    period_end,
    period_of,
    period_start,
    shift_period,
)

__all__ = ["Message", "StoryBook"]

Message = tuple[str, bytes, bytes]

_PRODUCTS = [
    ("BOX-40", "Moving boxes 40 l", 2.49, {"colour": "brown", "packaging": "flat-pack"}),
    ("MUG-W", "Enamel mug", 8.90, {"colour": "white"}),
    ("TAPE-B", "Packing tape", 3.20, {"colour": "brown"}),
    ("LAMP-1", "Desk lamp", 39.00, {"colour": "black", "plug": "EU"}),
    ("SHIRT-M", "Linen shirt", 49.00, {"colour": "blue", "size": "M"}),
]
_WRONG = {
    "flat-pack": "assembled",
    "brown": "white",
    "white": "grey",
    "black": "silver",
    "blue": "green",
    "M": "L",
    "EU": "UK",
}


class StoryBook:
    """Makes events for customer stories; every event id is unique within the book."""

    def __init__(self, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self.serial = 0
        self.sent: list[Message] = []  # what was produced, to re-send as duplicates

    def _event(self, customer: str, kind: str, at: int, data: dict) -> Message:
        self.serial += 1
        document = {
            "event_id": f"demo-{self.serial:07d}",
            "type": kind,
            "customer_id": customer,
            "occurred_at": format_ms(at),
            "source": "demo",
            "data": data,
        }
        message = (TOPIC_OF_TYPE[kind], customer.encode(), orjson.dumps(document))
        self.sent.append(message)
        return message

    def _order(self, customer: str, at: int, promised: int, urgent: bool = False) -> tuple[str, list[dict], Message]:
        order_id = f"O-{self.rng.randrange(100000, 999999)}"
        lines = []
        for index, (sku, _, price, spec) in enumerate(self.rng.sample(_PRODUCTS, self.rng.randint(1, 3)), start=1):
            lines.append(
                {
                    "line_id": str(index),
                    "sku": sku,
                    "qty": self.rng.choice([1, 2, 10, 25]),
                    "unit_price": price,
                    "spec": dict(spec),
                }
            )
        placed = self._event(
            customer,
            "order.placed",
            at,
            {
                "order_id": order_id,
                "lines": lines,
                "promised_delivery_by": format_ms(promised),
                "urgent": urgent,
                "channel": "webshop",
            },
        )
        return order_id, lines, placed

    # --- the stories ---------------------------------------------------------

    def on_time(self, customer: str, now: int) -> list[Message]:
        order_id, _, placed = self._order(customer, now - 2 * MS_PER_DAY, now + MS_PER_DAY)
        return [
            placed,
            self._event(customer, "order.shipped", now - MS_PER_DAY, {"order_id": order_id, "carrier": "DHL"}),
            self._event(customer, "order.delivered", now, {"order_id": order_id}),
        ]

    def late(self, customer: str, now: int) -> list[Message]:
        hours = self.rng.choice([5, 26, 50, 80])
        order_id, _, placed = self._order(
            customer, now - 4 * MS_PER_DAY, now - hours * MS_PER_HOUR, urgent=self.rng.random() < 0.2
        )
        return [
            placed,
            self._event(customer, "order.shipped", now - 2 * MS_PER_DAY, {"order_id": order_id}),
            self._event(customer, "order.delivered", now, {"order_id": order_id}),
        ]

    def wrong(self, customer: str, now: int) -> list[Message]:
        """The white boxes instead of the brown ones."""
        order_id, lines, placed = self._order(customer, now - 3 * MS_PER_DAY, now + MS_PER_HOUR)
        delivered = [dict(line, spec=dict(line["spec"])) for line in lines]
        victim = delivered[0]
        name = self.rng.choice(sorted(victim["spec"]))
        victim["spec"][name] = _WRONG.get(victim["spec"][name], "other")
        for line in delivered:
            line.pop("unit_price")
        return [placed, self._event(customer, "order.delivered", now, {"order_id": order_id, "lines": delivered})]

    def lost(self, customer: str, now: int, due_in_ms: int = 4000) -> list[Message]:
        """Shipped, never delivered: the deadline passes in stream time and raises by itself."""
        order_id, _, placed = self._order(customer, now - MS_PER_DAY, now + due_in_ms)
        return [placed, self._event(customer, "order.shipped", now, {"order_id": order_id})]

    def duplicate(self, customer: str, now: int) -> list[Message]:
        """A producer retry: the very same bytes again."""
        return [self.rng.choice(self.sent)] if self.sent else []

    def bad(self, customer: str, now: int) -> list[Message]:
        """Broken input from upstream: each goes to the dead-letter topic."""
        choice = self.rng.randrange(4)
        if choice == 0:
            return [("orders", customer.encode(), b'{"event_id": "x", "type": "order.placed", ')]
        if choice == 1:
            return [("orders", b"someone-else", self._event(customer, "order.shipped", now, {"order_id": "O-1"})[2])]
        if choice == 2:
            *_, placed = self._order(customer, now, now + MS_PER_DAY)
            document = orjson.loads(placed[2])
            document["data"]["lines"][0]["qty"] = -3
            return [("orders", customer.encode(), orjson.dumps(document))]
        return [
            (
                "orders",
                customer.encode(),
                orjson.dumps(
                    {
                        "event_id": f"demo-x{self.serial}",
                        "type": "order.teleported",
                        "customer_id": customer,
                        "occurred_at": format_ms(now),
                        "data": {},
                    }
                ),
            )
        ]

    def double_billed(self, customer: str, now: int) -> list[Message]:
        """Delivered on time, then the same line on the invoice twice."""
        order_id, lines, placed = self._order(customer, now - 6 * MS_PER_DAY, now - 2 * MS_PER_DAY)
        first = lines[0]
        charge = {
            "line_id": "1",
            "kind": "order_line",
            "ref": f"{order_id}/{first['line_id']}",
            "qty": first["qty"],
            "unit_price": first["unit_price"],
            "amount": round(first["qty"] * first["unit_price"], 2),
        }
        twice = [charge, dict(charge, line_id="2")]
        return [
            placed,
            self._event(customer, "order.shipped", now - 5 * MS_PER_DAY, {"order_id": order_id}),
            self._event(customer, "order.delivered", now - 4 * MS_PER_DAY, {"order_id": order_id}),
            self._event(
                customer,
                "invoice.issued",
                now,
                {"invoice_id": f"INV-{self.serial}", "lines": twice, "total": round(2 * charge["amount"], 2)},
            ),
        ]

    def urgent_refused(self, customer: str, now: int) -> list[Message]:
        """The urgent order the company turned away."""
        order_id, _, placed = self._order(customer, now - 2 * MS_PER_HOUR, now + 20 * MS_PER_HOUR, urgent=True)
        return [
            placed,
            self._event(
                customer,
                "order.cancelled",
                now,
                {"order_id": order_id, "by": "company", "reason": "not in stock at the nearest warehouse"},
            ),
        ]

    def unanswered_complaint(self, customer: str, now: int) -> list[Message]:
        """A complaint nobody acknowledged: its 48 hours pass in stream time."""
        return [
            self._event(
                customer,
                "complaint.opened",
                now - 3 * MS_PER_DAY,
                {
                    "complaint_id": f"K-{self.serial}",
                    "category": self.rng.choice(["delivery", "billing", "product"]),
                    "severity": self.rng.choice(["normal", "high"]),
                    "channel": "email",
                },
            )
        ]

    def weekly_caller(self, customer: str, now: int) -> list[Message]:
        """The customer who calls every week: cost to serve above the margin they bring."""
        messages = [
            self._event(
                customer,
                "contact.logged",
                now - week * 7 * MS_PER_DAY,
                {
                    "contact_id": f"CT-{self.serial}-{week}",
                    "channel": "phone",
                    "handling_minutes": self.rng.choice([25, 30, 40]),
                },
            )
            for week in range(12, 0, -1)
        ]
        messages += [
            self._event(
                customer,
                "payment.received",
                now - month * 30 * MS_PER_DAY,
                {"invoice_id": f"INV-{self.serial}-{month}", "amount": 19.90},
            )
            for month in (2, 1)
        ]
        return messages

    # --- subscriptions: the bad-profit stories (plans: streams/tools/data/plans.toml) ---------------

    def _history(self, customer: str, steps: list[tuple[int, str, dict]]) -> list[Message]:
        """Events (at, type, data) in the order their times say, as a billing system sends them."""
        return [self._event(customer, kind, at, data) for at, kind, data in sorted(steps, key=lambda s: s[0])]

    def _new_sub(self) -> str:
        return f"S-{self.serial + 1:06d}"

    def _months(self, now: int, count: int) -> list[str]:
        """The last ``count`` complete months, oldest first."""
        return [shift_period(period_of(now), -n) for n in range(count, 0, -1)]

    @staticmethod
    def _started(sub_id: str, at: int, plan: str, fee: float, term: int = 0) -> tuple[int, str, dict]:
        data = {"subscription_id": sub_id, "plan_id": plan, "monthly_fee": fee}
        return at, "subscription.started", data | ({"minimum_term_months": term} if term else {})

    @staticmethod
    def _usage(sub_id: str, period: str, units: float, now: int) -> tuple[int, str, dict]:
        # Metered usage is reported the day after the month ends.
        at = min(period_end(period) + MS_PER_DAY, now)
        return at, "usage.recorded", {"subscription_id": sub_id, "period": period, "units": units}

    def _bill(self, sub_id: str, period: str, price: float, now: int) -> tuple[int, str, dict]:
        # Subscriptions are billed in advance, on the 2nd of the month.
        at = min(period_start(period) + MS_PER_DAY, now)
        line = {"line_id": "1", "kind": "subscription", "ref": sub_id, "qty": 1, "unit_price": price, "amount": price}
        return (
            at,
            "invoice.issued",
            {"invoice_id": f"INV-{sub_id}-{period}", "period": period, "lines": [line], "total": price},
        )

    def old_plan(self, customer: str, now: int) -> list[Message]:
        """A loyal customer on an old, expensive plan no longer sold: 6-9 GB a month at 5.00 per GB beyond 2."""
        sub_id = self._new_sub()
        steps = [self._started(sub_id, add_months(now, -self.rng.choice([38, 45, 52])), "mobile-s-2019", 25.00)]
        steps += [self._usage(sub_id, p, round(self.rng.uniform(6, 9), 1), now) for p in self._months(now, 3)]
        return self._history(customer, steps)

    def heavy_user(self, customer: str, now: int, switch: float = 0.0) -> list[Message]:
        """A heavy user on a plan too small for them, paying overage every month; sometimes they switch."""
        sub_id = self._new_sub()
        steps = [self._started(sub_id, add_months(now, -7), "mobile-s", 15.00, term=24)]
        steps += [self._usage(sub_id, p, round(self.rng.uniform(16, 24), 1), now) for p in self._months(now, 3)]
        if self.rng.random() < switch:
            steps.append(
                (
                    now,
                    "subscription.changed",
                    {
                        "subscription_id": sub_id,
                        "plan_id": "mobile-m",
                        "monthly_fee": 25.00,
                        "requested_by": "customer",
                    },
                )
            )
        return self._history(customer, steps)

    def loyal_broadband(self, customer: str, now: int) -> list[Message]:
        """Three years on Broadband 100; after a price rise they pay a third more than a newcomer does."""
        sub_id = self._new_sub()
        rise = period_start(period_of(add_months(now, -10)))
        steps = [
            self._started(sub_id, add_months(now, -37), "broadband-100", 29.99),
            (
                rise - 45 * MS_PER_DAY,
                "price.change_notified",
                {"subscription_id": sub_id, "new_monthly_fee": 39.99, "effective_at": format_ms(rise)},
            ),
        ]
        steps += [self._usage(sub_id, p, self.rng.randrange(150, 400), now) for p in self._months(now, 3)]
        return self._history(customer, steps)

    def dormant(self, customer: str, now: int, wake: float = 0.0) -> list[Message]:
        """A subscriber who stopped watching: TV Extra billed every month, zero hours used; sometimes they cancel."""
        sub_id = self._new_sub()
        steps = [self._started(sub_id, add_months(now, -8), "tv-extra", 12.99)]
        for period in self._months(now, 3):
            steps += [self._bill(sub_id, period, 12.99, now), self._usage(sub_id, period, 0, now)]
        if self.rng.random() < wake:
            steps.append(
                (
                    now,
                    "subscription.cancel_requested",
                    {
                        "subscription_id": sub_id,
                        "effective_at": format_ms(period_start(shift_period(period_of(now), 1))),
                        "channel": "app",
                    },
                )
            )
        return self._history(customer, steps)

    def price_rise(self, customer: str, now: int, refund: float = 0.0) -> list[Message]:
        """A rise announced three weeks ahead instead of 30 days, billed from its first month; sometimes refunded."""
        sub_id = self._new_sub()
        this = period_of(now)
        effective = period_start(this)
        steps = [
            self._started(sub_id, add_months(now, -9), "mobile-m", 25.00),
            self._bill(sub_id, shift_period(this, -1), 25.00, now),
            (
                effective - 21 * MS_PER_DAY,
                "price.change_notified",
                {"subscription_id": sub_id, "new_monthly_fee": 27.50, "effective_at": format_ms(effective)},
            ),
            self._bill(sub_id, this, 27.50, now),
        ]
        if self.rng.random() < refund:
            credit = {"line_id": "1", "kind": "fee", "ref": sub_id, "qty": 1, "unit_price": -2.50, "amount": -2.50}
            steps.append((now, "invoice.issued", {"invoice_id": f"CN-{sub_id}", "lines": [credit], "total": -2.50}))
        return self._history(customer, steps)

    def billed_after_cancel(self, customer: str, now: int) -> list[Message]:
        """Cancelled by phone for the end of last month, billed for this one all the same."""
        sub_id = self._new_sub()
        this = period_of(now)
        effective = period_start(this)
        steps = [
            self._started(sub_id, add_months(now, -10), "mobile-s", 15.00),
            self._bill(sub_id, shift_period(this, -2), 15.00, now),
            self._bill(sub_id, shift_period(this, -1), 15.00, now),
            (
                effective - 20 * MS_PER_DAY,
                "subscription.cancel_requested",
                {"subscription_id": sub_id, "effective_at": format_ms(effective), "channel": "phone"},
            ),
            self._bill(sub_id, this, 15.00, now),
        ]
        return self._history(customer, steps)

    def notice_due(self, customer: str, now: int, told: float = 0.0) -> list[Message]:
        """A 12-month contract about to roll over: its best-tariff notice window is open, and closes seconds
        from now by stream time (a quiet customer's notice still falls due); sometimes the notice goes out."""
        sub_id = self._new_sub()
        term_end = now + 10 * MS_PER_DAY + 8_000
        steps = [self._started(sub_id, add_months(term_end, -12), "mobile-m", 25.00, term=12)]
        steps += [self._usage(sub_id, p, self.rng.randrange(8, 18), now) for p in self._months(now, 3)]
        if self.rng.random() < told:
            steps.append(
                (now, "notice.sent", {"subscription_id": sub_id, "kind": "contract_end", "best_plan_id": "mobile-m"})
            )
        return self._history(customer, steps)

    def opening(self, *, bad_input: bool = True) -> list[Callable[[str, int], list[Message]]]:
        """Every headline story once, for the first customers, so each kind of alert shows at once; with
        ``bad_input``, a bad and a duplicated message early on too (dead-lettered and de-duplicated)."""
        faults = [self.bad, self.duplicate] if bad_input else []
        return [
            self.late,
            self.wrong,
            self.lost,
            *faults,
            self.urgent_refused,
            self.double_billed,
            self.unanswered_complaint,
            self.weekly_caller,
            self.old_plan,
            self.heavy_user,
            self.loyal_broadband,
            self.dormant,
            self.price_rise,
            self.billed_after_cancel,
            self.notice_due,
        ]

    def weighted(self) -> Callable[[str, int], list[Message]]:
        stories = [
            (self.on_time, 30),
            (self.late, 15),
            (self.wrong, 12),
            (self.lost, 8),
            (self.duplicate, 5),
            (self.bad, 4),
            (self.double_billed, 5),
            (self.urgent_refused, 4),
            (self.unanswered_complaint, 5),
            (self.weekly_caller, 2),
            (self.old_plan, 3),
            (partial(self.heavy_user, switch=0.3), 3),
            (self.loyal_broadband, 3),
            (partial(self.dormant, wake=0.3), 3),
            (partial(self.price_rise, refund=0.4), 3),
            (self.billed_after_cancel, 2),
            (partial(self.notice_due, told=0.3), 2),
        ]
        return self.rng.choices([s for s, _ in stories], weights=[w for _, w in stories])[0]
