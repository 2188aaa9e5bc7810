"""Configuration from the environment: the one place that reads ``FAIRWATCH_*`` settings.

Two timing profiles. ``kafka`` (the default) keeps Faust's and Kafka's usual
timings, right for a real Apache Kafka cluster. ``tansu`` is for the embedded
Tansu broker, which holds a group join for about half the session timeout and
waits out the full fetch wait on multi-partition fetches: a 2 s session, 0.5 s
heartbeat and 10 ms fetch wait give a worker that joins in ~2 s and answers an
event in tens of milliseconds. The embedded broker's users (demo, tests) select
it by setting ``FAIRWATCH_BROKER_PROFILE=tansu``; every value can be set on its own.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streams.security import KafkaSecurity, WebAccess, aiokafka_kwargs, load_kafka_security, load_web_access
from streams.topics import TopicNames

__all__ = ["Config", "ConfigError", "load_config"]


class ConfigError(ValueError):
    """An environment setting is invalid; the message names the variable."""


_PROFILES: dict[str, dict[str, float]] = {
    # session s, heartbeat s, fetch wait ms
    "kafka": {"session_timeout": 30.0, "heartbeat_interval": 3.0, "fetch_max_wait_ms": 500.0},
    "tansu": {"session_timeout": 2.0, "heartbeat_interval": 0.5, "fetch_max_wait_ms": 10.0},
}
#: How the consumer reads transactional input. read_committed never applies an aborted transaction; the
#: embedded Tansu 0.6.0 has no transactions, and with read_committed a partition's consumption was seen to stop
#: short of its end there (orders/0 stuck at offset 172 of 208 in the rebalance fault test; the same run with
#: read_uncommitted read it all), so its profile reads uncommitted.
_ISOLATION = {"kafka": "read_committed", "tansu": "read_uncommitted"}


@dataclass(frozen=True, slots=True)
class Config:
    broker: str
    profile: str
    web_host: str
    web_port: int
    data_dir: Path
    store: str
    policy_path: str | None
    partitions: int
    session_timeout: float
    heartbeat_interval: float
    fetch_max_wait_ms: int
    tick_seconds: float
    app_id: str
    #: How other workers reach this one's web port (for routed /customers queries).
    canonical_url: str | None
    #: The largest record the worker produces (the producer's max_request_size): a dead-letter
    #: copy of the largest input the brokers accept must fit.
    max_message_bytes: int
    #: The live page's memory: at most this many alerts (about 3 KB each), the ones resolved longest ago
    #: forgotten first.
    page_max_alerts: int = 50_000
    #: Every topic's name (FAIRWATCH_TOPIC_*), the SPEC's names by default.
    topics: TopicNames = field(default_factory=TopicNames)
    #: Replication of the topics the worker creates (1 for the embedded broker; 3 on a real cluster).
    replication_factor: int = 1
    #: False: the worker only verifies the topics and refuses to start when one is missing.
    create_topics: bool = True
    #: /live fails when the processing loop has made no progress for this long while input is waiting.
    live_stall_seconds: float = 60.0
    #: The consumer's isolation level (FAIRWATCH_ISOLATION_LEVEL; read_committed except on the embedded broker).
    isolation_level: str = "read_committed"

    #: How every Kafka client authenticates and encrypts (FAIRWATCH_KAFKA_*): streams.security.
    kafka_security: KafkaSecurity = KafkaSecurity()  # noqa: RUF009 (frozen: one shared default is safe)
    #: Who may use the web port (FAIRWATCH_WEB_TOKEN...): streams.security.
    web_access: WebAccess = WebAccess()  # noqa: RUF009 (frozen: one shared default is safe)

    @property
    def client_options(self) -> dict[str, Any]:
        """What every aiokafka client fairwatch makes (producer, consumer, admin) is given to reach the cluster:
        the bootstrap servers and the security settings."""
        return {"bootstrap_servers": self.bootstrap_servers, **aiokafka_kwargs(self.kafka_security)}

    @property
    def broker_url(self) -> str:
        """Faust's form: ``kafka://h1:9092;h2:9092``."""
        if "://" in self.broker:
            return self.broker
        return ";".join(f"kafka://{host.strip()}" for host in self.broker.split(",") if host.strip())

    @property
    def bootstrap_servers(self) -> list[str]:
        """aiokafka's form: ``["h1:9092", "h2:9092"]``."""
        hosts = []
        for part in self.broker.replace(";", ",").split(","):
            part = part.strip()
            if part:
                hosts.append(part.split("://", 1)[-1])
        return hosts


