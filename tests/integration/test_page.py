"""The live page's JSON on two workers: each shows the whole alert topic, with figures equal to the topic's own.

The figures a test expects are computed from the alert topic itself
(tests/support/alert_figures.py), independently of models.ledger.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from decimal import Decimal
from typing import Any

import orjson
import pytest

from streams.tools.demo import DEMO_ENV
from tests.support.alert_figures import as_decimals, expected_figures, latest_alerts
from tests.support.kafka_io import read_topic, run
from tests.support.stories import StoryStream, publish_demo_plans
from tests.support.workers import wait_until_split

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]


def _get(worker: Any, path: str, accept: str | None = None) -> tuple[int, str, bytes]:
    request = urllib.request.Request(worker.url + path, headers={"Accept": accept} if accept else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Content-Type", ""), error.read()


def _page_figures(worker: Any) -> dict[str, Any]:
    summary = orjson.loads(worker.get("/api/summary")[1])
    return {
        "headline": as_decimals(summary["headline"]),
        "by_kind": {
            row["kind"]: {
                k: v
                for k, v in as_decimals(row).items()
                if k in ("alerts", "open", "customers", "found_year", "found_once", "open_year", "open_once")
            }
            for row in summary["by_kind"]
        },
    }


def _settled(broker: str, workers: list[Any], timeout: float = 90.0) -> tuple[list[bytes], dict[str, Any]]:
    """Read the topic and every worker's figures until they agree (new alerts may still arrive: deadlines)."""
    deadline = time.monotonic() + timeout
    while True:
        values = [r.value for r in run(read_topic(broker, "fairwatch.alerts", expect=0, timeout=30, quiet=1.0))]
        expected = expected_figures(values)
        pages = [_page_figures(worker) for worker in workers]
        if all(page == expected for page in pages) or time.monotonic() > deadline:
            for page in pages:
                assert page == expected
            return values, expected
        time.sleep(1.0)


def test_every_worker_shows_the_whole_alert_topic_with_exact_figures(start_worker, broker) -> None:
    publish_demo_plans(broker)
    first = start_worker(env=DEMO_ENV, name="first")
    second = start_worker(env=DEMO_ENV, name="second")
    wait_until_split([first, second])

    stories = StoryStream(broker, customers=10).start()
    try:
        deadline = time.monotonic() + 60
        while orjson.loads(first.get("/api/summary")[1])["headline"]["alerts"] < 30:
            assert time.monotonic() < deadline, "fewer than 30 alerts within 60 s"
            time.sleep(0.5)
    finally:
        stories.stop()
    values, expected = _settled(broker, [first, second])
    headline = expected["headline"]
    # Every kind of money is there, so the equality above compared real sums, not zeros.
    assert headline["overpayment_year_found"] > 0 and headline["overcharges_once_found"] > 0
    assert headline["open"] < headline["alerts"]  # and some were resolved
    # The whole picture: each worker owns only some partitions, yet shows every customer's alerts.
    customers = {orjson.loads(v)["data"]["customer_id"] for v in values}
    assert len(customers) == 10

    # The feed: every emission, newest first, after a sequence number; filtered server-side on request.
    feed = orjson.loads(second.get("/api/alerts?after=0&limit=500")[1])
    assert len(feed["alerts"]) == min(len({orjson.loads(v)["id"] for v in values}), 500)
    assert [a["seq"] for a in feed["alerts"]] == sorted((a["seq"] for a in feed["alerts"]), reverse=True)
    newest = feed["alerts"][0]["seq"]
    assert orjson.loads(second.get(f"/api/alerts?after={newest}")[1])["alerts"] == []
    late = orjson.loads(second.get("/api/alerts?after=0&kind=promise.late_delivery")[1])["alerts"]
    assert late and {a["kind"] for a in late} == {"promise.late_delivery"}


def test_the_customer_page_and_its_story_from_any_worker(start_worker, broker) -> None:
    publish_demo_plans(broker)
    first = start_worker(env=DEMO_ENV, name="first")
    second = start_worker(env=DEMO_ENV, name="second")
    stories = StoryStream(broker, customers=4, pause=0.1).start()
    try:
        deadline = time.monotonic() + 60
        while orjson.loads(first.get("/api/summary")[1])["headline"]["alerts"] < 12:
            assert time.monotonic() < deadline, "fewer than 12 alerts within 60 s"
            time.sleep(0.5)
    finally:
        stories.stop()
    values, _ = _settled(broker, [first, second])
    latest = latest_alerts(values)
    customer = max(
        {d["data"]["customer_id"] for d in latest.values()},
        key=lambda c: sum(d["data"]["customer_id"] == c for d in latest.values()),
    )
    theirs = {alert_id for alert_id, d in latest.items() if d["data"]["customer_id"] == customer}

    # A browser gets the page; an API client (no Accept, or JSON) the state, as before; ?format=json forces JSON.
    status, content_type, body = _get(first, f"/customers/{customer}", "text/html,application/xhtml+xml,*/*;q=0.8")
    assert status == 200 and content_type.startswith("text/html") and b"/static/customer.js" in body
    status, content_type, body = _get(first, f"/customers/{customer}")
    assert status == 200 and content_type.startswith("application/json")
    assert orjson.loads(body)["customer_id"] == customer
    status, _, body = _get(first, f"/customers/{customer}?format=json", "text/html")
    assert status == 200 and orjson.loads(body)["customer_id"] == customer

    stories_seen = []
    for worker in (first, second):
        status, _, body = _get(worker, f"/api/customers/{customer}/story")
        assert status == 200, body
        story = orjson.loads(body)
        stories_seen.append(story)
        assert {f["alert_id"] for f in story["findings"]} == theirs
        for finding in story["findings"]:
            document = latest[finding["alert_id"]]
            assert Decimal(finding["impact"]["amount"]) == Decimal(str(document["data"]["impact"]["amount"]))
        timeline = story["timeline"]
        facts = [e["at"] for e in timeline if e["kind"] != "alert"]
        assert facts == sorted(facts)
        for finding in story["findings"]:  # each alert's revisions in their order
            revisions = [e["revision"] for e in timeline if e.get("ref") == finding["alert_id"]]
            assert revisions == sorted(revisions) and revisions[-1] == finding["revision"]
        linked = [item for e in timeline if e["kind"] == "alert" for item in e["evidence"] if item["linked"]]
        assert linked, "an alert's evidence links to the events on the timeline"
        anchors = {event_id for e in timeline for event_id in e["event_ids"]}
        assert all(item["event_id"] in anchors for item in linked)
    # Routed to the owner: the same story whichever worker was asked.
    assert stories_seen[0]["timeline"] == stories_seen[1]["timeline"]
    assert _get(first, "/api/customers/nobody-like-this/story")[0] == 404

    status, content_type, body = _get(second, "/", "text/html")
    assert status == 200 and content_type.startswith("text/html") and b"/static/app.js" in body
    assert _get(second, "/static/app.js")[1].startswith("text/javascript")
    assert _get(second, "/static/no-such-asset.js")[0] == 404
