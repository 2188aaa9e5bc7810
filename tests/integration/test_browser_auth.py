"""The web port with FAIRWATCH_WEB_TOKEN in a real headless Chromium, with attacker-controlled text in the events.

Without the token: the login page, and 401 on the APIs. A wrong token: refused.
With it: the live page as always, and customer pages served by either of two
workers (a request for a partition the other owns is forwarded, cookie and all).
Event-supplied text (customer ids, SKUs, spec values, complaint categories)
carrying ``<script>``, ``onerror`` and ``onload`` payloads is shown as text:
nothing runs (no dialog, the payloads' marker never set).
"""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import quote

import pytest

from models.timestamps import MS_PER_DAY, format_ms
from tests.support.browser import ARTIFACTS, off_loop
from tests.support.kafka_io import produce, read_topic, run
from tests.support.pipeline_scenario import WORKER_ENV, event, line
from tests.support.workers import TOKEN, split_between

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

#: Every payload sets window.__xss (and would open a dialog) if the page ran it.
CUSTOMER = '<script>window.__xss="customer";alert(1)</script>'
ATTRIBUTE_CUSTOMER = 'c-"><img src=x onerror="window.__xss=\'attribute\';alert(2)">'
SKU = "<img src=x onerror=\"window.__xss='sku';alert(3)\">"
COLOUR = "<svg onload=\"window.__xss='spec';alert(4)\">"
CATEGORY = "<img src=x onerror=\"window.__xss='category';alert(5)\">"
PLAIN = [f"c-plain-{n}" for n in range(6)]


def hostile_events(now: int) -> list[tuple[str, bytes, bytes]]:
    day = MS_PER_DAY
    messages = [
        # Never delivered: a late delivery for the <script> customer, with a hostile SKU.
        (
            "orders",
            CUSTOMER.encode(),
            event(
                "x-1",
                "order.placed",
                CUSTOMER,
                now - 3 * day,
                order_id="O-1",
                lines=[line("1", SKU, 1, 9.99, colour="brown")],
                promised_delivery_by=format_ms(now - 2 * day),
            ),
        ),
        # The wrong colour delivered, both colours hostile: a wrong-delivery alert quoting them.
        (
            "orders",
            ATTRIBUTE_CUSTOMER.encode(),
            event(
                "x-2",
                "order.placed",
                ATTRIBUTE_CUSTOMER,
                now - 2 * day,
                order_id="O-2",
                lines=[line("1", SKU, 2, 4.50, colour=COLOUR)],
                promised_delivery_by=format_ms(now + day),
            ),
        ),
        (
            "orders",
            ATTRIBUTE_CUSTOMER.encode(),
            event(
                "x-3",
                "order.delivered",
                ATTRIBUTE_CUSTOMER,
                now - day,
                order_id="O-2",
                lines=[{"line_id": "1", "sku": SKU, "qty": 2, "spec": {"colour": "<b>white</b>"}}],
            ),
        ),
        # A complaint never acknowledged, in a hostile category.
        (
            "complaints",
            ATTRIBUTE_CUSTOMER.encode(),
            event(
                "x-4",
                "complaint.opened",
                ATTRIBUTE_CUSTOMER,
                now - 3 * day,
                complaint_id="K-1",
                category=CATEGORY,
                severity="high",
                channel="<i>phone</i>",
            ),
        ),
    ]
    for n, customer in enumerate(PLAIN):  # customers on every partition, for the forwarded requests
        messages.append(
            (
                "orders",
                customer.encode(),
                event(
                    f"p-{n}",
                    "order.placed",
                    customer,
                    now - 3 * day,
                    order_id=f"P-{n}",
                    lines=[line("1", "BOX-40", 1, 2.49)],
                    promised_delivery_by=format_ms(now - 2 * day),
                ),
            )
        )
    return messages


