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
from dataclasses import dataclass
from pathlib import Path

from streams.security import KafkaSecurity, WebAccess, load_kafka_security, load_web_access

__all__ = ["Config", "ConfigError", "load_config"]


class ConfigError(ValueError):
    """An environment setting is invalid; the message names the variable."""


_PROFILES: dict[str, dict[str, float]] = {
    # session s, heartbeat s, fetch wait ms
    "kafka": {"session_timeout": 30.0, "heartbeat_interval": 3.0, "fetch_max_wait_ms": 500.0},
    "tansu": {"session_timeout": 2.0, "heartbeat_interval": 0.5, "fetch_max_wait_ms": 10.0},
}


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
    #: How every Kafka client authenticates and encrypts (FAIRWATCH_KAFKA_*): streams.security.
    kafka_security: KafkaSecurity = KafkaSecurity()  # noqa: RUF009 (frozen: one shared default is safe)
    #: Who may use the web port (FAIRWATCH_WEB_TOKEN...): streams.security.
    web_access: WebAccess = WebAccess()  # noqa: RUF009 (frozen: one shared default is safe)

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
        app_id=env.get("FAIRWATCH_APP_ID", "fairwatch"),
        canonical_url=env.get("FAIRWATCH_CANONICAL_URL") or None,
        max_message_bytes=int(_number(env, "FAIRWATCH_MAX_MESSAGE_BYTES", 4 * 1024 * 1024, int)),
        page_max_alerts=int(_number(env, "FAIRWATCH_PAGE_MAX_ALERTS", 50_000, int)),
        kafka_security=load_kafka_security(env),
        web_access=load_web_access(env),
    )
