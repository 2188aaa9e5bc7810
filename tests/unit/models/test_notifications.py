"""models.notifications: the open alerts the bridge keeps, and what Alertmanager is told about them."""

from __future__ import annotations

from typing import Any

import pytest

from models.ledger import Emission
from models.notifications import (
    ROLLUP_KIND,
    OpenAlerts,
    alert_labels,
    customer_url,
    to_alertmanager,
)
from models.timestamps import MS_PER_DAY
from tests.support.alert_documents import EUR, emission

from ..factories import T0

PAGE = "http://fairwatch.example:6066"
NOW = 1_800_000_000_000  # wall clock, ms


def labels_of(payloads: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    return {payload["labels"]["alert_id"]: payload["labels"] for payload in payloads}


def test_payload_has_the_labels_annotations_and_link_the_issue_lists() -> None:
    payload = to_alertmanager(
        emission(customer="c/7 ü"), starts_at=NOW - 5_000, ends_at=NOW + 240_000, page_url=PAGE + "/"
    )
    assert payload["labels"] == {
        "alertname": "promise.late_delivery",
        "customer_id": "c/7 ü",
        "severity": "critical",
        "alert_id": "late-1",
        "family": "promise",
    }
    annotations = payload["annotations"]
    assert annotations["summary"] == "summary of late-1 r1"
    assert annotations["action"] == "do something about late-1"
    assert annotations["impact"] == "EUR 12.34 once"
    assert (annotations["impact_amount"], annotations["impact_currency"]) == ("12.34", "EUR")
    assert annotations["evidence"] == "ev-1, ev-2"
    assert annotations["cloudevent_id"] == "late-1-1"
    # The customer id is one path segment, whatever it contains.
    assert payload["generatorURL"] == "http://fairwatch.example:6066/customers/c%2F7%20%C3%BC"
    assert payload["startsAt"] == "2027-01-15T07:59:55Z"
    assert payload["endsAt"] == "2027-01-15T08:04:00Z"


@pytest.mark.parametrize(
    ("kind", "family"),
    [
        ("overpaying.better_plan", "overpaying"),
        ("promise.billing_error", "promise"),
        ("relationship.repeated_broken_promises", "relationship"),
    ],
)
def test_family_is_the_kind_prefix(kind: str, family: str) -> None:
    assert alert_labels(emission(kind=kind))["family"] == family


def test_yearly_impact_reads_per_year() -> None:
    payload = to_alertmanager(
        emission(kind="overpaying.better_plan", amount=240 * EUR, per="year"),
        starts_at=NOW,
        ends_at=NOW + 1,
        page_url=PAGE,
    )
    assert payload["annotations"]["impact"] == "EUR 240.00 per year"


def test_starts_at_never_after_ends_at() -> None:
    payload = to_alertmanager(emission(), starts_at=NOW + 10_000, ends_at=NOW, page_url=PAGE)
    assert payload["startsAt"] == payload["endsAt"]


def test_customer_url_strips_the_trailing_slash() -> None:
    assert customer_url("http://h:1/", "c-1") == "http://h:1/customers/c-1"


def test_raised_is_open_and_dirty_until_taken() -> None:
    alerts = OpenAlerts(PAGE)
    assert alerts.apply(emission(), partition=2, received_at=NOW)
    assert set(alerts.open) == {"late-1"}
    dirty, endings = alerts.take_changes()
    assert (dirty, endings) == ({"late-1"}, [])
    assert alerts.take_changes() == (set(), [])
    (payload,) = alerts.firing(NOW + 240_000)
    assert payload["endsAt"] == "2027-01-15T08:04:00Z"
    assert payload["startsAt"] == "2027-01-15T08:00:00Z"


def test_a_resend_or_older_revision_changes_nothing() -> None:
    alerts = OpenAlerts(PAGE)
    alerts.apply(emission(revision=2, lifecycle="updated"), 0, NOW)
    alerts.take_changes()
    assert not alerts.apply(emission(revision=2, lifecycle="updated"), 0, NOW + 1)
    assert not alerts.apply(emission(revision=1), 0, NOW + 2)
    assert alerts.take_changes() == (set(), [])


def test_update_keeps_the_episode_start_and_posts_the_new_words() -> None:
    alerts = OpenAlerts(PAGE)
    alerts.apply(emission(), 0, NOW)
    alerts.apply(emission(revision=2, lifecycle="updated", amount=20 * EUR), 0, NOW + 60_000)
    (payload,) = alerts.firing(NOW + 120_000)
    assert payload["annotations"]["impact"] == "EUR 20.00 once"
    assert payload["startsAt"] == "2027-01-15T08:00:00Z"  # still the raise's moment
    assert alerts.take_changes() == ({"late-1"}, [])  # same labels: nothing to end


def test_resolved_ends_the_label_set_at_the_moment_it_resolved() -> None:
    alerts = OpenAlerts(PAGE)
    alerts.apply(emission(), 3, NOW)
    alerts.apply(emission(revision=2, lifecycle="resolved"), 3, NOW + 30_000)
    assert alerts.open == {}
    dirty, (ending,) = alerts.take_changes()
    assert dirty == set()
    payload = ending.payload()
    assert payload["labels"]["alert_id"] == "late-1"
    assert payload["labels"]["severity"] == "critical"
    assert payload["annotations"]["summary"] == "summary of late-1 r2"  # the resolving emission's words
    assert payload["startsAt"] == "2027-01-15T08:00:00Z"
    assert payload["endsAt"] == "2027-01-15T08:00:30Z"
    assert ending.partition == 3


def test_a_stale_raise_after_the_resolve_does_not_open_it_again() -> None:
    alerts = OpenAlerts(PAGE)
    alerts.apply(emission(), 0, NOW)
    alerts.apply(emission(revision=2, lifecycle="resolved"), 0, NOW + 1)
    assert not alerts.apply(emission(revision=1), 0, NOW + 2)  # a re-send after a crash
    assert alerts.open == {}
    assert alerts.apply(emission(revision=3), 0, NOW + 3)  # the condition came back
    assert set(alerts.open) == {"late-1"}


def test_revision_one_long_after_is_the_worker_having_forgotten_the_alert() -> None:
    alerts = OpenAlerts(PAGE, retention_days=400)
    alerts.apply(emission(revision=5, lifecycle="resolved"), 0, NOW)
    assert not alerts.apply(emission(revision=1, at=T0 + 399 * MS_PER_DAY), 0, NOW)
    assert alerts.apply(emission(revision=1, at=T0 + 401 * MS_PER_DAY), 0, NOW)


def test_resolved_never_seen_open_posts_nothing() -> None:
    alerts = OpenAlerts(PAGE)
    alerts.apply(emission(revision=2, lifecycle="resolved"), 0, NOW)
    assert alerts.take_changes() == (set(), [])


def test_resolved_revisions_are_bounded() -> None:
    alerts = OpenAlerts(PAGE, max_resolved=2)
    for number in range(3):
        alerts.apply(emission(f"a-{number}", revision=2, lifecycle="resolved"), 0, NOW)
    # a-0's revision is forgotten: an old re-send of it opens it again (the price of the bound).
    assert alerts.apply(emission("a-0", revision=1), 0, NOW)
    assert not alerts.apply(emission("a-2", revision=1), 0, NOW)


def test_severity_change_ends_the_old_label_set() -> None:
    alerts = OpenAlerts(PAGE)
    alerts.apply(emission(severity="warning"), 0, NOW)
    alerts.take_changes()
    alerts.apply(emission(revision=2, lifecycle="updated", severity="critical"), 0, NOW + 5)
    dirty, (ending,) = alerts.take_changes()
    assert dirty == {"late-1"}
    assert ending.labels["severity"] == "warning"
    assert ending.annotations["superseded"] == "labels changed (severity)"
    assert alerts.firing(NOW + 10)[0]["labels"]["severity"] == "critical"


def pattern(revision: int, counted: tuple[str, ...], lifecycle: str = "raised", customer: str = "c-1") -> Emission:
    return emission("pattern-1", revision, lifecycle, kind=ROLLUP_KIND, customer=customer, amount=0, evidence=counted)


def test_the_promises_a_pattern_counts_are_rolled_up_and_their_old_label_sets_ended() -> None:
    alerts = OpenAlerts(PAGE)
    for part in ("late-1", "late-2", "late-3", "late-4"):
        alerts.apply(emission(part), 0, NOW)
    alerts.take_changes()
    alerts.apply(pattern(1, ("late-1", "late-2", "late-3")), 0, NOW + 100)
    labels = labels_of(alerts.firing(NOW + 200))
    assert {aid for aid, lab in labels.items() if lab.get("rolled_up") == "true"} == {"late-1", "late-2", "late-3"}
    assert "rolled_up" not in labels["late-4"]  # a different broken promise still gets through
    assert "rolled_up" not in labels["pattern-1"]
    dirty, endings = alerts.take_changes()
    assert dirty == {"pattern-1", "late-1", "late-2", "late-3"}
    assert sorted(ending.alert_id for ending in endings) == ["late-1", "late-2", "late-3"]
    for ending in endings:
        assert "rolled_up" not in ending.labels
        assert ending.annotations["superseded"] == "rolled up into pattern-1"
        assert ending.ends_at == NOW + 100
    (late_1,) = alerts.firing(NOW, ["late-1"])
    assert late_1["annotations"]["rolled_up_into"] == "pattern-1"


def test_a_promise_raised_after_the_pattern_counts_it_is_rolled_up_from_the_start() -> None:
    alerts = OpenAlerts(PAGE)
    alerts.apply(pattern(1, ("late-1",)), 0, NOW)
    alerts.apply(emission("late-1"), 0, NOW)
    assert labels_of(alerts.firing(NOW))["late-1"]["rolled_up"] == "true"
    assert alerts.take_changes()[1] == []


def test_a_pattern_update_rolls_up_a_new_promise_and_its_resolve_releases_them_all() -> None:
    alerts = OpenAlerts(PAGE)
    for part in ("late-1", "late-2", "late-3", "late-4"):
        alerts.apply(emission(part), 0, NOW)
    alerts.apply(pattern(1, ("late-1", "late-2", "late-3")), 0, NOW)
    alerts.take_changes()
    alerts.apply(pattern(2, ("late-2", "late-3", "late-4"), "updated"), 0, NOW + 1)
    labels = labels_of(alerts.firing(NOW))
    assert "rolled_up" not in labels["late-1"]  # left the window: counted no more
    assert labels["late-4"]["rolled_up"] == "true"
    _, endings = alerts.take_changes()
    assert {(e.alert_id, e.labels.get("rolled_up")) for e in endings} == {("late-1", "true"), ("late-4", None)}
    alerts.apply(pattern(3, ("late-2", "late-3", "late-4"), "resolved"), 0, NOW + 2)
    labels = labels_of(alerts.firing(NOW))
    assert all("rolled_up" not in lab for lab in labels.values())
    _, endings = alerts.take_changes()
    assert {e.alert_id for e in endings} == {"pattern-1", "late-2", "late-3", "late-4"}
    released = [e for e in endings if e.alert_id != "pattern-1"]
    assert all(e.annotations["superseded"] == "no longer rolled up" for e in released)


def test_a_rolled_up_promise_that_resolves_ends_its_rolled_up_label_set() -> None:
    alerts = OpenAlerts(PAGE)
    alerts.apply(emission("late-1"), 0, NOW)
    alerts.apply(pattern(1, ("late-1",)), 0, NOW)
    alerts.take_changes()
    alerts.apply(emission("late-1", 2, "resolved"), 0, NOW + 1)
    _, (ending,) = alerts.take_changes()
    assert ending.labels["rolled_up"] == "true"


def test_forget_partitions_drops_their_alerts_without_ending_them() -> None:
    alerts = OpenAlerts(PAGE)
    alerts.apply(emission("a", customer="c-a"), 1, NOW)
    alerts.apply(emission("b", customer="c-b"), 2, NOW)
    alerts.apply(emission("b", 2, "resolved", customer="c-b"), 2, NOW)
    alerts.forget_partitions([2])
    assert set(alerts.open) == {"a"}
    dirty, endings = alerts.take_changes()
    assert (dirty, endings) == ({"a"}, [])


def test_a_lifecycle_without_notification_keeps_the_alert_as_it_was() -> None:
    alerts = OpenAlerts(PAGE)
    alerts.apply(emission(), 0, NOW)
    alerts.take_changes()
    acknowledged = emission(revision=2, lifecycle="raised")
    object.__setattr__(acknowledged, "lifecycle", "acknowledged")
    assert alerts.apply(acknowledged, 0, NOW + 1)
    assert alerts.take_changes() == (set(), [])
    assert not alerts.apply(emission(revision=2, lifecycle="updated"), 0, NOW + 2)
    assert set(alerts.open) == {"late-1"}


def test_a_partition_read_again_after_it_came_back_makes_its_endings_again() -> None:
    alerts = OpenAlerts(PAGE)
    raised, resolved = emission("b", customer="c-b"), emission("b", 2, "resolved", customer="c-b")
    alerts.apply(raised, 2, NOW)
    alerts.apply(resolved, 2, NOW + 1)
    alerts.take_changes()
    alerts.forget_partitions([2])
    assert alerts.apply(raised, 2, NOW + 5) and alerts.apply(resolved, 2, NOW + 5)
    _, (ending,) = alerts.take_changes()
    assert (ending.alert_id, ending.ends_at) == ("b", NOW + 5)