def test_login_then_the_page_with_hostile_event_text_and_forwarded_customer_pages(
    start_worker,
    broker,
    tmp_path: Path,
    browser,
) -> None:
    first = start_worker(env={**WORKER_ENV, "FAIRWATCH_WEB_TOKEN": TOKEN}, name="first")
    second = start_worker(env={**WORKER_ENV, "FAIRWATCH_WEB_TOKEN": TOKEN}, name="second")
    deadline = time.monotonic() + 30
    while not split_between([first, second]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert split_between([first, second])
    off_loop(lambda: run(produce(broker, hostile_events(int(time.time() * 1000)))))
    alerts = off_loop(lambda: run(read_topic(broker, "fairwatch.alerts", expect=3 + len(PLAIN), timeout=60)))
    assert {record.key.decode() for record in alerts} >= {CUSTOMER, ATTRIBUTE_CUSTOMER}

    dialogs: list[str] = []
    page = browser.new_page()
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    shots = ARTIFACTS.parent / "browser-auth"
    shots.mkdir(parents=True, exist_ok=True)

    # --- no token: the login page, and 401 on the APIs --------------------------------------------------------
    page.goto(first.url + "/")
    assert page.url.startswith(first.url + "/login")
    assert page.locator("form#login input[type=password]").count() == 1
    assert page.evaluate("fetch('/api/summary').then((r) => r.status)") == 401
    assert page.evaluate("fetch('/customers/c-plain-0').then((r) => r.status)") == 401
    page.fill("#token", "not-the-token-at-all")
    page.click("button[type=submit]")
    assert page.text_content("#login-error") == "That is not the token."
    page.screenshot(path=str(shots / "01-login-refused.png"))

    # --- the token: the live page as always -------------------------------------------------------------------
    page.fill("#token", TOKEN)
    page.click("button[type=submit]")
    page.wait_for_url(first.url + "/")
    (cookie,) = [c for c in browser.cookies() if c["name"] == "fairwatch_session"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and TOKEN not in cookie["value"]
    assert "fairwatch_session" not in page.evaluate("document.cookie")  # out of scripts' reach
    page.wait_for_function(
        f"[...document.querySelectorAll('#feed li a.customer')].some((a) => a.textContent === {CUSTOMER!r})",
        timeout=60_000,
    )
    page.wait_for_function("document.querySelectorAll('#feed li').length >= 3", timeout=60_000)
    page.screenshot(path=str(shots / "02-live-page-hostile-text.png"), full_page=True)
    shown = page.eval_on_selector_all("#feed li a.customer", "links => links.map((a) => a.textContent)")
    assert CUSTOMER in shown and ATTRIBUTE_CUSTOMER in shown
    summaries = " ".join(page.eval_on_selector_all("#feed li .summary", "ps => ps.map((p) => p.textContent)"))
    assert "<svg onload=" in summaries  # the spec value, as text
    assert page.locator("#feed script, #feed img, #feed svg, #feed iframe").count() == 0

    # --- customer pages, from the first worker, for customers on both workers' partitions ----------------------
    partitions = set()
    for customer in [CUSTOMER, ATTRIBUTE_CUSTOMER, *PLAIN]:
        page.goto(f"{first.url}/customers/{quote(customer, safe='')}")
        page.wait_for_function("document.body.dataset.loaded === 'yes'", timeout=30_000)
        assert page.text_content("#customer-title") == f"Customer {customer}"
        state = page.evaluate(f"fetch('/customers/{quote(customer, safe='')}?format=json').then((r) => r.json())")
        partitions.add(state["partition"])
        assert page.locator("main script, main img, main svg, main iframe").count() == 0
        if customer == ATTRIBUTE_CUSTOMER:
            text = page.text_content("main")
            assert "<svg onload=" in text and CATEGORY in text, text[:2000]
    page.screenshot(path=str(shots / "03-customer-page-hostile-text.png"), full_page=True)
    assert len(partitions) > 1, "every customer on one worker: nothing was forwarded"

    # Nothing ran, anywhere.
    assert page.evaluate("window.__xss") is None
    assert dialogs == []
    print(f"screenshots: {shots}")
