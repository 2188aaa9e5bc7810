"""relationship.repeated_broken_promises (SPEC §3.13): tables of history -> alerts, through models.engine.

The pattern is made of other detectors' alerts: an urgent order cancelled by the
company (promise.urgent_order_refused, raised at the cancellation) is the
broken promise these tables place at a chosen time.
"""

from __future__ import annotations

from typing import Any

import pytest

from models.alerts import AlertChange, alert_id_for
from models.detectors import repeated_broken_promises
from models.policy import Policy

from ...factories import (
    CUSTOMER,
    DAY,
    HOUR,
    T0,
    AdvanceTo,
    make_cancelled,
    make_complaint_opened,
    make_delivered,
    make_order_placed,
    replay_judged,
)


def replay(history: list[Any], policy: Policy | None = None, state: dict[str, Any] | None = None) -> Any:
    """The pattern is judged as of a moment once every topic has passed it."""
    return replay_judged(history, policy, state)


KIND = "relationship.repeated_broken_promises"
ALERT_ID = alert_id_for(KIND, CUSTOMER, "pattern")
WINDOW = 90 * DAY  # Policy().repeated_promises_days


def refused(order_id: str, at: int) -> list[Any]:
    """An urgent order cancelled by the company at ``at``: one broken promise."""
    return [
        make_order_placed(order_id, at=at - HOUR, due=at + 2 * DAY, urgent=True),
        make_cancelled(order_id, by="company", at=at),
    ]


def refusals(*times: int) -> list[Any]:
    return [step for number, moment in enumerate(times, 1) for step in refused(f"u-{number}", moment)]


def refusal_id(number: int) -> str:
    return alert_id_for("promise.urgent_order_refused", CUSTOMER, f"u-{number}")


def summary(changes: list[AlertChange]) -> list[tuple[str, int, int | None, int]]:
    """(lifecycle, revision, count, at) of the pattern's emissions."""
    return [(c.lifecycle, c.revision, c.details.get("count"), c.at) for c in changes if c.kind == KIND]


def late_order(order_id: str, due: int) -> Any:
    """An order placed 3 days before ``due`` that nobody delivers (its at-risk point is due - 24 h)."""
    return make_order_placed(order_id, at=due - 3 * DAY, due=due)


