"""``promise.unannounced_price_rise``: a subscription billed above the agreed fee without due notice (SPEC §3.4).

Each subscription invoice line is judged at the moment its price takes effect:
the start of the billed period (the invoice's ``period``, else the month it was
issued in). The fee the customer agreed to for that moment is the agreed fee
with every price change in effect whose ``price.change_notified`` came at least
``price_rise_notice_days`` before it (a cut counts whatever its notice). A unit
price above that is an overcharge of (price - agreed fee) x qty: a one-off,
keyed by subscription/invoice/line. So a rise notified 29 days ahead makes its
first month an overcharge, and the months after it (by then notified well
ahead) are not.

Resolves when refunds or credit lines for the subscription (negative
``subscription``/``fee`` lines) have paid the overcharge back (a partial refund
updates the amount still owed), or when the invoice is re-issued with the line
corrected. Lines billed after the cancellation took effect are
``promise.billed_after_cancellation``'s.
"""

from __future__ import annotations

from typing import Any

from models.alerts import AlertChange, raise_alert, resolve_alert
from models.events import Event
from models.money import format_money, to_amount
from models.policy import Policy
from models.subscriptions import (
    announced_fee,
    changes_in_effect,
    ends_at,
    is_settled,
    line_period,
    record_overcharge,
    refunded_overcharges,
    settle_overcharge,
    subs_of,
)
from models.timestamps import MS_PER_DAY, format_ms, format_period, period_start

__all__ = ["NAME", "KIND", "CLOCK", "EVENT_TYPES", "NEEDS_CATALOG", "on_event", "on_deadline"]

NAME = "unannounced_price_rise"
KIND = "promise.unannounced_price_rise"
#: Subscription facts all come on the billing topic: its stream time drives the deadlines.
CLOCK = "billing"
NEEDS_CATALOG = False
EVENT_TYPES = frozenset({"invoice.issued"})


def on_event(state: dict[str, Any], event: Event, policy: Policy) -> list[AlertChange]:
    subs = subs_of(state)
    invoice_id = event.data["invoice_id"]
    period = line_period(event)
    effect = period_start(period)
    notice_ms = int(policy.price_rise_notice_days * MS_PER_DAY)
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
        fee, counted = announced_fee(sub, effect, notice_ms)
        end = ends_at(sub)
        over_each = 0 if fee is None else line["unit_price"] - fee
        if fee is None or (end is not None and effect >= end) or over_each <= 0 or line["qty"] <= 0:
            if key in sub["over"] and sub["over"][key]["d"] == NAME:  # re-issued with the line corrected
                settle_overcharge(sub, key)
                changes.extend(_resolve(state, key, event, f"Invoice {invoice_id} was corrected to the agreed fee."))
            continue
        # Rises to this price that are in effect but were notified too late.
        late = [e for e in changes_in_effect(sub, effect) if e is not counted and e[0] > fee]
        facts = {
            "sub": line["ref"],
            "invoice": invoice_id,
            "line": line["line_id"],
            "period": period,
            "price": line["unit_price"],
            "qty": line["qty"],
            "fee": fee,
            "late": [[e[0], e[1], e[2]] for e in late],
        }
        evidence = [sub["fee_by"], counted[3] if counted else None, *(e[3] for e in late), event.event_id]
        record = record_overcharge(sub, key, NAME, over_each * line["qty"], event.at, [e for e in evidence if e], facts)
        changes.extend(_emit(state, policy, key, record, event))
    for _, key, record in refunded_overcharges(state, event, NAME, judged):
        changes.extend(_emit(state, policy, key, record, event))
    return changes


def on_deadline(state: dict[str, Any], key: str, now: int, policy: Policy) -> list[AlertChange]:
    return []


def _emit(state: dict[str, Any], policy: Policy, key: str, record: dict[str, Any], event: Event) -> list[AlertChange]:
    """Raise (or update) the overcharge still owed, or resolve it once it is paid back."""
    facts, money = record["f"], policy.currency
    owed = record["amount"] - record["paid"]
    if owed <= 0:
        settle_overcharge(subs_of(state)[facts["sub"]], key)
        return _resolve(
            state,
            key,
            event,
            f"The {format_money(record['amount'], money)} overcharged on invoice {facts['invoice']} has been refunded.",
        )
    if facts["late"]:
        notified_at = facts["late"][-1][2]
        days = round((period_start(facts["period"]) - notified_at) / MS_PER_DAY, 1)
        why = (
            f"the rise was announced only {days:g} days "
            f"before it took effect (at least {policy.price_rise_notice_days:g} are required)"
        )
    else:
        why = "the rise was never announced"
    refunded = f"; {format_money(record['paid'], money)} of it has been refunded" if record["paid"] else ""
    change = raise_alert(
        state,
        policy,
        kind=KIND,
        key=key,
        at=event.at,
        severity="warning",
        summary=f"Invoice {facts['invoice']} charged {format_money(facts['price'], money)} for subscription "
        f"{facts['sub']} in {format_period(facts['period'])}, {format_money(facts['price'] - facts['fee'], money)} "
        f"above the agreed {format_money(facts['fee'], money)}; {why}{refunded}.",
        amount=owed,
        per="once",
        evidence=list(dict.fromkeys([*record["ev"], event.event_id])),
        suggested_action=f"Refund {format_money(owed, money)} (a credit line for subscription {facts['sub']} on the "
        f"next invoice) and apologise; a price rise needs at least {policy.price_rise_notice_days:g} days' notice.",
        details={
            "subscription_id": facts["sub"],
            "invoice_id": facts["invoice"],
            "line_id": facts["line"],
            "period": facts["period"],
            "billed_unit_price": to_amount(facts["price"]),
            "qty": facts["qty"],
            "agreed_monthly_fee": to_amount(facts["fee"]),
            "overcharge": to_amount(record["amount"]),
            "refunded": to_amount(record["paid"]),
            "still_owed": to_amount(owed),
            "late_price_change_notices": [
                {
                    "new_monthly_fee": to_amount(fee),
                    "effective_at": format_ms(effective),
                    "notified_at": format_ms(notified),
                    "days_notice": round((effective - notified) / MS_PER_DAY, 1),
                }
                for fee, effective, notified in facts["late"]
            ],
            "required_notice_days": policy.price_rise_notice_days,
        },
    )
    return [change] if change else []


def _resolve(state: dict[str, Any], key: str, event: Event, summary: str) -> list[AlertChange]:
    change = resolve_alert(
        state, kind=KIND, key=key, at=event.at, summary=summary, evidence=[event.event_id], details={"alert_key": key}
    )
    return [change] if change else []
