"""models.kinds, the one list of alert kinds: it and the detectors' declared kinds agree, each with its own colour."""

from __future__ import annotations

import re

from models.alerts import alert_id_for
from models.detectors import (
    DETECTORS,
    billed_after_cancellation,
    billing_error,
    repeated_broken_promises,
    unannounced_price_rise,
)
from models.kinds import (
    ALERT_KINDS,
    KIND_COLOURS,
    KINDS,
    OTHER_COLOUR,
    OVERCHARGE_KINDS,
    ROLLUP_KIND,
    colour,
    kind_of_alert,
)


def test_every_detector_kind_is_registered_and_nothing_else() -> None:
    declared = [module.KIND for module in DETECTORS.values()]
    assert len(declared) == len(set(declared))
    assert sorted(declared) == sorted(ALERT_KINDS)


def test_each_kind_has_its_own_colour_and_an_unknown_kind_is_grey() -> None:
    colours = list(KIND_COLOURS.values())
    assert all(re.fullmatch(r"#[0-9a-f]{6}", value) for value in colours)
    assert len(set(colours)) == len(colours) and OTHER_COLOUR not in colours
    assert colour("promise.late_delivery") == "#c0392b"
    assert colour("promise.some_future_kind") == OTHER_COLOUR


def test_every_kind_is_read_back_from_its_alert_ids() -> None:
    for kind in ALERT_KINDS:
        assert kind_of_alert(alert_id_for(kind, "c-1", "o-1|x-y")) == kind


def test_the_flags_on_the_registry_name_the_overcharges_and_the_rollup() -> None:
    # What the ledger counts as one-off overcharges, and what Alertmanager inhibits the rolled-up alerts by.
    assert {
        unannounced_price_rise.KIND,
        billed_after_cancellation.KIND,
        billing_error.KIND,
    } == OVERCHARGE_KINDS
    assert ROLLUP_KIND == repeated_broken_promises.KIND
    assert [kind.name for kind in KINDS] == list(ALERT_KINDS) == list(KIND_COLOURS)
