"""The live page, the customer page and the report in a real headless Chromium, with the demo's stories running.

Debian's ``chromium`` (installed by ``scripts/ensure-chromium.sh``, which ``make test``
runs; ``FAIRWATCH_CHROMIUM`` names another executable) driven by Playwright for
Python; Playwright's own browser download is never used. A missing Chromium fails
the test: it never skips. Screenshots go to ``test-artifacts/browser/`` at the
repository root (git-ignored; ``FAIRWATCH_TEST_ARTIFACTS`` moves it) and their
paths are printed.

The figures on the page and in the report are compared with what this test
computes from the alert topic itself (tests/support/alert_figures.py).
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest

from models.timestamps import format_ms
from streams.tools.demo import DEMO_ENV
from tests.support.alert_figures import expected_figures
from tests.support.browser import ARTIFACTS, off_loop
from tests.support.kafka_io import produce, read_topic, run
from tests.support.stories import StoryStream, publish_demo_plans

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[2]
LATE = "promise.late_delivery"


def answer(event_id: str, kind: str, customer: str, at: int, **data: Any) -> tuple[str, bytes, bytes]:
    """One of the CRM's answers, on the feedback topic (SPEC §1)."""
    document = {"event_id": event_id, "type": kind, "customer_id": customer, "occurred_at": format_ms(at), "data": data}
    return ("fairwatch.feedback", customer.encode(), orjson.dumps(document))


def read_alerts(broker: str) -> list[bytes]:
    records = off_loop(lambda: run(read_topic(broker, "fairwatch.alerts", expect=0, timeout=30, quiet=1.0)))
    return [record.value for record in records]


class Shots:
    """Numbered screenshots in the artifacts folder, listed at the end of the test's output."""

    def __init__(self) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        for old in ARTIFACTS.glob("*.png"):  # this run's screenshots only
            old.unlink()
        self.taken: list[Path] = []

    def __call__(self, page: Any, name: str) -> Path:
        path = ARTIFACTS / f"{len(self.taken) + 1:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        self.taken.append(path)
        print(f"screenshot: {path}")
        return path


def page_figures(page: Any) -> dict[str, Any]:
    """What the live page shows: the headline cards and the by-kind table, exact money from data-amount."""
    shown = page.evaluate("""() => {
        const amount = (id) => document.getElementById(id).dataset.amount;
        const count = (id) => document.getElementById(id).textContent;
        const rows = {};
        for (const row of document.querySelectorAll('#by-kind tbody tr')) {
            const cells = row.querySelectorAll('td');
            rows[row.dataset.kind] = {alerts: cells[1].textContent, open: cells[2].textContent,
                customers: cells[3].textContent};
            for (const cell of row.querySelectorAll('td[data-field]')) rows[row.dataset.kind][cell.dataset.field] =
                cell.dataset.amount;
        }
        return {headline: {overpayment_year_open: amount('overpayment-open'),
            overpayment_year_found: amount('overpayment-found'), overcharges_once_open: amount('overcharges-open'),
            overcharges_once_found: amount('overcharges-found'), alerts: count('alerts-all'),
            open: count('alerts-open'), promises_open: count('promises-open')}, by_kind: rows};
    }""")
    return _numbers(shown)


def report_figures(page: Any) -> dict[str, Any]:
    """What the report's HTML states: the same headline and by-kind figures."""
    shown = page.evaluate("""() => {
        const amount = (id) => document.getElementById(id).dataset.amount;
        const count = (id) => document.getElementById(id).textContent.trim();
        const rows = {};
        for (const row of document.querySelectorAll('#by-kind tbody tr.kind')) {
            const cells = row.querySelectorAll('td');
            rows[row.dataset.kind] = {alerts: cells[2].textContent, customers: cells[3].textContent,
                open: cells[4].textContent};
            for (const cell of row.querySelectorAll('td[data-field]')) rows[row.dataset.kind][cell.dataset.field] =
                cell.dataset.amount;
        }
        return {headline: {overpayment_year_open: amount('overpayment-open'),
            overpayment_year_found: amount('overpayment-found'), overcharges_once_open: amount('overcharges-open'),
            overcharges_once_found: amount('overcharges-found'), alerts: count('findings-count'),
            open: count('findings-open'), promises_open: count('promises-open')}, by_kind: rows};
    }""")
    return _numbers(shown)


