"""The live page on the worker's own web port: ``/``, the customer page, and the JSON they poll.

Whole picture with any number of workers: every worker runs its own reader of
``fairwatch.alerts`` from the beginning (a plain aiokafka consumer with no group,
so it reads every partition, not the worker's share) and folds the alerts into
an in-memory :class:`models.ledger.Ledger`. So each worker's page shows every
alert, and its figures are the ledger's, the same code ``fairwatch report`` uses.
The reader holds one record per alert_id in the topic (the findings) and a
bounded feed of the newest emissions; a restarted worker reads the topic again.

The customer's story needs the customer's state, which only the worker owning
its partition holds: ``/api/customers/{id}/story`` is routed there by Faust
(``table_route``), and that worker adds the customer's findings from its ledger.

Assets (``agents/static``) are committed, small, plain HTML/CSS/JS with inline
SVG charts, served from memory: nothing is built at run time or loaded from
elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition
from faust.web import Request, Response, View

from models.kinds import KIND_COLOURS
from models.ledger import (
    Emission,
    Finding,
    Ledger,
    answers_json,
    figures,
    group,
    headline,
    is_overcharge,
    is_overpayment,
    money_text,
    open_promises,
    top_customers,
)
from models.story import customer_story
from models.timestamps import format_ms
from streams.app import runtime
from streams.processor import is_input_offsets_key

__all__ = ["ledger", "wants_html", "customer_page", "summary", "feed_entry", "finding_json"]

log = logging.getLogger("fairwatch")

rt = runtime()
app, config, customers, policy = rt.app, rt.config, rt.customers, rt.policy

STATIC = Path(__file__).resolve().parent / "static"
_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
#: The assets, read once: a fixed set, so a request can never name a file outside it.
ASSETS = {path.name: (path.read_bytes(), _TYPES[path.suffix]) for path in STATIC.iterdir() if path.suffix in _TYPES}

ledger = Ledger(feed_size=500, max_findings=config.page_max_alerts)
#: Names this process's ledger: a page that sees it change (worker restarted) starts its feed again.
EPOCH = secrets.token_hex(4)
_reader: dict[str, Any] = {"lag": None, "partitions": 0, "error": None}
_cache: dict[str, Any] = {"seq": -1, "body": None}


def wants_html(request: Request) -> bool:
    """A browser asking for a page (``Accept: text/html`` before any JSON); API clients get JSON as before."""
    if request.query.get("format") == "json":
        return False
    accept = request.headers.get("Accept", "")
    html, json = accept.find("text/html"), accept.find("application/json")
    return html >= 0 and (json < 0 or html < json)


def _asset(view: View, name: str) -> Response:
    body, content_type = ASSETS[name]
    return view.bytes(body, content_type=content_type, headers={"Cache-Control": "no-cache"})


def customer_page(view: View) -> Response:
    """The customer page's HTML; its script fetches the story and the state as JSON."""
    return _asset(view, "customer.html")


@app.page("/")
async def index(self: View, request: Request) -> Response:
    return _asset(self, "index.html")


@app.page("/static/{name}")
async def static(self: View, request: Request, name: str) -> Response:
    if name not in ASSETS:
        return self.json({"error": f"no asset {name}"}, status=404)
    return _asset(self, name)


@app.page("/api/summary")
async def summary_view(self: View, request: Request) -> Response:
    # Recomputed only when the ledger has changed, however many pages poll.
    if _cache["seq"] != ledger.seq or _cache["body"] is None:
        _cache["body"] = orjson.dumps(summary(ledger, policy.currency))
        _cache["seq"] = ledger.seq
    body = orjson.loads(_cache["body"])
    body.update(_status())
    return self.json(body)


@app.page("/api/alerts")
async def alerts_view(self: View, request: Request) -> Response:
    """The feed: emissions newer than ``after`` (a sequence number of this worker's ledger), newest first."""
    try:
        after = int(request.query.get("after", "0"))
        limit = min(max(int(request.query.get("limit", "200")), 1), 500)
    except ValueError:
        return self.json({"error": "after and limit must be integers"}, status=400)
    kind, severity = request.query.get("kind"), request.query.get("severity")
    entries = [
        feed_entry(entry.seq, entry.emission)
        for entry in ledger.after(after, limit=500)
        if (not kind or entry.emission.kind == kind) and (not severity or entry.emission.severity == severity)
    ][:limit]
    return self.json({**_status(), "alerts": entries})


