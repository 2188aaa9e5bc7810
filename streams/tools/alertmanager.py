"""The Alertmanager bridge (``fairwatch alertmanager``; SPEC §6, README "Notifications").

A process of its own beside the workers, on when ``FAIRWATCH_ALERTMANAGER_URL``
is set. It reads the alert topic with a plain aiokafka consumer in its own group
(``<app id>-alertmanager``): not a Faust agent, which would share the worker's
group and commits, and whose retries would hold up rebalances and the ingest
path. The open alerts live in memory (``models.notifications.OpenAlerts``):
every partition it is given is read again from the beginning, and nothing is
posted until it has caught up with the end as of that moment, so an alert raised
and resolved in the past is never posted as firing.

Then, like Prometheus, it posts to every Alertmanager named: changes as they come,
and every ``FAIRWATCH_ALERTMANAGER_INTERVAL`` seconds all open alerts, firing
with ``endsAt`` four intervals ahead, so an Alertmanager that restarted (and
lost its alerts) has them again within an interval, and one whose bridge died
resolves them by itself. A resolved alert is posted once with ``endsAt`` = when
it resolved. An Alertmanager that does not answer is retried with exponential
backoff, per Alertmanager, counted in ``fairwatch_alertmanager_post_failures_total``;
what it missed is kept and posted, all open alerts with it, when it answers again.
Reading the topic never waits for a post. The group's committed offsets say how
far the bridge has delivered (its lag is what Alertmanager has not been told);
they are never read back, since the open alerts come from the whole topic.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord, TopicPartition
from prometheus_client import Counter, Gauge, start_http_server
from yarl import URL

from models.errors import PolicyError
from models.ledger import LedgerError, read_emission
from models.notifications import Ending, OpenAlerts
from models.policy import load_policy
from streams.config import ConfigError, load_config
from streams.highwater import true_end_offsets

__all__ = [
    "BridgeSettings",
    "AlertmanagerBridge",
    "load_bridge_settings",
    "redact",
    "run_bridge",
]

log = logging.getLogger("fairwatch.alertmanager")

#: Resolutions posted again after a restart, and kept for an Alertmanager that is down: re-posting one it
#: already notified is harmless (it notifies a resolution once), and one it lost in a restart still arrives.
RESOLVED_KEPT_MS = 24 * 3_600_000
#: Alerts per POST: Alertmanager takes any number, but one request should stay small.
CHUNK = 500
_TIMEOUT_S = 10.0

POST_FAILURES = Counter(
    "fairwatch_alertmanager_post_failures_total",
    "Posts to an Alertmanager that failed (retried with backoff).",
    ["target", "reason"],
)
POSTED = Counter(
    "fairwatch_alertmanager_alerts_posted_total",
    "Alerts posted to an Alertmanager and accepted (firing ones are posted again every interval).",
    ["target", "state"],
)
REJECTED = Counter(
    "fairwatch_alertmanager_alerts_rejected_total",
    "Alerts an Alertmanager refused as invalid (HTTP 400); not retried.",
    ["target"],
)
SKIPPED = Counter(
    "fairwatch_alertmanager_records_skipped_total",
    "Records on the alert topic that are not fairwatch alerts (or a stale re-send): nothing posted.",
    ["reason"],
)
LAST_SUCCESS = Gauge(
    "fairwatch_alertmanager_last_success_timestamp_seconds",
    "When an Alertmanager last accepted a post.",
    ["target"],
)
PENDING = Gauge(
    "fairwatch_alertmanager_pending_changes",
    "Changed alerts and resolutions not yet accepted by an Alertmanager.",
    ["target"],
)
OPEN = Gauge("fairwatch_alertmanager_open_alerts", "Open alerts the bridge holds (and posts) for its partitions.")
CAUGHT_UP = Gauge(
    "fairwatch_alertmanager_caught_up", "1 once the bridge has read its partitions up to where they ended at start."
)


@dataclass(frozen=True, slots=True)
class BridgeSettings:
    urls: tuple[str, ...]
    interval: float
    page_url: str
    bootstrap: list[str]
    #: The consumer's connection settings, credentials included (streams.config.Config.client_options).
    client_options: dict[str, Any]
    alerts_topic: str
    group_id: str
    session_timeout: float
    heartbeat_interval: float
    fetch_max_wait_ms: int
    metrics_host: str
    metrics_port: int | None
    retention_days: float

    @property
    def ttl(self) -> float:
        """How far ahead a firing alert's ``endsAt`` is: four intervals, as Prometheus does."""
        return 4 * self.interval