def _number(env: Mapping[str, str], name: str, default: float, kind: type = float) -> float:
    text = env.get(name)
    if text is None or text == "":
        return default
    try:
        value = kind(text)
    except ValueError:
        raise ConfigError(f"{name}={text!r}: expected a {kind.__name__}") from None
    if value <= 0:
        raise ConfigError(f"{name}={text!r}: must be positive")
    return value


def load_config(environ: Mapping[str, str] | None = None) -> Config:
    """Read the configuration; raise ConfigError naming the variable when one is invalid."""
    env = os.environ if environ is None else environ
    profile = env.get("FAIRWATCH_BROKER_PROFILE", "kafka")
    if profile not in _PROFILES:
        raise ConfigError(f"FAIRWATCH_BROKER_PROFILE={profile!r}: expected one of {', '.join(_PROFILES)}")
    timing = _PROFILES[profile]
    store = env.get("FAIRWATCH_STORE", "memory")
    if store not in ("memory", "rocksdb"):
        raise ConfigError(f"FAIRWATCH_STORE={store!r}: expected memory or rocksdb")
    session = _number(env, "FAIRWATCH_SESSION_TIMEOUT", timing["session_timeout"])
    heartbeat = _number(env, "FAIRWATCH_HEARTBEAT_INTERVAL", timing["heartbeat_interval"])
    guarantee = env.get("FAIRWATCH_PROCESSING_GUARANTEE", "at_least_once")
    if guarantee != "at_least_once":
        # Faust's exactly_once needs broker transactions; it has not been tested here (the embedded broker
        # has none), and the input offsets in the changelog already make each event apply once.
        raise ConfigError(
            f"FAIRWATCH_PROCESSING_GUARANTEE={guarantee!r}: only at_least_once is supported "
            "(exactly_once is untested against a broker with transactions; events apply once without it)"
        )
    isolation = env.get("FAIRWATCH_ISOLATION_LEVEL") or _ISOLATION[profile]
    if isolation not in ("read_committed", "read_uncommitted"):
        raise ConfigError(f"FAIRWATCH_ISOLATION_LEVEL={isolation!r}: expected read_committed or read_uncommitted")
    create_topics = env.get("FAIRWATCH_CREATE_TOPICS", "1")
    if create_topics not in ("0", "1"):
        raise ConfigError(f"FAIRWATCH_CREATE_TOPICS={create_topics!r}: expected 0 or 1")
    app_id = env.get("FAIRWATCH_APP_ID", "fairwatch")
    try:
        topics = TopicNames.from_env(env, app_id)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if heartbeat >= session:
        raise ConfigError("FAIRWATCH_HEARTBEAT_INTERVAL must be below FAIRWATCH_SESSION_TIMEOUT")
    return Config(
        broker=env.get("FAIRWATCH_BROKER") or "127.0.0.1:9092",
        profile=profile,
        web_host=env.get("FAIRWATCH_WEB_HOST", "127.0.0.1"),
        web_port=int(_number(env, "FAIRWATCH_WEB_PORT", 6066, int)),
        data_dir=Path(env.get("FAIRWATCH_DATA_DIR", "data")),
        store=store,
        policy_path=env.get("FAIRWATCH_POLICY") or None,
        partitions=int(_number(env, "FAIRWATCH_PARTITIONS", 8, int)),
        session_timeout=session,
        heartbeat_interval=heartbeat,
        fetch_max_wait_ms=int(_number(env, "FAIRWATCH_FETCH_MAX_WAIT_MS", timing["fetch_max_wait_ms"], int)),
        tick_seconds=_number(env, "FAIRWATCH_TICK_SECONDS", 1.0),
        app_id=app_id,
        canonical_url=env.get("FAIRWATCH_CANONICAL_URL") or None,
        max_message_bytes=int(_number(env, "FAIRWATCH_MAX_MESSAGE_BYTES", 4 * 1024 * 1024, int)),
        page_max_alerts=int(_number(env, "FAIRWATCH_PAGE_MAX_ALERTS", 10_000, int)),
        topics=topics,
        replication_factor=int(_number(env, "FAIRWATCH_REPLICATION_FACTOR", 1, int)),
        create_topics=create_topics == "1",
        live_stall_seconds=_number(env, "FAIRWATCH_LIVE_STALL_SECONDS", 60.0),
        isolation_level=isolation,
        kafka_security=load_kafka_security(env),
        web_access=load_web_access(env),
    )
