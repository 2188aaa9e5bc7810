"""models.engine: one event or the passing of stream time, applied to one customer."""

from __future__ import annotations

from typing import Any

import pytest

from models import detectors
from models.engine import advance_to, apply_event
from models.policy import Policy

from ..factories import DAY, HOUR, T0, make_delivered, make_event, make_order_placed, replay


def test_apply_event_tracks_newest_event_time(state: dict[str, Any], policy: Policy) -> None:
    apply_event(state, make_order_placed("o-1", at=T0 + HOUR), policy)
    apply_event(state, make_order_placed("o-2", at=T0), policy)  # older: last stays
    assert state["last"] == T0 + HOUR


def test_events_without_detectors_change_no_orders(state: dict[str, Any], policy: Policy) -> None:
    event = make_event("usage.recorded", {"subscription_id": "s-1", "period": "2026-10", "units": 3})
    assert apply_event(state, event, policy) == []
    assert (state["orders"], state["deadlines"], state["last"]) == ({}, {}, T0)


def test_advance_fires_deadlines_in_time_order_only_once() -> None:
    history = [
        make_order_placed("o-late", at=T0, due=T0 + 2 * DAY),
        make_order_placed("o-early", at=T0, due=T0 + DAY),
    ]
    policy = Policy(at_risk_hours=0)
    changes, state = replay(history, policy)
    fired = advance_to(state, T0 + 2 * DAY, policy)
    assert [(c.details["order_id"], c.at) for c in fired] == [("o-early", T0 + DAY), ("o-late", T0 + 2 * DAY)]
    assert advance_to(state, T0 + 2 * DAY, policy) == []
    assert changes == []


def test_retention_follows_the_slowest_input_topic() -> None:
    """A topic far ahead (read faster, or ticked to the wall clock) must not forget what a lagging one refers to."""
    policy = Policy(order_retention_days=1)
    history = [make_order_placed("o-1", at=T0, due=T0 + DAY), make_delivered("o-1", at=T0 + HOUR)]
    _, state = replay(history, policy)
    ahead = T0 + 200 * DAY
    advance_to(state, {"orders": ahead, "billing": T0 + 2 * HOUR, "complaints": ahead}, policy)
    assert "o-1" in state["orders"]  # billing may still invoice it
    advance_to(state, {"orders": ahead, "complaints": ahead}, policy)  # billing not read at all yet
    assert "o-1" in state["orders"]
    advance_to(state, {"orders": ahead, "billing": ahead, "complaints": ahead}, policy)
    assert "o-1" not in state["orders"]


def test_advance_prunes_old_closed_orders_and_alerts() -> None:
    policy = Policy(order_retention_days=1, alert_retention_days=2)
    history = [make_order_placed("o-1", at=T0, due=T0 + HOUR), make_delivered("o-1", at=T0 + 2 * HOUR)]
    _, state = replay(history, policy)
    assert "o-1" in state["orders"]
    assert advance_to(state, T0 + 2 * HOUR + DAY + 1, policy) == []
    assert state["orders"] == {}
    # The late alert (never resolved) is kept until it had no emission for the alert retention.
    assert [record["o"] for record in state["alerts"].values()] == [True]
    assert advance_to(state, T0 + 2 * HOUR + 2 * DAY + 1, policy) == []
    assert state["alerts"] == {}


class _Recorder:
    """A handler whose firings change other deadlines, as detectors do when they re-schedule."""

    NEEDS_CATALOG = False

    def __init__(self, effects: dict[str, dict[str, int | None]]) -> None:
        self.effects = effects  # key fired -> {deadline name: new due, or None to clear}
        self.fired: list[tuple[str, int]] = []

    def on_deadline(self, state: dict[str, Any], key: str, now: int, policy: Policy) -> list[Any]:
        self.fired.append((key, now))
        for name, due in self.effects.get(key, {}).items():
            if due is None:
                state["deadlines"].pop(name, None)
            else:
                state["deadlines"][name] = due
        return []


def test_advance_fires_what_a_firing_sets_in_time_order_and_skips_what_it_moves_or_clears(
    monkeypatch: pytest.MonkeyPatch, state: dict[str, Any], policy: Policy
) -> None:
    recorder = _Recorder(
        {
            # Sets one due before everything left, one due between, and moves one past ``now``.
            "a": {"fake|e": 5, "fake|d": 30, "fake|c": 150},
            "e": {"fake|b": None},  # clears one that was due
        }
    )
    monkeypatch.setitem(detectors.HANDLERS, "fake", recorder)
    monkeypatch.setitem(detectors.DEADLINE_CLOCKS, "fake", ("orders",))
    state["deadlines"] = {"fake|a": 10, "fake|b": 50, "fake|c": 60, "fake|z": 200}
    assert advance_to(state, 100, policy) == []
    assert recorder.fired == [("a", 10), ("e", 5), ("d", 30)]
    assert state["deadlines"] == {"fake|c": 150, "fake|z": 200}


def test_advance_by_topic_waits_for_every_topic_that_drives_a_deadline(
    monkeypatch: pytest.MonkeyPatch, state: dict[str, Any], policy: Policy
) -> None:
    recorder = _Recorder({})
    monkeypatch.setitem(detectors.HANDLERS, "fake", recorder)
    monkeypatch.setitem(detectors.DEADLINE_CLOCKS, "fake", ("orders", "billing"))
    monkeypatch.setitem(detectors.HANDLERS, "solo", recorder)
    monkeypatch.setitem(detectors.DEADLINE_CLOCKS, "solo", ("orders",))
    state["deadlines"] = {"fake|a": 10, "fake|b": 40, "solo|c": 20}
    advance_to(state, {"orders": 100}, policy)  # billing not heard from: only orders' own deadline fires
    assert recorder.fired == [("c", 20)]
    advance_to(state, {"orders": 100, "billing": 30}, policy)
    assert recorder.fired == [("c", 20), ("a", 10)]
    assert state["deadlines"] == {"fake|b": 40}
