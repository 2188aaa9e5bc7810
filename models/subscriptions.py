"""Subscription facts per customer (``state["subs"]``): what the bad-profit detectors judge by, kept bounded.

``state["subs"]`` maps subscription_id to a record:

``plan``, ``fee``  plan_id and agreed monthly fee (micro-units) as of the latest
                   ``subscription.started``/``changed`` (None until one is seen)
``fee_at``         event time of that agreement; ``fee_by`` its event id
``start``          ``subscription.started`` time: the tenure (None if it predates our history)
``start_by``       its event id; ``term_end``: end of the minimum term, or None
``cancel_at``      when a requested cancellation takes effect; ``cancel_by`` its event id
``ended``          ``subscription.ended`` time; ``ended_by`` its event id
``prices``         notified price changes ``[new_fee, effective_at, notified_at, event_id]``
``notices``        notices sent ``[kind, at, event_id]``, oldest first
``usage``          ``{period: [units, at, event_id]}``, the latest 12 periods
``billed``         ``{period: [[invoice_id, line_id, qty, unit_price, amount, event_id]]}``:
                   subscription lines billed, the latest 12 periods
``over``           ``{alert key: {"d": detector, "amount", "paid", "at", "ev", "f": facts}}``:
                   overcharges found (unannounced rise, billed after cancellation) and
                   what refunds/credits have paid back of them so far
``credits``        ``"invoice_id/line_id"`` of credit lines already allocated to ``over``
``settled``        keys of overcharges paid back in full (a re-issued invoice does not raise them again)
``seen``           newest event time about the subscription
``judged``         latest time its conditions were judged at (:func:`judge_time`)

Every list and map is capped (``_MAX_*``) so nothing grows over a customer's lifetime.
Ended subscriptions are forgotten after ``subscription_retention_days`` (:func:`prune_subscriptions`).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

from models.events import Event
from models.policy import Policy
from models.timestamps import MS_PER_DAY, add_months, month_index, period_end, period_of, period_start

__all__ = [
    "SUBSCRIPTION_EVENT_TYPES",
    "apply_subscription_event",
    "subscription_ids",
    "subs_of",
    "fee_in_force",
    "judge_time",
    "changes_in_effect",
    "announced_fee",
    "ends_at",
    "is_active",
    "complete_usage",
    "latest_run",
    "line_period",
    "subscription_lines",
    "notices_since",
    "tenure_months",
    "plans_missing",
    "prune_subscriptions",
    "deadline_keys",
    "record_overcharge",
    "refunded_overcharges",
    "settle_overcharge",
    "is_settled",
    "SUBSCRIPTION_DEADLINES",
]

MAX_PERIODS = 12
_MAX_PRICES = 6
_MAX_NOTICES = 8
_MAX_LINES_PER_PERIOD = 12
_MAX_OVER = 24
_MAX_CREDITS = 48

SUBSCRIPTION_EVENT_TYPES = frozenset(
    {
        "subscription.started",
        "subscription.changed",
        "subscription.cancel_requested",
        "subscription.ended",
        "price.change_notified",
        "notice.sent",
        "usage.recorded",
        "invoice.issued",
    }
)


def subs_of(state: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The customer's subscriptions (created on first use: states written before subscriptions existed lack it)."""
    return state.setdefault("subs", {})


def _new_sub() -> dict[str, Any]:
    return {
        "plan": None,
        "fee": None,
        "fee_at": None,
        "fee_by": None,
        "start": None,
        "start_by": None,
        "term_end": None,
        "cancel_at": None,
        "cancel_by": None,
        "ended": None,
        "ended_by": None,
        "prices": [],
        "notices": [],
        "usage": {},
        "billed": {},
        "over": {},
        "credits": [],
        "settled": [],
        "seen": None,
    }


def subscription_lines(event: Event) -> list[dict[str, Any]]:
    """The invoice lines that concern a subscription (``ref`` names it)."""
    return [line for line in event.data["lines"] if line["kind"] in ("subscription", "fee") and "ref" in line]


def subscription_ids(event: Event) -> list[str]:
    """The subscriptions an event is about, in order, each once."""
    if event.type == "invoice.issued":
        return list(dict.fromkeys(line["ref"] for line in subscription_lines(event)))
    if event.type in SUBSCRIPTION_EVENT_TYPES:
        return [event.data["subscription_id"]]
    return []


