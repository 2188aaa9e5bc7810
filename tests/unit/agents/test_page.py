"""The live page (agents/page.py) on fakes: it folds what the ingest agent sent to the alert topic and serves it."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka.structs import TopicPartition

from models.kinds import KIND_COLOURS
from streams.processor import input_offsets_key

from .fakes import CUSTOMER, Agents, FakeView, broken_promise_batch


class StopFolding(Exception):
    pass


class AlertTopicReader:
    """The page's consumer of the alert topic: one fetch of ``records``, then the test stops the fold."""

    def __init__(self, tp: TopicPartition, values: list[bytes], highwater: int) -> None:
        self.tp = tp
        self.records = [SimpleNamespace(offset=offset, value=value) for offset, value in enumerate(values)]
        self.end = highwater
        self.fetches = 0

    async def getmany(self, timeout_ms: int, max_records: int) -> dict[TopicPartition, list[Any]]:
        self.fetches += 1
        if self.fetches > 1:
            raise StopFolding
        return {self.tp: self.records}

    def assignment(self) -> set[TopicPartition]:
        return {self.tp}

    def highwater(self, tp: TopicPartition) -> int:
        return self.end


def request(**query: str) -> SimpleNamespace:
    return SimpleNamespace(query=query, headers={})


def view(agents: Agents, path: str, *args: str, **query: str) -> tuple[int, Any]:
    return asyncio.run(agents.app.pages[path](FakeView(), request(**query), *args))


def fold_what_the_agent_sent(agents: Agents, *extra: bytes, highwater: int | None = None) -> AlertTopicReader:
    asyncio.run(agents.ingest.handle_batch(broken_promise_batch(agents)))
    values = [sent.value for sent in agents.alerts.sent] + list(extra)
    tp = TopicPartition(agents.topic("alerts"), 0)
    reader = AlertTopicReader(tp, values, len(values) if highwater is None else highwater)
    with pytest.raises(StopFolding):
        asyncio.run(agents.page._fold(reader))
    return reader


def test_the_page_folds_the_alerts_the_agent_sent_counts_what_is_not_json_and_reports_its_lag(agents: Agents) -> None:
    fold_what_the_agent_sent(agents, b"{not json", highwater=10)
    sent = len(agents.alerts.sent)
    assert sent >= 1 and agents.page.ledger.seq == sent and agents.page.ledger.malformed == 1
    status, body = view(agents, "/api/summary")
    assert status == 200 and body["colours"] == KIND_COLOURS and body["malformed"] == 1
    assert body["reader"] == {"lag": 10 - (sent + 1), "partitions": 1, "error": None}
    assert [row["kind"] for row in body["by_kind"]] == ["promise.late_delivery"]


def test_the_feed_is_newest_first_filtered_and_its_query_checked(agents: Agents) -> None:
    fold_what_the_agent_sent(agents)
    status, body = view(agents, "/api/alerts")
    seqs = [entry["seq"] for entry in body["alerts"]]
    assert status == 200 and seqs == sorted(seqs, reverse=True) and len(seqs) == len(agents.alerts.sent)
    assert {entry["customer_id"] for entry in body["alerts"]} == {CUSTOMER}
    assert view(agents, "/api/alerts", kind="promise.late_delivery")[1]["alerts"] == body["alerts"]
    assert view(agents, "/api/alerts", kind="overpaying.better_plan")[1]["alerts"] == []
    assert view(agents, "/api/alerts", after=str(max(seqs)))[1]["alerts"] == []
    assert len(view(agents, "/api/alerts", limit="1")[1]["alerts"]) == 1
    assert view(agents, "/api/alerts", after="x") == (400, {"error": "after and limit must be integers"})


def test_the_story_joins_the_customers_state_and_findings_and_hides_the_tables_own_records(agents: Agents) -> None:
    fold_what_the_agent_sent(agents)
    status, story = view(agents, "/api/customers/{customer_id}/story", CUSTOMER)
    assert status == 200 and (story["customer_id"], story["in_state"]) == (CUSTOMER, True)
    assert [finding["kind"] for finding in story["findings"]] == ["promise.late_delivery"]
    kinds = [entry["kind"] for entry in story["timeline"]]
    assert "alert" in kinds and len(kinds) > kinds.count("alert")  # the orders from the state, the alert folded
    assert view(agents, "/api/customers/{customer_id}/story", input_offsets_key(1))[0] == 404
    assert view(agents, "/api/customers/{customer_id}/story", "c-nobody")[0] == 404


def test_only_the_committed_assets_are_served(agents: Agents) -> None:
    status, (content_type, body) = view(agents, "/static/{name}", "page.css")
    assert (status, content_type) == (200, "text/css") and body == (agents.page.STATIC / "page.css").read_bytes()
    assert view(agents, "/static/{name}", "../ingest.py") == (404, {"error": "no asset ../ingest.py"})
    assert view(agents, "/")[1][0] == "text/html"


@pytest.mark.parametrize(
    ("accept", "query", "html"),
    [
        ("text/html,application/xhtml+xml", {}, True),
        ("application/json, text/html", {}, False),
        ("text/html", {"format": "json"}, False),
        ("", {}, False),
        ("*/*", {}, False),
    ],
)
def test_a_browser_gets_html_and_anyone_else_json(agents: Agents, accept: str, query: dict, html: bool) -> None:
    assert agents.page.wants_html(SimpleNamespace(query=query, headers={"Accept": accept})) is html
