"""promise.complaint_unresolved (SPEC §3.10): tables of history -> alerts, through models.engine."""

from __future__ import annotations

from typing import Any

import pytest

from models.alerts import AlertChange, alert_id_for
from models.detectors import complaint_unresolved
from models.events import Event
from models.policy import Policy

from ...factories import (
    CUSTOMER,
    DAY,
    HOUR,
    T0,
    AdvanceTo,
    make_complaint_acknowledged,
    make_complaint_opened,
    make_complaint_resolved,
    replay,
)

KIND = "promise.complaint_unresolved"
ALERT_ID = alert_id_for(KIND, CUSTOMER, "cp-1")
ACK_BY = T0 + 48 * HOUR  # Policy().complaint_ack_hours
DUE_NORMAL = T0 + 14 * DAY  # Policy().complaint_resolve_days_normal
CRITICAL = T0 + 56 * DAY  # Policy().complaint_critical_days


def opened(**kwargs: Any) -> Event:
    return make_complaint_opened("cp-1", at=T0, **kwargs)


def acked(at: int = T0 + HOUR) -> Event:
    return make_complaint_acknowledged("cp-1", at=at)


def resolved(at: int, **kwargs: Any) -> Event:
    return make_complaint_resolved("cp-1", at=at, **kwargs)


def summary(changes: list[AlertChange]) -> list[tuple[str, int, str, str | None, int]]:
    """(lifecycle, revision, severity, breach, at) per emission of this detector."""
    return [(c.lifecycle, c.revision, c.severity, c.details.get("breach"), c.at) for c in changes if c.kind == KIND]


HISTORIES = [
    # --- acknowledgement within 48 hours ---------------------------------------
    pytest.param([opened(), AdvanceTo(ACK_BY - 1)], [], id="ack-deadline-1ms-before"),
    pytest.param(
        [opened(), AdvanceTo(ACK_BY)],
        [("raised", 1, "warning", "not_acknowledged", ACK_BY)],
        id="ack-deadline-at-48h",
    ),
    pytest.param(
        [opened(), AdvanceTo(ACK_BY + 5 * HOUR)],
        [("raised", 1, "warning", "not_acknowledged", ACK_BY)],
        id="ack-deadline-fires-at-its-own-time",
    ),
    pytest.param([opened(), acked(), AdvanceTo(DUE_NORMAL - 1)], [], id="acknowledged-in-time"),
    pytest.param([opened(), acked(ACK_BY - 1), AdvanceTo(DUE_NORMAL - 1)], [], id="acknowledged-1ms-before"),
    pytest.param(
        [opened(), AdvanceTo(ACK_BY), acked(ACK_BY + HOUR), AdvanceTo(DUE_NORMAL - 1)],
        [("raised", 1, "warning", "not_acknowledged", ACK_BY)],
        id="late-acknowledgement-does-not-resolve",
    ),
    pytest.param(
        [opened(), acked(), acked(T0 + 2 * HOUR), AdvanceTo(DUE_NORMAL - 1)],
        [],
        id="acknowledged-twice",
    ),
    # --- resolution by resolve_by ---------------------------------------------------
    pytest.param([opened(), acked(), AdvanceTo(DUE_NORMAL - 1)], [], id="normal-1ms-before-14-days"),
    pytest.param(
        [opened(), acked(), AdvanceTo(DUE_NORMAL)],
        [("raised", 1, "warning", "past_resolve_by", DUE_NORMAL)],
        id="normal-at-14-days",
    ),
    pytest.param(
        [opened(resolve_by=T0 + 5 * DAY), acked(), AdvanceTo(T0 + 5 * DAY - 1)],
        [],
        id="explicit-resolve-by-1ms-before",
    ),
    pytest.param(
        [opened(resolve_by=T0 + 5 * DAY), acked(), AdvanceTo(T0 + 5 * DAY)],
        [("raised", 1, "warning", "past_resolve_by", T0 + 5 * DAY)],
        id="explicit-resolve-by-at",
    ),
    pytest.param(
        [opened(severity="low", resolve_by=T0 + 5 * DAY), acked(), AdvanceTo(T0 + 5 * DAY)],
        [("raised", 1, "warning", "past_resolve_by", T0 + 5 * DAY)],
        id="explicit-resolve-by-beats-severity",
    ),
    pytest.param(
        [opened(), acked(), resolved(DUE_NORMAL - 1), AdvanceTo(CRITICAL + DAY)],
        [],
        id="resolved-1ms-before-resolve-by",
    ),
    pytest.param(
        [opened(), acked(), resolved(DUE_NORMAL), AdvanceTo(CRITICAL + DAY)],
        [],
        id="resolved-at-resolve-by-before-time-passed-it",
    ),
    # --- the whole life ---------------------------------------------------------------
    pytest.param(
        [opened(), AdvanceTo(ACK_BY), AdvanceTo(DUE_NORMAL), AdvanceTo(CRITICAL), resolved(CRITICAL + DAY)],
        [
            ("raised", 1, "warning", "not_acknowledged", ACK_BY),
            ("updated", 2, "warning", "past_resolve_by", DUE_NORMAL),
            ("updated", 3, "critical", "open_8_weeks", CRITICAL),
            ("resolved", 4, "critical", None, CRITICAL + DAY),
        ],
        id="raised-updated-critical-resolved",
    ),
    pytest.param(
        [opened(), AdvanceTo(CRITICAL + DAY), resolved(CRITICAL + 2 * DAY)],
        [
            ("raised", 1, "warning", "not_acknowledged", ACK_BY),
            ("updated", 2, "warning", "past_resolve_by", DUE_NORMAL),
            ("updated", 3, "critical", "open_8_weeks", CRITICAL),
            ("resolved", 4, "critical", None, CRITICAL + 2 * DAY),
        ],
        id="one-time-step-fires-every-deadline-in-order",
    ),
    pytest.param(
        [opened(), acked(), AdvanceTo(CRITICAL - 1)],
        [("raised", 1, "warning", "past_resolve_by", DUE_NORMAL)],
        id="1ms-before-8-weeks",
    ),
    pytest.param(
        [opened(), acked(), AdvanceTo(CRITICAL)],
        [
            ("raised", 1, "warning", "past_resolve_by", DUE_NORMAL),
            ("updated", 2, "critical", "open_8_weeks", CRITICAL),
        ],
        id="critical-at-8-weeks",
    ),
    pytest.param(
        [opened(), acked(), AdvanceTo(DUE_NORMAL), resolved(DUE_NORMAL + DAY), resolved(DUE_NORMAL + 2 * DAY)],
        [
            ("raised", 1, "warning", "past_resolve_by", DUE_NORMAL),
            ("resolved", 2, "warning", None, DUE_NORMAL + DAY),
        ],
        id="resolved-once",
    ),
    pytest.param(
        [opened(), resolved(T0 + HOUR), AdvanceTo(CRITICAL + 100 * DAY)],
        [],
        id="resolved-before-any-deadline-no-alert",
    ),
    # --- what changes nothing -------------------------------------------------------------
    pytest.param(
        [
            opened(),
            make_complaint_opened("cp-1", severity="high", at=T0 + HOUR),
            acked(),
            AdvanceTo(DUE_NORMAL - 1),
        ],
        [],
        id="second-opened-same-id-changes-nothing",
    ),
    pytest.param(
        [opened(), resolved(T0 + HOUR), make_complaint_opened("cp-1", at=T0 + 2 * HOUR), AdvanceTo(CRITICAL + DAY)],
        [],
        id="opened-again-after-resolution-does-not-rearm",
    ),
    pytest.param(
        [
            make_complaint_acknowledged("cp-9", at=T0),
            make_complaint_resolved("cp-9", at=T0 + HOUR),
            AdvanceTo(CRITICAL + DAY),
        ],
        [],
        id="unknown-complaint",
    ),
]


