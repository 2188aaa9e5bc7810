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

__all__ = ["NAME", "KIND", "CLOCK", "EVENT_TYPES", "NEEDS_CATALOG", "on_event", "on_deadline", "judge_line"]

NAME = "billing_error"
KIND = "promise.billing_error"
# Invoices (billing) are judged against orders and deliveries (orders): only once
# both topics have passed a moment, and as of that moment.
CLOCK = ("orders", "billing")
NEEDS_CATALOG = False
EVENT_TYPES = frozenset({"invoice.issued", "order.delivered", "order.cancelled"})
_MAX_ENTRIES_PER_LINE = 10


def on_event(state: dict[str, Any], event: Event, policy: Policy) -> list[AlertChange]:
    orders = state["orders"]
    if event.type == "invoice.issued":
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
                entries.append(
                    [
                        event.data["invoice_id"],
                        line["line_id"],
                        line["qty"],
                        line["unit_price"],
                        line["amount"],
                        event.event_id,
                        event.at,
                    ]
                )
            _judge_at(state, order_id, event.at, policy)
        for order_id, lines in waiting.items():
            hold_early(state, event._replace(data={**event.data, "lines": lines}), policy, order_id)
        return []
    order_id = event.data["order_id"]
    if order_id in orders:
        _judge_at(state, order_id, event.at, policy)
    return []


def on_deadline(state: dict[str, Any], key: str, now: int, policy: Policy) -> list[AlertChange]:
    order = state["orders"].get(key)
    if order is None:
        return []
    changes: list[AlertChange] = []
    lines = order["lines"] if _delivered_by(order, now) else order.get("billed", {})
    for line_id in list(lines):
        changes.extend(judge_line(state, key, line_id, now, policy))
    order["judged"] = now
    following = [t for t in _moments(order, policy) if t > now]
    if following:
        state["deadlines"][f"{NAME}|{key}"] = min(following)
    return changes


def _judge_at(state: dict[str, Any], order_id: str, at: int, policy: Policy) -> None:
    """Something about the order changed at ``at``: judge it as of then (or as of now, if that is past)."""
    order = state["orders"][order_id]
    when = max(at, order.get("judged") or at)
    name = f"{NAME}|{order_id}"
    state["deadlines"][name] = min(when, state["deadlines"].get(name, when))
    for moment in _moments(order, policy):
        if moment > when:
            state["deadlines"][name] = min(state["deadlines"][name], moment)
            break


def _moments(order: dict[str, Any], policy: Policy) -> list[int]:
    """Every moment the order's bill must be judged at, in time order."""
    moments = [entry[6] for entries in order.get("billed", {}).values() for entry in entries]
    if order["closed"] is not None:
        moments.append(order["closed"])
        if order["status"] == "delivered" and policy.uninvoiced_days > 0:
            moments.append(order["closed"] + int(policy.uninvoiced_days * MS_PER_DAY))
    overdue = order["due"] + int(policy.invoiced_undelivered_days * MS_PER_DAY)
    if order.get("billed") and (order["closed"] is None or order["closed"] > overdue):
        moments.append(overdue)  # billed and still not delivered by then
    return sorted(moments)


def _delivered_by(order: dict[str, Any], now: int) -> bool:
    return order["status"] == "delivered" and order["closed"] is not None and order["closed"] <= now


def judge_line(state: dict[str, Any], order_id: str, line_id: str, now: int, policy: Policy) -> list[AlertChange]:
    """Compare what an order line was billed with what it should have been, as of ``now``.

    Only facts dated at or before ``now`` count: the outcome is the same whichever
    topic the consumer happened to read first.
    """
    order = state["orders"][order_id]
    sku, ordered_qty, price, _ = order["lines"][line_id]
    entries = [entry for entry in order.get("billed", {}).get(line_id, []) if entry[6] <= now]
    billed = sum(entry[4] for entry in entries)
    charges = [entry for entry in entries if entry[4] > 0]
    closed = order["closed"] is not None and order["closed"] <= now
    status = order["status"] if closed else "open"
    if status == "cancelled":
        owed_qty: int | None = 0
    elif status == "delivered":
        got = order.get("got")
        owed_qty = ordered_qty if got is None else got.get(line_id, 0)
    else:
        late = now >= order["due"] + int(policy.invoiced_undelivered_days * MS_PER_DAY)
        owed_qty = 0 if late else None  # not delivered yet: only what is wrong already counts
    charged_qty = sum(entry[2] for entry in charges)
    problem = ""
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
                if policy.uninvoiced_days > 0 and now >= order["closed"] + int(policy.uninvoiced_days * MS_PER_DAY):
                    problem = "not_invoiced"
            elif any(entry[3] != price for entry in charges):
                problem = "price"
    key = f"{order_id}/{line_id}"
    evidence = [order["placed"]] + [entry[5] for entry in entries]
    if not problem or at_stake == 0:
        change = resolve_alert(
            state,
            kind=KIND,
            key=key,
            at=now,
            evidence=evidence,
            summary=f"The bill for {sku} on order {order_id} is now right.",
        )
        return [change] if change else []
    amount = abs(at_stake)
    money = format_money(amount, policy.currency)
    overcharged = at_stake > 0
    summary, action = _words(problem, order_id, sku, money, overcharged)
    change = raise_alert(
        state,
        policy,
        kind=KIND,
        key=key,
        at=now,
        severity="warning" if overcharged else "info",
        summary=summary,
        amount=amount,
        per="once",
        evidence=evidence,
        suggested_action=action,
        details={
            "order_id": order_id,
            "line_id": line_id,
            "sku": sku,
            "problem": problem,
            "ordered_qty": ordered_qty,
            "owed_qty": owed_qty,
            "ordered_unit_price": price / 1_000_000,
            "invoices": [
                {
                    "invoice_id": e[0],
                    "line_id": e[1],
                    "qty": e[2],
                    "unit_price": e[3] / 1_000_000,
                    "amount": e[4] / 1_000_000,
                }
                for e in entries
            ],
        },
        stage=problem,
    )
    return [change] if change else []


def _words(problem: str, order_id: str, sku: str, money: str, overcharged: bool) -> tuple[str, str]:
    if problem == "not_delivered":
        return (
            f"You were billed {money} for {sku} on order {order_id} that was never delivered.",
            f"Refund {money} (credit note for {sku}, order {order_id}) and apologise.",
        )
    if problem == "double":
        return (
            f"You were billed twice for {sku} on order {order_id}: {money} too much.",
            f"Credit the duplicate charge of {money} and apologise.",
        )
    if problem == "not_invoiced":
        return (
            f"{sku} on order {order_id} was delivered but never invoiced ({money}).",
            f"Invoice {money} for {sku}, order {order_id} (the company's own loss so far).",
        )
    if overcharged:
        return (
            f"You were charged {money} more for {sku} on order {order_id} than the price you ordered at.",
            f"Refund the difference of {money} and apologise.",
        )
    return (
        f"{sku} on order {order_id} was billed {money} below the ordered price.",
        f"Check the price of {sku}; {money} was not billed (the company's own loss).",
    )
