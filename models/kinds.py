"""The alert kinds: one registry (SPEC §3), each kind with its colour on the live page and in ``fairwatch report``.

Each detector module in ``models/detectors/`` declares its ``KIND``; this is the one list of them that the rest
reads (the page's and the report's colours, ``fairwatch evaluate``'s table, which kinds are one-off overcharges
in models.ledger, which one rolls up others in models.notifications). A new detector adds its kind here;
tests/unit/models/test_kinds.py fails until the two agree.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "Kind",
    "KINDS",
    "ALERT_KINDS",
    "KIND_COLOURS",
    "OVERCHARGE_KINDS",
    "ROLLUP_KIND",
    "OTHER_COLOUR",
    "colour",
    "alert_id_prefix",
    "kind_of_alert",
]


@dataclass(frozen=True, slots=True)
class Kind:
    """One alert kind and what the rest of the code reads about it."""

    #: ``data.kind``: ``<family>.<condition>`` (SPEC §3).
    name: str
    #: Its colour on the live page and in ``fairwatch report``.
    colour: str
    #: A one-off overcharge: money taken that was not owed (models.ledger counts it, ``per: once``, not ``info``).
    overcharge: bool = False
    #: Its evidence names the broken-promise alerts it rolls up (models.notifications: Alertmanager inhibits them).
    rolls_up: bool = False


#: Every kind, in the order ``fairwatch evaluate`` prints them.
KINDS: tuple[Kind, ...] = (
    Kind("overpaying.better_plan", "#2874a6"),
    Kind("overpaying.loyalty_penalty", "#e67e22"),
    Kind("overpaying.unused_subscription", "#27ae60"),
    Kind("promise.unannounced_price_rise", "#f1c40f", overcharge=True),
    Kind("promise.billed_after_cancellation", "#e84393", overcharge=True),
    Kind("overpaying.best_tariff_notice_due", "#8e44ad"),
    Kind("promise.late_delivery", "#c0392b"),
    Kind("promise.wrong_delivery", "#7b241c"),
    Kind("promise.billing_error", "#16a085", overcharge=True),
    Kind("promise.complaint_unresolved", "#00b8d4"),
    Kind("promise.urgent_order_refused", "#2c3e50"),
    Kind("relationship.unprofitable_service", "#7f8c8d"),
    Kind("relationship.repeated_broken_promises", "#6d4c41", rolls_up=True),
)
#: Kind -> colour, in the registry's order.
KIND_COLOURS: dict[str, str] = {kind.name: kind.colour for kind in KINDS}
ALERT_KINDS: tuple[str, ...] = tuple(KIND_COLOURS)
OVERCHARGE_KINDS: frozenset[str] = frozenset(kind.name for kind in KINDS if kind.overcharge)
(ROLLUP_KIND,) = (kind.name for kind in KINDS if kind.rolls_up)
#: A kind this build does not know (an alert topic written by a newer version): grey, not an error.
OTHER_COLOUR = "#95a5a6"


def colour(kind: str) -> str:
    return KIND_COLOURS.get(kind, OTHER_COLOUR)


def alert_id_prefix(kind: str) -> str:
    """What an alert id of ``kind`` starts with (models.alerts.alert_id_for): its last part, dashed."""
    return kind.rsplit(".", 1)[-1].replace("_", "-")


_KIND_OF_PREFIX: dict[str, str] = {alert_id_prefix(kind): kind for kind in ALERT_KINDS}


def kind_of_alert(alert_id: str) -> str:
    """The kind of an alert, read from its id (``<prefix>-<digest>``): state does not repeat it per alert."""
    return _KIND_OF_PREFIX[alert_id.rpartition("-")[0]]
