"""A customer's story: what the state remembers and what the alerts said, on one timeline.

Built for the customer page (agents/page.py) from the customer's state (orders,
invoice lines, subscriptions, usage, notices, complaints, each with the event id
that told us) and the customer's findings from the alert ledger (models.ledger).
Every entry names the event ids it stands for (an alert's latest revision: its
alert_id), so an alert's evidence links to the entries it rests on; an evidence
id the state no longer holds (pruned, or a kind of event the state does not
keep, such as a payment) is listed unlinked.
Pure: plain values in, JSON-able values out.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from models.ledger import Finding, money_text
from models.timestamps import format_ms, period_start

__all__ = ["customer_story"]

# Entries at the same moment read in this order: what happened, then what it cost, then what we said.
_ORDER = {"subscription": 0, "order": 1, "usage": 2, "invoice": 3, "complaint": 4, "alert": 5}


def customer_story(
    customer_id: str, state: dict[str, Any] | None, findings: Iterable[Finding], currency: str
) -> dict[str, Any]:
    """The timeline (oldest first) and the findings of one customer."""
    entries: list[dict[str, Any]] = []
    if state is not None:
        entries += _orders(state, currency)
        entries += _invoices(state, currency)
        entries += _subscriptions(state, currency)
        entries += _complaints(state)
    findings = list(findings)
    # Evidence is event ids, and for a pattern of alerts (repeated broken promises) the alert ids it rests on.
    known = {event_id for entry in entries for event_id in entry["event_ids"]} | {f.alert_id for f in findings}
    for finding in findings:
        # An alert's revisions stay in their order on the timeline even when a later one carries an earlier event
        # time (a resolving event that arrived late): each sorts at the latest time of the revisions up to it.
        moment = None
        history = finding.history  # decoded anew on each read (models.ledger.Finding): once here
        for emission in history:
            moment = emission.at if moment is None else max(moment, emission.at)
            latest = emission is history[-1]  # the alert's anchor, once
            entries.append(
                _entry(
                    emission.at,
                    "alert",
                    f"{emission.kind} {emission.lifecycle}",
                    emission.summary,
                    [emission.alert_id] if latest else [],
                    ref=emission.alert_id,
                    severity=emission.severity,
                    lifecycle=emission.lifecycle,
                    revision=emission.revision,
                    impact=_impact(emission.amount, emission.per, currency),
                    evidence=[{"event_id": e, "linked": e in known} for e in emission.evidence],
                    suggested_action=emission.suggested_action,
                    sort_at=moment,
                )
            )
    entries.sort(key=lambda e: (e.get("sort_at", e["at"]), _ORDER[e["kind"]]))
    for entry in entries:
        entry.pop("sort_at", None)
        entry["time"] = format_ms(entry["at"])
    return {
        "customer_id": customer_id,
        "currency": currency,
        "in_state": state is not None,
        "timeline": entries,
        "findings": [_finding(f, currency) for f in findings],
    }


def _entry(at: int, kind: str, title: str, text: str, event_ids: list[str | None], **extra: Any) -> dict:
    return {"at": at, "kind": kind, "title": title, "text": text, "event_ids": [e for e in event_ids if e], **extra}


def _money(micros: int, currency: str) -> str:
    return f"{currency} {money_text(micros)}"


def _impact(amount: int, per: str, currency: str) -> dict[str, str]:
    return {"amount": money_text(amount), "currency": currency, "per": per}


def _orders(state: dict[str, Any], currency: str) -> list[dict]:
    entries = []
    for order_id, order in state.get("orders", {}).items():
        value = sum(qty * price for _, qty, price, _ in order["lines"].values())
        skus = ", ".join(f"{qty} x {sku}" for sku, qty, _, _ in order["lines"].values())
        shipped = order.get("shipped_by")
        text = (
            f"{skus}; {_money(value, currency)}; promised by {format_ms(order['due'])}"
            + ("; urgent" if order["urgent"] else "")
            + ("; shipped" if shipped else "")
        )
        entries.append(
            _entry(order["at"], "order", f"Order {order_id} placed", text, [order["placed"], shipped], ref=order_id)
        )
        if order.get("delivered_by"):
            got = order.get("got")
            how = (
                "as ordered"
                if got is None
                else "lines as reported: " + ", ".join(f"line {line_id}: {qty}" for line_id, qty in got.items())
            )
            entries.append(
                _entry(
                    order["closed"], "order", f"Order {order_id} delivered", how, [order["delivered_by"]], ref=order_id
                )
            )
        if order.get("cancelled_by"):
            entries.append(
                _entry(
                    order["closed"], "order", f"Order {order_id} cancelled", "", [order["cancelled_by"]], ref=order_id
                )
            )
    return entries


def _invoices(state: dict[str, Any], currency: str) -> list[dict]:
    """Invoice lines the state keeps (order lines, subscription lines), one entry per invoice event."""
    invoices: dict[str, dict[str, Any]] = {}

    def line(event_id: str, invoice_id: str, at: int, text: str, amount: int) -> None:
        invoice = invoices.setdefault(event_id, {"invoice_id": invoice_id, "at": at, "lines": [], "amount": 0})
        invoice["at"] = min(invoice["at"], at)
        invoice["lines"].append(text)
        invoice["amount"] += amount

    for order_id, order in state.get("orders", {}).items():
        for line_id, billed in order.get("billed", {}).items():
            for invoice_id, _, qty, unit_price, amount, event_id, at in billed:
                line(event_id, invoice_id, at, f"order {order_id}/{line_id}: {qty} x {money_text(unit_price)}", amount)
    for sub_id, sub in state.get("subs", {}).items():
        for period, lines in sub.get("billed", {}).items():
            for invoice_id, _, qty, unit_price, amount, event_id in lines:
                # Subscription lines keep their period, not the invoice's time: shown at the period's start.
                line(
                    event_id,
                    invoice_id,
                    period_start(period),
                    f"subscription {sub_id} for {period}: {qty} x {money_text(unit_price)}",
                    amount,
                )
    return [
        _entry(
            invoice["at"],
            "invoice",
            f"Invoice {invoice['invoice_id']}",
            "; ".join(invoice["lines"]) + f" (these lines: {_money(invoice['amount'], currency)})",
            [event_id],
            ref=invoice["invoice_id"],
        )
        for event_id, invoice in invoices.items()
    ]


def _subscriptions(state: dict[str, Any], currency: str) -> list[dict]:
    entries = []
    for sub_id, sub in state.get("subs", {}).items():
        now_on = "" if sub["fee"] is None else f"now on {sub['plan']} at {_money(sub['fee'], currency)}/month"
        if sub.get("start_by"):
            term = "" if not sub.get("term_end") else f"; minimum term to {format_ms(sub['term_end'])}"
            entries.append(
                _entry(
                    sub["start"],
                    "subscription",
                    f"Subscription {sub_id} started",
                    now_on + term,
                    [sub["start_by"]],
                    ref=sub_id,
                )
            )
        if sub.get("fee_by") and sub.get("fee_by") != sub.get("start_by"):
            entries.append(
                _entry(
                    sub["fee_at"], "subscription", f"Subscription {sub_id} changed", now_on, [sub["fee_by"]], ref=sub_id
                )
            )
        for fee, effective, notified, event_id in sub.get("prices", []):
            entries.append(
                _entry(
                    notified,
                    "subscription",
                    f"Price change notified for {sub_id}",
                    f"{_money(fee, currency)}/month from {format_ms(effective)}",
                    [event_id],
                    ref=sub_id,
                )
            )
        for kind, at, event_id in sub.get("notices", []):
            entries.append(_entry(at, "subscription", f"Notice sent for {sub_id}", kind, [event_id], ref=sub_id))
        for period, (units, at, event_id) in sorted(sub.get("usage", {}).items()):
            entries.append(
                _entry(at, "usage", f"Usage of {sub_id} in {period}", f"{units} units", [event_id], ref=sub_id)
            )
        if sub.get("cancel_by"):
            entries.append(
                _entry(
                    sub["cancel_at"],
                    "subscription",
                    f"Cancellation of {sub_id} takes effect",
                    "requested by the customer",
                    [sub["cancel_by"]],
                    ref=sub_id,
                )
            )
        if sub.get("ended_by"):
            entries.append(
                _entry(sub["ended"], "subscription", f"Subscription {sub_id} ended", "", [sub["ended_by"]], ref=sub_id)
            )
    return entries


def _complaints(state: dict[str, Any]) -> list[dict]:
    entries = []
    for complaint_id, complaint in state.get("complaints", {}).items():
        entries.append(
            _entry(
                complaint["at"],
                "complaint",
                f"Complaint {complaint_id} opened",
                f"{complaint['category']}, severity {complaint['severity']}; promised by {format_ms(complaint['by'])}",
                [complaint["opened"]],
                ref=complaint_id,
            )
        )
        if complaint["ack"] is not None:
            entries.append(
                _entry(
                    complaint["ack"],
                    "complaint",
                    f"Complaint {complaint_id} acknowledged",
                    "",
                    [complaint.get("acked")],
                    ref=complaint_id,
                )
            )
        if complaint["done"] is not None:
            entries.append(
                _entry(complaint["done"], "complaint", f"Complaint {complaint_id} resolved", "", [], ref=complaint_id)
            )
    return entries


def _finding(finding: Finding, currency: str) -> dict[str, Any]:
    return {
        "alert_id": finding.alert_id,
        "kind": finding.kind,
        "severity": finding.severity,
        "open": finding.open,
        "lifecycle": finding.lifecycle,
        "revision": finding.revision,
        "summary": finding.summary,
        "impact": _impact(finding.amount, finding.per, finding.currency or currency),
        "raised_at": format_ms(finding.raised_at),
        "resolved_at": None if finding.resolved_at is None else format_ms(finding.resolved_at),
        "evidence": list(finding.evidence),
        "suggested_action": finding.suggested_action,
        **finding.feedback_json(),
    }
