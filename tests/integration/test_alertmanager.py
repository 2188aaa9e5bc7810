"""Notifications end to end: the alert topic -> ``fairwatch alertmanager`` -> Debian's Alertmanager -> a webhook.

Real parts: the embedded broker, the bridge as a child process, Debian's
``prometheus-alertmanager`` (``scripts/ensure-alertmanager.sh``, run by ``make
test``; missing, these tests fail rather than skip) running the shipped
``ops/alertmanager/alertmanager.yml`` with its webhooks pointed at a receiver in
the test and 1 s group timings. The alerts are the worker's CloudEvents
(``models.alerts.to_cloudevent``) produced straight onto the alert topic, so
each test says exactly which alerts exist, in which order.
"""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from models.ledger import Ledger
from models.notifications import ROLLUP_KIND
from streams.tools.report import read_alert_documents
from tests.support.alertmanager_parts import (
    PUBLIC_URL,
    AlertmanagerProcess,
    Alerts,
    BridgeProcess,
    Webhook,
    alert_states,
    config_for_test,
    publish,
    wait_for,
)
from tests.support.kafka_io import run

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

WAIT = 30.0


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    with Webhook() as receiver:
        yield receiver


@pytest.fixture
def alertmanager(tmp_path: Path, webhook: Webhook) -> Iterator[AlertmanagerProcess]:
    process = AlertmanagerProcess(tmp_path, config_for_test(webhook))
    try:
        yield process.start()
    finally:
        process.stop()
        print(f"--- {process.log_path} ---\n{process.log_path.read_text(errors='replace')[-3000:]}")


@pytest.fixture
def bridges(broker: str, tmp_path: Path, alertmanager: AlertmanagerProcess) -> Iterator[list[BridgeProcess]]:
    """Bridges started by the test (``bridges.append(...)``), all stopped, and their logs shown, at the end."""
    started: list[BridgeProcess] = []
    try:
        yield started
    finally:
        for bridge in started:
            bridge.stop()
        log = tmp_path / "bridge.log"
        if log.exists():
            print(f"--- {log} ---\n{log.read_text(errors='replace')[-4000:]}")


def start_bridge(broker: str, alertmanager: AlertmanagerProcess, tmp_path: Path, bridges: list) -> BridgeProcess:
    bridge = BridgeProcess(broker, alertmanager.url, tmp_path / "bridge.log").start()
    bridges.append(bridge)
    bridge.wait_caught_up()
    return bridge


def firing_in(notifications: list[dict[str, Any]], alert_id: str) -> int:
    return sum(1 for n in notifications if alert_states(n).get(alert_id) == "firing")