def _numbers(shown: dict[str, Any]) -> dict[str, Any]:
    def convert(values: dict[str, str]) -> dict[str, Any]:
        return {
            k: (Decimal(v) if "." in v else int(v)) if v not in (None, "", "\u2013") else v for k, v in values.items()
        }

    return {"headline": convert(shown["headline"]), "by_kind": {k: convert(v) for k, v in shown["by_kind"].items()}}


def test_live_page_customer_page_and_report_in_chromium(start_worker, broker, tmp_path: Path, browser) -> None:
    off_loop(lambda: publish_demo_plans(broker))
    worker = start_worker(env=DEMO_ENV, name="worker")
    shots = Shots()
    requests: list[str] = []
    page = browser.new_page()
    page.on("request", lambda request: requests.append(request.url))
    stories = StoryStream(broker, customers=10).start()
    try:
        # --- the live page: alerts arrive without a reload ------------------------------------------------
        page.goto(worker.url + "/")
        page.wait_for_function("document.querySelectorAll('#feed li').length > 0")
        page.evaluate("window.fairwatchTestMarker = 'same document'")
        seen = page.evaluate("Number(document.getElementById('status').dataset.seq)")
        page.wait_for_function(f"Number(document.getElementById('status').dataset.seq) > {seen} + 10", timeout=60_000)
        assert page.evaluate("window.fairwatchTestMarker") == "same document", "the page was reloaded"
        page.wait_for_selector(f'#filter-kind option[value="{LATE}"]', state="attached", timeout=60_000)
        page.wait_for_function("document.querySelectorAll('#by-kind tbody tr').length >= 3", timeout=60_000)
        shots(page, "live-page")

        # --- filter by kind, then severity ------------------------------------------------------------------
        kinds_shown = page.eval_on_selector_all("#feed li", "items => items.map(i => i.dataset.kind)")
        assert len(set(kinds_shown)) > 1
        page.select_option("#filter-kind", LATE)
        filtered = page.eval_on_selector_all("#feed li", "items => items.map(i => i.dataset.kind)")
        assert filtered and set(filtered) == {LATE}
        page.select_option("#filter-severity", "critical")
        both = page.eval_on_selector_all("#feed li", "items => items.map(i => [i.dataset.kind, i.dataset.severity])")
        assert all(pair == [LATE, "critical"] for pair in both)
        page.select_option("#filter-severity", "")
        shots(page, "filtered-late-delivery")
    finally:
        stories.stop()

    # --- a customer's story, reached from a late delivery in the feed -------------------------------------------
    page.click(f'#feed li[data-kind="{LATE}"] a.customer')
    page.wait_for_url("**/customers/*")
    page.wait_for_function("document.body.dataset.loaded === 'yes'")
    customer = page.url.rsplit("/", 1)[1]
    assert page.text_content("#customer-title") == f"Customer {customer}"
    assert page.locator("#timeline li.alert").count() > 0
    assert page.locator("#timeline li.order").count() > 0
    assert page.locator(f'#findings tr[data-kind="{LATE}"]').count() > 0
    evidence = page.locator("#timeline li.alert a.evidence").first
    event_id = evidence.get_attribute("data-event")
    evidence.click()
    page.wait_for_function("window.location.hash.startsWith('#ev-')")
    target = page.locator(":target")
    assert target.count() == 1 and target.text_content() == event_id
    shots(page, f"customer-{customer}")

    # --- the CRM's answer on that late delivery: acknowledged, then closed, on the customer page -----------------
    alert_id = page.locator(f'#findings tr[data-kind="{LATE}"]').first.get_attribute("data-alert")
    now = int(time.time() * 1000)
    answers = [
        answer(f"ack-{alert_id}", "alert.acknowledged", customer, now, alert_id=alert_id, by="agent-7", note="calling"),
        answer(
            f"close-{alert_id}",
            "alert.closed",
            customer,
            now + 60_000,
            alert_id=alert_id,
            by="agent-7",
            outcome="refunded",
        ),
    ]
    off_loop(lambda: run(produce(broker, answers)))
    row = f'#findings tr[data-alert="{alert_id}"]'
    deadline = time.monotonic() + 60
    while True:  # the page polls only without a followed link in its address: load it afresh
        page.goto(page.url.split("#", 1)[0])
        page.wait_for_function("document.body.dataset.loaded === 'yes'")
        if page.get_attribute(f"{row} td.answer", "data-answer") == "refunded" or time.monotonic() > deadline:
            break
        time.sleep(1.0)
    assert page.get_attribute(f"{row} td.answer", "data-answer") == "refunded"
    assert page.text_content(f"{row} td.owner").startswith("agent-7")
    assert page.text_content(f"{row} td.answer").startswith("closed by agent-7: refunded after ")
    shots(page, f"customer-{customer}-closed")

    # --- numbers match: the page against the topic, once the last deadlines have fired ---------------------------
    page.goto(worker.url + "/")
    page.wait_for_function("document.querySelectorAll('#by-kind tbody tr').length > 0")
    deadline = time.monotonic() + 120
    while True:
        expected = expected_figures(read_alerts(broker))
        time.sleep(2.5)  # two polls of the page
        shown = page_figures(page)
        if _matches(shown, expected) or time.monotonic() > deadline:
            break
    _assert_matches(shown, expected)
    assert expected["headline"]["overpayment_year_found"] > 0 and expected["headline"]["overcharges_once_found"] > 0
    shots(page, "live-page-settled")
    assert all(url.startswith(worker.url) for url in requests), [u for u in requests if not u.startswith(worker.url)]

    # --- the report, opened in the same browser ----------------------------------------------------------------
    out = tmp_path / "report"
    for _ in range(5):
        before = read_alerts(broker)
        result = subprocess.run(
            [sys.executable, "-m", "streams.tools.cli", "report", "--out", str(out)],
            capture_output=True,
            text=True,
            timeout=90,
            cwd=ROOT,
            env={**os.environ, "FAIRWATCH_BROKER": broker},
        )
        assert result.returncode == 0, result.stdout + result.stderr
        if len(read_alerts(broker)) == len(before):
            break  # nothing arrived while the report read the topic: it saw exactly ``before``
    expected = expected_figures(before)
    print(result.stdout)
    report_requests: list[str] = []
    report_page = browser.new_page()
    report_page.on("request", lambda request: report_requests.append(request.url))
    report_page.goto((out / "report.html").as_uri())
    _assert_matches(report_figures(report_page), expected)
    assert report_page.locator("svg rect").count() > 0
    assert all(url.startswith("file://") for url in report_requests), report_requests
    shots(report_page, "report")
    _assert_csv_matches(out / "by_kind_month.csv", expected)
    print("screenshots:\n  " + "\n  ".join(str(path) for path in shots.taken))


