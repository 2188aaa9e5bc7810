"""``promise.billing_error``: order lines billed wrongly.

Each order line that has been invoiced (``kind: order_line``, ``ref:
order_id/line_id``) is judged by money: what was billed, net of credit lines,
against what should have been (the delivered quantity at the ordered unit
price). Too much is an overcharge the customer would be upset to find —
``not_delivered`` (billed for goods that never came), ``double`` (billed twice,
on two invoices or twice on one) or ``price`` (another unit price than ordered).
Too little is the company's own loss (severity info): ``not_invoiced`` when a
delivered line is still unbilled ``uninvoiced_days`` after delivery, or an
undercharge. One alert per order line; a credit or a later invoice that makes
the line right resolves it.
"""

from __future__ import annotations

from typing import Any

from models.alerts import AlertChange, raise_alert, resolve_alert
from models.events import Event
from models.money import format_money
from models.policy import Policy
from models.state import hold_early
from models.timestamps import MS_PER_DAY

__all__ = ["NAME", "KIND", "EVENT_TYPES", "on_event", "on_deadline", "judge_line"]

NAME = "billing_error"
KIND = "promise.billing_error"
EVENT_TYPES = frozenset({"invoice.issued", "order.delivered", "order.cancelled"})
_MAX_ENTRIES_PER_LINE = 10
_UNDELIVERED = "undelivered:"
_UNINVOICED = "uninvoiced:"


def on_event(state: dict[str, Any], event: Event, policy: Policy) -> list[AlertChange]:
    orders = state["orders"]
    changes: list[AlertChange] = []
    if event.type == "invoice.issued":
        touched: dict[tuple[str, str], None] = {}
        waiting: dict[str, list[dict[str, Any]]] = {}
        for line in event.data["lines"]:
            order_id, _, line_id = (line.get("ref") or "").partition("/")
            order = orders.get(order_id)
            if line["kind"] == "order_line" and order is None and order_id:
                waiting.setdefault(order_id, []).append(line)  # billed before its order was consumed
                continue
            if line["kind"] != "order_line" or order is None or line_id not in order["lines"]:
                continue  # not ours to judge: a fee, a subscription, a line the order does not have
            entries = order.setdefault("billed", {}).setdefault(line_id, [])
            if len(entries) < _MAX_ENTRIES_PER_LINE:
                entries.append([event.data["invoice_id"], line["line_id"], line["qty"], line["unit_price"],
                                line["amount"], event.event_id])
            touched[(order_id, line_id)] = None
            if order["status"] in ("open", "shipped"):
                # Billed before delivery is normal; still undelivered well after the promise is not.
                due = order["due"] + int(policy.invoiced_undelivered_days * MS_PER_DAY)
                state["deadlines"][f"{NAME}|{_UNDELIVERED}{order_id}"] = due
        for order_id, lines in waiting.items():
            hold_early(state, event._replace(data={**event.data, "lines": lines}), policy, order_id)
        for order_id, line_id in touched:
            changes.extend(judge_line(state, order_id, line_id, event.at, policy))
        return changes
    order_id = event.data["order_id"]
    order = orders.get(order_id)
    if order is None:
        return []
    state["deadlines"].pop(f"{NAME}|{_UNDELIVERED}{order_id}", None)
    if event.type == "order.delivered" and order["status"] == "delivered":
        state["deadlines"][f"{NAME}|{_UNINVOICED}{order_id}"] = event.at + int(policy.uninvoiced_days * MS_PER_DAY)
    for line_id in order.get("billed", {}):
        changes.extend(judge_line(state, order_id, line_id, event.at, policy))
    return changes


def clock_topic(key: str) -> str:
    # Not invoiced is about silence on billing; invoiced but undelivered, on orders.
    return "billing" if key.startswith(_UNINVOICED) else "orders"


def on_deadline(state: dict[str, Any], key: str, now: int, policy: Policy) -> list[AlertChange]:
    prefix, _, order_id = key.partition(":")
    order = state["orders"].get(order_id)
    if order is None:
        return []
    line_ids = order["lines"] if prefix + ":" == _UNINVOICED else order.get("billed", {})
    changes: list[AlertChange] = []
    for line_id in list(line_ids):
        changes.extend(judge_line(state, order_id, line_id, now, policy))
    return changes