def test_a_customers_alerts_arrive_in_one_notification_and_a_resolved_one_as_resolved(
    broker: str, alertmanager: AlertmanagerProcess, webhook: Webhook, tmp_path: Path, bridges: list
) -> None:
    alerts = Alerts()
    late = alerts.emit("promise.late_delivery", "c-group", "order-1")
    billing = alerts.emit("promise.billing_error", "c-group", "inv-1/l1")
    better = alerts.emit(
        "overpaying.better_plan", "c-group", "sub-1", amount=96_000_000, per="year", evidence=("u-1", "u-2")
    )
    other = alerts.emit("promise.late_delivery", "c-other", "order-9")
    start_bridge(broker, alertmanager, tmp_path, bridges)
    run(publish(broker, [late, billing, better, other]))

    ids = {doc["data"]["alert_id"] for doc in (late, billing, better)}
    first = wait_for(lambda: webhook.received("crm", "c-group"), WAIT, "the CRM notified of c-group")[0]
    # One notification for the customer's three findings, not three.
    assert alert_states(first) == dict.fromkeys(ids, "firing")
    assert first["groupLabels"] == {"customer_id": "c-group"}
    posted = {alert["labels"]["alert_id"]: alert for alert in first["alerts"]}
    plan = posted[better["data"]["alert_id"]]
    assert plan["labels"] == {
        "alertname": "overpaying.better_plan",
        "customer_id": "c-group",
        "severity": "warning",
        "alert_id": better["data"]["alert_id"],
        "family": "overpaying",
    }
    assert plan["annotations"]["summary"] == better["data"]["summary"]
    assert plan["annotations"]["action"] == better["data"]["suggested_action"]
    assert plan["annotations"]["impact"] == "EUR 96.00 per year"
    assert plan["annotations"]["evidence"] == "u-1, u-2"
    assert plan["generatorURL"] == f"{PUBLIC_URL}/customers/c-group"
    # Routed by family as well: bad profits to the retention team, that one only.
    retention = wait_for(lambda: webhook.received("retention-team", "c-group"), WAIT, "retention team notified")
    assert alert_states(retention[0]) == {better["data"]["alert_id"]: "firing"}
    # Another customer is another notification.
    wait_for(lambda: webhook.received("crm", "c-other"), WAIT, "the CRM notified of c-other")
    assert all(n["groupLabels"]["customer_id"] == "c-group" for n in webhook.received("crm", "c-group"))

    run(publish(broker, [alerts.emit("promise.billing_error", "c-group", "inv-1/l1", "resolved")]))

    def resolved() -> dict[str, Any] | None:
        for notification in webhook.received("crm", "c-group"):
            if alert_states(notification).get(billing["data"]["alert_id"]) == "resolved":
                return notification
        return None

    notification = wait_for(resolved, WAIT, "billing error notified as resolved")
    states = alert_states(notification)
    assert states.pop(billing["data"]["alert_id"]) == "resolved"
    assert states == dict.fromkeys(ids - {billing["data"]["alert_id"]}, "firing")
    (alert,) = [a for a in notification["alerts"] if a["status"] == "resolved"]
    assert alert["annotations"]["summary"].endswith("resolved")  # the resolving emission's words
    # Two notifications for the group, the first and the resolution (repeat_interval is an hour): the
    # bridge's re-posts every second are Alertmanager's to de-duplicate, and it does.
    assert [alert_states(n) for n in webhook.received("crm", "c-group")] == [
        alert_states(first),
        states | {billing["data"]["alert_id"]: "resolved"},
    ]


def test_the_repeated_promises_alert_inhibits_the_promises_it_counts_and_only_those(
    broker: str, alertmanager: AlertmanagerProcess, webhook: Webhook, tmp_path: Path, bridges: list
) -> None:
    alerts = Alerts()
    parts = [alerts.emit("promise.late_delivery", "c-p", f"order-{n}") for n in (1, 2, 3)]
    part_ids = [doc["data"]["alert_id"] for doc in parts]
    start_bridge(broker, alertmanager, tmp_path, bridges)
    run(publish(broker, parts))
    wait_for(
        lambda: any(set(alert_states(n)) == set(part_ids) for n in webhook.received("crm", "c-p")),
        WAIT,
        "the three late deliveries notified",
    )

    pattern = alerts.emit(ROLLUP_KIND, "c-p", "pattern", severity="critical", amount=0, evidence=tuple(part_ids))
    different = alerts.emit("promise.late_delivery", "c-p", "order-4")
    run(publish(broker, [pattern, different]))
    pattern_id, different_id = pattern["data"]["alert_id"], different["data"]["alert_id"]

    def escalated() -> list[dict[str, Any]]:
        notifications = webhook.received("crm", "c-p")
        for index, notification in enumerate(notifications):
            if alert_states(notification).get(pattern_id) == "firing":
                return notifications[index:]
        return []

    since = wait_for(escalated, WAIT, "the repeated-promises alert notified")
    states = alert_states(since[0])
    assert states[pattern_id] == "firing"
    # A new, different broken promise still gets through.
    wait_for(lambda: firing_in(escalated(), different_id), WAIT, "the fourth late delivery notified")
    # The three it counts: never again firing once it fires. Their label sets without rolled_up end
    # (Alertmanager knows an alert by its labels), said so in an annotation.
    for notification in escalated():
        for part_id in part_ids:
            assert alert_states(notification).get(part_id) in (None, "resolved")
    for notification in webhook.notifications:
        assert all(alert["labels"].get("rolled_up") != "true" for alert in notification["alerts"])
    ended = [a for n in escalated() for a in n["alerts"] if a["labels"]["alert_id"] in part_ids]
    assert {a["labels"]["alert_id"] for a in ended} == set(part_ids)
    assert all(a["annotations"]["superseded"] == f"rolled up into {pattern_id}" for a in ended)
    # In Alertmanager they are there, inhibited by the pattern: not lost, not sent.
    rolled_up = wait_for(
        lambda: [a for a in alertmanager.alerts(rolled_up="true") if a["status"]["state"] == "suppressed"],
        WAIT,
        "the rolled-up promises held as inhibited",
    )
    assert {a["labels"]["alert_id"] for a in rolled_up} == set(part_ids)
    assert all(a["status"]["inhibitedBy"] for a in rolled_up)
    # The escalation desk hears of the pattern (critical), and of no part.
    desk = wait_for(lambda: webhook.received("escalations", "c-p"), WAIT, "escalation desk notified")
    assert {aid for n in desk for aid in alert_states(n)} == {pattern_id}