def line_period(event: Event) -> str:
    """The period an invoice bills: its ``period``, else the month it was issued in."""
    return event.data.get("period") or period_of(event.at)


def apply_subscription_event(state: dict[str, Any], event: Event, policy: Policy) -> list[str]:
    """Update subscription facts from a billing event; return the subscription ids it touched."""
    subs = subs_of(state)
    touched = subscription_ids(event)
    for sub_id in touched:
        sub = subs.get(sub_id)
        if sub is None:
            sub = subs[sub_id] = _new_sub()
        if sub["seen"] is None or event.at > sub["seen"]:
            sub["seen"] = event.at
        if event.type == "invoice.issued":
            _apply_invoice(sub, sub_id, event)
        else:
            _APPLY[event.type](sub, event)
    return touched


def _agree(sub: dict[str, Any], event: Event) -> None:
    """Plan and fee from a started/changed event, unless a later agreement is already known."""
    if sub["fee_at"] is not None and event.at < sub["fee_at"]:
        return
    sub["plan"] = event.data["plan_id"]
    sub["fee"] = event.data["monthly_fee"]
    sub["fee_at"] = event.at
    sub["fee_by"] = event.event_id


def _started(sub: dict[str, Any], event: Event) -> None:
    _agree(sub, event)
    if sub["start"] is None or event.at >= sub["start"]:
        sub["start"] = event.at
        sub["start_by"] = event.event_id
        term = event.data.get("minimum_term_months", 0)
        sub["term_end"] = add_months(event.at, term) if term else None
        # A (re)start is a fresh contract: an earlier cancellation or end no longer holds.
        if sub["cancel_at"] is not None and sub["cancel_at"] <= event.at:
            sub["cancel_at"] = sub["cancel_by"] = None
        if sub["ended"] is not None and sub["ended"] <= event.at:
            sub["ended"] = sub["ended_by"] = None


def _changed(sub: dict[str, Any], event: Event) -> None:
    _agree(sub, event)


def _cancel_requested(sub: dict[str, Any], event: Event) -> None:
    sub["cancel_at"] = event.data["effective_at"]
    sub["cancel_by"] = event.event_id


def _ended(sub: dict[str, Any], event: Event) -> None:
    if sub["ended"] is None or event.at < sub["ended"]:
        sub["ended"] = event.at
        sub["ended_by"] = event.event_id


def _price_notified(sub: dict[str, Any], event: Event) -> None:
    prices = sub["prices"]
    if any(entry[3] == event.event_id for entry in prices):
        return
    prices.append([event.data["new_monthly_fee"], event.data["effective_at"], event.at, event.event_id])
    prices.sort(key=lambda entry: (entry[1], entry[2]))
    del prices[: max(0, len(prices) - _MAX_PRICES)]


def _notice(sub: dict[str, Any], event: Event) -> None:
    notices = sub["notices"]
    if any(entry[2] == event.event_id for entry in notices):
        return
    notices.append([event.data["kind"], event.at, event.event_id])
    notices.sort(key=lambda entry: entry[1])
    del notices[: max(0, len(notices) - _MAX_NOTICES)]


def _usage(sub: dict[str, Any], event: Event) -> None:
    period = event.data["period"]
    usage = sub["usage"]
    known = usage.get(period)
    # The same period recorded again replaces the earlier record (a correction),
    # judged by event time: a stale record arriving late does not undo a newer one.
    if known is not None and event.at < known[1]:
        return
    usage[period] = [event.data["units"], event.at, event.event_id]
    _keep_latest(usage)


def _apply_invoice(sub: dict[str, Any], sub_id: str, event: Event) -> None:
    invoice_id = event.data["invoice_id"]
    period = line_period(event)
    billed = sub["billed"]
    for line in subscription_lines(event):
        if line["ref"] != sub_id:
            continue
        if line["amount"] < 0:
            _allocate_credit(sub, f"{invoice_id}/{line['line_id']}", -line["amount"])
        elif line["kind"] == "subscription" and line["amount"] > 0:
            lines = billed.setdefault(period, [])
            # A re-issued invoice replaces its own lines, it does not add to them.
            lines[:] = [entry for entry in lines if (entry[0], entry[1]) != (invoice_id, line["line_id"])]
            lines.append([invoice_id, line["line_id"], line["qty"], line["unit_price"], line["amount"], event.event_id])
            del lines[: max(0, len(lines) - _MAX_LINES_PER_PERIOD)]
    _keep_latest(billed)


