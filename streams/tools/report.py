"""``fairwatch report``: the "coming clean" report, from the alert topic, as self-contained HTML and as CSV.

The period is a window of event time: the report folds every alert emitted up to
``until`` (so it shows each finding as it stood then) and reports the findings
whose current episode opened in ``[since, until)``. Per kind and month: how many
alerts and customers, how much money (yearly and one-off, found and still open),
how many were resolved and the median time it took; what the CRM answered (owner,
time to acknowledge and to close, the share disputed, the money put right); then
the customers with the most bad profits at stake. The figures come from models.ledger, as the live
page's do. The HTML inlines its CSS and SVG charts: it opens anywhere, offline.
"""

from __future__ import annotations

import asyncio
import csv
import html
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError
from aiokafka.structs import TopicPartition

from models.kinds import colour
from models.ledger import (
    Figures,
    Finding,
    Ledger,
    LedgerError,
    figures,
    group,
    headline,
    is_overcharge,
    is_overpayment,
    money_text,
    read_emission,
    select,
    top_customers,
)
from models.timestamps import add_months, format_ms, parse_rfc3339, period_start
from streams.highwater import true_end_offsets
from streams.security import client_kwargs
from streams.topics import ALERTS_TOPIC

__all__ = [
    "Report",
    "parse_bound",
    "read_alert_documents",
    "build_report",
    "render_html",
    "write_report",
    "run_report",
]

_DAY_MS = 86_400_000


class ReportError(Exception):
    """The report cannot be made (bad period, no topic, the topic could not be read in time)."""


def parse_bound(text: str | None, *, end: bool) -> int | None:
    """``YYYY-MM``, ``YYYY-MM-DD`` or RFC 3339 as epoch ms; a month or a day given as ``--until`` is included."""
    if text is None or text == "":
        return None
    try:
        if len(text) == 7:
            start = period_start(text)
            return add_months(start, 1) if end else start
        if len(text) == 10:
            day = int(datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC).timestamp() * 1000)
            return day + _DAY_MS if end else day
        return parse_rfc3339(text)
    except ValueError:
        raise ReportError(f"{text!r}: expected YYYY-MM, YYYY-MM-DD or an RFC 3339 time") from None


