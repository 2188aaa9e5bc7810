"""The detectors: one pure module each (SPEC §3).

A detector module exposes ``NAME`` (its deadline prefix), ``EVENT_TYPES`` (the
events it looks at), ``on_event(state, event, policy)`` and
``on_deadline(state, key, now, policy)``. Both update the customer's state in
place (the dict passed in becomes the new state) and return the alert changes;
neither does I/O or reads a clock: ``now`` is stream time.

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

from types import ModuleType

from models import feedback
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

__all__ = ["DETECTORS", "BY_EVENT_TYPE", "DEADLINE_CLOCKS", "deadline_topics"]

DETECTORS: dict[str, ModuleType] = {
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
        # Not a detector: the CRM's answers, applied and timed the same way (models.feedback).
        feedback,
    )
}

BY_EVENT_TYPE: dict[str, tuple[ModuleType, ...]] = {}
for _module in DETECTORS.values():
    for _type in _module.EVENT_TYPES:
        BY_EVENT_TYPE[_type] = (*BY_EVENT_TYPE.get(_type, ()), _module)


def _clocks(module: ModuleType) -> tuple[str, ...]:
    clock = getattr(module, "CLOCK", "billing")
    return (clock,) if isinstance(clock, str) else tuple(clock)


#: Detector name -> the input topics whose stream time drives its deadlines (looked up once per deadline
#: on the hot path: a dict, not a getattr).
DEADLINE_CLOCKS: dict[str, tuple[str, ...]] = {name: _clocks(module) for name, module in DETECTORS.items()}


def deadline_topics(name: str) -> tuple[str, ...]:
    """The input topics whose stream time drives the deadline ``<detector>|<key>``."""
    return DEADLINE_CLOCKS[name.partition("|")[0]]
