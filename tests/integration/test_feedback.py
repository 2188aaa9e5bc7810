"""The CRM's answers end to end: the feedback topic -> a worker -> its alerts, state, page and report, and the
Alertmanager bridge keeping a disputed alert quiet while a control alert of the same customer is repeated.

Real parts: the embedded broker, a worker process, and for the last test Debian's Alertmanager (with a
10 s ``repeat_interval``), the bridge and a webhook receiver (tests/support/alertmanager_parts.py).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from models.alerts import alert_id_for
from models.timestamps import format_ms
from streams.tools.report import build_report, read_alert_documents, render_html
from tests.support.alertmanager_parts import (
    AlertmanagerProcess,
    BridgeProcess,
    Webhook,
    alert_states,
    config_for_test,
    wait_for,
)
from tests.support.kafka_io import produce, read_topic, run
from tests.support.pipeline_scenario import WORKER_ENV, event, line

pytestmark = [pytest.mark.integration, pytest.mark.timeout(150)]

FEEDBACK = "fairwatch.feedback"
KIND = "promise.urgent_order_refused"
HOUR = 3_600_000
WAIT = 30.0


def refused(customer: str, order_id: str, at: int) -> list[tuple[str, bytes, bytes]]:
    """An urgent order (10 x 2.50) the company cancelled an hour later: one alert, raised."""
    placed = event(
        f"{customer}-{order_id}-placed",
        "order.placed",
        customer,
        at,
        order_id=order_id,
        lines=[line("1", "BOX-40", 10, 2.50)],
        promised_delivery_by=format_ms(at + 48 * HOUR),
        urgent=True,
    )
    cancelled = event(
        f"{customer}-{order_id}-cancelled", "order.cancelled", customer, at + HOUR, order_id=order_id, by="company"
    )
    return [("orders", customer.encode(), placed), ("orders", customer.encode(), cancelled)]


def answer(event_id: str, kind: str, customer: str, at: int, **data: Any) -> tuple[str, bytes, bytes]:
    return (FEEDBACK, customer.encode(), event(event_id, kind, customer, at, **data))


def get_json(worker: Any, path: str) -> Any:
    status, body = worker.get(path, timeout=5)
    assert status == 200, (path, body[:300])
    return orjson.loads(body)


def test_acknowledged_then_closed_shows_in_the_state_the_page_and_the_report(start_worker, broker: str) -> None:
    worker = start_worker(env=WORKER_ENV)
    now = int(time.time() * 1000)
    start = now - 10 * HOUR
    customer = "c-answered"
    fixed = alert_id_for(KIND, customer, "O-1")
    wrong = alert_id_for(KIND, customer, "O-2")
    # The dispute of O-2's alert is sent before the alert exists; read first, it waits until every topic of
    # facts passes its time (less the grace). Dated a minute ahead of the wall clock, it outwaits the live
    # tick, which moves the quiet topics to the wall clock, until the orders come.
    early = answer("fb-0", "alert.disputed", customer, now + 60_000, alert_id=wrong, by="bob", reason="a test order")
    run(produce(broker, [early]))
    run(produce(broker, refused(customer, "O-1", start) + refused(customer, "O-2", start)))
    run(read_topic(broker, "fairwatch.alerts", expect=3, timeout=WAIT))
    run(
        produce(
            broker,
            [
                answer(
                    "fb-1", "alert.acknowledged", customer, start + 3 * HOUR, alert_id=fixed, by="ann", note="on it"
                ),
                answer(
                    "fb-2", "alert.closed", customer, start + 7 * HOUR, alert_id=fixed, by="ann", outcome="refunded"
                ),
                answer(
                    "fb-2", "alert.closed", customer, start + 7 * HOUR, alert_id=fixed, by="ann", outcome="refunded"
                ),
                answer("fb-bad", "alert.closed", customer, start + 7 * HOUR, alert_id=fixed, by="ann", outcome="shrug"),
            ],
        )
    )
    records = run(read_topic(broker, "fairwatch.alerts", expect=5, timeout=WAIT))
    emitted = [orjson.loads(record.value) for record in records]
    # raised x2, disputed (held, then applied), acknowledged, closed; the redelivered close is a duplicate.
    assert sorted((doc["data"]["alert_id"], doc["type"].rsplit(".", 1)[1], doc["id"]) for doc in emitted) == sorted(
        [
            (fixed, "raised", f"{fixed}-1"),
            (fixed, "acknowledged", f"{fixed}-2"),
            (fixed, "closed", f"{fixed}-3"),
            (wrong, "raised", f"{wrong}-1"),
            (wrong, "disputed", f"{wrong}-2"),
        ]
    )
    (dead,) = run(read_topic(broker, "fairwatch.dead-letter", expect=1, timeout=WAIT))
    headers = dict(dead.headers)
    assert headers["fairwatch.source.topic"] == FEEDBACK.encode()
    assert headers["fairwatch.reason"].startswith(b"data.outcome: must be one of")

    state = get_json(worker, f"/customers/{customer}")
    record = state["alerts"][fixed]
    assert record["acknowledged"]["by"] == "ann" and record["acknowledged"]["note"] == "on it"
    assert record["closed"]["outcome"] == "refunded" and record["open"] is True
    assert state["alerts"][wrong]["disputed"]["reason"] == "a test order"
    assert state["held_feedback"] == [] and state["unmatched_feedback"] == []
    assert set(state["stream_time"]) >= {"orders", "feedback"}

    def story() -> dict[str, Any] | None:
        found = {f["alert_id"]: f for f in get_json(worker, f"/api/customers/{customer}/story")["findings"]}
        return found if found.get(fixed, {}).get("answer") == "refunded" and wrong in found else None

    findings = wait_for(story, WAIT, "the page's ledger holding the answers")
    assert findings[fixed]["owner"] == "ann"
    assert findings[fixed]["time_to_acknowledge_hours"] == 2.0 and findings[fixed]["time_to_close_hours"] == 6.0
    assert findings[wrong]["answer"] == "disputed" and findings[wrong]["owner"] == "bob"
    (row,) = [r for r in get_json(worker, "/api/summary")["by_kind"] if r["kind"] == KIND]
    assert (row["acknowledged"], row["closed"], row["disputed"], row["disputed_share"]) == (2, 1, 1, 0.5)
    assert row["put_right_once"] == "25.00" and row["median_close_hours"] == 6.0

    report = build_report(run(read_alert_documents([broker], timeout=WAIT)), since=None, until=None)
    assert report.by_kind[KIND].put_right_once == 25_000_000
    page = render_html(report)
    kind_row = page.split('id="by-kind-feedback"')[1].split(f'data-kind="{KIND}"')[1].split("</tr>")[0]
    assert 'data-field="closed">1<' in kind_row and 'data-share="0.5000"' in kind_row
    assert "ann (1)" in page and "bob (1)" in page


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    with Webhook() as receiver:
        yield receiver


@pytest.fixture
def alertmanager(tmp_path: Path, webhook: Webhook) -> Iterator[AlertmanagerProcess]:
    # Repeats every 10 s: what a quiet alert must not be part of.
    process = AlertmanagerProcess(tmp_path, config_for_test(webhook, repeat_interval="10s"))
    try:
        yield process.start()
    finally:
        process.stop()
        print(f"--- {process.log_path} ---\n{process.log_path.read_text(errors='replace')[-3000:]}")


def test_a_disputed_alert_is_not_notified_again_while_a_control_alert_of_the_customer_is(
    start_worker, broker: str, alertmanager: AlertmanagerProcess, webhook: Webhook, tmp_path: Path
) -> None:
    start_worker(env=WORKER_ENV)
    bridge = BridgeProcess(broker, alertmanager.url, tmp_path / "bridge.log").start()
    try:
        bridge.wait_caught_up()
        now = int(time.time() * 1000)
        customer = "c-disputes"
        disputed, control = alert_id_for(KIND, customer, "O-1"), alert_id_for(KIND, customer, "O-2")
        run(produce(broker, refused(customer, "O-1", now - 5 * HOUR) + refused(customer, "O-2", now - 5 * HOUR)))
        wait_for(
            lambda: any(
                alert_states(n) == {disputed: "firing", control: "firing"} for n in webhook.received("crm", customer)
            ),
            WAIT,
            "both alerts notified",
        )
        run(
            produce(
                broker,
                [
                    answer(
                        "fb-d", "alert.disputed", customer, now - HOUR, alert_id=disputed, by="bob", reason="not ours"
                    )
                ],
            )
        )

        def quieted() -> int | None:
            for index, notification in enumerate(webhook.received("crm", customer)):
                if alert_states(notification).get(disputed) == "resolved":
                    return index + 1
            return None

        after = wait_for(quieted, WAIT, "the disputed alert ended in Alertmanager")
        (ended,) = [
            a for a in webhook.received("crm", customer)[after - 1]["alerts"] if a["labels"]["alert_id"] == disputed
        ]
        assert ended["annotations"]["feedback"] == "Disputed by bob: not ours"
        # Two repeats of the control alert (every 10 s) after the dispute: the disputed one in neither.
        repeats = wait_for(
            lambda: [n for n in webhook.received("crm", customer)[after:] if alert_states(n).get(control) == "firing"][
                1:
            ],
            45.0,
            "the control alert repeated twice",
        )
        for notification in webhook.received("crm", customer)[after:]:
            assert disputed not in alert_states(notification), notification
        assert repeats
        held = {a["labels"]["alert_id"]: a["status"]["state"] for a in alertmanager.alerts(customer_id=customer)}
        assert held.get(control) == "active" and held.get(disputed) in (None, "resolved", "unprocessed")
        assert held.get(disputed) != "active"
    finally:
        bridge.stop()