def load_bridge_settings(environ: Mapping[str, str] | None = None) -> BridgeSettings:
    """The bridge's settings; ConfigError (naming the variable) when one is missing or invalid."""
    env = os.environ if environ is None else environ
    config = load_config(env)
    raw = env.get("FAIRWATCH_ALERTMANAGER_URL", "")
    urls = tuple(part.strip().rstrip("/") for part in raw.split(",") if part.strip())
    if not urls:
        raise ConfigError("FAIRWATCH_ALERTMANAGER_URL is not set: name the Alertmanager(s), e.g. http://127.0.0.1:9093")
    for url in urls:
        parsed = URL(url)
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise ConfigError(f"FAIRWATCH_ALERTMANAGER_URL: {redact(url)!r} is not an http(s) URL")
    try:
        interval = float(env.get("FAIRWATCH_ALERTMANAGER_INTERVAL") or 60.0)
    except ValueError:
        raise ConfigError("FAIRWATCH_ALERTMANAGER_INTERVAL: expected seconds") from None
    if interval <= 0:
        raise ConfigError("FAIRWATCH_ALERTMANAGER_INTERVAL: must be positive")
    port_text = env.get("FAIRWATCH_ALERTMANAGER_METRICS_PORT", "6070")
    try:
        metrics_port = int(port_text) if port_text not in ("", "0") else None
    except ValueError:
        raise ConfigError(f"FAIRWATCH_ALERTMANAGER_METRICS_PORT={port_text!r}: expected a port") from None
    try:
        policy = load_policy(env.get("FAIRWATCH_POLICY") or None, env)
    except PolicyError as exc:
        raise ConfigError(str(exc)) from None
    page_url = env.get("FAIRWATCH_PUBLIC_URL") or config.canonical_url or f"http://127.0.0.1:{config.web_port}"
    return BridgeSettings(
        urls=urls,
        interval=interval,
        page_url=page_url.rstrip("/"),
        bootstrap=config.bootstrap_servers,
        client_options=config.client_options,
        alerts_topic=config.topics.alerts,
        group_id=f"{config.app_id}-alertmanager",
        session_timeout=config.session_timeout,
        heartbeat_interval=config.heartbeat_interval,
        fetch_max_wait_ms=config.fetch_max_wait_ms,
        metrics_host=config.web_host,
        metrics_port=metrics_port,
        retention_days=policy.alert_retention_days,
    )


def redact(url: str) -> str:
    """The URL without its user and password, for logs and metric labels."""
    parsed = URL(url)
    return str(parsed.with_user(None)) if parsed.user or parsed.password else url