def test_a_silence_for_one_customer_keeps_its_alerts_from_the_webhook(
    broker: str, alertmanager: AlertmanagerProcess, webhook: Webhook, tmp_path: Path, bridges: list
) -> None:
    silence = alertmanager.api(
        "POST",
        "/api/v2/silences",
        {
            "matchers": [{"name": "customer_id", "value": "c-quiet", "isRegex": False, "isEqual": True}],
            "startsAt": "2020-01-01T00:00:00Z",
            "endsAt": "2099-01-01T00:00:00Z",
            "createdBy": "crm",
            "comment": "the customer asked not to be contacted",
        },
    )
    alerts = Alerts()
    quiet = alerts.emit("promise.late_delivery", "c-quiet", "order-1", severity="critical")
    loud = alerts.emit("promise.late_delivery", "c-loud", "order-1", severity="critical")
    start_bridge(broker, alertmanager, tmp_path, bridges)
    run(publish(broker, [quiet, loud]))

    wait_for(lambda: webhook.received("crm", "c-loud"), WAIT, "c-loud notified")
    wait_for(lambda: webhook.received("escalations", "c-loud"), WAIT, "c-loud escalated")
    # c-quiet's alert reached Alertmanager in the same post, and is held there as silenced.
    (held,) = alertmanager.alerts(customer_id="c-quiet")
    assert held["labels"]["alert_id"] == quiet["data"]["alert_id"]
    assert held["status"] == {"state": "suppressed", "silencedBy": [silence["silenceID"]], "inhibitedBy": []}
    assert not [n for n in webhook.notifications if n["groupLabels"].get("customer_id") == "c-quiet"]