def judge_line(state: dict[str, Any], order_id: str, line_id: str, now: int, policy: Policy) -> list[AlertChange]:
    """Compare what an order line was billed with what it should have been, as of ``now``."""
    order = state["orders"][order_id]
    sku, ordered_qty, price, _ = order["lines"][line_id]
    entries = order.get("billed", {}).get(line_id, [])
    billed = sum(entry[4] for entry in entries)
    charges = [entry for entry in entries if entry[4] > 0]
    status = order["status"]
    if status == "cancelled":
        owed_qty: int | None = 0
    elif status == "delivered":
        got = order.get("got")
        owed_qty = ordered_qty if got is None else got.get(line_id, 0)
    else:
        late = now >= order["due"] + int(policy.invoiced_undelivered_days * MS_PER_DAY)
        owed_qty = 0 if late else None  # not delivered yet: only what is wrong already counts
    problem = ""
    charged_qty = sum(entry[2] for entry in charges)
    if owed_qty is None:
        # Not delivered yet: judge only what was billed so far, at the ordered price.
        owed = min(charged_qty, ordered_qty) * price
        if charged_qty > ordered_qty and len(charges) > 1:
            problem = "double"
        elif any(entry[3] > price for entry in charges):
            problem = "price"
        at_stake = billed - owed if problem else 0
    else:
        owed = owed_qty * price
        at_stake = billed - owed
        if at_stake > 0:
            if owed_qty == 0:
                problem = "not_delivered"
            elif charged_qty > owed_qty and len(charges) > 1:
                problem = "double"
            elif any(entry[3] != price for entry in charges):
                problem = "price"
            else:
                problem = "not_delivered"  # billed in full, delivered short
        elif at_stake < 0 and status == "delivered":
            if not charges:
                delivered_at = order["closed"]
                if now >= delivered_at + int(policy.uninvoiced_days * MS_PER_DAY):
                    problem = "not_invoiced"
            elif any(entry[3] != price for entry in charges):
                problem = "price"
    key = f"{order_id}/{line_id}"
    evidence = [order["placed"]] + [entry[5] for entry in entries]
    if not problem or at_stake == 0:
        change = resolve_alert(
            state, kind=KIND, key=key, at=now, evidence=evidence,
            summary=f"The bill for {sku} on order {order_id} is now right.",
        )
        return [change] if change else []
    amount = abs(at_stake)
    money = format_money(amount, policy.currency)
    overcharged = at_stake > 0
    summary, action = _words(problem, order_id, sku, money, overcharged)
    change = raise_alert(
        state, policy, kind=KIND, key=key, at=now, severity="warning" if overcharged else "info",
        summary=summary, amount=amount, per="once", evidence=evidence, suggested_action=action,
        details={
            "order_id": order_id, "line_id": line_id, "sku": sku, "problem": problem,
            "ordered_qty": ordered_qty, "owed_qty": owed_qty, "ordered_unit_price": price / 1_000_000,
            "invoices": [{"invoice_id": e[0], "line_id": e[1], "qty": e[2], "unit_price": e[3] / 1_000_000,
                          "amount": e[4] / 1_000_000} for e in entries],
        },
        stage=problem,
    )
    return [change] if change else []


def _words(problem: str, order_id: str, sku: str, money: str, overcharged: bool) -> tuple[str, str]:
    if problem == "not_delivered":
        return (f"You were billed {money} for {sku} on order {order_id} that was never delivered.",
                f"Refund {money} (credit note for {sku}, order {order_id}) and apologise.")
    if problem == "double":
        return (f"You were billed twice for {sku} on order {order_id}: {money} too much.",
                f"Credit the duplicate charge of {money} and apologise.")
    if problem == "not_invoiced":
        return (f"{sku} on order {order_id} was delivered but never invoiced ({money}).",
                f"Invoice {money} for {sku}, order {order_id} (the company's own loss so far).")
    if overcharged:
        return (f"You were charged {money} more for {sku} on order {order_id} than the price you ordered at.",
                f"Refund the difference of {money} and apologise.")
    return (f"{sku} on order {order_id} was billed {money} below the ordered price.",
            f"Check the price of {sku}; {money} was not billed (the company's own loss).")
