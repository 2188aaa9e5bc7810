"""models.story: the customer's timeline from state and alerts, with every alert's evidence linked."""

from __future__ import annotations

import orjson

from models.alerts import to_cloudevent
from models.ledger import Ledger
from models.story import customer_story
from tests.support.alert_documents import alert

from ..factories import (
    CUSTOMER,
    DAY,
    HOUR,
    T0,
    AdvanceTo,
    make_complaint_acknowledged,
    make_complaint_opened,
    make_complaint_resolved,
    make_delivered,
    make_invoice,
    make_invoice_line,
    make_order_placed,
    make_shipped,
    replay_judged,
)
from ..subscription_factories import START, make_started, make_sub_invoice, make_usage, sub_line


def history() -> list:
    """A late order (billed), a complaint left unacknowledged then resolved, a subscription with usage and a bill."""
    return [
        make_started(event_id="sub-start", at=START),
        make_usage("2026-09", 4.5, event_id="usage-9"),
        make_sub_invoice("inv-s-10", period="2026-10", lines=[sub_line()], event_id="inv-sub"),
        make_order_placed("o-1", due=T0 + DAY, event_id="placed", at=T0),
        make_shipped("o-1", event_id="shipped", at=T0 + HOUR),
        make_complaint_opened("cp-1", event_id="opened", at=T0 + 2 * HOUR),
        AdvanceTo(T0 + 3 * DAY),
        make_delivered("o-1", event_id="delivered", at=T0 + 3 * DAY),
        make_invoice("inv-1", lines=[make_invoice_line("o-1/l1")], event_id="inv-order", at=T0 + 3 * DAY + HOUR),
        make_complaint_acknowledged("cp-1", event_id="acked", at=T0 + 3 * DAY + 2 * HOUR),
        make_complaint_resolved("cp-1", event_id="resolved", at=T0 + 4 * DAY),
    ]


def story_of(state: dict | None = None) -> tuple[dict, Ledger]:
    changes, replayed = replay_judged(history())
    ledger = Ledger()
    for change in changes:
        # Through the JSON the topic carries, as the page's reader sees it.
        ledger.add_document(orjson.loads(orjson.dumps(to_cloudevent(change, "EUR"))))
    return customer_story(CUSTOMER, replayed if state is None else state, ledger.of_customer(CUSTOMER), "EUR"), ledger


def test_the_timeline_tells_the_story_in_time_order() -> None:
    story, _ = story_of()
    timeline = story["timeline"]
    assert [e["at"] for e in timeline] == sorted(e["at"] for e in timeline)
    titles = [e["title"] for e in timeline]
    for title in (
        "Subscription s-1 started",
        "Usage of s-1 in 2026-09",
        "Invoice inv-s-10",
        "Order o-1 placed",
        "Complaint cp-1 opened",
        "Order o-1 delivered",
        "Invoice inv-1",
        "Complaint cp-1 acknowledged",
        "Complaint cp-1 resolved",
    ):
        assert title in titles, titles
    assert titles.index("Order o-1 placed") < titles.index("Order o-1 delivered") < titles.index("Invoice inv-1")
    assert all(e["time"].endswith("Z") for e in timeline)


def test_each_entry_names_the_events_it_stands_for() -> None:
    story, _ = story_of()
    ids = {event_id for entry in story["timeline"] for event_id in entry["event_ids"]}
    assert {"sub-start", "usage-9", "inv-sub", "placed", "shipped", "opened", "delivered", "inv-order", "acked"} <= ids


def test_alerts_are_on_the_timeline_with_their_evidence_linked() -> None:
    story, ledger = story_of()
    alerts = [e for e in story["timeline"] if e["kind"] == "alert"]
    kinds = {e["title"] for e in alerts}
    assert "promise.late_delivery raised" in kinds and "promise.complaint_unresolved raised" in kinds
    late = next(e for e in alerts if e["title"].startswith("promise.late_delivery"))
    assert late["evidence"] and all(item["linked"] for item in late["evidence"]), late["evidence"]
    assert {f["kind"] for f in story["findings"]} == {f.kind for f in ledger.findings.values()}
    assert len(alerts) == sum(len(f.history) for f in ledger.findings.values())


def test_without_state_the_alerts_still_tell_the_story_and_nothing_is_linked() -> None:
    _, ledger = story_of()
    story = customer_story(CUSTOMER, None, ledger.of_customer(CUSTOMER), "EUR")
    assert story["in_state"] is False
    assert {e["kind"] for e in story["timeline"]} == {"alert"}
    assert not any(item["linked"] for e in story["timeline"] for item in e["evidence"])


def test_a_pattern_of_alerts_links_to_the_alerts_it_counts() -> None:
    ledger = Ledger()
    ledger.add_document(alert("late-1", customer=CUSTOMER, at=T0))
    ledger.add_document(alert("late-1", 2, "updated", customer=CUSTOMER, at=T0 + HOUR))
    ledger.add_document(
        alert(
            "broken-1",
            kind="relationship.repeated_broken_promises",
            customer=CUSTOMER,
            at=T0 + DAY,
            evidence=("late-1", "late-9"),
        )
    )
    story = customer_story(CUSTOMER, None, ledger.of_customer(CUSTOMER), "EUR")
    pattern = next(e for e in story["timeline"] if e["ref"] == "broken-1")
    assert pattern["evidence"] == [{"event_id": "late-1", "linked": True}, {"event_id": "late-9", "linked": False}]
    # The anchor is on the alert's latest revision only, so it is unique on the page.
    assert [e["event_ids"] for e in story["timeline"] if e["ref"] == "late-1"] == [[], ["late-1"]]


def test_the_story_is_plain_json() -> None:
    story, _ = story_of()
    assert orjson.loads(orjson.dumps(story)) == story


def test_an_alerts_revisions_stay_in_order_when_a_later_one_is_dated_earlier() -> None:
    ledger = Ledger()
    for revision, lifecycle, at in ((1, "raised", T0), (2, "updated", T0 + DAY), (3, "resolved", T0 - DAY)):
        ledger.add_document(alert("late-1", revision, lifecycle, customer=CUSTOMER, at=at))
    story = customer_story(CUSTOMER, None, ledger.of_customer(CUSTOMER), "EUR")
    assert [e["revision"] for e in story["timeline"]] == [1, 2, 3]
    assert story["timeline"][2]["time"] == "2026-11-21T10:00:00Z"  # shown at its own time
