"""The alert kinds: one registry (SPEC §3), each kind with its colour on the live page and in ``fairwatch report``.

Each detector module in ``models/detectors/`` declares its ``KIND``; this is the one list of them that the rest
reads (the page's and the report's colours, ``fairwatch evaluate``'s table). A new detector adds its kind here;
tests/unit/models/test_kinds.py fails until the two agree.
"""

from __future__ import annotations

__all__ = ["ALERT_KINDS", "KIND_COLOURS", "OTHER_COLOUR", "colour", "alert_id_prefix", "kind_of_alert"]

#: Kind -> colour, in the order ``fairwatch evaluate`` prints them.
KIND_COLOURS: dict[str, str] = {
    "overpaying.better_plan": "#2874a6",
    "overpaying.loyalty_penalty": "#e67e22",
    "overpaying.unused_subscription": "#27ae60",
    "promise.unannounced_price_rise": "#f1c40f",
    "promise.billed_after_cancellation": "#e84393",
    "overpaying.best_tariff_notice_due": "#8e44ad",
    "promise.late_delivery": "#c0392b",
    "promise.wrong_delivery": "#7b241c",
    "promise.billing_error": "#16a085",
    "promise.complaint_unresolved": "#00b8d4",
    "promise.urgent_order_refused": "#2c3e50",
    "relationship.unprofitable_service": "#7f8c8d",
    "relationship.repeated_broken_promises": "#6d4c41",
}
ALERT_KINDS: tuple[str, ...] = tuple(KIND_COLOURS)
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
