"""The detectors: one pure module each (SPEC §3), each declaring the interface :class:`Detector` names.

A detector module declares ``NAME`` (its deadline prefix), ``KIND`` (the alert
kind it raises, one of models.kinds.ALERT_KINDS), ``EVENT_TYPES`` (the events it
looks at), ``CLOCK`` and ``NEEDS_CATALOG``, and has ``on_event(state, event,
policy)`` and ``on_deadline(state, key, now, policy)``. Both update the
customer's state in place (the dict passed in becomes the new state) and return
the alert changes; neither does I/O or reads a clock: ``now`` is stream time.
Every name is declared, none defaulted: tests/unit/models/detectors/test_interface.py
checks each module against :class:`Detector`.

Two more roles, each a small Protocol of its own and registered below, so
models.engine calls hooks in a loop and names no detector:

- :class:`WatchesAlerts` (``ALERT_WATCHERS``): a handler that also reads the
  alert changes the others made at each step, a pattern over alerts
  (repeated_broken_promises) or answers waiting for their alert (models.feedback);
- :class:`HoldsEvents` (``HOLDERS``): a detector that keeps events about
  something whose opening event has not arrived yet (models.state.hold_early,
  under ``held_key``) and has them applied right after that event.

A detector that judges by the plan catalog sets ``NEEDS_CATALOG = True`` and
takes it as one more argument of both (``catalog``: plan_id -> models.catalog.Plan);
models.engine passes it to those detectors only.

``CLOCK`` names the input topic whose stream time drives the module's
deadlines: the topic whose silence the deadline is about. A judgment that
joins facts from several topics names them all (a tuple): it waits until every
one of them has passed its time and judges the facts as of that time, so how
the consumer interleaved the topics cannot change the outcome.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from models import feedback
from models.alerts import AlertChange
from models.detectors import (
    best_tariff_notice,
    better_plan,
    billed_after_cancellation,
    billing_error,
    complaint_unresolved,
    late_delivery,
    loyalty_penalty,
    repeated_broken_promises,
    unannounced_price_rise,
    unprofitable_service,
    unused_subscription,
    urgent_order_refused,
    wrong_delivery,
)
from models.events import Event

__all__ = [
    "Detector",
    "WatchesAlerts",
    "HoldsEvents",
    "DETECTORS",
    "HANDLERS",
    "BY_EVENT_TYPE",
    "ALERT_WATCHERS",
    "HOLDERS",
    "RELEASED_BY",
    "DEADLINE_CLOCKS",
    "deadline_topics",
]


@runtime_checkable
class Detector(Protocol):
    """What every detector module declares. Modules, not classes: each one is its own single instance."""

    #: The prefix of its deadlines' names (``<NAME>|<key>``), and its key in DETECTORS.
    NAME: str
    #: The alert kind it raises (models.kinds).
    KIND: str
    #: The input topic, or topics, whose stream time drives its deadlines.
    CLOCK: str | tuple[str, ...]
    #: It judges by the plan catalog: on_event and on_deadline take it as one more argument.
    NEEDS_CATALOG: bool
    #: The event types on_event is called for.
    EVENT_TYPES: frozenset[str]
    #: ``(state, event, policy[, catalog]) -> changes``
    on_event: Callable[..., list[AlertChange]]
    #: ``(state, key, now, policy[, catalog]) -> changes``
    on_deadline: Callable[..., list[AlertChange]]


@runtime_checkable
class WatchesAlerts(Protocol):
    """A handler that reads the alert changes of each step, after the detectors made them."""

    #: ``(state, changes, policy) -> more changes``; it may schedule deadlines, as on_event does.
    on_alerts: Callable[[dict[str, Any], list[AlertChange], Any], list[AlertChange]]


@runtime_checkable
class HoldsEvents(Protocol):
    """A detector that holds events about something not opened yet, until the event that opens it arrives."""

    #: The event types that open it: the held events are applied right after one of these.
    OPENED_BY: frozenset[str]
    #: ``(opening event) -> the key its held events wait under`` (models.state.hold_early / take_early).
    held_key: Callable[[Event], str]


DETECTORS: dict[str, Detector] = {
    module.NAME: module
    for module in (
        late_delivery,
        wrong_delivery,
        billing_error,
        complaint_unresolved,
        urgent_order_refused,
        unprofitable_service,
        repeated_broken_promises,
        better_plan,
        loyalty_penalty,
        unused_subscription,
        unannounced_price_rise,
        billed_after_cancellation,
        best_tariff_notice,
    )
}

#: Everything that takes events and deadlines by name: the detectors, and the CRM's answers (models.feedback),
#: which raise no alert kind of their own but are applied and timed the same way.
HANDLERS: dict[str, Any] = {**DETECTORS, feedback.NAME: feedback}

#: The handlers that read each step's alert changes, in the order they run: a pattern first, then the CRM's
#: answers held for alerts (which may answer the alerts of that step).
ALERT_WATCHERS: tuple[WatchesAlerts, ...] = (repeated_broken_promises, feedback)

#: The detectors that hold events until the event that opens their subject arrives (besides the orders
#: themselves, which models.state holds for their placement).
HOLDERS: tuple[HoldsEvents, ...] = (complaint_unresolved,)
#: Opening event type -> the holders whose held events it releases.
RELEASED_BY: dict[str, tuple[HoldsEvents, ...]] = {}
for _holder in HOLDERS:
    for _type in _holder.OPENED_BY:
        RELEASED_BY[_type] = (*RELEASED_BY.get(_type, ()), _holder)

BY_EVENT_TYPE: dict[str, tuple[Any, ...]] = {}
for _module in HANDLERS.values():
    for _type in _module.EVENT_TYPES:
        BY_EVENT_TYPE[_type] = (*BY_EVENT_TYPE.get(_type, ()), _module)


def _clocks(detector: Any) -> tuple[str, ...]:
    clock = detector.CLOCK
    return (clock,) if isinstance(clock, str) else tuple(clock)


#: Detector name -> the input topics whose stream time drives its deadlines (looked up once per deadline
#: on the hot path: a dict, made once).
DEADLINE_CLOCKS: dict[str, tuple[str, ...]] = {name: _clocks(module) for name, module in HANDLERS.items()}


def deadline_topics(name: str) -> tuple[str, ...]:
    """The input topics whose stream time drives the deadline ``<detector>|<key>``."""
    return DEADLINE_CLOCKS[name.partition("|")[0]]
