"""Web views on the worker's port: /metrics (Faust sensors + domain metrics), /health, /ready."""

from __future__ import annotations

import asyncio
import logging

from faust.sensors.prometheus import setup_prometheus_sensors
from faust.web import Request, Response, View

from streams import metrics
from streams.app import app
from streams.health import is_ready

__all__ = ["health", "ready"]

log = logging.getLogger("fairwatch")

setup_prometheus_sensors(app, pattern="/metrics")


@app.page("/health")
async def health(self: View, request: Request) -> Response:
    return self.json({"status": "up"})


@app.page("/ready")
async def ready(self: View, request: Request) -> Response:
    if is_ready(app):
        return self.json({"status": "ready"})
    return self.json({"status": "not ready"}, status=503)


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