async def read_alert_documents(bootstrap: list[str], timeout: float = 60.0, topic: str = ALERTS_TOPIC) -> list[Any]:
    """Every alert on the topic now: from the beginning up to the end offsets as of the start."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=50,
        **client_kwargs(),
    )
    try:
        await consumer.start()
    except KafkaError as exc:
        await consumer.stop()
        raise ReportError(f"cannot reach the broker at {','.join(bootstrap)}: {exc}") from None
    try:
        await consumer.topics()  # fetches the cluster's metadata
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            raise ReportError(f"there is no {topic} topic at {','.join(bootstrap)}")
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        # The embedded broker's ListOffsets can fall short: a fetch's high-water mark corrects it.
        ends = await true_end_offsets(consumer, await consumer.end_offsets(tps))
        documents: list[Any] = []
        deadline = time.monotonic() + timeout
        remaining = {tp for tp in tps if (ends.get(tp) or 0) > 0}
        while remaining:
            if time.monotonic() > deadline:
                raise ReportError(f"could not read the whole {topic} topic within {timeout:.0f} s")
            batches = await consumer.getmany(*remaining, timeout_ms=200, max_records=5000)
            for tp, records in batches.items():
                for record in records:
                    if record.offset < ends[tp]:
                        documents.append(_decode(record.value))
                if records and records[-1].offset + 1 >= ends[tp]:
                    remaining.discard(tp)
            for tp in list(remaining):
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
        return documents
    finally:
        await asyncio.wait_for(consumer.stop(), 10)


def _decode(value: bytes | None) -> Any:
    try:
        return orjson.loads(value or b"")
    except orjson.JSONDecodeError:
        return None


@dataclass(frozen=True, slots=True)
class Report:
    since: int | None
    until: int | None
    currency: str
    emissions: int  # emissions folded (up to ``until``)
    skipped: int  # documents that were not alerts, re-sends, and emissions after ``until``
    findings: list[Finding]
    headline: dict[str, Any]
    totals: Figures
    by_kind: dict[str, Figures]
    by_kind_month: dict[tuple[str, str], Figures]
    top: list[dict[str, Any]]

    @property
    def period(self) -> str:
        since = "the beginning" if self.since is None else format_ms(self.since)
        until = "now" if self.until is None else format_ms(self.until)
        return f"{since} to {until}"


def build_report(documents: list[Any], since: int | None, until: int | None, top: int = 20) -> Report:
    """Fold the alert documents up to ``until``; figures for the findings opened in ``[since, until)``."""
    ledger = Ledger(feed_size=1)
    skipped = 0
    for document in documents:
        try:
            emission = read_emission(document)
        except LedgerError:
            skipped += 1
            continue
        if until is not None and emission.at >= until:
            skipped += 1
            continue
        if not ledger.add(emission):
            skipped += 1
    chosen = select(ledger.findings.values(), since, until)
    currencies = Counter(f.currency for f in chosen)
    return Report(
        since=since,
        until=until,
        currency=currencies.most_common(1)[0][0] if currencies else "",
        emissions=ledger.seq,
        skipped=skipped,
        findings=chosen,
        headline=headline(chosen),
        totals=figures(chosen),
        by_kind=group(chosen, lambda f: f.kind),
        by_kind_month=group(chosen, lambda f: (f.kind, f.month)),
        top=top_customers(chosen, limit=top),
    )


# --- CSV ----------------------------------------------------------------------------------------------------------

_KIND_MONTH_COLUMNS = [
    "kind",
    "month",
    "alerts",
    "customers",
    "open",
    "resolved",
    "median_hours_to_resolve",
    "yearly_found",
    "one_off_found",
    "yearly_open",
    "one_off_open",
    "currency",
]
_FEEDBACK_COLUMNS = [
    "kind",
    "alerts",
    "acknowledged",
    "median_hours_to_acknowledge",
    "closed",
    "median_hours_to_close",
    "disputed",
    "disputed_share",
    "yearly_put_right",
    "one_off_put_right",
    "currency",
]
_TOP_COLUMNS = [
    "rank",
    "customer_id",
    "yearly_at_stake",
    "one_off_at_stake",
    "at_stake",
    "open_alerts",
    "kinds",
    "currency",
]


def _hours(row: Figures) -> str:
    return "" if row.median_resolve_ms is None else f"{row.median_resolve_ms / 3_600_000:.1f}"


def _kind_month_rows(report: Report) -> list[list[Any]]:
    return [
        [
            kind,
            month,
            row.alerts,
            row.customers,
            row.open,
            row.resolved,
            _hours(row),
            money_text(row.found_year),
            money_text(row.found_once),
            money_text(row.open_year),
            money_text(row.open_once),
            report.currency,
        ]
        for (kind, month), row in report.by_kind_month.items()
    ]


def _hours_of(ms: int | None) -> str:
    return "" if ms is None else f"{ms / 3_600_000:.1f}"


def _share(row: Figures) -> str:
    return "" if row.disputed_share is None else f"{row.disputed_share:.4f}"


def _feedback_rows(report: Report) -> list[list[Any]]:
    return [
        [
            kind,
            row.alerts,
            row.acknowledged,
            _hours_of(row.median_ack_ms),
            row.closed,
            _hours_of(row.median_close_ms),
            row.disputed,
            _share(row),
            money_text(row.put_right_year),
            money_text(row.put_right_once),
            report.currency,
        ]
        for kind, row in report.by_kind.items()
    ]


def _top_rows(report: Report) -> list[list[Any]]:
    return [
        [rank, r["customer_id"], r["year"], r["once"], r["at_stake"], r["open"], " ".join(r["kinds"]), report.currency]
        for rank, r in enumerate(report.top, start=1)
    ]


# --- HTML ---------------------------------------------------------------------------------------------------------

_CSS = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1c2833;margin:2em auto;max-width:1100px;
padding:0 1em}h1{margin-bottom:0}.period{color:#5d6d7e;margin-top:.2em}h2{margin-top:1.6em;font-size:1.15em}
.cards{display:flex;gap:1em;flex-wrap:wrap}.card{border:1px solid #d5dbdb;border-radius:6px;padding:.7em 1em;flex:1;
min-width:14em}.card h3{margin:0;font-size:.85em;color:#5d6d7e}.big{font-size:1.7em;font-weight:700;margin:.1em 0}
.small{font-size:.85em;color:#5d6d7e}table{border-collapse:collapse;width:100%;font-size:.9em}
th,td{text-align:left;padding:.25em .5em;border-bottom:1px solid #d5dbdb}td{white-space:nowrap}
td.kinds{white-space:normal}th{color:#5d6d7e}
.num{text-align:right;font-variant-numeric:tabular-nums}tr.total td{font-weight:700;border-top:2px solid #1c2833}
.swatch{display:inline-block;width:.8em;height:.8em;border-radius:2px;margin-right:.3em}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:1em}
.legend{font-size:.85em;color:#5d6d7e}svg text{font-size:11px;fill:#5d6d7e}footer{margin-top:2em;color:#5d6d7e;
font-size:.85em}
"""