@pytest.mark.parametrize(("history", "expected"), HISTORIES)
def test_complaint_unresolved(history: list[Any], expected: list[tuple[str, int, str, str | None, int]]) -> None:
    changes, _ = replay(history)
    assert summary(changes) == expected
    assert {c.alert_id for c in changes if c.kind == KIND} <= {ALERT_ID}
    assert [c.lifecycle for c in changes].count("raised") <= 1


@pytest.mark.parametrize(
    ("severity", "days"),
    [
        pytest.param("high", 3, id="high-3-days"),
        pytest.param("normal", 14, id="normal-14-days"),
        pytest.param("low", 30, id="low-30-days"),
    ],
)
def test_resolve_by_default_per_severity(severity: str, days: int) -> None:
    due = T0 + days * DAY
    changes, _ = replay([opened(severity=severity), acked(), AdvanceTo(due - 1)])
    assert summary(changes) == []
    changes, state = replay([opened(severity=severity), acked(), AdvanceTo(due)])
    assert summary(changes) == [("raised", 1, "warning", "past_resolve_by", due)]
    assert state["complaints"]["cp-1"]["by"] == due
    assert complaint_unresolved.resolve_by_default(T0, severity, Policy()) == due


def test_resolve_by_default_follows_policy() -> None:
    policy = Policy(complaint_resolve_days_high=1, complaint_resolve_days_normal=2.5, complaint_resolve_days_low=7)
    assert complaint_unresolved.resolve_by_default(T0, "high", policy) == T0 + DAY
    assert complaint_unresolved.resolve_by_default(T0, "normal", policy) == T0 + 60 * HOUR
    assert complaint_unresolved.resolve_by_default(T0, "low", policy) == T0 + 7 * DAY


def test_ack_and_critical_follow_policy() -> None:
    policy = Policy(complaint_ack_hours=1, complaint_critical_days=20)
    changes, _ = replay([opened(), AdvanceTo(T0 + 20 * DAY)], policy)
    assert summary(changes) == [
        ("raised", 1, "warning", "not_acknowledged", T0 + HOUR),
        ("updated", 2, "warning", "past_resolve_by", DUE_NORMAL),
        ("updated", 3, "critical", "open_8_weeks", T0 + 20 * DAY),
    ]


