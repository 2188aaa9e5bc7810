"""The worker's probes and state views (agents/web.py) on fakes: what /ready, /live and /customers answer."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace

from faust.types import TP
from prometheus_client import REGISTRY

from streams.processor import input_offsets_key

from .fakes import CUSTOMER, Agents, FakeView, broken_promise_batch, ready

REQUEST = SimpleNamespace(query={}, headers={})


def answer(agents: Agents, path: str, *args: str) -> tuple[int, dict]:
    return asyncio.run(agents.app.pages[path](FakeView(), REQUEST, *args))


def test_the_prometheus_sensors_are_set_up_on_the_app_at_metrics(agents: Agents) -> None:
    assert agents.prometheus_setups == [(agents.app, "/metrics")]
    assert answer(agents, "/health") == (200, {"status": "up"})


def test_ready_only_once_joined_recovered_and_running(agents: Agents) -> None:
    orders = agents.topic("orders")
    assert answer(agents, "/ready") == (503, {"status": "not ready"})
    ready(agents, {TP(orders, 1), TP(orders, 0), TP(agents.topic("alerts"), 1)})
    assert answer(agents, "/ready") == (200, {"status": "ready", "partitions": [0, 1]})
    agents.app.in_recovery = True
    assert answer(agents, "/ready")[0] == 503
    agents.app.in_recovery = False
    agents.app.tables.recovery.completed.clear()  # a table partition still recovering
    assert answer(agents, "/ready")[0] == 503


def test_live_until_no_batch_is_handled_for_the_stall_time_while_input_waits_and_again_after_one(
    agents: Agents,
) -> None:
    assert answer(agents, "/live") == (200, {"status": "live", "why": "starting"})
    stalled_since = time.monotonic() - agents.rt.config.live_stall_seconds - 30
    agents.rt.state.update(agent_started=stalled_since, progress=stalled_since, lag_zero=stalled_since)
    status, body = answer(agents, "/live")
    assert status == 503 and body["status"] == "stalled" and "with input waiting" in body["why"]
    ready_partitions = {TP(agents.topic("orders"), 1)}
    agents.app.active = ready_partitions
    agents.rt.state["joined"] = True
    assert answer(agents, "/ready")[0] == 503  # a stalled worker is not ready either

    asyncio.run(agents.ingest.handle_batch(broken_promise_batch(agents)))
    assert answer(agents, "/live") == (200, {"status": "live", "why": "progressing"})


def test_an_idle_worker_with_nothing_to_read_stays_live(agents: Agents) -> None:
    orders = agents.topic("orders")
    long_ago = time.monotonic() - agents.rt.config.live_stall_seconds - 30
    agents.rt.state.update(agent_started=long_ago, progress=long_ago)
    agents.app.active = {TP(orders, 0)}
    agents.app.consumer.fairwatch_thread.positions[TP(orders, 0)] = (4, 7, None)
    asyncio.run(agents.web._publish_open_counts())
    assert REGISTRY.get_sample_value("fairwatch_input_lag_messages", {"topic": orders}) == 3
    assert answer(agents, "/live")[0] == 503

    agents.app.consumer.fairwatch_thread.positions[TP(orders, 0)] = (7, 7, None)  # read to the end
    asyncio.run(agents.web._publish_open_counts())
    assert REGISTRY.get_sample_value("fairwatch_input_lag_messages", {"topic": orders}) == 0
    assert answer(agents, "/live") == (200, {"status": "live", "why": "progressing"})


def test_the_state_view_shows_a_customer_and_hides_the_tables_own_records(agents: Agents) -> None:
    asyncio.run(agents.ingest.handle_batch(broken_promise_batch(agents)))
    status, body = answer(agents, "/customers/{customer_id}", CUSTOMER)
    assert status == 200 and (body["customer_id"], body["partition"]) == (CUSTOMER, 1)
    assert set(body["open_orders"]) == {"o-1", "o-2"}
    assert [alert["kind"] for alert in body["alerts"].values()] == ["promise.late_delivery"]
    # Stream time from the processor that owns the partition: the newest order minus the grace.
    assert body["stream_time"] == {"orders": "2026-12-02T09:50:00Z"}  # T0 + 10 days - 10 minutes
    assert input_offsets_key(1) in agents.customers.data
    assert answer(agents, "/customers/{customer_id}", input_offsets_key(1))[0] == 404
    assert answer(agents, "/customers/{customer_id}", "c-unknown") == (404, {"error": "unknown customer c-unknown"})


def test_a_browser_asking_for_a_customer_gets_the_page_and_a_script_gets_json(agents: Agents) -> None:
    asyncio.run(agents.ingest.handle_batch(broken_promise_batch(agents)))
    browser = SimpleNamespace(query={}, headers={"Accept": "text/html,application/json;q=0.9"})
    status, (content_type, body) = asyncio.run(
        agents.app.pages["/customers/{customer_id}"](FakeView(), browser, CUSTOMER)
    )
    assert (status, content_type) == (200, "text/html") and body.startswith(b"<!")
    status, state = answer(agents, "/customers/{customer_id}", CUSTOMER)
    assert status == 200 and "o-1" in state["open_orders"]
