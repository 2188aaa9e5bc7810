"""Applies one event, or the passing of stream time, to one customer's state.

The whole per-customer rule set in two functions; the stream wiring calls only
these. They update ``state`` in place and return the alert changes to emit.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Mapping
from typing import Any

from models.alerts import AlertChange, prune_alerts
from models.detectors import ALERT_WATCHERS, BY_EVENT_TYPE, DEADLINE_CLOCKS, HANDLERS, RELEASED_BY, Detector
from models.events import TIME_TOPICS, Event
from models.policy import Policy
from models.state import apply_order_event, hold_early, prune, take_early
from models.subscriptions import SUBSCRIPTION_EVENT_TYPES, apply_subscription_event
from models.timestamps import MS_PER_DAY

__all__ = ["apply_event", "advance_to"]


def apply_event(
    state: dict[str, Any], event: Event, policy: Policy, *, catalog: Mapping[str, Any] | None = None
) -> list[AlertChange]:
    """Apply a validated, de-duplicated event; return the alert changes it causes.

    ``catalog`` (plan_id -> models.catalog.Plan) goes to the detectors that judge by it.
    """
    changes = _apply(state, event, policy, catalog)
    return _with_patterns(state, changes, policy)


def _with_patterns(state: dict[str, Any], changes: list[AlertChange], policy: Policy) -> list[AlertChange]:
    # Some conditions are made of other alerts, not of events; and the CRM may have answered an alert
    # before it was emitted here (models.detectors.ALERT_WATCHERS). Each watcher sees what those before it added.
    if changes:
        for watcher in ALERT_WATCHERS:
            changes.extend(watcher.on_alerts(state, changes, policy))
    return changes


def _catalog_for(detector: Detector, catalog: Mapping[str, Any] | None) -> tuple[Mapping[str, Any], ...]:
    """The extra argument of a detector that judges by the plan catalog (an empty one if there is none)."""
    return (catalog if catalog is not None else {},) if detector.NEEDS_CATALOG else ()


def _apply(
    state: dict[str, Any], event: Event, policy: Policy, catalog: Mapping[str, Any] | None = None
) -> list[AlertChange]:
    if state["last"] is None or event.at > state["last"]:
        state["last"] = event.at
    if event.type.startswith("order.") and apply_order_event(state, event) is None:
        # Shipped, delivered or cancelled before its placement arrived (out of
        # order upstream): keep it, and apply it right after the placement.
        hold_early(state, event, policy)
        return []
    if event.type in SUBSCRIPTION_EVENT_TYPES:
        apply_subscription_event(state, event, policy)
    changes: list[AlertChange] = []
    for detector in BY_EVENT_TYPE.get(event.type, ()):
        changes.extend(detector.on_event(state, event, policy, *_catalog_for(detector, catalog)))
    # What waited for this event (it opens an order, or a detector's subject) applies right after it.
    if event.type == "order.placed":
        for early in take_early(state, event.data["order_id"]):
            changes.extend(_apply(state, early, policy, catalog))
    for holder in RELEASED_BY.get(event.type, ()):
        for early in take_early(state, holder.held_key(event)):
            changes.extend(_apply(state, early, policy, catalog))
    return changes


def advance_to(
    state: dict[str, Any],
    now: int | Mapping[str, int],
    policy: Policy,
    *,
    catalog: Mapping[str, Any] | None = None,
) -> list[AlertChange]:
    """Stream time reached ``now``: fire every deadline at or before it, in time order.

    ``now`` is one time for every deadline, or stream time per input topic: each
    deadline is then judged by the topics that drive it (models.detectors.deadline_topics).
    """
    changes: list[AlertChange] = []
    deadlines = state["deadlines"]
    by_topic = now if isinstance(now, (dict, Mapping)) else None
    # Detector name -> up to when its deadlines are due, for the detectors met here.
    limits: dict[str, float] = {}
    ready = _due(deadlines.items(), now, by_topic, limits)
    # Fired in time order, the earliest due first, as if every firing were followed by a fresh scan of the
    # deadlines (a firing may set, move or clear some): after one that changed anything but its own entry,
    # the entries it changed are judged again; one moved or cleared since it was found ready is skipped.
    heapq.heapify(ready)
    expected = dict(deadlines) if ready else deadlines
    while ready:
        due, name = heapq.heappop(ready)
        if deadlines.get(name) != due:
            continue
        del deadlines[name]
        del expected[name]
        detector, _, key = name.partition("|")
        module = HANDLERS[detector]
        fired = module.on_deadline(state, key, due, policy, *_catalog_for(module, catalog))
        # Patterns are judged deadline by deadline, so one long step of time gives
        # what many short ones give.
        changes.extend(_with_patterns(state, fired, policy))
        if deadlines != expected:
            changed = [(other, at) for other, at in deadlines.items() if expected.get(other) != at]
            for entry in _due(changed, now, by_topic, limits):
                heapq.heappush(ready, entry)
            expected = dict(deadlines)
    horizon = now if by_topic is None else _retention_horizon(by_topic)
    if horizon is not None:
        prune(state, horizon, policy)  # type: ignore[arg-type]
        prune_alerts(  # type: ignore[arg-type]
            state, horizon, int(policy.alert_retention_days * MS_PER_DAY), policy.max_alerts_per_customer
        )
    return changes


def _due(
    entries: Iterable[tuple[str, int]], now: Any, by_topic: Mapping[str, int] | None, limits: dict[str, float]
) -> list[tuple[int, str]]:
    """``(due, name)`` of the deadline entries due by ``now`` (``limits`` remembers each detector's limit)."""
    if by_topic is None:
        return [(due, name) for name, due in entries if due <= now]
    ready = []
    for name, due in entries:
        detector = name.partition("|")[0]
        limit = limits.get(detector)
        if limit is None:
            limit = limits[detector] = _limit(DEADLINE_CLOCKS[detector], by_topic)
        if due <= limit:
            ready.append((due, name))
    return ready


def _limit(clocks: tuple[str, ...], by_topic: Mapping[str, int]) -> float:
    """Up to when a deadline driven by ``clocks`` is due: every one of those topics has passed it."""
    limit = math.inf
    for topic in clocks:
        time = by_topic.get(topic)
        if time is None:
            return -math.inf  # a topic not heard from yet: nothing it drives is due
        if time < limit:
            limit = time
    return limit


def _retention_horizon(by_topic: Mapping[str, int]) -> int | None:
    """Up to when facts may be forgotten: the time every topic of facts has passed (None: not yet known).

    Retention keeps facts that other topics still refer to (a closed order that billing may yet invoice, an
    invoice held for an order not consumed yet). A topic read ahead of the others, or moved to the wall
    clock by the live tick while another still replays its backlog, must not make them forget.
    """
    horizon = None
    for topic in TIME_TOPICS:
        if topic not in by_topic:
            return None
        time = by_topic[topic]
        if horizon is None or time < horizon:
            horizon = time
    return horizon