@app.page("/api/customers/{customer_id}/story")
@app.table_route(table=customers, match_info="customer_id")
async def story_view(self: View, request: Request, customer_id: str) -> Response:
    """Served by the worker that owns the customer's partition (Faust routes the request there)."""
    state = None if is_input_offsets_key(customer_id) else customers.data.get(customer_id)
    findings = ledger.of_customer(customer_id)
    if state is None and not findings:
        return self.json({"error": f"unknown customer {customer_id}"}, status=404)
    return self.json(customer_story(customer_id, state, findings, policy.currency))


def _status() -> dict[str, Any]:
    return {
        "epoch": EPOCH,
        "seq": ledger.seq,
        "stale": ledger.stale,
        "malformed": ledger.malformed,
        "forgotten": ledger.forgotten,
        "forgotten_customers": ledger.forgotten_customers,
        "reader": dict(_reader),
        "currency": policy.currency,
    }


def feed_entry(seq: int, emission: Emission) -> dict[str, Any]:
    return {
        "seq": seq,
        "id": emission.id,
        "alert_id": emission.alert_id,
        "revision": emission.revision,
        "lifecycle": emission.lifecycle,
        "kind": emission.kind,
        "severity": emission.severity,
        "customer_id": emission.customer_id,
        "summary": emission.summary,
        "time": format_ms(emission.at),
        "amount": money_text(emission.amount),
        "currency": emission.currency,
        "per": emission.per,
        "evidence": list(emission.evidence),
        "feedback": answers_json(emission.feedback),
    }


def finding_json(finding: Finding) -> dict[str, Any]:
    return {
        "alert_id": finding.alert_id,
        "kind": finding.kind,
        "customer_id": finding.customer_id,
        "severity": finding.severity,
        "summary": finding.summary,
        "amount": money_text(finding.amount),
        "per": finding.per,
        "raised_at": format_ms(finding.raised_at),
        "lifecycle": finding.lifecycle,
        "details": dict(finding.details),
        **finding.feedback_json(),
    }


def summary(book: Ledger, currency: str) -> dict[str, Any]:
    """Everything the page shows besides the feed, from the ledger's findings."""
    findings = list(book.findings.values())
    bad_profits = [f for f in findings if is_overpayment(f) or is_overcharge(f)]
    promises = open_promises(findings)
    return {
        "currency": currency,
        "colours": KIND_COLOURS,
        "headline": headline(findings),
        "totals": figures(findings).as_json(),
        "by_kind": [{"kind": kind, **row.as_json()} for kind, row in group(findings, lambda f: f.kind).items()],
        # The chart: bad profits found per month of event time, by kind.
        "by_month": [
            {"month": month, "kind": kind, "year": money_text(row.found_year), "once": money_text(row.found_once)}
            for (month, kind), row in group(bad_profits, lambda f: (f.month, f.kind)).items()
        ],
        "open_promises": {"by_kind": promises["by_kind"], "oldest": [finding_json(f) for f in promises["oldest"]]},
        "top_customers": top_customers(findings, limit=10),
    }


@app.task
async def _follow_alerts() -> None:
    """Fold the whole alert topic, from the beginning, into this worker's ledger; retry if the broker goes."""
    while True:
        consumer = AIOKafkaConsumer(
            config.topics.alerts,
            **config.client_options,
            group_id=None,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            fetch_max_wait_ms=max(config.fetch_max_wait_ms, 50),
        )
        try:
            await consumer.start()
            _reader["error"] = None
            await _fold(consumer)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the page must not take the worker down; the fold is idempotent on re-read
            _reader["error"] = f"{type(exc).__name__}: {exc}"
            log.warning("alert page reader failed (%s); reading the alert topic again in 2 s", _reader["error"])
            await asyncio.sleep(2.0)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(consumer.stop(), 5)


async def _fold(consumer: AIOKafkaConsumer) -> None:
    next_offset: dict[TopicPartition, int] = {}
    while True:
        batches = await consumer.getmany(timeout_ms=500, max_records=2000)
        for tp, records in batches.items():
            for record in records:
                try:
                    ledger.add_document(orjson.loads(record.value))
                except orjson.JSONDecodeError:
                    ledger.malformed += 1
            if records:
                next_offset[tp] = records[-1].offset + 1
        lag = 0
        assigned = consumer.assignment()
        for tp in assigned:
            highwater = consumer.highwater(tp)
            if highwater is not None:
                lag += max(0, highwater - next_offset.get(tp, 0))
        _reader["lag"], _reader["partitions"] = lag, len(assigned)
