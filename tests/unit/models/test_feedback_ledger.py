"""The CRM's answers read back: the ledger's figures, the report, and the bridge's notifications."""

from __future__ import annotations

from typing import Any

from models.alerts import AlertChange, to_cloudevent
from models.engine import apply_event
from models.ledger import Ledger, figures, group, read_emission
from models.notifications import OpenAlerts
from models.policy import Policy
from models.state import new_state
from streams.tools.report import build_report, render_html

from ..factories import CUSTOMER, HOUR, T0, make_cancelled, make_event, make_order_placed

POLICY = Policy()
NOW = 1_800_000_000_000


class Customer:
    """A customer's state and every CloudEvent the rules emitted for it, in order."""

    def __init__(self) -> None:
        self.state = new_state(CUSTOMER, 0)
        self.documents: list[dict[str, Any]] = []

    def apply(self, event: Any) -> list[AlertChange]:
        changes = apply_event(self.state, event, POLICY)
        self.documents += [to_cloudevent(change, "EUR") for change in changes]
        return changes

    def refused(self, order_id: str, at: int = T0) -> str:
        """An urgent order (2 x 10 x 2.50 = 25.00) cancelled by the company: its alert id."""
        self.apply(make_order_placed(order_id, urgent=True, at=at))
        (change,) = self.apply(make_cancelled(order_id, by="company", at=at + HOUR))
        return change.alert_id

    def answer(self, kind: str, alert_id: str, at: int, **data: Any) -> None:
        self.apply(make_event(kind, {"alert_id": alert_id, **data}, at=at))


def story() -> Customer:
    customer = Customer()
    fixed = customer.refused("o-1")
    customer.answer("alert.acknowledged", fixed, T0 + 3 * HOUR, by="ann")
    customer.answer("alert.closed", fixed, T0 + 9 * HOUR, by="ann", outcome="refunded")
    wrong = customer.refused("o-2")
    customer.answer("alert.disputed", wrong, T0 + 5 * HOUR, by="bob", reason="a test order")
    customer.refused("o-3")  # not answered
    return customer


def test_the_ledger_keeps_the_condition_open_and_the_answers_beside_it() -> None:
    customer = story()
    ledger = Ledger()
    for document in customer.documents:
        assert ledger.add_document(document)
    first, second, third = ledger.of_customer(CUSTOMER)
    assert first.open and first.lifecycle == "raised" and first.revision == 3
    assert first.summary.startswith("Your urgent order o-1")  # the detector's words, not the answer's
    assert (first.owner, first.outcome, first.put_right) == ("ann", "refunded", True)
    assert first.time_to("acknowledged") == 2 * HOUR and first.time_to("closed") == 8 * HOUR
    assert (second.owner, second.outcome, second.put_right) == ("bob", "disputed", False)
    assert third.owner is None and third.feedback == {}
    assert first.evidence == customer.documents[0]["data"]["evidence"]  # the answers add none of theirs
    shown = first.feedback_json()
    assert shown["answer"] == "refunded" and shown["time_to_close_hours"] == 8.0
    assert shown["feedback"]["closed"] == {"by": "ann", "at": "2026-11-22T19:00:00Z", "outcome": "refunded"}


def test_figures_per_kind_count_answers_times_the_share_disputed_and_the_money_put_right() -> None:
    ledger = Ledger()
    for document in story().documents:
        ledger.add_document(document)
    (row,) = group(ledger.findings.values(), lambda f: f.kind).values()
    assert (row.alerts, row.acknowledged, row.closed, row.disputed) == (3, 2, 1, 1)
    assert row.disputed_share == 1 / 3
    assert row.median_ack_ms == 2 * HOUR  # the lower middle of [2 h, 4 h]
    assert row.median_close_ms == 8 * HOUR
    assert (row.put_right_once, row.put_right_year) == (25_000_000, 0)
    shown = figures(ledger.findings.values()).as_json()
    assert shown["put_right_once"] == "25.00" and shown["disputed_share"] == 0.3333


def test_the_report_shows_the_answers_by_kind_and_the_owners() -> None:
    report = build_report(story().documents, since=None, until=None)
    page = render_html(report)
    row = page.split('id="by-kind-feedback"')[1].split('data-kind="promise.urgent_order_refused"')[1].split("</tr>")[0]
    assert 'data-field="acknowledged">2<' in row
    assert 'data-share="0.3333"' in row
    assert 'data-field="put_right_once" data-amount="25.00"' in row
    assert "ann (1)" in page and "bob (1)" in page


def test_a_closed_or_disputed_alert_is_ended_and_stays_quiet_until_it_changes() -> None:
    customer = story()
    bridge = OpenAlerts(page_url="http://page")
    for received, document in enumerate(customer.documents):
        bridge.apply(read_emission(document), 0, NOW + received)
    _, endings = bridge.take_changes()
    open_orders = {alert.emission.details["order_id"] for alert in bridge.open.values()}
    assert open_orders == {"o-3"}  # o-1 closed, o-2 disputed: not firing
    ended = {ending.labels["alert_id"]: ending.annotations["feedback"] for ending in endings}
    assert sorted(ended.values()) == ["Closed by ann: refunded.", "Disputed by bob: a test order"]
    assert all(payload["labels"]["alert_id"] not in ended for payload in bridge.firing(NOW + 60_000))


def test_an_acknowledged_alert_keeps_firing() -> None:
    customer = Customer()
    alert_id = customer.refused("o-1")
    customer.answer("alert.acknowledged", alert_id, T0 + 2 * HOUR, by="ann")
    bridge = OpenAlerts(page_url="http://page")
    for document in customer.documents:
        bridge.apply(read_emission(document), 0, NOW)
    assert [payload["labels"]["alert_id"] for payload in bridge.firing(NOW + 60_000)] == [alert_id]
    assert bridge.open[alert_id].emission.revision == 2


def test_a_quiet_alert_that_resolves_and_comes_back_fires_again() -> None:
    customer = Customer()
    alert_id = customer.refused("o-1")
    customer.answer("alert.disputed", alert_id, T0 + 2 * HOUR, by="ann", reason="no")
    raised = read_emission(customer.documents[0])
    bridge = OpenAlerts(page_url="http://page")
    for document in customer.documents:
        bridge.apply(read_emission(document), 0, NOW)
    assert bridge.firing(NOW) == []
    # A stale re-send of the raise changes nothing; the same condition raised again (next revisions) fires.
    assert not bridge.apply(raised, 0, NOW)

    def change(lifecycle: Any, revision: int) -> dict[str, Any]:
        at = T0 + revision * HOUR
        kind = raised.kind
        made = AlertChange(lifecycle, alert_id, revision, kind, CUSTOMER, at, "critical", "s", 0, "once", (), "", {})
        return to_cloudevent(made, "EUR")

    resolved, again = change("resolved", 3), change("raised", 4)
    bridge.apply(read_emission(resolved), 0, NOW)
    assert bridge.firing(NOW) == []
    bridge.apply(read_emission(again), 0, NOW)
    assert [payload["labels"]["alert_id"] for payload in bridge.firing(NOW)] == [alert_id]
