"""models.engine with the plan catalog: subscription bookkeeping, and the catalog for the detectors that need it."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from models import engine
from models.engine import advance_to, apply_event
from models.policy import Policy
from models.state import new_state

from ..factories import CUSTOMER, T0
from ..subscription_factories import catalog_of, make_started, make_usage, plan_doc


def test_billing_events_update_subscription_facts_before_the_detectors_judge() -> None:
    state = new_state(CUSTOMER, 0)
    apply_event(state, make_started(plan="p-1", fee="10.00"), Policy())
    apply_event(state, make_usage("2026-10", 3), Policy())
    sub = state["subs"]["s-1"]
    assert (sub["plan"], sub["fee"], sub["usage"]["2026-10"][0]) == ("p-1", 10_000_000, 3)


def test_a_state_written_before_subscriptions_existed_gets_them_on_first_use() -> None:
    state = new_state(CUSTOMER, 0)
    del state["subs"]
    apply_event(state, make_started(), Policy())
    assert "s-1" in state["subs"]


def test_existing_callers_without_a_catalog_keep_working() -> None:
    state = new_state(CUSTOMER, 0)
    assert apply_event(state, make_started(), Policy()) == []
    # The yearly best-tariff notice (no catalog needed) still falls due by stream time.
    assert [c.kind for c in advance_to(state, T0, Policy())] == ["overpaying.best_tariff_notice_due"]


@pytest.mark.parametrize("catalog", [None, {}, catalog_of(plan_doc("p-small"))])
def test_the_catalog_goes_only_to_detectors_that_declare_they_need_it(
    monkeypatch: pytest.MonkeyPatch, catalog: Any
) -> None:
    seen: dict[str, tuple] = {}

    def detector(name: str, needs: bool) -> SimpleNamespace:
        def on_event(state: dict, event: Any, policy: Policy, *rest: Any) -> list:
            seen[name] = rest
            return []

        return SimpleNamespace(NAME=name, NEEDS_CATALOG=needs, on_event=on_event)

    plain, judging = detector("plain", False), detector("judging", True)
    monkeypatch.setitem(engine.BY_EVENT_TYPE, "usage.recorded", (plain, judging))
    apply_event(new_state(CUSTOMER, 0), make_usage("2026-10", 1), Policy(), catalog=catalog)
    assert seen["plain"] == ()
    assert seen["judging"] == ((catalog if catalog is not None else {}),)
