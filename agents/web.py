"""Web views on the worker's port: /metrics (Faust sensors + domain metrics), /health, /ready, /live."""

from __future__ import annotations

import asyncio
import logging
import time

from faust.web import Request, Response, View

from agents.ingest import processor
from agents.page import customer_page, wants_html
from models.views import customer_view
from streams import metrics
from streams.app import runtime
from streams.compat.sensor import setup_light_prometheus_sensors
from streams.health import assigned_partitions, input_lag, is_live, is_ready
from streams.processor import is_input_offsets_key

__all__ = ["health", "ready", "live", "customer_state"]

rt = runtime()
app, customers, policy = rt.app, rt.customers, rt.policy

log = logging.getLogger("fairwatch")

setup_light_prometheus_sensors(app, pattern="/metrics")


@app.page("/health")
async def health(self: View, request: Request) -> Response:
    return self.json({"status": "up"})


@app.page("/ready")
async def ready(self: View, request: Request) -> Response:
    if is_ready(rt):
        return self.json({"status": "ready", "partitions": assigned_partitions(rt)})
    return self.json({"status": "not ready"}, status=503)


@app.page("/live")
async def live(self: View, request: Request) -> Response:
    """503 when the processing loop has made no progress for FAIRWATCH_LIVE_STALL_SECONDS while input waits."""
    alive, why = is_live(rt)
    return self.json({"status": "live" if alive else "stalled", "why": why}, status=200 if alive else 503)


@app.page("/customers/{customer_id}")
async def customer(self: View, request: Request, customer_id: str) -> Response:
    """A browser gets the customer page (agents.page); anyone else the state as JSON, as before."""
    if wants_html(request):
        return customer_page(self)
    return await customer_state(self, request, customer_id)


@app.table_route(table=customers, match_info="customer_id")
async def customer_state(self: View, request: Request, customer_id: str) -> Response:
    """The customer's state from whichever worker owns its partition (Faust routes the request)."""
    # The table's own records (input offsets) are not customers.
    state = None if is_input_offsets_key(customer_id) else customers.data.get(customer_id)
    if state is None:
        return self.json({"error": f"unknown customer {customer_id}"}, status=404)
    return self.json(customer_view(state, processor.stream_time(state["p"]), policy.currency))


@app.timer(interval=1.0)
async def _publish_open_counts() -> None:
    lag = input_lag(rt)
    for topic, behind in lag.items():
        metrics.INPUT_LAG.labels(topic).set(behind)
    if not any(lag.values()):
        rt.state["lag_zero"] = time.monotonic()
    open_orders, open_alerts = processor.open_counts()
    metrics.OPEN_PROMISES.labels("order_delivery").set(open_orders)
    for kind, number in open_alerts.items():
        metrics.OPEN_ALERTS.labels(kind).set(number)
    processor.publish_catalog_metrics()


@app.task
async def _announce_readiness() -> None:
    """Log ``ready`` each time the worker becomes ready (start-up, after a rebalance)."""
    loop = type(asyncio.get_running_loop())
    log.info("fairwatch: running on %s.%s", loop.__module__, loop.__qualname__)
    was_ready = False
    while True:
        now_ready = is_ready(rt)
        if now_ready != was_ready:
            metrics.READY.set(1 if now_ready else 0)
            log.info("fairwatch %s", "ready" if now_ready else "not ready (rebalancing or recovering)")
            was_ready = now_ready
        await asyncio.sleep(0.05)
