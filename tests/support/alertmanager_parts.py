"""The real parts of the notification tests: Debian's Alertmanager, the bridge, a webhook receiver, alerts.

Alertmanager runs from the shipped ``ops/alertmanager/alertmanager.yml`` with
only the receivers' URLs (pointed at the test's webhook, one path per receiver)
and the timings changed; it listens on a free loopback port with its own storage
directory and no cluster port. The bridge is ``fairwatch alertmanager`` as a
child process. Alerts are CloudEvents made by ``models.alerts.to_cloudevent``,
produced onto the alert topic as the worker produces them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import orjson
import yaml
from aiokafka import AIOKafkaProducer
from prometheus_client.parser import text_string_to_metric_families

from models.alerts import AlertChange, alert_id_for, to_cloudevent
from models.timestamps import parse_rfc3339
from streams.tools import supervisor
from streams.tools.broker import child_preexec, free_port, stop_process
from streams.topics import ALERTS_TOPIC

ROOT = Path(__file__).resolve().parents[2]
SHIPPED_CONFIG = ROOT / "ops" / "alertmanager" / "alertmanager.yml"
PUBLIC_URL = "http://fairwatch.test:6066"
T = TypeVar("T")


class Webhook:
    """An HTTP server that keeps every notification Alertmanager posts, with the receiver from the path."""

    def __init__(self) -> None:
        self.notifications: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with owner._lock:
                    owner.notifications.append({"path": self.path, **json.loads(body)})
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Webhook:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def received(
        self, receiver: str = "crm", customer: str | None = None, alert_id: str | None = None
    ) -> list[dict[str, Any]]:
        """The notifications to ``receiver`` (for one customer's group; with one alert), in arrival order."""
        with self._lock:
            found = list(self.notifications)
        return [
            n
            for n in found
            if n["receiver"] == receiver
            and (customer is None or n["groupLabels"].get("customer_id") == customer)
            and (alert_id is None or any(a["labels"]["alert_id"] == alert_id for a in n["alerts"]))
        ]


def config_for_test(webhook: Webhook, *, repeat_interval: str = "1h") -> dict[str, Any]:
    """The shipped config, its webhooks pointed at ``webhook`` and its timings made short."""
    config = yaml.safe_load(SHIPPED_CONFIG.read_text())
    for receiver in config["receivers"]:
        for hook in receiver["webhook_configs"]:
            hook["url"] = f"{webhook.url}/{receiver['name']}"

    def shorten(route: dict[str, Any]) -> None:
        for key, value in (("group_wait", "1s"), ("group_interval", "1s"), ("repeat_interval", repeat_interval)):
            if key in route or route is config["route"]:
                route[key] = value
        for child in route.get("routes", []):
            shorten(child)

    shorten(config["route"])
    return config


class AlertmanagerProcess:
    """Debian's ``prometheus-alertmanager`` on 127.0.0.1, restartable on the same port and storage."""

    def __init__(self, tmp_path: Path, config: dict[str, Any]) -> None:
        binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
        if binary is None:
            raise AssertionError("prometheus-alertmanager not on PATH: run scripts/ensure-alertmanager.sh")
        self.binary = binary
        self.port = free_port()
        self.config_path = tmp_path / "alertmanager.yml"
        self.config_path.write_text(yaml.safe_dump(config))
        self.storage = tmp_path / "alertmanager-data"
        self.log_path = tmp_path / "alertmanager.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> AlertmanagerProcess:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    self.binary,
                    f"--config.file={self.config_path}",
                    f"--storage.path={self.storage}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--cluster.listen-address=",  # no HA gossip: one instance, no settling wait
                    "--log.level=info",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=child_preexec,
            )
        wait_for(lambda: self._ready(), timeout, f"alertmanager ready on {self.url}; log {self.log_path}")
        return self

    def _ready(self) -> bool:
        if self.process is None or self.process.poll() is not None:
            raise AssertionError(f"alertmanager exited:\n{self.log_path.read_text(errors='replace')[-2000:]}")
        try:
            with urllib.request.urlopen(self.url + "/-/ready", timeout=1) as response:
                return response.status == 200
        except OSError:
            return False

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            stop_process(process, 10)

    def api(self, method: str, path: str, body: Any = None) -> Any:
        request = urllib.request.Request(
            self.url + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.loads(response.read() or b"null")

    def alerts(self, **filters: str) -> list[dict[str, Any]]:
        """``GET /api/v2/alerts``: every alert it holds (active, silenced and inhibited)."""
        matchers = [urllib.parse.quote(f'{name}="{value}"') for name, value in filters.items()]
        query = "&".join(f"filter={matcher}" for matcher in matchers)
        return self.api("GET", "/api/v2/alerts" + (f"?{query}" if query else ""))


class BridgeProcess(supervisor.BridgeProcess):
    """``fairwatch alertmanager`` on the test's broker and Alertmanager, re-posting every ``interval`` s."""

    def __init__(self, broker: str, alertmanager_url: str, log_path: Path, interval: float = 1.0) -> None:
        super().__init__(
            broker,
            log_path,
            env={
                "FAIRWATCH_BROKER_PROFILE": os.environ.get("FAIRWATCH_BROKER_PROFILE", "tansu"),
                "FAIRWATCH_ALERTMANAGER_URL": alertmanager_url,
                "FAIRWATCH_ALERTMANAGER_INTERVAL": str(interval),
                "FAIRWATCH_PUBLIC_URL": PUBLIC_URL,
            },
        )

    def wait_caught_up(self, timeout: float = 30.0) -> None:
        wait_for(lambda: self.metric("fairwatch_alertmanager_caught_up") == 1, timeout, "bridge caught up")

    def metric(self, name: str) -> float | None:
        """The sum of a metric's samples on the bridge's /metrics; None while it does not answer."""
        if self.process is None or self.process.poll() is not None:
            raise AssertionError(f"the bridge exited:\n{self.log_path.read_text(errors='replace')[-3000:]}")
        try:
            text = self.metrics()
        except OSError:
            return None
        samples = [
            sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == name
        ]
        return sum(samples) if samples else None


def wait_for(check: Callable[[], T], timeout: float, what: str) -> T:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for: {what}")
        time.sleep(0.1)


class Alerts:
    """Builds the worker's alert CloudEvents, revision by revision, for one test."""

    def __init__(self) -> None:
        self.revisions: dict[str, int] = {}
        self.at = parse_rfc3339("2026-11-22T10:00:00Z")

    def emit(
        self,
        kind: str,
        customer: str,
        key: str,
        lifecycle: str = "raised",
        *,
        severity: str = "warning",
        evidence: tuple[str, ...] = ("ev-1",),
        amount: int = 25_000_000,
        per: str = "once",
    ) -> dict[str, Any]:
        alert_id = alert_id_for(kind, customer, key)
        revision = self.revisions.get(alert_id, 0) + 1
        self.revisions[alert_id] = revision
        self.at += 60_000
        change = AlertChange(
            lifecycle,  # type: ignore[arg-type]
            alert_id,
            revision,
            kind,
            customer,
            self.at,
            severity,  # type: ignore[arg-type]
            f"{kind} for {customer} ({key}), {lifecycle}",
            amount,
            per,  # type: ignore[arg-type]
            evidence,
            f"call {customer} about {key}",
            {},
        )
        return to_cloudevent(change, "EUR")


async def publish(broker: str, documents: list[dict[str, Any]]) -> None:
    """Onto the alert topic as the worker writes it: keyed by customer, structured-mode header."""
    producer = AIOKafkaProducer(bootstrap_servers=[broker])
    await producer.start()
    try:
        for document in documents:
            await producer.send_and_wait(
                ALERTS_TOPIC,
                value=orjson.dumps(document),
                key=document["data"]["customer_id"].encode(),
                headers=[("content-type", b"application/cloudevents+json")],
            )
    finally:
        await producer.stop()


def alert_states(notification: dict[str, Any]) -> dict[str, str]:
    """alert_id -> firing/resolved in one notification."""
    return {alert["labels"]["alert_id"]: alert["status"] for alert in notification["alerts"]}
