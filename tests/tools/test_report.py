"""streams.tools.report without a broker: the period, the fold as of its end, the HTML and the CSV."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from streams.tools.report import ReportError, build_report, parse_bound, render_html, write_report
from tests.support.alert_documents import alert
from tests.unit.factories import DAY, HOUR, T0

NOV_1 = 1793491200000  # 2026-11-01T00:00:00Z
DEC_1 = 1796083200000  # 2026-12-01T00:00:00Z


@pytest.mark.parametrize(
    ("text", "end", "expected"),
    [
        (None, False, None),
        ("2026-11", False, NOV_1),
        ("2026-11", True, DEC_1),  # a month given as --until is included
        ("2026-11-01", False, NOV_1),
        ("2026-11-30", True, DEC_1),  # so is a day
        ("2026-11-01T00:00:00Z", True, NOV_1),
        ("2026-11-01T01:00:00+01:00", False, NOV_1),
    ],
)
def test_period_bounds(text: str | None, end: bool, expected: int | None) -> None:
    assert parse_bound(text, end=end) == expected


@pytest.mark.parametrize("text", ["yesterday", "2026-13", "2026-11-31", "2026-11-01 10:00"])
def test_a_bound_that_is_not_a_time_is_refused(text: str) -> None:
    with pytest.raises(ReportError, match="expected"):
        parse_bound(text, end=False)


def documents() -> list:
    return [
        alert("plan", kind="overpaying.better_plan", per="year", amount=120_000_000, at=T0, customer="c-1"),
        alert("rise", kind="promise.unannounced_price_rise", amount=2_500_000, at=T0, customer="c-2"),
        alert(
            "rise",
            2,
            "resolved",
            kind="promise.unannounced_price_rise",
            amount=2_500_000,
            at=T0 + 3 * HOUR,
            customer="c-2",
        ),
        alert("late", amount=50_000_000, at=T0 + 12 * DAY, customer="c-1"),  # 4 December
        alert("late", 2, "resolved", amount=50_000_000, at=T0 + 13 * DAY, customer="c-1"),
        alert(
            "old",
            kind="overpaying.unused_subscription",
            per="year",
            amount=155_880_000,
            at=T0 - 60 * DAY,
            customer="c-3",
        ),
        {"not": "an alert"},
        None,
    ]


def test_the_report_folds_up_to_the_end_and_selects_what_opened_in_the_period() -> None:
    report = build_report(documents(), since=NOV_1, until=DEC_1)
    assert sorted(f.alert_id for f in report.findings) == ["plan", "rise"]
    assert report.headline["overpayment_year_open"] == "120.00"
    assert report.headline["overcharges_once_found"] == "2.50" and report.headline["overcharges_once_open"] == "0.00"
    assert report.totals.resolved == 1 and report.totals.median_resolve_ms == 3 * HOUR
    # Two documents are not alerts and two emissions come after the period.
    assert report.skipped == 4 and report.currency == "EUR"


def test_as_of_the_end_of_a_period_a_later_resolution_does_not_count() -> None:
    report = build_report(documents(), since=DEC_1, until=DEC_1 + 4 * DAY)
    late = next(f for f in report.findings if f.alert_id == "late")
    assert late.open  # resolved on 5 December, after this period's end
    later = build_report(documents(), since=DEC_1, until=None)
    assert not next(f for f in later.findings if f.alert_id == "late").open


def test_the_html_is_self_contained_and_states_the_figures(tmp_path: Path) -> None:
    report = build_report(documents(), since=None, until=None)
    page = render_html(report)
    assert "<script" not in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page), "nothing may be fetched from elsewhere"
    assert re.search(r'id="overpayment-open" data-amount="275.88"', page)
    assert "EUR 275.88" in page and "<svg" in page
    assert 'data-kind="overpaying.better_plan" data-month="2026-11"' in page


def test_the_csv_has_a_row_per_kind_and_month_and_the_top_customers(tmp_path: Path) -> None:
    paths = write_report(build_report(documents(), since=None, until=None), tmp_path)
    assert [p.name for p in paths] == ["report.html", "by_kind_month.csv", "top_customers.csv", "feedback_by_kind.csv"]
    with (tmp_path / "by_kind_month.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["kind"], r["month"]) for r in rows] == [
        ("overpaying.better_plan", "2026-11"),
        ("overpaying.unused_subscription", "2026-09"),
        ("promise.late_delivery", "2026-12"),
        ("promise.unannounced_price_rise", "2026-11"),
    ]
    late = rows[2]
    assert (late["alerts"], late["resolved"], late["median_hours_to_resolve"], late["one_off_found"]) == (
        "1",
        "1",
        "24.0",
        "50.00",
    )
    with (tmp_path / "top_customers.csv").open() as handle:
        top = list(csv.DictReader(handle))
    assert [(r["rank"], r["customer_id"], r["at_stake"]) for r in top] == [
        ("1", "c-3", "155.88"),
        ("2", "c-1", "120.00"),
    ]
