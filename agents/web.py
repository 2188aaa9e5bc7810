"""Web views on the worker's port: /metrics (Faust sensors + domain metrics), /health, /ready."""

from __future__ import annotations

import asyncio
import logging

from faust.sensors.prometheus import setup_prometheus_sensors
from faust.web import Request, Response, View

from agents.ingest import processor
from agents.page import customer_page, wants_html
from models.views import customer_view
from streams import metrics
from streams.app import app, customers, policy
from streams.health import assigned_partitions, is_ready
from streams.processor import is_input_offsets_key

__all__ = ["health", "ready", "customer_state"]

log = logging.getLogger("fairwatch")

setup_prometheus_sensors(app, pattern="/metrics")


@app.page("/health")
async def health(self: View, request: Request) -> Response:
    return self.json({"status": "up"})


@app.page("/ready")
async def ready(self: View, request: Request) -> Response:
    if is_ready(app):
        return self.json({"status": "ready", "partitions": assigned_partitions(app)})
    return self.json({"status": "not ready"}, status=503)


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
    open_orders, open_alerts = processor.open_counts()
    metrics.OPEN_PROMISES.labels("order_delivery").set(open_orders)
    for kind, number in open_alerts.items():
        metrics.OPEN_ALERTS.labels(kind).set(number)
    processor.publish_catalog_metrics()


@app.task
async def _announce_readiness() -> None:
    """Log ``ready`` each time the worker becomes ready (start-up, after a rebalance)."""
    was_ready = False
    while True:
        now_ready = is_ready(app)
        if now_ready != was_ready:
            metrics.READY.set(1 if now_ready else 0)
            log.info("fairwatch %s", "ready" if now_ready else "not ready (rebalancing or recovering)")
            was_ready = now_ready
        await asyncio.sleep(0.05)
