"""Bad profits end to end on the embedded broker: the plan catalog as a global table, and one scripted
customer per detector (SPEC §3.1-6) through raise -> update -> resolve, with the exact alert sequence.

Every event is in the past and each customer's events go out in time order, so the
sequence does not depend on when the live tick moves stream time.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from models.timestamps import MS_PER_DAY, add_months, format_ms, period_of, period_start, shift_period
from streams.tools.supervisor import WorkerProcess
from streams.tools.topic_commands import publish_plans, read_plans_file
from tests.support.kafka_io import produce, read_topic, run

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CATALOG = ROOT / "streams" / "tools" / "data" / "plans.toml"
# No live tick while a scripted history goes in: the tick would move stream time to
# the wall clock whenever the partition happens to be caught up between two sends.
# Stream time then moves with the events alone, as in a replay.
WORKER_ENV = {"FAIRWATCH_POLICY_GRACE_MINUTES": "0.02", "FAIRWATCH_TICK_SECONDS": "3600"}
LIVE_ENV = {"FAIRWATCH_POLICY_GRACE_MINUTES": "0.02"}
DAY = MS_PER_DAY


def event(event_id: str, event_type: str, customer: str, at: int, **data: object) -> tuple[int, str, bytes, bytes]:
    value = orjson.dumps(
        {"event_id": event_id, "type": event_type, "customer_id": customer, "occurred_at": format_ms(at), "data": data}
    )
    return at, "billing", customer.encode(), value


def bill(event_id: str, customer: str, sub: str, period: str, at: int, price: float, *credits: float) -> tuple:
    lines = [{"line_id": "1", "kind": "subscription", "ref": sub, "qty": 1, "unit_price": price, "amount": price}]
    lines += [
        {"line_id": f"c{n}", "kind": "fee", "ref": sub, "qty": 1, "unit_price": -credit, "amount": -credit}
        for n, credit in enumerate(credits, start=1)
    ]
    total = round(price - sum(credits), 2)
    return event(
        event_id, "invoice.issued", customer, at, invoice_id=f"INV-{event_id}", period=period, lines=lines, total=total
    )


def scenario(now: int) -> tuple[list[tuple], dict[str, list[tuple[str, str, int]]]]:
    """Messages in time order, and per customer the alerts that must come out: (kind, lifecycle, revision)."""
    this = period_of(now)
    month = {n: shift_period(this, n) for n in range(-15, 1)}  # "YYYY-MM" n months from now's
    start_of = {n: period_start(p) for n, p in month.items()}
    messages: list[tuple] = []

    # 1. better plan: 20 GB a month on Mobile S (15.00 + 3.00/GB over 5) against Mobile M (25.00, 20 GB).
    c = "c-better"
    messages += [
        event(
            "b1",
            "subscription.started",
            c,
            start_of[-8] + 3 * DAY,
            subscription_id="S-B",
            plan_id="mobile-s",
            monthly_fee=15.00,
        )
    ]
    for n, (m, units) in enumerate([(-5, 20), (-4, 20), (-3, 20), (-2, 40)], start=2):
        messages.append(
            event(
                f"b{n}", "usage.recorded", c, start_of[m + 1] + DAY, subscription_id="S-B", period=month[m], units=units
            )
        )
    messages.append(
        event(
            "b6",
            "subscription.changed",
            c,
            start_of[-1] + 10 * DAY,
            subscription_id="S-B",
            plan_id="mobile-l",
            monthly_fee=35.00,
            requested_by="customer",
        )
    )

    # 2. loyalty penalty: 15 months on Broadband 100 (29.99 for newcomers); two rises, then brought back down.
    c = "c-loyal"
    start = add_months(start_of[0], -15) + 2 * DAY
    messages += [
        event(
            "l1", "subscription.started", c, start, subscription_id="S-L", plan_id="broadband-100", monthly_fee=29.99
        ),
        event("l2", "notice.sent", c, add_months(start, 11), subscription_id="S-L", kind="best_tariff"),
        event(
            "l3",
            "price.change_notified",
            c,
            start_of[-2] - 40 * DAY,
            subscription_id="S-L",
            new_monthly_fee=34.99,
            effective_at=format_ms(start_of[-2]),
        ),
        event(
            "l4",
            "price.change_notified",
            c,
            start_of[-2] - 3 * DAY,
            subscription_id="S-L",
            new_monthly_fee=39.99,
            effective_at=format_ms(start_of[-1]),
        ),
        event(
            "l5",
            "subscription.changed",
            c,
            start_of[-1] + 5 * DAY,
            subscription_id="S-L",
            plan_id="broadband-100",
            monthly_fee=29.99,
            requested_by="company",
        ),
    ]

    # 3. unused subscription: TV Extra billed with zero hours; a price rise; then watched again.
    c = "c-unused"
    messages += [
        event(
            "u1",
            "subscription.started",
            c,
            start_of[-6] + 3 * DAY,
            subscription_id="S-U",
            plan_id="tv-extra",
            monthly_fee=12.99,
        ),
        bill("u2", c, "S-U", month[-4], start_of[-4] + DAY, 12.99),
        bill("u3", c, "S-U", month[-3], start_of[-3] + DAY, 12.99),
        event(
            "u4", "usage.recorded", c, start_of[-3] + DAY + 3_600_000, subscription_id="S-U", period=month[-4], units=0
        ),
        event(
            "u5",
            "price.change_notified",
            c,
            start_of[-1] - 40 * DAY,
            subscription_id="S-U",
            new_monthly_fee=15.99,
            effective_at=format_ms(start_of[-1]),
        ),
        event("u6", "usage.recorded", c, start_of[-2] + DAY, subscription_id="S-U", period=month[-3], units=0),
        bill("u7", c, "S-U", month[-2], start_of[-2] + 2 * DAY, 12.99),
        bill("u8", c, "S-U", month[-1], start_of[-1] + DAY, 15.99),  # the new fee: a dearer year of nothing
        event("u9", "usage.recorded", c, start_of[-1] + 2 * DAY, subscription_id="S-U", period=month[-2], units=3.5),
    ]

    # 4. unannounced price rise: 27.50 instead of 25.00 on 20 days' notice; refunded in two parts.
    c = "c-rise"
    messages += [
        event(
            "r1",
            "subscription.started",
            c,
            start_of[-6] + 3 * DAY,
            subscription_id="S-R",
            plan_id="mobile-m",
            monthly_fee=25.00,
        ),
        bill("r2", c, "S-R", month[-3], start_of[-3] + DAY, 25.00),
        event(
            "r3",
            "price.change_notified",
            c,
            start_of[-2] - 20 * DAY,
            subscription_id="S-R",
            new_monthly_fee=27.50,
            effective_at=format_ms(start_of[-2]),
        ),
        bill("r4", c, "S-R", month[-2], start_of[-2] + DAY, 27.50),
        bill("r5", c, "S-R", month[-1], start_of[-1] + DAY, 27.50, 1.00),  # announced by now; 1.00 back
        bill("r6", c, "S-R", month[-1], start_of[-1] + 2 * DAY, 27.50, 1.50),  # re-issued: the rest back
    ]

    # 5. billed after cancellation: cancelled for the start of a month, billed for that month.
    c = "c-cancel"
    messages += [
        event(
            "k1",
            "subscription.started",
            c,
            start_of[-8] + 3 * DAY,
            subscription_id="S-K",
            plan_id="mobile-s",
            monthly_fee=15.00,
        ),
        bill("k2", c, "S-K", month[-3], start_of[-3] + DAY, 15.00),
        event(
            "k3",
            "subscription.cancel_requested",
            c,
            start_of[-2] - 10 * DAY,
            subscription_id="S-K",
            effective_at=format_ms(start_of[-2]),
            channel="phone",
        ),
        bill("k4", c, "S-K", month[-2], start_of[-2] + DAY, 15.00),
        event(
            "k5",
            "invoice.issued",
            c,
            start_of[-1] + DAY,
            invoice_id="CN-1",
            total=-5.00,
            lines=[
                {"line_id": "1", "kind": "subscription", "ref": "S-K", "qty": 1, "unit_price": -5.00, "amount": -5.00}
            ],
        ),
        event(
            "k6",
            "invoice.issued",
            c,
            start_of[-1] + 2 * DAY,
            invoice_id="CN-2",
            total=-10.00,
            lines=[{"line_id": "1", "kind": "fee", "ref": "S-K", "qty": 1, "unit_price": -10.00, "amount": -10.00}],
        ),
    ]

    # 6. best-tariff notice: a 12-month term ending 20 days into last month; the notice comes 5 days before it.
    c = "c-notice"
    term_end = start_of[-1] + 20 * DAY
    messages += [
        event(
            "n1",
            "subscription.started",
            c,
            add_months(term_end, -12),
            subscription_id="S-N",
            plan_id="mobile-m",
            monthly_fee=25.00,
            minimum_term_months=12,
        ),
        event(
            "n2",
            "notice.sent",
            c,
            term_end - 5 * DAY,
            subscription_id="S-N",
            kind="best_tariff",
            best_plan_id="mobile-m",
        ),
    ]

    lifecycle = [("raised", 1), ("updated", 2), ("resolved", 3)]
    expected = {
        customer: [(kind, state, revision) for state, revision in lifecycle]
        for customer, kind in [
            ("c-better", "overpaying.better_plan"),
            ("c-loyal", "overpaying.loyalty_penalty"),
            ("c-unused", "overpaying.unused_subscription"),
            ("c-rise", "promise.unannounced_price_rise"),
            ("c-cancel", "promise.billed_after_cancellation"),
            ("c-notice", "overpaying.best_tariff_notice_due"),
        ]
    }
    messages.sort(key=lambda message: message[0])
    assert all(at < now - 60_000 for at, *_ in messages)
    return [(topic, key, value) for _, topic, key, value in messages], expected


def gauge(worker: WorkerProcess, name: str) -> float | None:
    for family in text_string_to_metric_families(worker.get("/metrics")[1].decode()):
        for sample in family.samples:
            if sample.name == name and not sample.labels:
                return sample.value
    return None


def wait_for(predicate, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def fairwatch(broker: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FAIRWATCH_BROKER": broker, "FAIRWATCH_PARTITIONS": "4"}
    return subprocess.run(
        [sys.executable, "-m", "streams.tools.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        cwd=ROOT,
    )


def test_each_bad_profit_is_raised_updated_and_resolved_exactly_once(start_worker, broker, tmp_path: Path) -> None:
    plans, problems = read_plans_file(CATALOG)
    assert problems == []
    # Most of the catalog is published before the worker starts (it recovers it before it is ready) ...
    early = tmp_path / "plans.json"
    early.write_bytes(orjson.dumps([orjson.loads(value) for key, value in plans if key != b"broadband-100"]))
    published = fairwatch(broker, "produce", "--plans", str(early))
    assert published.returncode == 0, published.stderr
    assert f"published {len(plans) - 1} plan(s) to plans" in published.stdout
    worker = start_worker(env=WORKER_ENV)
    assert wait_for(lambda: gauge(worker, "fairwatch_catalog_plans") == len(plans) - 1)
    # ... and a plan published while it runs reaches it too (the global table follows the topic).
    asyncio.run(publish_plans([broker], [(key, value) for key, value in plans if key == b"broadband-100"]))
    assert wait_for(lambda: gauge(worker, "fairwatch_catalog_plans") == len(plans))

    now = int(time.time() * 1000)
    messages, expected = scenario(now)
    run(produce(broker, messages))
    total = sum(len(sequence) for sequence in expected.values())
    records = run(read_topic(broker, "fairwatch.alerts", expect=total, timeout=60, quiet=3.0))
    documents = [orjson.loads(record.value) for record in records]

    got: dict[str, list[tuple[str, str, int]]] = {}
    for document in documents:
        data = document["data"]
        got.setdefault(data["customer_id"], []).append(
            (data["kind"], document["type"].rsplit(".", 1)[1], data["revision"])
        )
    assert got == expected
    for customer in expected:
        ids = {d["data"]["alert_id"] for d in documents if d["data"]["customer_id"] == customer}
        assert len(ids) == 1, customer  # one condition, one alert id, three revisions
    assert len({d["id"] for d in documents}) == len(documents)

    def figures(customer: str) -> list[tuple[float, str, str]]:
        return [
            (d["data"]["impact"]["amount"], d["data"]["impact"]["per"], d["data"]["severity"])
            for d in documents
            if d["data"]["customer_id"] == customer
        ]

    assert figures("c-better") == [(420.0, "year", "warning"), (540.0, "year", "warning"), (540.0, "year", "warning")]
    assert figures("c-loyal") == [(60.0, "year", "warning"), (120.0, "year", "warning"), (120.0, "year", "warning")]
    assert figures("c-unused") == [
        (155.88, "year", "warning"),
        (191.88, "year", "warning"),
        (191.88, "year", "warning"),
    ]
    assert figures("c-rise") == [(2.5, "once", "warning"), (1.5, "once", "warning"), (1.5, "once", "warning")]
    assert figures("c-cancel") == [(15.0, "once", "warning"), (10.0, "once", "warning"), (10.0, "once", "warning")]
    assert figures("c-notice") == [(0.0, "year", "warning"), (0.0, "year", "critical"), (0.0, "year", "critical")]

    by_id = {(d["data"]["customer_id"], d["type"].rsplit(".", 1)[1]): d for d in documents}
    better = by_id[("c-better", "raised")]["data"]
    assert better["details"]["best_plan"]["plan_id"] == "mobile-m"
    assert better["evidence"] == ["b1", "b2", "b3", "b4"]
    assert by_id[("c-better", "updated")]["data"]["details"]["best_plan"]["plan_id"] == "mobile-l"
    assert "Broadband 100" in by_id[("c-loyal", "raised")]["data"]["summary"]
    assert by_id[("c-rise", "raised")]["data"]["details"]["late_price_change_notices"][0]["days_notice"] == 20.0
    assert by_id[("c-cancel", "raised")]["data"]["evidence"] == ["k3", "k4"]
    notice = by_id[("c-notice", "updated")]
    assert notice["data"]["details"]["overdue"] is True
    assert notice["time"] == format_ms(start_of_last_month(now) + 10 * DAY)  # the window closed, by stream time


def start_of_last_month(now: int) -> int:
    return period_start(shift_period(period_of(now), -1))


def test_a_bad_catalog_file_publishes_nothing(broker: str, tmp_path: Path) -> None:
    bad = tmp_path / "plans.toml"
    bad.write_text(
        '[[plans]]\nplan_id = "p"\nname = "P"\nmonthly_fee = -1\nincluded_units = 1\nunit = "GB"\n'
        'overage_price = 0\nopen_to = ["new"]\nactive = true\n'
    )
    refused = fairwatch(broker, "produce", "--plans", str(bad))
    assert refused.returncode == 1
    assert "plans[0]: monthly_fee: must not be negative" in refused.stderr
    assert "no plan published" in refused.stderr
    assert run(read_topic(broker, "plans", expect=0, timeout=3, quiet=1.0)) == []


def test_a_quiet_customers_notice_falls_due_by_the_live_tick(start_worker, broker) -> None:
    """One event, years of tenure, then nothing: the window closes a few seconds from now, by the wall clock."""
    worker = start_worker(env=LIVE_ENV)
    now = int(time.time() * 1000)
    term_end = now + 10 * DAY + 4_000  # the notice window closes 4 s from now
    started = event(
        "q1",
        "subscription.started",
        "c-quiet",
        add_months(term_end, -24),
        subscription_id="S-Q",
        plan_id="mobile-m",
        monthly_fee=25.00,
        minimum_term_months=24,
    )
    notice = event(
        "q0", "notice.sent", "c-quiet", add_months(term_end, -24) + 300 * DAY, subscription_id="S-Q", kind="best_tariff"
    )
    run(produce(broker, [message[1:] for message in (started, notice)]))
    records = run(read_topic(broker, "fairwatch.alerts", expect=3, timeout=30, quiet=2.0))
    documents = [orjson.loads(record.value) for record in records]
    assert [(d["type"].rsplit(".", 1)[1], d["data"]["severity"], d["data"]["details"]["due"]) for d in documents] == [
        # The yearly notice fell due a year ago (the history), then the contract end's window ...
        ("raised", "warning", ["annual"]),
        ("updated", "warning", ["annual", "contract_end"]),
        # ... and it closes with nobody writing: the tick moves stream time past it.
        ("updated", "critical", ["annual", "contract_end"]),
    ]
    assert documents[-1]["time"] == format_ms(term_end - 10 * DAY)
    assert worker.counts()["in"] == 2


def test_every_worker_holds_the_whole_catalog(start_worker, broker) -> None:
    """Two workers split the customers' partitions, but each follows every plan (a global table)."""
    plans, _ = read_plans_file(CATALOG)
    first = start_worker(env=WORKER_ENV, name="first")
    second = start_worker(env={**WORKER_ENV, "FAIRWATCH_STORE": "rocksdb"}, name="second")
    asyncio.run(publish_plans([broker], plans[:3]))
    assert wait_for(
        lambda: gauge(first, "fairwatch_catalog_plans") == gauge(second, "fairwatch_catalog_plans") == 3, timeout=30
    )
    asyncio.run(publish_plans([broker], plans[3:]))
    assert wait_for(
        lambda: gauge(first, "fairwatch_catalog_plans") == gauge(second, "fairwatch_catalog_plans") == len(plans),
        timeout=30,
    )