def test_alertmanager_down_then_back_and_a_bridge_restart_lose_nothing_and_repeat_nothing(
    broker: str, alertmanager: AlertmanagerProcess, webhook: Webhook, tmp_path: Path, bridges: list
) -> None:
    alerts = Alerts()
    f_raised = alerts.emit("promise.late_delivery", "c-f", "order-1")
    h_raised = alerts.emit("promise.wrong_delivery", "c-h", "order-2")
    bridge = start_bridge(broker, alertmanager, tmp_path, bridges)
    run(publish(broker, [f_raised, h_raised]))
    f_id, h_id = f_raised["data"]["alert_id"], h_raised["data"]["alert_id"]
    wait_for(lambda: firing_in(webhook.received("crm", "c-f"), f_id), WAIT, "F notified")
    wait_for(lambda: firing_in(webhook.received("crm", "c-h"), h_id), WAIT, "H notified")

    # Alertmanager stops; meanwhile G is raised and F resolves.
    alertmanager.stop()
    g_raised = alerts.emit("promise.complaint_unresolved", "c-g", "complaint-1")
    g_id = g_raised["data"]["alert_id"]
    run(publish(broker, [g_raised, alerts.emit("promise.late_delivery", "c-f", "order-1", "resolved")]))
    wait_for(
        lambda: (bridge.metric("fairwatch_alertmanager_post_failures_total") or 0) >= 2,
        WAIT,
        "the bridge counting failed posts",
    )
    assert bridge.metric("fairwatch_alertmanager_pending_changes") >= 2  # G and F's resolution, kept

    # Back (same storage: its notification log and silences survive; its alerts do not).
    alertmanager.start()
    wait_for(lambda: firing_in(webhook.received("crm", "c-g"), g_id), WAIT, "G notified after the outage")
    wait_for(
        lambda: any(alert_states(n).get(f_id) == "resolved" for n in webhook.received("crm", "c-f")),
        WAIT,
        "F's resolution notified after the outage",
    )
    wait_for(lambda: bridge.metric("fairwatch_alertmanager_pending_changes") == 0, WAIT, "nothing pending")

    # The bridge stops; H resolves meanwhile; Alertmanager restarts and forgets every alert; a new bridge
    # rebuilds the open alerts from the topic and tells it again.
    bridge.stop()
    run(publish(broker, [alerts.emit("promise.wrong_delivery", "c-h", "order-2", "resolved")]))
    alertmanager.stop()
    alertmanager.start()
    assert alertmanager.alerts() == []
    start_bridge(broker, alertmanager, tmp_path, bridges)
    wait_for(
        lambda: any(alert_states(n).get(h_id) == "resolved" for n in webhook.received("crm", "c-h")),
        WAIT,
        "H's resolution notified after the bridge restart",
    )
    active = wait_for(
        lambda: [a for a in alertmanager.alerts() if a["status"]["state"] == "active"], WAIT, "open alerts posted again"
    )
    assert {a["labels"]["alert_id"] for a in active} == {g_id}  # F and H resolved: never posted as firing again

    # Each finding notified firing exactly once, through two Alertmanager restarts and a bridge restart.
    for customer, alert_id in (("c-f", f_id), ("c-g", g_id), ("c-h", h_id)):
        assert firing_in(webhook.received("crm", customer), alert_id) == 1, webhook.received("crm", customer)


