"""Synthetic customers for the demo: small stories that trip each detector built so far.

A story is a list of (topic, key, value bytes) messages in the order a shop's
systems would send them. Event times are relative to ``now`` (some in the past:
the order placed two days ago is reported now), so the alerts read like real ones.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import orjson

from models.events import TOPIC_OF_TYPE
from models.timestamps import MS_PER_DAY, MS_PER_HOUR, format_ms

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
    "flat-pack": "assembled", "brown": "white", "white": "grey", "black": "silver", "blue": "green", "M": "L",
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
            lines.append({"line_id": str(index), "sku": sku, "qty": self.rng.choice([1, 2, 10, 25]),
                          "unit_price": price, "spec": dict(spec)})
        placed = self._event(customer, "order.placed", at, {
            "order_id": order_id, "lines": lines, "promised_delivery_by": format_ms(promised),
            "urgent": urgent, "channel": "webshop",
        })
        return order_id, lines, placed

    # --- the stories ---------------------------------------------------------

    def on_time(self, customer: str, now: int) -> list[Message]:
        order_id, _, placed = self._order(customer, now - 2 * MS_PER_DAY, now + MS_PER_DAY)
        return [placed,
                self._event(customer, "order.shipped", now - MS_PER_DAY, {"order_id": order_id, "carrier": "DHL"}),
                self._event(customer, "order.delivered", now, {"order_id": order_id})]

    def late(self, customer: str, now: int) -> list[Message]:
        hours = self.rng.choice([5, 26, 50, 80])
        order_id, _, placed = self._order(customer, now - 4 * MS_PER_DAY, now - hours * MS_PER_HOUR,
                                          urgent=self.rng.random() < 0.2)
        return [placed,
                self._event(customer, "order.shipped", now - 2 * MS_PER_DAY, {"order_id": order_id}),
                self._event(customer, "order.delivered", now, {"order_id": order_id})]

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
        return [("orders", customer.encode(), orjson.dumps({
            "event_id": f"demo-x{self.serial}", "type": "order.teleported", "customer_id": customer,
            "occurred_at": format_ms(now), "data": {}}))]

    def double_billed(self, customer: str, now: int) -> list[Message]:
        """Delivered on time, then the same line on the invoice twice."""
        order_id, lines, placed = self._order(customer, now - 6 * MS_PER_DAY, now - 2 * MS_PER_DAY)
        first = lines[0]
        charge = {"line_id": "1", "kind": "order_line", "ref": f"{order_id}/{first['line_id']}",
                  "qty": first["qty"], "unit_price": first["unit_price"],
                  "amount": round(first["qty"] * first["unit_price"], 2)}
        twice = [charge, dict(charge, line_id="2")]
        return [placed,
                self._event(customer, "order.shipped", now - 5 * MS_PER_DAY, {"order_id": order_id}),
                self._event(customer, "order.delivered", now - 4 * MS_PER_DAY, {"order_id": order_id}),
                self._event(customer, "invoice.issued", now, {
                    "invoice_id": f"INV-{self.serial}", "lines": twice,
                    "total": round(2 * charge["amount"], 2)})]

    def urgent_refused(self, customer: str, now: int) -> list[Message]:
        """The urgent order the company turned away."""
        order_id, _, placed = self._order(customer, now - 2 * MS_PER_HOUR, now + 20 * MS_PER_HOUR, urgent=True)
        return [placed, self._event(customer, "order.cancelled", now, {
            "order_id": order_id, "by": "company", "reason": "not in stock at the nearest warehouse"})]

    def unanswered_complaint(self, customer: str, now: int) -> list[Message]:
        """A complaint nobody acknowledged: its 48 hours pass in stream time."""
        return [self._event(customer, "complaint.opened", now - 3 * MS_PER_DAY, {
            "complaint_id": f"K-{self.serial}", "category": self.rng.choice(["delivery", "billing", "product"]),
            "severity": self.rng.choice(["normal", "high"]), "channel": "email"})]

    def weekly_caller(self, customer: str, now: int) -> list[Message]:
        """The customer who calls every week: cost to serve above the margin they bring."""
        messages = [self._event(customer, "contact.logged", now - week * 7 * MS_PER_DAY, {
            "contact_id": f"CT-{self.serial}-{week}", "channel": "phone",
            "handling_minutes": self.rng.choice([25, 30, 40])}) for week in range(12, 0, -1)]
        messages += [self._event(customer, "payment.received", now - month * 30 * MS_PER_DAY, {
            "invoice_id": f"INV-{self.serial}-{month}", "amount": 19.90}) for month in (2, 1)]
        return messages

    def weighted(self) -> Callable[[str, int], list[Message]]:
        stories = [(self.on_time, 30), (self.late, 15), (self.wrong, 12), (self.lost, 8),
                   (self.duplicate, 5), (self.bad, 4), (self.double_billed, 5), (self.urgent_refused, 4),
                   (self.unanswered_complaint, 5), (self.weekly_caller, 2)]
        return self.rng.choices([s for s, _ in stories], weights=[w for _, w in stories])[0]
