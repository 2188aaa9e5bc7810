"""``promise.billed_after_cancellation``: invoiced for a subscription after its cancellation took effect (SPEC §3.5).

The subscription stops when its requested cancellation takes effect
(``effective_at``) or when it ended, whichever is first. A subscription invoice
line whose period starts at or after that moment is billed after cancellation:
the whole line is a one-off overcharge, keyed by subscription/invoice/line. A
cancellation effective exactly at a period boundary therefore makes the next
period's line an overcharge and leaves the period before it alone. A period the
cancellation falls inside is not judged: it is owed in part, and a prorated
line cannot be told from a full one.

Resolves when refunds or credit lines for the subscription have paid it back
(a partial refund updates the amount still owed), or when the invoice is
re-issued without the line.
"""

from __future__ import annotations

from typing import Any

from models.alerts import AlertChange, raise_alert, resolve_alert
from models.events import Event
from models.money import format_money, to_amount
from models.policy import Policy
from models.subscriptions import (
    ends_at,
    is_settled,
    line_period,
    record_overcharge,
    refunded_overcharges,
    settle_overcharge,
    subs_of,
)
from models.timestamps import format_date, format_ms, format_period, period_start

__all__ = ["NAME", "KIND", "CLOCK", "EVENT_TYPES", "NEEDS_CATALOG", "on_event", "on_deadline"]

NAME = "billed_after_cancellation"
KIND = "promise.billed_after_cancellation"
#: Subscription facts all come on the billing topic: its stream time drives the deadlines.
CLOCK = "billing"
NEEDS_CATALOG = False
EVENT_TYPES = frozenset({"invoice.issued"})


def on_event(state: dict[str, Any], event: Event, policy: Policy) -> list[AlertChange]:
    subs = subs_of(state)
    invoice_id = event.data["invoice_id"]
    period = line_period(event)
    changes: list[AlertChange] = []
    judged: set[str] = set()
    for line in event.data["lines"]:
        sub = subs.get(line.get("ref", ""))
        if line["kind"] != "subscription" or sub is None or line["amount"] <= 0:
            continue
        key = f"{line['ref']}/{invoice_id}/{line['line_id']}"
        judged.add(key)
        if is_settled(sub, key):
            continue  # paid back already: a re-issued invoice does not raise it again
        end = ends_at(sub)
        if end is None or period_start(period) < end:
            if key in sub["over"] and sub["over"][key]["d"] == NAME:  # re-issued: no longer after the end
                settle_overcharge(sub, key)
                changes.extend(_resolve(state, key, event, f"Invoice {invoice_id} was corrected."))
            continue
        stopped_by = sub["cancel_by"] if sub["cancel_at"] == end else sub["ended_by"]
        facts = {
            "sub": line["ref"],
            "invoice": invoice_id,
            "line": line["line_id"],
            "period": period,
            "amount": line["amount"],
            "end": end,
            "how": "cancelled" if sub["cancel_at"] == end else "ended",
        }
        record = record_overcharge(
            sub, key, NAME, line["amount"], event.at, [e for e in (stopped_by, event.event_id) if e], facts
        )
        changes.extend(_emit(state, policy, key, record, event))
    for _, key, record in refunded_overcharges(state, event, NAME, judged):
        changes.extend(_emit(state, policy, key, record, event))
    return changes


def on_deadline(state: dict[str, Any], key: str, now: int, policy: Policy) -> list[AlertChange]:
    return []


def _emit(state: dict[str, Any], policy: Policy, key: str, record: dict[str, Any], event: Event) -> list[AlertChange]:
    facts, money = record["f"], policy.currency
    owed = record["amount"] - record["paid"]
    if owed <= 0:
        settle_overcharge(subs_of(state)[facts["sub"]], key)
        return _resolve(
            state,
            key,
            event,
            f"The {format_money(record['amount'], money)} billed on invoice {facts['invoice']} after subscription "
            f"{facts['sub']} stopped has been refunded.",
        )
    what = "its cancellation took effect" if facts["how"] == "cancelled" else "it ended"
    refunded = f"; {format_money(record['paid'], money)} of it has been refunded" if record["paid"] else ""
    change = raise_alert(
        state,
        policy,
        kind=KIND,
        key=key,
        at=event.at,
        severity="warning",
        summary=f"Invoice {facts['invoice']} charged {format_money(facts['amount'], money)} for subscription "
        f"{facts['sub']} for {format_period(facts['period'])}, after {what} on {format_date(facts['end'])}"
        f"{refunded}.",
        amount=owed,
        per="once",
        evidence=list(dict.fromkeys([*record["ev"], event.event_id])),
        suggested_action=f"Refund {format_money(owed, money)}, apologise, and make sure subscription "
        f"{facts['sub']} is no longer billed.",
        details={
            "subscription_id": facts["sub"],
            "invoice_id": facts["invoice"],
            "line_id": facts["line"],
            "period": facts["period"],
            "amount": to_amount(facts["amount"]),
            "refunded": to_amount(record["paid"]),
            "still_owed": to_amount(owed),
            "stopped": facts["how"],
            "cancellation_effective_at": format_ms(facts["end"]),
        },
    )
    return [change] if change else []


def _resolve(state: dict[str, Any], key: str, event: Event, summary: str) -> list[AlertChange]:
    change = resolve_alert(
        state, kind=KIND, key=key, at=event.at, summary=summary, evidence=[event.event_id], details={"alert_key": key}
    )
    return [change] if change else []