def _allocate_credit(sub: dict[str, Any], line_key: str, amount: int) -> None:
    """A refund or credit line pays back open overcharges, oldest first (each credit line once)."""
    credits = sub["credits"]
    if line_key in credits:
        return
    credits.append(line_key)
    del credits[: max(0, len(credits) - _MAX_CREDITS)]
    for record in sorted(sub["over"].values(), key=lambda rec: rec["at"]):
        if amount <= 0:
            break
        take = min(amount, record["amount"] - record["paid"])
        if take > 0:
            record["paid"] += take
            amount -= take


def _keep_latest(by_period: dict[str, Any]) -> None:
    if len(by_period) > MAX_PERIODS:
        for period in sorted(by_period)[: len(by_period) - MAX_PERIODS]:
            del by_period[period]


_APPLY = {
    "subscription.started": _started,
    "subscription.changed": _changed,
    "subscription.cancel_requested": _cancel_requested,
    "subscription.ended": _ended,
    "price.change_notified": _price_notified,
    "notice.sent": _notice,
    "usage.recorded": _usage,
}


# --- derived facts -------------------------------------------------------------


def changes_in_effect(sub: dict[str, Any], at: int) -> list[list[Any]]:
    """Price changes that apply to the current agreement and are in effect at ``at``, in effect order.

    A change notified before the current plan/fee was agreed belongs to the old agreement.
    """
    since = sub["fee_at"]
    return [entry for entry in sub["prices"] if entry[1] <= at and (since is None or entry[2] >= since)]


def judge_time(sub: dict[str, Any], at: int) -> int:
    """The time to judge the subscription at: ``at``, but never earlier than it was judged before.

    An event that arrives late (its deadline neighbours already fired by stream
    time) is judged with everything known as of then, not back in its own past:
    a late record must not undo a condition the stream has already moved past.
    A history replayed in order is judged at each event's own time, as live.
    """
    judged = sub.get("judged")
    if judged is None or at > judged:
        sub["judged"] = judged = at
    return judged


def fee_in_force(sub: dict[str, Any], at: int) -> int | None:
    """The monthly fee the customer pays at ``at``: the agreed fee with every price change in effect."""
    fee = sub["fee"]
    if fee is None:
        return None
    for new_fee, *_ in changes_in_effect(sub, at):
        fee = new_fee
    return fee


def announced_fee(sub: dict[str, Any], at: int, notice_ms: int) -> tuple[int | None, list[Any] | None]:
    """The highest fee the customer was properly told about for ``at``, and the change it comes from.

    A rise counts only if it was notified at least ``notice_ms`` before ``at``
    (the moment the billed price takes effect); a cut counts however late it came.
    """
    fee = sub["fee"]
    if fee is None:
        return None, None
    source = None
    for entry in changes_in_effect(sub, at):
        new_fee, _, notified_at, _ = entry
        if new_fee <= fee or notified_at + notice_ms <= at:
            fee, source = new_fee, entry
    return fee, source


def ends_at(sub: dict[str, Any]) -> int | None:
    """When the subscription stops (its cancellation takes effect, or it ended), if it does."""
    cancel_at, ended = sub["cancel_at"], sub["ended"]
    if cancel_at is None:
        return ended
    return cancel_at if ended is None or cancel_at < ended else ended


def is_active(sub: dict[str, Any], at: int) -> bool:
    """Running at ``at``: plan and fee known, not ended, cancellation (if any) not yet in effect."""
    end = ends_at(sub)
    return sub["plan"] is not None and sub["fee"] is not None and (end is None or at < end)


def complete_usage(sub: dict[str, Any], at: int) -> list[tuple[str, int | float, str]]:
    """Recorded usage of the periods that are over at ``at``: [(period, units, event_id)], oldest first."""
    return [
        (period, units, event_id)
        for period, (units, _, event_id) in sorted(sub["usage"].items())
        if period_end(period) <= at
    ]


def latest_run(periods: list[str], count: int) -> list[str] | None:
    """The latest ``count`` periods if they are consecutive months, else None."""
    if len(periods) < count:
        return None
    run = periods[-count:]
    for earlier, later in itertools.pairwise(run):
        if period_end(earlier) != period_start(later):
            return None
    return run


def notices_since(sub: dict[str, Any], since: int, until: int, kinds: tuple[str, ...]) -> list[list[Any]]:
    """Notices of the given kinds sent in ``[since, until]``."""
    return [entry for entry in sub["notices"] if entry[0] in kinds and since <= entry[1] <= until]