def _e(value: Any) -> str:
    return html.escape(str(value))


def _money(text: str, currency: str = "") -> str:
    return f"{currency + ' ' if currency else ''}{Decimal(text):,}"


def _bars(rows: list[tuple[str, str, int]], currency: str) -> str:
    """A stacked bar chart as inline SVG: rows (month, kind, micros)."""
    months = sorted({month for month, _, _ in rows})
    if not months:
        return '<p class="small">nothing found in this period</p>'
    totals = {m: sum(v for month, _, v in rows if month == m) for m in months}
    peak = max(max(totals.values()), 1)
    width, height, left, bottom, top = 520, 190, 8, 34, 18
    slot = (width - left) / max(len(months), 6)
    bar = min(44.0, slot * 0.7)
    parts = [
        f'<svg viewBox="0 0 {width} {height}" width="100%" role="img" xmlns="http://www.w3.org/2000/svg">',
        f'<line x1="{left}" y1="{height - bottom}" x2="{width}" y2="{height - bottom}" stroke="#999"/>',
    ]
    for index, month in enumerate(months):
        x = left + index * slot + (slot - bar) / 2
        y = float(height - bottom)
        for m, kind, value in rows:
            if m != month or value <= 0:
                continue
            h = value / peak * (height - bottom - top)
            y -= h
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" fill="{colour(kind)}" '
                f'data-month="{month}" data-kind="{_e(kind)}" data-amount="{money_text(value)}">'
                f"<title>{_e(kind)} {month}: {_money(money_text(value), currency)}</title></rect>"
            )
        total = money_text(totals[month])
        parts.append(
            f'<text x="{x + bar / 2:.1f}" y="{y - 4:.1f}" text-anchor="middle" class="bar-total" '
            f'data-month="{month}" data-amount="{total}">{_money(total)}</text>'
        )
        parts.append(f'<text x="{x + bar / 2:.1f}" y="{height - bottom + 16}" text-anchor="middle">{month}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _figures_cells(row: Figures) -> str:
    cells = [
        str(row.alerts),
        str(row.customers),
        str(row.open),
        str(row.resolved),
        "&ndash;" if row.median_resolve_ms is None else f"{_hours(row)} h",
    ]
    money = [
        ("found_year", row.found_year),
        ("found_once", row.found_once),
        ("open_year", row.open_year),
        ("open_once", row.open_once),
    ]
    return "".join(f'<td class="num">{c}</td>' for c in cells) + "".join(
        f'<td class="num" data-field="{name}" data-amount="{money_text(v)}">{_money(money_text(v))}</td>'
        for name, v in money
    )


def _feedback_table(report: Report) -> str:
    """Per kind: what the CRM answered (SPEC §1 feedback), and the whole period's line."""

    def cells(row: Figures) -> str:
        share = "&ndash;" if row.disputed_share is None else f"{row.disputed_share:.0%}"
        return (
            f'<td class="num">{row.alerts}</td><td class="num" data-field="acknowledged">{row.acknowledged}</td>'
            f'<td class="num" data-field="median_ack">{_hours_of(row.median_ack_ms) or "&ndash;"}</td>'
            f'<td class="num" data-field="closed">{row.closed}</td>'
            f'<td class="num" data-field="median_close">{_hours_of(row.median_close_ms) or "&ndash;"}</td>'
            f'<td class="num" data-field="disputed" data-share="{_share(row)}">{row.disputed} ({share})</td>'
            f'<td class="num" data-field="put_right_year" data-amount="{money_text(row.put_right_year)}">'
            f"{_money(money_text(row.put_right_year))}</td>"
            f'<td class="num" data-field="put_right_once" data-amount="{money_text(row.put_right_once)}">'
            f"{_money(money_text(row.put_right_once))}</td>"
        )

    rows = "".join(
        f'<tr class="kind" data-kind="{_e(kind)}"><td>{_e(kind)}</td>{cells(row)}</tr>'
        for kind, row in report.by_kind.items()
    )
    owners = Counter(f.owner for f in report.findings if f.owner)
    busiest = ", ".join(f"{_e(owner)} ({count})" for owner, count in owners.most_common(5)) or "none yet"
    return (
        '<table id="by-kind-feedback"><thead><tr><th>kind</th><th class=num>alerts</th>'
        "<th class=num>acknowledged</th><th class=num>median hours to acknowledge</th><th class=num>closed</th>"
        "<th class=num>median hours to close</th><th class=num>disputed</th><th class=num>yearly, put right</th>"
        f"<th class=num>one-off, put right</th></tr></thead><tbody>{rows}"
        f'<tr class="total"><td>all kinds</td>{cells(report.totals)}</tr></tbody></table>'
        f'<p class="small" id="owners">Owners with the most findings: {busiest}.</p>'
    )


def render_html(report: Report) -> str:
    """The whole report as one HTML document: inline CSS and SVG, no scripts, nothing fetched."""
    c, h = report.currency, report.headline
    bad = [f for f in report.findings if is_overpayment(f) or is_overcharge(f)]
    by_month = group(bad, lambda f: (f.month, f.kind))
    yearly = [(m, k, row.found_year) for (m, k), row in by_month.items() if row.found_year]
    once = [(m, k, row.found_once) for (m, k), row in by_month.items() if row.found_once]
    charted = sorted({k for _, k, _ in yearly + once})
    header = (
        "<tr><th>kind</th><th>month</th><th class=num>alerts</th><th class=num>customers</th>"
        "<th class=num>open</th><th class=num>resolved</th><th class=num>median to resolve</th>"
        "<th class=num>yearly, found</th><th class=num>one-off, found</th><th class=num>yearly, open</th>"
        "<th class=num>one-off, open</th></tr>"
    )
    kind_rows = "".join(
        f'<tr class="kind" data-kind="{_e(kind)}"><td><span class="swatch" '
        f'style="background:{colour(kind)}"></span>{_e(kind)}</td><td>all</td>'
        f"{_figures_cells(row)}</tr>"
        for kind, row in report.by_kind.items()
    )
    month_rows = "".join(
        f'<tr class="kind-month" data-kind="{_e(kind)}" data-month="{month}"><td>{_e(kind)}</td><td>{month}</td>'
        f"{_figures_cells(row)}</tr>"
        for (kind, month), row in report.by_kind_month.items()
    )
    top_rows = (
        "".join(
            f'<tr data-customer="{_e(r["customer_id"])}"><td class=num>{rank}</td><td>{_e(r["customer_id"])}</td>'
            f'<td class="num" data-amount="{r["year"]}">{_money(r["year"])}</td>'
            f'<td class="num" data-amount="{r["once"]}">{_money(r["once"])}</td>'
            f'<td class="num" data-amount="{r["at_stake"]}">{_money(r["at_stake"])}</td>'
            f'<td class="num">{r["open"]}</td><td class="kinds">{_e(", ".join(r["kinds"]))}</td></tr>'
            for rank, r in enumerate(report.top, start=1)
        )
        or '<tr><td colspan="7" class="small">no bad profits at stake</td></tr>'
    )
    legend = " ".join(
        f'<span><span class="swatch" style="background:{colour(k)}"></span>{_e(k)}</span>' for k in charted
    )

    def card(title: str, ident: str, text: str, note: str) -> str:
        return (
            f'<div class="card"><h3>{title}</h3><p class="big" id="{ident}" data-amount="{text}">'
            f'{_money(text, c)}</p><p class="small">{note}</p></div>'
        )

    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>fairwatch report: {_e(report.period)}</title>
<style>{_CSS}</style></head><body>
<h1>Coming clean: what we owe our customers</h1>
<p class="period" id="period">Alerts from <code>{ALERTS_TOPIC}</code>, findings raised from {_e(report.period)}
(event time); each as it stood at the end of the period. {report.headline["alerts"]} findings, {report.emissions}
alert emissions read.</p>
<div class="cards">
{
        card(
            "Yearly overpayment at stake",
            "overpayment-open",
            h["overpayment_year_open"],
            f'found: <span id="overpayment-found" data-amount="{h["overpayment_year_found"]}">'
            f"{_money(h['overpayment_year_found'], c)}</span> a year",
        )
    }
{
        card(
            "One-off overcharges at stake",
            "overcharges-open",
            h["overcharges_once_open"],
            f'found: <span id="overcharges-found" data-amount="{h["overcharges_once_found"]}">'
            f"{_money(h['overcharges_once_found'], c)}</span>",
        )
    }
<div class="card"><h3>Findings</h3><p class="big" id="findings-count">{h["alerts"]}</p>
<p class="small"><span id="findings-open">{h["open"]}</span> open, <span id="findings-resolved">
{report.totals.resolved}</span> resolved (median {
        "&ndash;" if report.totals.median_resolve_ms is None else _hours(report.totals) + " h"
    }); <span id="promises-open">{h["promises_open"]}</span> broken promises open</p></div>
</div>
<h2>Bad profits found, by month (event time)</h2>
<div class="charts"><div><h3>Yearly overpayment</h3>{_bars(yearly, c)}</div>
<div><h3>One-off overcharges</h3>{_bars(once, c)}</div></div>
<p class="legend">{legend}</p>
<h2>By kind</h2>
<table id="by-kind"><thead>{header}</thead><tbody>{kind_rows}
<tr class="total"><td>all kinds</td><td></td>{_figures_cells(report.totals)}</tr></tbody></table>
<h2>What the CRM answered, by kind</h2>
<p class="small">Acknowledged, closed and disputed findings (answers on <code>fairwatch.feedback</code>); times are
event time from the raise; put right: closed as fixed or refunded. The share disputed is how often an agent found
the finding wrong.</p>
{_feedback_table(report)}
<h2>By kind and month</h2>
<table id="by-kind-month"><thead>{header}</thead><tbody>{month_rows}</tbody></table>
<h2>Top customers by money at stake</h2>
<p class="small">Open yearly overpayment plus open one-off overcharges ({_e(c)}).</p>
<table id="top-customers"><thead><tr><th class=num>#</th><th>customer</th><th class=num>yearly</th>
<th class=num>one-off</th><th class=num>at stake</th><th class=num>open alerts</th><th>kinds</th></tr></thead>
<tbody>{top_rows}</tbody></table>
<footer>Money in {_e(c)}, exact as the alerts state it. Yearly overpayment: <code>overpaying.*</code> findings;
one-off overcharges: unannounced price rises, billing after cancellation and billing errors against the customer.
Made by <code>fairwatch report</code> at {_e(format_ms(int(time.time() * 1000)))}.</footer>
</body></html>
"""


def write_report(report: Report, out: Path) -> list[Path]:
    """``report.html``, ``by_kind_month.csv``, ``top_customers.csv`` and ``feedback_by_kind.csv`` in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    page = out / "report.html"
    page.write_text(render_html(report), encoding="utf-8")
    paths = [page]
    for name, columns, rows in (
        ("by_kind_month.csv", _KIND_MONTH_COLUMNS, _kind_month_rows(report)),
        ("top_customers.csv", _TOP_COLUMNS, _top_rows(report)),
        ("feedback_by_kind.csv", _FEEDBACK_COLUMNS, _feedback_rows(report)),
    ):
        path = out / name
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(columns)
            writer.writerows(rows)
        paths.append(path)
    return paths


def run_report(
    bootstrap: list[str], since: str | None, until: str | None, out: Path, timeout: float, topic: str = ALERTS_TOPIC
) -> int:
    """``fairwatch report``: read, fold, write; print where the files are and the headline figures."""
    try:
        since_ms, until_ms = parse_bound(since, end=False), parse_bound(until, end=True)
        if since_ms is not None and until_ms is not None and since_ms >= until_ms:
            raise ReportError("--since must be before --until")
        documents = asyncio.run(read_alert_documents(bootstrap, timeout, topic))
    except ReportError as exc:
        print(f"fairwatch: {exc}", file=sys.stderr)
        return 1
    report = build_report(documents, since_ms, until_ms)
    paths = write_report(report, out)
    h = report.headline
    print(f"fairwatch report: {report.period}: {h['alerts']} findings from {report.emissions} alert emissions")
    print(
        f"  yearly overpayment at stake {_money(h['overpayment_year_open'], report.currency)} "
        f"(found {_money(h['overpayment_year_found'], report.currency)})"
    )
    print(
        f"  one-off overcharges at stake {_money(h['overcharges_once_open'], report.currency)} "
        f"(found {_money(h['overcharges_once_found'], report.currency)})"
    )
    print(f"  open {h['open']}, resolved {report.totals.resolved}, broken promises open {h['promises_open']}")
    totals = report.totals
    print(
        f"  the CRM acknowledged {totals.acknowledged}, closed {totals.closed}, disputed {totals.disputed}; "
        f"put right {_money(money_text(totals.put_right_year), report.currency)} a year and "
        f"{_money(money_text(totals.put_right_once), report.currency)} once"
    )
    for path in paths:
        print(f"  wrote {path}")
    return 0