class _DeliveryError(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


@dataclass(slots=True)
class _Target:
    """One Alertmanager and what it has not been told yet."""

    url: str
    name: str
    #: The request headers: ``Authorization: Basic`` when the URL carries a user and password.
    headers: dict[str, str]
    dirty: set[str] = field(default_factory=set)
    endings: list[Ending] = field(default_factory=list)
    needs_full: bool = True
    next_full: float = 0.0
    retry_at: float = 0.0
    backoff: float = 0.0
    failures: int = 0

    @classmethod
    def of(cls, url: str) -> _Target:
        parsed = URL(url)
        headers = {"Content-Type": "application/json"}
        if parsed.user:
            pair = f"{parsed.user}:{parsed.password or ''}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
        return cls(str(parsed.with_user(None)), redact(url), headers)

    def pending(self) -> int:
        return len(self.dirty) + len(self.endings)


class _Reassign(ConsumerRebalanceListener):
    def __init__(self, bridge: AlertmanagerBridge) -> None:
        self.bridge = bridge

    async def on_partitions_revoked(self, revoked: Any) -> None:
        self.bridge.revoked(revoked)

    async def on_partitions_assigned(self, assigned: Any) -> None:
        await self.bridge.assigned(assigned)


class AlertmanagerBridge:
    """Reads the alert topic into the open alerts and posts them to the Alertmanagers; ``run`` until ``stop``."""

    def __init__(self, settings: BridgeSettings, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.clock = clock
        self.alerts = OpenAlerts(settings.page_url, retention_days=settings.retention_days)
        self.targets = [_Target.of(url) for url in settings.urls]
        self.consumer: AIOKafkaConsumer | None = None
        self._catch_up: dict[TopicPartition, int] = {}
        self._ends_unknown: set[TopicPartition] = set()
        self._delivered_up_to: dict[TopicPartition, int] = {}
        self._wake = asyncio.Event()
        self._session: aiohttp.ClientSession | None = None
        OPEN.set_function(lambda: len(self.alerts.open))

    # -- reading -------------------------------------------------------------------------------------

    def revoked(self, partitions: Any) -> None:
        numbers = [tp.partition for tp in partitions]
        self.alerts.forget_partitions(numbers)
        for target in self.targets:
            target.dirty &= set(self.alerts.open)
            target.endings = [ending for ending in target.endings if ending.partition not in numbers]
        for tp in partitions:
            self._catch_up.pop(tp, None)
            self._ends_unknown.discard(tp)
            self._delivered_up_to.pop(tp, None)

    async def assigned(self, partitions: Any) -> None:
        consumer = self.consumer
        assert consumer is not None
        tps = sorted(partitions)
        if not tps:
            return
        # Nothing is posted until these are read up to their end (found by the reading loop: an error
        # raised in here would be logged and swallowed by aiokafka, and the hold with it).
        self._ends_unknown.update(tps)
        for target in self.targets:
            target.needs_full = True
        CAUGHT_UP.set(0)
        # Read every partition given to us from its beginning: the open alerts are the whole topic's story.
        # (The reset is requested at once; the wait for it may time out without harm.)
        await consumer.seek_to_beginning(*tps)
        log.info(
            "alertmanager bridge: reading %s partitions %s from the beginning",
            self.settings.alerts_topic,
            ",".join(str(tp.partition) for tp in tps),
        )

    async def _find_ends(self, consumer: AIOKafkaConsumer) -> None:
        """Where the newly assigned partitions end now: what must be read before anything is posted."""
        tps = sorted(self._ends_unknown & consumer.assignment())
        self._ends_unknown.clear()
        if not tps:
            return
        try:
            # The embedded broker's ListOffsets can fall short: a fetch's high-water mark corrects it.
            ends = await true_end_offsets(consumer, await consumer.end_offsets(tps))
        except KafkaError as exc:
            self._ends_unknown.update(tps)
            log.warning("alertmanager bridge: end offsets not known yet (%s); asking again", exc)
            return
        for tp in tps:
            if (ends.get(tp) or 0) > 0:
                self._catch_up[tp] = ends[tp]

    def read(self, record: ConsumerRecord) -> None:
        """Fold one record of the alert topic; bad ones are counted and skipped, never fatal."""
        try:
            emission = read_emission(orjson.loads(record.value or b""))
        except orjson.JSONDecodeError:
            SKIPPED.labels("not_json").inc()
            return
        except LedgerError:
            SKIPPED.labels("not_an_alert").inc()
            return
        now_ms = int(self.clock() * 1000)
        # The record's timestamp is when the worker emitted it: the moment it fired or resolved.
        at = min(record.timestamp, now_ms) if record.timestamp and record.timestamp > 0 else now_ms
        if not self.alerts.apply(emission, record.partition, at):
            SKIPPED.labels("stale").inc()

    def _distribute(self) -> bool:
        """Hand the changes read so far to every target; True if there were any."""
        dirty, endings = self.alerts.take_changes()
        oldest = int(self.clock() * 1000) - RESOLVED_KEPT_MS
        endings = [ending for ending in endings if ending.ends_at >= oldest]
        for target in self.targets:
            target.dirty |= dirty
            target.endings.extend(endings)
        return bool(dirty or endings)

    async def _consume(self, stop: asyncio.Event) -> None:
        consumer = self.consumer
        assert consumer is not None
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=200, max_records=5000)
            for records in batches.values():
                for record in records:
                    self.read(record)
            just_caught_up = False
            if self._ends_unknown:
                await self._find_ends(consumer)
                just_caught_up = not (self._ends_unknown or self._catch_up)
            if self._catch_up:
                for tp, end in list(self._catch_up.items()):
                    if tp not in consumer.assignment() or await consumer.position(tp) >= end:
                        del self._catch_up[tp]
                just_caught_up = not (self._ends_unknown or self._catch_up)
            if just_caught_up:
                CAUGHT_UP.set(1)
                log.info("alertmanager bridge: caught up, %d open alerts", len(self.alerts.open))
            if batches:
                for tp in batches:
                    self._delivered_up_to[tp] = await consumer.position(tp)
            # While catching up the changes pile up in the targets; the deliverer waits for the end of it.
            if self._distribute() or just_caught_up:
                self._wake.set()

    # -- posting -------------------------------------------------------------------------------------

    async def _deliver(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            if not (self._catch_up or self._ends_unknown):
                upto = dict(self._delivered_up_to)
                await asyncio.gather(*(self._attempt(target) for target in self.targets))
                if all(target.pending() == 0 and target.failures == 0 for target in self.targets):
                    await self._commit(upto)
            for target in self.targets:
                PENDING.labels(target.name).set(target.pending())
            now = self.clock()
            due = [max(target.retry_at, now) if target.failures else target.next_full for target in self.targets]
            wait = min(max(min(due) - now, 0.05), self.settings.interval)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)

    async def _attempt(self, target: _Target) -> None:
        now = self.clock()
        if now < target.retry_at:
            return
        full = target.needs_full or now >= target.next_full
        dirty, endings = target.dirty, target.endings
        target.dirty, target.endings = set(), []
        oldest = int(now * 1000) - RESOLVED_KEPT_MS
        endings = [ending for ending in endings if ending.ends_at >= oldest]
        if not (full or dirty or endings):
            return
        ends_at = int((now + self.settings.ttl) * 1000)
        # Endings first: an alert that resolved and came back under the same labels ends, then fires again.
        resolved = [ending.payload() for ending in endings]
        firing_ids = list(self.alerts.open) if full else sorted(dirty)
        try:
            firing = await self._post_all(target, resolved, firing_ids, ends_at)
        except _DeliveryError as exc:
            target.dirty |= dirty
            target.endings[:0] = endings
            # Whatever it held may be gone (an Alertmanager restarted): tell it everything when it answers.
            target.needs_full = True
            target.failures += 1
            cap = min(30.0, self.settings.interval)
            target.backoff = min(cap, max(0.5, target.backoff * 2))
            target.retry_at = self.clock() + target.backoff
            POST_FAILURES.labels(target.name, exc.reason).inc()
            log.warning(
                "alertmanager %s: %s (%s); retry %d in %.1f s, %d changes kept",
                target.name,
                exc.reason,
                exc,
                target.failures,
                target.backoff,
                target.pending(),
            )
            return
        if target.failures:
            log.info("alertmanager %s answers again after %d failed posts", target.name, target.failures)
        target.failures, target.backoff, target.retry_at = 0, 0.0, 0.0
        if full:
            target.needs_full = False
            target.next_full = now + self.settings.interval
        POSTED.labels(target.name, "resolved").inc(len(resolved))
        POSTED.labels(target.name, "firing").inc(firing)
        LAST_SUCCESS.labels(target.name).set(self.clock())

    async def _post_all(
        self, target: _Target, resolved: list[dict[str, Any]], firing_ids: list[str], ends_at: int
    ) -> int:
        """Post the endings, then the firing alerts, a chunk at a time; return how many firing were posted.

        Each chunk of firing alerts is built just before it is posted, so a full re-post of many open
        alerts leaves the event loop (and the reading of the topic) a turn between chunks.
        """
        for start in range(0, len(resolved), CHUNK):
            await self._post_chunk(target, resolved[start : start + CHUNK])
        posted = 0
        for start in range(0, len(firing_ids), CHUNK):
            chunk = self.alerts.firing(ends_at, firing_ids[start : start + CHUNK])
            if chunk:
                await self._post_chunk(target, chunk)
                posted += len(chunk)
        if not resolved and not firing_ids:
            # Nothing open: an empty post still tells whether Alertmanager answers (the failure metric).
            await self._post_chunk(target, [])
        return posted

    async def _post_chunk(self, target: _Target, chunk: list[dict[str, Any]]) -> None:
        try:
            await self._post(target, chunk)
        except _DeliveryError as exc:
            if exc.reason != "rejected" or not chunk:
                raise
            if len(chunk) == 1:
                self._refused(target, chunk[0], exc)
                return
            # One bad alert must not hold back the others: post them one by one, drop the refused.
            for payload in chunk:
                try:
                    await self._post(target, [payload])
                except _DeliveryError as single:
                    if single.reason != "rejected":
                        raise
                    self._refused(target, payload, single)

    def _refused(self, target: _Target, payload: dict[str, Any], exc: _DeliveryError) -> None:
        REJECTED.labels(target.name).inc()
        log.error("alertmanager %s refused alert %s: %s", target.name, payload["labels"].get("alert_id"), exc)

    async def _post(self, target: _Target, alerts: list[dict[str, Any]]) -> None:
        session = self._session
        assert session is not None
        try:
            async with session.post(
                f"{target.url}/api/v2/alerts",
                data=orjson.dumps(alerts),
                headers=target.headers,
            ) as response:
                if response.status < 300:
                    return
                body = (await response.text())[:200].strip()
                if response.status == 400:
                    raise _DeliveryError("rejected", f"HTTP 400 {body}")
                raise _DeliveryError(f"http_{response.status // 100}xx", f"HTTP {response.status} {body}")
        except TimeoutError:
            raise _DeliveryError("timeout", f"no answer within {_TIMEOUT_S:g} s") from None
        except aiohttp.ClientError as exc:
            raise _DeliveryError("unreachable", type(exc).__name__) from None

    async def _commit(self, offsets: dict[TopicPartition, int]) -> None:
        consumer = self.consumer
        if consumer is None or not offsets:
            return
        assigned = consumer.assignment()
        mine = {tp: offset for tp, offset in offsets.items() if tp in assigned}
        if not mine:
            return
        try:
            await consumer.commit(mine)
        except KafkaError as exc:  # a rebalance under way: the next round commits
            log.debug("alertmanager bridge: commit skipped (%s)", exc)

    # -- running -------------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        settings = self.settings
        self.consumer = AIOKafkaConsumer(
            **settings.client_options,
            group_id=settings.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=settings.fetch_max_wait_ms,
            session_timeout_ms=int(settings.session_timeout * 1000),
            heartbeat_interval_ms=int(settings.heartbeat_interval * 1000),
        )
        self.consumer.subscribe([settings.alerts_topic], listener=_Reassign(self))
        CAUGHT_UP.set(0)
        await self.consumer.start()
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=_TIMEOUT_S))
        try:
            tasks = [
                asyncio.create_task(self._consume(stop), name="alertmanager-consume"),
                asyncio.create_task(self._deliver(stop), name="alertmanager-deliver"),
            ]
            stopped = asyncio.create_task(stop.wait())
            done, _ = await asyncio.wait([*tasks, stopped], return_when=asyncio.FIRST_COMPLETED)
            for task in [*tasks, stopped]:
                task.cancel()
            await asyncio.gather(*tasks, stopped, return_exceptions=True)
            for task in done:
                if task is not stopped and not task.cancelled() and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
        finally:
            await self._session.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.consumer.stop(), 10)


def run_bridge(environ: Mapping[str, str] | None = None) -> int:
    """``fairwatch alertmanager``: run the bridge until SIGINT or SIGTERM; 2 on a configuration error."""
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s] [%(process)d] [%(levelname)s] %(message)s")
    try:
        settings = load_bridge_settings(environ)
    except ConfigError as exc:
        print(f"fairwatch: {exc}", file=sys.stderr)
        return 2
    if settings.metrics_port is not None:
        try:
            start_http_server(settings.metrics_port, addr=settings.metrics_host)
        except OSError as exc:
            print(
                f"fairwatch: cannot serve the bridge's metrics on {settings.metrics_host}:{settings.metrics_port} "
                f"({exc.strerror or exc}); set FAIRWATCH_ALERTMANAGER_METRICS_PORT",
                file=sys.stderr,
            )
            return 2

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        log.info(
            "alertmanager bridge: group %s, posting to %s every %g s (metrics on %s:%s)",
            settings.group_id,
            ", ".join(redact(url) for url in settings.urls),
            settings.interval,
            settings.metrics_host,
            settings.metrics_port,
        )
        await AlertmanagerBridge(settings).run(stop)

    asyncio.run(main())
    return 0