def test_the_demo_with_alertmanager_set_notifies_through_it_and_a_new_bridge_tells_it_exactly_whats_open(
    broker: str, alertmanager: AlertmanagerProcess, webhook: Webhook, tmp_path: Path, bridges: list
) -> None:
    """The worker's own alerts (the demo's stories, every detector) through the bridge, then a bridge restart."""
    env = {
        **os.environ,
        "FAIRWATCH_BROKER": broker,  # the test's broker, so the alert topic outlives the demo
        "FAIRWATCH_BROKER_PROFILE": "tansu",
        "FAIRWATCH_ALERTMANAGER_URL": alertmanager.url,
    }
    done = subprocess.run(
        [sys.executable, "-m", "streams.tools.cli", "demo", "--seconds", "15", "--customers", "8"],
        capture_output=True,
        text=True,
        timeout=90,
        env=env,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert f"alerts posted to Alertmanager at {alertmanager.url}" in done.stdout
    worker_url = re.search(r"worker on (http://127\.0\.0\.1:\d+)", done.stdout).group(1)

    notified = wait_for(lambda: webhook.received("crm"), WAIT, "the demo's alerts notified")
    for notification in notified:  # one customer per notification
        assert {a["labels"]["customer_id"] for a in notification["alerts"]} == {
            notification["groupLabels"]["customer_id"]
        }
        for alert in notification["alerts"]:
            assert alert["generatorURL"] == f"{worker_url}/customers/{alert['labels']['customer_id']}"
            assert alert["labels"].get("rolled_up") != "true"  # inhibited, every one
    held = alertmanager.alerts()
    assert {a["labels"]["family"] for a in held} == {"overpaying", "promise", "relationship"}
    for alert in held:
        if alert["labels"].get("rolled_up") == "true":
            assert alert["status"]["state"] == "suppressed" and alert["status"]["inhibitedBy"], alert

    # The demo stopped its bridge before its worker: the topic may hold a few emissions more. A new bridge
    # reads the whole topic and leaves Alertmanager holding exactly the findings open on it.
    ledger = Ledger()
    for document in run(read_alert_documents([broker], timeout=30)):
        ledger.add_document(document)
    open_on_topic = {alert_id for alert_id, finding in ledger.findings.items() if finding.open}
    assert open_on_topic
    bridge = start_bridge(broker, alertmanager, tmp_path, bridges)
    wait_for(lambda: (bridge.metric("fairwatch_alertmanager_alerts_posted_total") or 0) > 0, WAIT, "a post")
    wait_for(lambda: bridge.metric("fairwatch_alertmanager_pending_changes") == 0, WAIT, "nothing pending")
    assert {a["labels"]["alert_id"] for a in alertmanager.alerts()} == open_on_topic


def test_two_bridges_share_the_partitions_and_hand_them_over_without_loss_or_repeats(
    broker: str, alertmanager: AlertmanagerProcess, webhook: Webhook, tmp_path: Path, bridges: list
) -> None:
    alerts = Alerts()
    first = [alerts.emit("promise.late_delivery", f"c-{n}", "order-1") for n in range(8)]
    bridge_a = start_bridge(broker, alertmanager, tmp_path, bridges)
    run(publish(broker, first))
    ids = {doc["data"]["customer_id"]: doc["data"]["alert_id"] for doc in first}
    for customer, alert_id in ids.items():
        wait_for(lambda c=customer, a=alert_id: firing_in(webhook.received("crm", c), a), WAIT, f"{customer} notified")

    # A second bridge joins the group: the partitions are split, each reads its share from the beginning.
    bridge_b = BridgeProcess(broker, alertmanager.url, tmp_path / "bridge.log").start()
    bridges.append(bridge_b)
    bridge_b.wait_caught_up()
    wait_for(lambda: (bridge_b.metric("fairwatch_alertmanager_open_alerts") or 0) > 0, WAIT, "b owning alerts")
    assert 0 < bridge_b.metric("fairwatch_alertmanager_open_alerts") < len(ids)
    second = [alerts.emit("promise.wrong_delivery", f"c-{n}", "order-2") for n in range(8)]
    run(publish(broker, [alerts.emit("promise.late_delivery", f"c-{n}", "order-1", "resolved") for n in range(8)]))
    run(publish(broker, second))
    later = {doc["data"]["customer_id"]: doc["data"]["alert_id"] for doc in second}
    for customer in ids:

        def moved(c: str = customer) -> bool:
            states: dict[str, str] = {}
            for notification in webhook.received("crm", c):
                states |= alert_states(notification)
            return states == {ids[c]: "resolved", later[c]: "firing"}

        wait_for(moved, WAIT, f"{customer}: the first resolved, the second firing")

    # The first bridge leaves: the second takes every partition over and carries on.
    bridge_a.stop()
    wait_for(lambda: bridge_b.metric("fairwatch_alertmanager_open_alerts") == len(later), WAIT, "b owning all")
    run(publish(broker, [alerts.emit("promise.wrong_delivery", f"c-{n}", "order-2", "resolved") for n in range(8)]))
    for customer, alert_id in later.items():
        wait_for(
            lambda c=customer, a=alert_id: any(alert_states(n)[a] == "resolved" for n in webhook.received("crm", c, a)),
            WAIT,
            f"{customer}: the second resolved",
        )
    assert [a for a in alertmanager.alerts() if a["status"]["state"] != "resolved"] == []
    # No notification repeats the one before it (the repeat interval is an hour): the re-posts, the
    # handovers and the rebuilds were all Alertmanager's to de-duplicate.
    for customer in ids:
        seen = [alert_states(n) for n in webhook.received("crm", customer)]
        assert all(before != after for before, after in itertools.pairwise(seen)), seen
        assert seen[0] == {ids[customer]: "firing"}
        assert seen[-1] == {later[customer]: "resolved"} or seen[-1] == {
            ids[customer]: "resolved",
            later[customer]: "resolved",
        }