def _comparable(figures: dict[str, Any]) -> dict[str, Any]:
    keys = ("alerts", "open", "customers", "found_year", "found_once", "open_year", "open_once")
    return {
        "headline": figures["headline"],
        "by_kind": {kind: {k: row[k] for k in keys} for kind, row in figures["by_kind"].items()},
    }


def _matches(shown: dict[str, Any], expected: dict[str, Any]) -> bool:
    return _comparable(shown) == _comparable(expected)


def _assert_matches(shown: dict[str, Any], expected: dict[str, Any]) -> None:
    assert _comparable(shown) == _comparable(expected)


def _assert_csv_matches(path: Path, expected: dict[str, Any]) -> None:
    """The CSV's per kind-and-month rows add up, per kind, to the topic's figures."""
    totals: dict[str, dict[str, Any]] = {}
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            kind = totals.setdefault(
                row["kind"],
                {
                    "alerts": 0,
                    "open": 0,
                    "found_year": Decimal(0),
                    "found_once": Decimal(0),
                    "open_year": Decimal(0),
                    "open_once": Decimal(0),
                },
            )
            kind["alerts"] += int(row["alerts"])
            kind["open"] += int(row["open"])
            for field, column in (
                ("found_year", "yearly_found"),
                ("found_once", "one_off_found"),
                ("open_year", "yearly_open"),
                ("open_once", "one_off_open"),
            ):
                kind[field] += Decimal(row[column])
    assert totals == {
        kind: {k: row[k] for k in totals.get(kind, row) if k != "customers"}
        for kind, row in expected["by_kind"].items()
    }