HISTORIES = [
    pytest.param(refusals(T0, T0 + 10 * DAY), [], id="two-in-90-days"),
    pytest.param(
        refusals(T0, T0 + 10 * DAY, T0 + 20 * DAY),
        [("raised", 1, 3, T0 + 20 * DAY)],
        id="three-in-90-days",
    ),
    pytest.param(
        refusals(T0, T0 + 10 * DAY, T0 + 20 * DAY, T0 + 30 * DAY),
        [("raised", 1, 3, T0 + 20 * DAY), ("updated", 2, 4, T0 + 30 * DAY)],
        id="fourth-updates",
    ),
    pytest.param(
        refusals(T0, T0 + DAY, T0 + WINDOW - 1),
        [("raised", 1, 3, T0 + WINDOW - 1)],
        id="third-1ms-inside-the-window",
    ),
    pytest.param(refusals(T0, T0 + DAY, T0 + WINDOW), [], id="third-at-oldest-plus-90-days"),
    pytest.param(refusals(T0, T0 + 91 * DAY, T0 + 182 * DAY, T0 + 273 * DAY), [], id="more-than-90-days-apart-never"),
    pytest.param(
        [*refusals(T0, T0 + 10 * DAY, T0 + 20 * DAY), AdvanceTo(T0 + WINDOW - 1)],
        [("raised", 1, 3, T0 + 20 * DAY)],
        id="1ms-before-the-oldest-expires",
    ),
    pytest.param(
        [*refusals(T0, T0 + 10 * DAY, T0 + 20 * DAY), AdvanceTo(T0 + WINDOW)],
        [("raised", 1, 3, T0 + 20 * DAY), ("resolved", 2, None, T0 + WINDOW)],
        id="resolves-when-the-oldest-expires",
    ),
    pytest.param(
        [*refusals(T0, T0 + 10 * DAY, T0 + 20 * DAY, T0 + 30 * DAY), AdvanceTo(T0 + 10 * DAY + WINDOW)],
        [
            ("raised", 1, 3, T0 + 20 * DAY),
            ("updated", 2, 4, T0 + 30 * DAY),
            ("updated", 3, 3, T0 + WINDOW),
            ("resolved", 4, None, T0 + 10 * DAY + WINDOW),
        ],
        id="shrinks-then-resolves",
    ),
    pytest.param(
        [
            *refusals(T0, T0 + DAY, T0 + 2 * DAY),
            AdvanceTo(T0 + WINDOW),
            *refused("v-1", T0 + 100 * DAY),
            *refused("v-2", T0 + 101 * DAY),
            *refused("v-3", T0 + 102 * DAY),
        ],
        [("raised", 1, 3, T0 + 2 * DAY), ("resolved", 2, None, T0 + WINDOW), ("raised", 3, 3, T0 + 102 * DAY)],
        id="comes-back-with-next-revision",
    ),
    # --- what counts -----------------------------------------------------------------
    pytest.param(
        [*refusals(T0, T0 + DAY), late_order("o-1", T0 + 5 * DAY), AdvanceTo(T0 + 4 * DAY)],
        [],
        id="at-risk-does-not-count",
    ),
    pytest.param(
        [*refusals(T0, T0 + DAY), late_order("o-1", T0 + 5 * DAY), AdvanceTo(T0 + 5 * DAY)],
        [("raised", 1, 3, T0 + 5 * DAY)],
        id="at-risk-counts-once-it-is-late",
    ),
    pytest.param(
        [
            *refusals(T0, T0 + DAY),
            late_order("o-1", T0 + 5 * DAY),
            AdvanceTo(T0 + 4 * DAY),
            make_delivered("o-1", at=T0 + 4 * DAY + HOUR),
            AdvanceTo(T0 + 30 * DAY),
        ],
        [],
        id="at-risk-then-delivered-in-time-does-not-count",
    ),
    pytest.param(
        [
            *refusals(T0),
            late_order("o-1", T0 + 5 * DAY),
            AdvanceTo(T0 + 5 * DAY),
            make_delivered("o-1", at=T0 + 9 * DAY),
        ],
        [],
        id="same-alert-updated-counts-once",
    ),
    pytest.param(
        [*refusals(T0), make_complaint_opened("cp-1", at=T0 + HOUR), AdvanceTo(T0 + 60 * DAY)],
        [],
        id="complaint-raised-updated-critical-counts-once",
    ),
    pytest.param(
        [*refusals(T0, T0 + DAY), make_complaint_opened("cp-1", at=T0 + 2 * DAY), AdvanceTo(T0 + 4 * DAY)],
        [("raised", 1, 3, T0 + 4 * DAY)],
        id="any-broken-promise-kind-counts",
    ),
    pytest.param(
        [*refused("u-1", T0), make_cancelled("u-1", by="company", at=T0 + HOUR), *refused("u-2", T0 + DAY)],
        [],
        id="same-refusal-reported-twice-counts-once",
    ),
]


@pytest.mark.parametrize(("history", "expected"), HISTORIES)
def test_repeated_broken_promises(history: list[Any], expected: list[tuple[str, int, int | None, int]]) -> None:
    changes, _ = replay(history)
    assert summary(changes) == expected
    assert {c.alert_id for c in changes if c.kind == KIND} <= {ALERT_ID}
    assert {c.severity for c in changes if c.kind == KIND} <= {"critical"}


