"""Every detector module declares the whole models.detectors.Detector interface: nothing is left to a default."""

from __future__ import annotations

import inspect
from types import ModuleType

import pytest

from models.detectors import DETECTORS, Detector
from models.events import INPUT_TOPICS, TOPIC_OF_TYPE

MODULES = sorted(DETECTORS.values(), key=lambda module: module.NAME)


@pytest.mark.parametrize("module", MODULES, ids=lambda module: module.NAME)
def test_the_module_declares_every_name_of_the_interface(module: ModuleType) -> None:
    declared = set(vars(module))
    assert set(Detector.__annotations__) <= declared, set(Detector.__annotations__) - declared
    assert isinstance(module, Detector)
    assert module.__name__ == f"models.detectors.{module.NAME}"
    assert isinstance(module.NEEDS_CATALOG, bool)
    assert isinstance(module.EVENT_TYPES, frozenset) and module.EVENT_TYPES.issubset(TOPIC_OF_TYPE)
    clocks = (module.CLOCK,) if isinstance(module.CLOCK, str) else module.CLOCK
    assert clocks and set(clocks) <= set(INPUT_TOPICS)


@pytest.mark.parametrize("module", MODULES, ids=lambda module: module.NAME)
def test_a_detector_takes_the_catalog_exactly_when_it_says_it_needs_it(module: ModuleType) -> None:
    extra = 1 if module.NEEDS_CATALOG else 0
    assert len(inspect.signature(module.on_event).parameters) == 3 + extra
    assert len(inspect.signature(module.on_deadline).parameters) == 4 + extra


def test_a_module_missing_a_name_does_not_pass_for_a_detector() -> None:
    partial = ModuleType("models.detectors.partial")
    partial.NAME, partial.KIND, partial.CLOCK, partial.EVENT_TYPES = "partial", "promise.x", "orders", frozenset()
    partial.on_event = partial.on_deadline = lambda *args: []
    assert not isinstance(partial, Detector)  # NEEDS_CATALOG is missing
    partial.NEEDS_CATALOG = False
    assert isinstance(partial, Detector)