def test_deadlines_set_on_opening_and_cleared() -> None:
    _, state = replay([opened()])
    assert {k: v for k, v in state["deadlines"].items() if k.startswith("complaint_unresolved|")} == {
        "complaint_unresolved|ack:cp-1": ACK_BY,
        "complaint_unresolved|due:cp-1": DUE_NORMAL,
        "complaint_unresolved|critical:cp-1": CRITICAL,
    }
    _, state = replay([acked()], state=state)
    assert "complaint_unresolved|ack:cp-1" not in state["deadlines"]
    _, state = replay([resolved(T0 + DAY)], state=state)
    assert not [k for k in state["deadlines"] if k.startswith("complaint_unresolved|")]
    assert state["complaints"]["cp-1"]["done"] == T0 + DAY


def test_second_opening_keeps_the_first_facts() -> None:
    _, state = replay([opened(event_id="c-1"), make_complaint_opened("cp-1", severity="high", at=T0 + HOUR)])
    complaint = state["complaints"]["cp-1"]
    assert (complaint["at"], complaint["severity"], complaint["by"], complaint["opened"]) == (
        T0,
        "normal",
        DUE_NORMAL,
        "c-1",
    )
    assert state["deadlines"]["complaint_unresolved|ack:cp-1"] == ACK_BY


def test_alert_content() -> None:
    history = [
        opened(event_id="c-1", category="billing"),
        make_complaint_acknowledged("cp-1", event_id="a-1", at=T0 + HOUR),
        AdvanceTo(DUE_NORMAL),
        make_complaint_resolved("cp-1", event_id="r-1", at=DUE_NORMAL + DAY),
    ]
    changes, _ = replay(history)
    raised, done = changes
    assert (raised.alert_id, raised.kind, raised.amount, raised.per) == (ALERT_ID, KIND, 0, "once")
    assert raised.evidence == ("c-1", "a-1")
    assert raised.summary == (
        "Your complaint cp-1 of 22 Nov 2026, 10:00 UTC was promised a resolution by 6 Dec 2026, 10:00 UTC "
        "and is still open."
    )
    assert raised.suggested_action.startswith("Resolve complaint cp-1 now")
    assert raised.details == {
        "complaint_id": "cp-1",
        "category": "billing",
        "severity": "normal",
        "opened_at": "2026-11-22T10:00:00Z",
        "resolve_by": "2026-12-06T10:00:00Z",
        "acknowledged_at": "2026-11-22T11:00:00Z",
        "breach": "past_resolve_by",
    }
    assert (done.lifecycle, done.alert_id, done.evidence) == ("resolved", ALERT_ID, ("c-1", "r-1"))
    assert done.summary == "Your complaint cp-1 was resolved after 15 days."


def test_not_acknowledged_content() -> None:
    changes, _ = replay([opened(event_id="c-1"), AdvanceTo(ACK_BY)])
    [change] = changes
    assert change.evidence == ("c-1",)
    assert change.details["acknowledged_at"] is None
    assert change.summary.endswith("has not been acknowledged within 48 hours.")
    assert change.suggested_action.startswith("Acknowledge complaint cp-1 today")


def test_complaints_have_separate_alerts() -> None:
    history = [
        make_complaint_opened("cp-1", at=T0),
        make_complaint_opened("cp-2", at=T0 + HOUR),
        AdvanceTo(T0 + 3 * DAY),
    ]
    changes, _ = replay(history)
    assert [(c.details["complaint_id"], c.lifecycle, c.revision) for c in changes] == [
        ("cp-1", "raised", 1),
        ("cp-2", "raised", 1),
    ]
    assert changes[1].alert_id == alert_id_for(KIND, CUSTOMER, "cp-2") != ALERT_ID


def test_stays_critical_when_resolve_by_is_after_8_weeks() -> None:
    changes, _ = replay([opened(resolve_by=T0 + 70 * DAY), acked(), AdvanceTo(T0 + 70 * DAY)])
    assert [c.severity for c in changes if c.kind == KIND] == ["critical", "critical"]


def test_acknowledgement_before_its_opening_is_kept() -> None:
    changes, _ = replay([acked(T0 + HOUR), opened(), AdvanceTo(ACK_BY)])
    assert summary(changes) == []


def test_module_contract() -> None:
    assert complaint_unresolved.NAME == "complaint_unresolved"
    assert complaint_unresolved.KIND == KIND
    assert {"complaint.opened", "complaint.acknowledged", "complaint.resolved"} == complaint_unresolved.EVENT_TYPES


def test_deadline_for_forgotten_complaint_is_nothing(state: dict[str, Any], policy: Policy) -> None:
    assert complaint_unresolved.on_deadline(state, "ack:cp-gone", ACK_BY, policy) == []
