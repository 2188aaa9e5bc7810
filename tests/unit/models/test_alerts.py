"""models.alerts: deterministic alert ids, the lifecycle, and the CloudEvents envelope (SPEC §2)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from models.alerts import AlertChange, alert_id_for, prune_alerts, raise_alert, resolve_alert, to_cloudevent
from models.policy import Policy

from ..factories import CUSTOMER, DAY, T0

KIND = "promise.late_delivery"
EUR = 1_000_000


def raise_(state: dict[str, Any], policy: Policy, **overrides: Any) -> AlertChange | None:
    arguments: dict[str, Any] = {
        "kind": KIND,
        "key": "o-1",
        "at": T0,
        "severity": "warning",
        "summary": "Your order o-1 is late.",
        "amount": 100 * EUR,
        "per": "once",
        "evidence": ["evt-1"],
        "suggested_action": "Apologise.",
        "details": {"order_id": "o-1"},
    }
    arguments.update(overrides)
    return raise_alert(state, policy, **arguments)


def resolve(state: dict[str, Any], **overrides: Any) -> AlertChange | None:
    arguments: dict[str, Any] = {
        "kind": KIND,
        "key": "o-1",
        "at": T0 + DAY,
        "summary": "Delivered after all.",
        "evidence": ["evt-2"],
    }
    arguments.update(overrides)
    return resolve_alert(state, **arguments)


def lifecycle(change: AlertChange | None) -> tuple[str, int] | None:
    return None if change is None else (change.lifecycle, change.revision)


# --- alert ids ------------------------------------------------------------


def test_alert_id_is_deterministic_and_readable() -> None:
    alert_id = alert_id_for(KIND, CUSTOMER, "o-1")
    assert alert_id == alert_id_for(KIND, CUSTOMER, "o-1")
    assert re.fullmatch(r"late-delivery-[0-9a-f]{24}", alert_id)


def test_alert_id_is_distinct_per_kind_customer_and_key() -> None:
    ids = {
        alert_id_for(kind, customer, key)
        for kind in (KIND, "promise.wrong_delivery", "overpaying.better_plan")
        for customer in (CUSTOMER, "c-000124", "c-1")
        for key in ("o-1", "o-2", "s-1", "o-1/l1")
    }
    assert len(ids) == 3 * 3 * 4


def test_alert_id_does_not_confuse_customer_and_key_boundaries() -> None:
    assert alert_id_for(KIND, "c-1", "2o") != alert_id_for(KIND, "c-12", "o")


def test_alert_id_is_unambiguous_when_ids_contain_the_separator() -> None:
    assert alert_id_for(KIND, "c-1\x1fo-1", "x") != alert_id_for(KIND, "c-1", "o-1\x1fx")


# --- lifecycle --------------------------------------------------------------


def test_first_raise_is_raised_revision_1(state: dict[str, Any], policy: Policy) -> None:
    change = raise_(state, policy)
    assert change == AlertChange(
        lifecycle="raised",
        alert_id=alert_id_for(KIND, CUSTOMER, "o-1"),
        revision=1,
        kind=KIND,
        customer_id=CUSTOMER,
        at=T0,
        severity="warning",
        summary="Your order o-1 is late.",
        amount=100 * EUR,
        per="once",
        evidence=("evt-1",),
        suggested_action="Apologise.",
        details={"order_id": "o-1"},
    )
    assert state["alerts"][change.alert_id] == {
        "r": 1,
        "o": True,
        "a": 100 * EUR,
        "p": "once",
        "s": "warning",
        "g": "",
        "t": T0,
    }


def test_same_condition_is_not_raised_twice(state: dict[str, Any], policy: Policy) -> None:
    assert lifecycle(raise_(state, policy)) == ("raised", 1)
    assert raise_(state, policy, at=T0 + DAY, evidence=["evt-9"], summary="other words") is None
    assert state["alerts"][alert_id_for(KIND, CUSTOMER, "o-1")]["r"] == 1


@pytest.mark.parametrize(
    ("threshold", "new_amount", "expected"),
    [
        pytest.param(0.10, 100 * EUR, None, id="unchanged"),
        pytest.param(0.10, 109_990_000, None, id="up-just-below-10pct"),
        pytest.param(0.10, 110_010_000, ("updated", 2), id="up-just-above-10pct"),
        pytest.param(0.10, 90_010_000, None, id="down-just-below-10pct"),
        pytest.param(0.10, 89_990_000, ("updated", 2), id="down-just-above-10pct"),
        pytest.param(0.10, 0, ("updated", 2), id="down-to-zero"),
        pytest.param(0.25, 120 * EUR, None, id="custom-threshold-below"),
        pytest.param(0.25, 126 * EUR, ("updated", 2), id="custom-threshold-above"),
        pytest.param(0.0, 100 * EUR + 1, ("updated", 2), id="zero-threshold-any-move"),
    ],
)
def test_update_only_when_amount_moves_materially(
    state: dict[str, Any], threshold: float, new_amount: int, expected: tuple[str, int] | None
) -> None:
    policy = Policy(update_threshold=threshold)
    raise_(state, policy)
    change = raise_(state, policy, amount=new_amount, at=T0 + DAY)
    assert lifecycle(change) == expected
    record = state["alerts"][alert_id_for(KIND, CUSTOMER, "o-1")]
    # Without an emission the record keeps the figure last told to the customer.
    assert record["a"] == (new_amount if expected else 100 * EUR)


def test_move_of_exactly_the_threshold_is_an_update(state: dict[str, Any], policy: Policy) -> None:
    raise_(state, policy)
    assert lifecycle(raise_(state, policy, amount=110 * EUR)) == ("updated", 2)


def test_from_zero_any_amount_is_an_update(state: dict[str, Any], policy: Policy) -> None:
    raise_(state, policy, amount=0)
    assert lifecycle(raise_(state, policy, amount=1)) == ("updated", 2)


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"severity": "critical"}, id="severity"),
        pytest.param({"stage": "delivered_late"}, id="stage"),
    ],
)
def test_severity_or_stage_change_is_an_update(state: dict[str, Any], policy: Policy, change: dict[str, Any]) -> None:
    raise_(state, policy)
    updated = raise_(state, policy, at=T0 + 1, **change)
    assert lifecycle(updated) == ("updated", 2)
    assert updated is not None and updated.alert_id == alert_id_for(KIND, CUSTOMER, "o-1")


def test_resolve_is_emitted_once(state: dict[str, Any], policy: Policy) -> None:
    raise_(state, policy, severity="critical", amount=42 * EUR, per="year")
    change = resolve(state)
    assert change is not None
    assert (change.lifecycle, change.revision, change.at) == ("resolved", 2, T0 + DAY)
    # A resolution carries the last figure and severity, and suggests nothing more.
    assert (change.amount, change.per, change.severity) == (42 * EUR, "year", "critical")
    assert (change.evidence, change.suggested_action, change.details) == (("evt-2",), "none: resolved", {})
    assert resolve(state, at=T0 + 2 * DAY) is None
    assert state["alerts"][change.alert_id]["o"] is False


def test_resolve_unknown_condition_is_nothing(state: dict[str, Any]) -> None:
    assert resolve(state) is None
    assert state["alerts"] == {}


def test_re_raise_after_resolve_uses_next_revision_same_id(state: dict[str, Any], policy: Policy) -> None:
    first = raise_(state, policy)
    resolved = resolve(state)
    again = raise_(state, policy, at=T0 + 3 * DAY)
    assert [lifecycle(c) for c in (first, resolved, again)] == [("raised", 1), ("resolved", 2), ("raised", 3)]
    assert first is not None and resolved is not None and again is not None
    assert first.alert_id == resolved.alert_id == again.alert_id
    assert lifecycle(resolve(state)) == ("resolved", 4)


def test_conditions_have_independent_lifecycles(state: dict[str, Any], policy: Policy) -> None:
    one = raise_(state, policy, key="o-1")
    two = raise_(state, policy, key="o-2")
    assert one is not None and two is not None
    assert one.alert_id != two.alert_id
    assert (one.revision, two.revision) == (1, 1)
    assert resolve(state, key="o-2") is not None
    assert state["alerts"][one.alert_id]["o"] is True


# --- CloudEvents envelope ---------------------------------------------------------

SPEC_DATA_KEYS = {
    "alert_id",
    "kind",
    "customer_id",
    "severity",
    "summary",
    "impact",
    "evidence",
    "suggested_action",
    "details",
}


def test_cloudevent_envelope_per_spec(state: dict[str, Any], policy: Policy) -> None:
    change = raise_(
        state,
        policy,
        at=T0 + 5,
        amount=12_345_678,
        per="year",
        evidence=["e-1", "e-2"],
        details={"order_id": "o-1", "late_by_hours": 26.0},
    )
    assert change is not None
    event = to_cloudevent(change, "EUR")
    alert_id = alert_id_for(KIND, CUSTOMER, "o-1")
    assert list(event) == [
        "specversion",
        "id",
        "source",
        "type",
        "subject",
        "time",
        "datacontenttype",
        "data",
    ]
    assert {key: value for key, value in event.items() if key != "data"} == {
        "specversion": "1.0",
        "id": f"{alert_id}-1",
        "source": f"fairwatch/{KIND}",
        "type": "fairwatch.alert.raised",
        "subject": f"customer/{CUSTOMER}",
        "time": "2026-11-22T10:00:00.005Z",
        "datacontenttype": "application/json",
    }
    data = event["data"]
    # SPEC §2 lists these keys; the code adds "revision" (an extension, not in the SPEC's example).
    assert set(data) - {"revision"} == SPEC_DATA_KEYS
    assert data == {
        "alert_id": alert_id,
        "revision": 1,
        "kind": KIND,
        "customer_id": CUSTOMER,
        "severity": "warning",
        "summary": "Your order o-1 is late.",
        "impact": {"amount": 12.35, "currency": "EUR", "per": "year"},
        "evidence": ["e-1", "e-2"],
        "suggested_action": "Apologise.",
        "details": {"order_id": "o-1", "late_by_hours": 26.0},
    }


def test_cloudevent_id_is_unique_per_emission_and_type_follows_lifecycle(state: dict[str, Any], policy: Policy) -> None:
    changes = [
        raise_(state, policy),
        raise_(state, policy, amount=200 * EUR, at=T0 + 1000),
        resolve(state),
        raise_(state, policy, at=T0 + 2 * DAY),
    ]
    events = [to_cloudevent(c, "GBP") for c in changes if c is not None]
    alert_id = alert_id_for(KIND, CUSTOMER, "o-1")
    assert [(e["id"], e["type"]) for e in events] == [
        (f"{alert_id}-1", "fairwatch.alert.raised"),
        (f"{alert_id}-2", "fairwatch.alert.updated"),
        (f"{alert_id}-3", "fairwatch.alert.resolved"),
        (f"{alert_id}-4", "fairwatch.alert.raised"),
    ]
    assert [e["time"] for e in events] == [
        "2026-11-22T10:00:00Z",
        "2026-11-22T10:00:01Z",
        "2026-11-23T10:00:00Z",
        "2026-11-24T10:00:00Z",
    ]
    assert {e["data"]["impact"]["currency"] for e in events} == {"GBP"}


def test_cloudevent_of_same_change_is_identical(state: dict[str, Any], policy: Policy) -> None:
    # A re-sent emission must carry the very same id and content.
    change = raise_(state, policy)
    assert change is not None
    assert to_cloudevent(change, "EUR") == to_cloudevent(change, "EUR")


# --- pruning ------------------------------------------------------------------


def test_prune_alerts_forgets_alerts_with_no_emission_within_the_retention(
    state: dict[str, Any], policy: Policy
) -> None:
    retention = 10 * DAY
    raise_(state, policy, key="open-old", at=T0)
    raise_(state, policy, key="open-updated", at=T0)
    raise_(state, policy, key="open-updated", at=T0 + 2 * DAY, amount=999 * EUR)
    raise_(state, policy, key="resolved-old", at=T0)
    resolve(state, key="resolved-old", at=T0)
    raise_(state, policy, key="resolved-at-horizon", at=T0)
    resolve(state, key="resolved-at-horizon", at=T0 + 1)
    raise_(state, policy, key="resolved-recent", at=T0)
    resolve(state, key="resolved-recent", at=T0 + 5 * DAY)

    prune_alerts(state, T0 + 1 + retention, retention)

    kept = {alert_id_for(KIND, CUSTOMER, key) for key in ("open-updated", "resolved-at-horizon", "resolved-recent")}
    assert set(state["alerts"]) == kept


def test_prune_alerts_keeps_at_most_so_many_oldest_resolved_going_first(state: dict[str, Any], policy: Policy) -> None:
    for n in range(6):
        raise_(state, policy, key=f"k{n}", at=T0 + n)
    for n in (1, 4):
        resolve(state, key=f"k{n}", at=T0 + 10 + n)
    prune_alerts(state, T0 + 20, 10 * DAY, most=3)
    # Both resolved go first, then the oldest open one.
    assert set(state["alerts"]) == {alert_id_for(KIND, CUSTOMER, f"k{n}") for n in (2, 3, 5)}