def test_evidence_is_the_three_alert_ids() -> None:
    changes, _ = replay(refusals(T0, T0 + 10 * DAY, T0 + 20 * DAY))
    [pattern] = [c for c in changes if c.kind == KIND]
    assert pattern.evidence == (refusal_id(1), refusal_id(2), refusal_id(3))
    assert (pattern.severity, pattern.amount, pattern.per) == ("critical", 0, "once")
    assert pattern.summary == "We have broken 3 promises to this customer in the last 90 days."
    assert pattern.suggested_action.startswith("Escalate")
    assert pattern.details == {
        "count": 3,
        "kinds": ["promise.urgent_order_refused"],
        "since": "2026-11-22T10:00:00Z",
        "window_days": 90.0,
    }


def test_update_lists_every_alert_and_kind() -> None:
    history = [*refusals(T0, T0 + DAY, T0 + 2 * DAY), make_complaint_opened("cp-1", at=T0 + 2 * DAY)]
    changes, _ = replay([*history, AdvanceTo(T0 + 4 * DAY)])
    updated = [c for c in changes if c.kind == KIND][-1]
    assert updated.lifecycle == "updated"
    assert updated.evidence == (
        refusal_id(1),
        refusal_id(2),
        refusal_id(3),
        alert_id_for("promise.complaint_unresolved", CUSTOMER, "cp-1"),
    )
    assert updated.details["kinds"] == ["promise.complaint_unresolved", "promise.urgent_order_refused"]


def test_deadline_at_the_oldest_expiry() -> None:
    _, state = replay(refusals(T0, T0 + 10 * DAY))
    assert state["deadlines"]["repeated_broken_promises|pattern"] == T0 + WINDOW
    _, state = replay([AdvanceTo(T0 + WINDOW)], state=state)
    assert state["deadlines"]["repeated_broken_promises|pattern"] == T0 + 10 * DAY + WINDOW
    assert [entry[1] for entry in state["broken"]] == [refusal_id(2)]
    _, state = replay([AdvanceTo(T0 + 10 * DAY + WINDOW)], state=state)
    assert "repeated_broken_promises|pattern" not in state["deadlines"]
    assert state["broken"] == []


def test_thresholds_follow_policy() -> None:
    policy = Policy(repeated_promises_count=2, repeated_promises_days=10)
    changes, _ = replay(refusals(T0, T0 + 10 * DAY), policy)
    assert summary(changes) == []
    changes, _ = replay([*refusals(T0, T0 + 10 * DAY - 1), AdvanceTo(T0 + 10 * DAY)], policy)
    assert summary(changes) == [("raised", 1, 2, T0 + 10 * DAY - 1), ("resolved", 2, None, T0 + 10 * DAY)]


def test_on_alerts_ignores_its_own_and_other_relationship_alerts(state: dict[str, Any], policy: Policy) -> None:
    changes, state = replay(refusals(T0, T0 + DAY, T0 + 2 * DAY), state=state)
    pattern = [c for c in changes if c.kind == KIND]
    assert repeated_broken_promises.on_alerts(state, pattern, policy) == []
    assert len(state["broken"]) == 3


def test_one_long_time_step_gives_the_same_pattern() -> None:
    orders = [late_order(f"o-{n}", T0 + days * DAY) for n, days in enumerate([3, 10, 20, 150], 1)]
    stepwise, _ = replay([*orders, AdvanceTo(T0 + 20 * DAY), AdvanceTo(T0 + 150 * DAY)], Policy(at_risk_hours=0))
    at_once, _ = replay([*orders, AdvanceTo(T0 + 150 * DAY)], Policy(at_risk_hours=0))
    assert summary(stepwise) == [("raised", 1, 3, T0 + 20 * DAY), ("resolved", 2, None, T0 + 3 * DAY + WINDOW)]
    assert summary(at_once) == summary(stepwise)


def test_module_contract(state: dict[str, Any], policy: Policy) -> None:
    assert repeated_broken_promises.NAME == "repeated_broken_promises"
    assert repeated_broken_promises.KIND == KIND
    assert frozenset() == repeated_broken_promises.EVENT_TYPES
    assert repeated_broken_promises.on_event(state, refused("u-1", T0)[0], policy) == []