def tenure_months(sub: dict[str, Any], at: int) -> int | None:
    """Whole months since the subscription started, or None if its start is unknown."""
    start = sub["start"]
    if start is None or at < start:
        return None
    # The months between the two calendar months; one fewer if the anniversary in at's month is still ahead.
    # (add_months clamps to the month's end, so that anniversary lies in at's month.)
    months = month_index(at) - month_index(start)
    return months if add_months(start, months) <= at else months - 1


def plans_missing(state: dict[str, Any], catalog: Mapping[str, Any], at: int | None = None) -> bool:
    """True if a running subscription's plan is not (yet) in the catalog."""
    subs = state.get("subs")
    if not subs:
        return False  # most customers: asked at every save of their state
    now = state.get("last") if at is None else at
    for sub in subs.values():
        if sub["plan"] is not None and (now is None or is_active(sub, now)) and sub["plan"] not in catalog:
            return True
    return False


#: Detectors that keep a deadline per subscription ("<name>|<subscription_id>").
SUBSCRIPTION_DEADLINES = frozenset({"better_plan", "loyalty_penalty", "best_tariff_notice"})


def deadline_keys(state: dict[str, Any], sub_id: str) -> list[str]:
    """The deadline names that are about the subscription."""
    return [
        name
        for name in state["deadlines"]
        if name.partition("|")[2] == sub_id and name.partition("|")[0] in SUBSCRIPTION_DEADLINES
    ]


def record_overcharge(
    sub: dict[str, Any], key: str, detector: str, amount: int, at: int, evidence: list[str], facts: dict[str, Any]
) -> dict[str, Any]:
    """The overcharge record under ``key`` (created, or re-sized by a re-issued invoice); what was paid back stays.

    ``facts`` are the figures the detector words its alert with, kept so that a
    later partial refund can re-state the alert without the original invoice.
    """
    over = sub["over"]
    record = over.get(key)
    if record is None:
        record = over[key] = {"d": detector, "amount": amount, "paid": 0, "at": at, "ev": evidence, "f": facts}
        if len(over) > _MAX_OVER:
            for stale in sorted(over, key=lambda k: over[k]["at"])[: len(over) - _MAX_OVER]:
                del over[stale]
    else:
        record.update(amount=amount, ev=evidence, f=facts)
    return record


def settle_overcharge(sub: dict[str, Any], key: str) -> None:
    """The overcharge is paid back (or corrected): forget it, but remember that it was settled."""
    sub["over"].pop(key, None)
    settled = sub.setdefault("settled", [])
    if key not in settled:
        settled.append(key)
        del settled[: max(0, len(settled) - _MAX_CREDITS)]


def is_settled(sub: dict[str, Any], key: str) -> bool:
    return key in sub.get("settled", ())


def refunded_overcharges(
    state: dict[str, Any], event: Event, detector: str, judged: set[str]
) -> list[tuple[str, str, dict[str, Any]]]:
    """(subscription_id, key, record) of the detector's overcharges on the subscriptions an invoice
    touched, other than the lines it just judged: their refunds may have moved."""
    subs = subs_of(state)
    return [
        (sub_id, key, record)
        for sub_id in subscription_ids(event)
        for key, record in list(subs[sub_id]["over"].items())
        if record["d"] == detector and key not in judged
    ]


def prune_subscriptions(state: dict[str, Any], now: int, policy: Policy) -> None:
    """Forget subscriptions that ended longer ago than the retention (and beyond the cap)."""
    subs = state.get("subs")
    if not subs:
        return
    horizon = now - int(policy.subscription_retention_days * MS_PER_DAY)
    gone = [sub_id for sub_id, sub in subs.items() if (ends_at(sub) or now + 1) < horizon]
    excess = len(subs) - len(gone) - policy.max_subscriptions_per_customer
    if excess > 0:
        # Ended ones first (earliest end first), then the longest quiet.
        rest = sorted(
            (sub_id for sub_id in subs if sub_id not in gone),
            key=lambda s: (ends_at(subs[s]) is None, ends_at(subs[s]) or 0, subs[s]["seen"] or 0),
        )
        gone.extend(rest[:excess])
    for sub_id in gone:
        del subs[sub_id]
        for name in deadline_keys(state, sub_id):
            del state["deadlines"][name]
