"""Every detector module declares the whole models.detectors.Detector interface: nothing is left to a default."""

from __future__ import annotations

import inspect
from types import ModuleType

import pytest

from models import engine
from models.alerts import AlertChange
from models.detectors import (
    ALERT_WATCHERS,
    DETECTORS,
    HANDLERS,
    HOLDERS,
    RELEASED_BY,
    Detector,
    HoldsEvents,
    WatchesAlerts,
)
from models.events import INPUT_TOPICS, TOPIC_OF_TYPE
from models.policy import Policy
from models.state import new_state

from ...factories import T0, make_event, make_order_placed

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


def test_every_handler_with_an_alert_hook_or_held_events_is_registered_for_them() -> None:
    # A hook the registry misses would never run: the engine calls only the registered ones.
    assert {module.__name__ for module in HANDLERS.values() if hasattr(module, "on_alerts")} == {
        module.__name__ for module in ALERT_WATCHERS
    }
    assert {module.__name__ for module in HANDLERS.values() if hasattr(module, "held_key")} == {
        module.__name__ for module in HOLDERS
    }


@pytest.mark.parametrize("module", ALERT_WATCHERS, ids=lambda module: module.__name__)
def test_an_alert_watcher_declares_its_hook(module: ModuleType) -> None:
    assert isinstance(module, WatchesAlerts)
    assert list(inspect.signature(module.on_alerts).parameters) == ["state", "changes", "policy"]


@pytest.mark.parametrize("module", HOLDERS, ids=lambda module: module.__name__)
def test_a_holder_is_opened_by_events_it_listens_to(module: ModuleType) -> None:
    assert isinstance(module, HoldsEvents) and isinstance(module.OPENED_BY, frozenset)
    assert module.OPENED_BY and module.OPENED_BY <= module.EVENT_TYPES
    assert all(module in RELEASED_BY[event_type] for event_type in module.OPENED_BY)


def test_a_module_without_the_hook_does_not_pass_for_a_watcher_or_a_holder() -> None:
    bare = ModuleType("models.detectors.bare")
    assert not isinstance(bare, WatchesAlerts) and not isinstance(bare, HoldsEvents)
    bare.OPENED_BY = frozenset({"complaint.opened"})
    assert not isinstance(bare, HoldsEvents)  # held_key is missing


def test_the_engine_runs_every_registered_watcher_on_a_steps_changes_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[str, list[str]]] = []

    def watcher(name: str, adds: list[AlertChange]) -> ModuleType:
        module = ModuleType(name)

        def on_alerts(state: dict, changes: list[AlertChange], policy: Policy) -> list[AlertChange]:
            seen.append((name, [change.kind for change in changes]))
            return adds

        module.on_alerts = on_alerts
        return module

    extra = AlertChange("raised", "a-x", 1, "relationship.test", "c-000123", T0, "info", "s", 0, "once", (), "")
    monkeypatch.setattr(engine, "ALERT_WATCHERS", (watcher("first", [extra]), watcher("second", [])))
    policy = Policy()
    state = new_state("c-000123", 0)
    urgent_refused = make_event(
        "order.cancelled", {"order_id": "o-1", "by": "company", "reason": "out of stock"}, at=T0 + 60_000
    )
    engine.apply_event(state, make_order_placed(urgent=True), policy)
    assert seen == []  # no alert change: no watcher called
    changes = engine.apply_event(state, urgent_refused, policy)
    assert seen == [
        ("first", ["promise.urgent_order_refused"]),
        ("second", ["promise.urgent_order_refused", "relationship.test"]),
    ]
    assert changes[-1] is extra
