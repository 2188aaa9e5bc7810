"""Every topic fairwatch reads or writes: its name (from configuration) and the check made before a worker starts.

A company's ``orders``, ``billing`` and ``complaints`` topics exist before
fairwatch does, with their own names and partition count. The worker adapts to
them, as Kafka Streams sizes its internal topics from its source topics: the
inputs that exist must agree on one partition count N (they are co-partitioned:
a customer's events and its state share a partition number), and every topic
the worker itself keeps per partition (the customer changelog, the tick topic)
is created with N, or refused when it exists with another count. Nothing is
left to a broker's auto-creation: the admin client creates or verifies every
topic before any consumer or producer starts.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from models.events import INPUT_TOPICS

__all__ = [
    "TopicNames",
    "Layout",
    "TopicCheckError",
    "TopicSpec",
    "plan_layout",
    "check_topics",
    "ensure_topics",
    "ALERTS_TOPIC",
    "DEAD_LETTER_TOPIC",
    "TICKS_TOPIC",
    "PLANS_TOPIC",
    "FEEDBACK_TOPIC",
    "INPUT_TOPICS",
]

log = logging.getLogger("fairwatch")

ALERTS_TOPIC = "fairwatch.alerts"
DEAD_LETTER_TOPIC = "fairwatch.dead-letter"
#: Internal: the live tick, one message per partition, so that deadlines fired
#: by the wall clock are processed inside the stream, in order with the
#: partition's events, and their table writes land on the right partition.
TICKS_TOPIC = "fairwatch.ticks"
FEEDBACK_TOPIC = "fairwatch.feedback"
#: Reference data (SPEC §1): the plan catalog, keyed by plan_id, compacted. Created with one partition: it is
#: small and every worker reads all of it (a global table); an existing one is read at any count.
PLANS_TOPIC = "plans"

#: The environment variable that names each topic, and the topic's field.
TOPIC_VARIABLES = {
    "orders": "FAIRWATCH_TOPIC_ORDERS",
    "billing": "FAIRWATCH_TOPIC_BILLING",
    "complaints": "FAIRWATCH_TOPIC_COMPLAINTS",
    "feedback": "FAIRWATCH_TOPIC_FEEDBACK",
    "plans": "FAIRWATCH_TOPIC_PLANS",
    "alerts": "FAIRWATCH_TOPIC_ALERTS",
    "dead_letter": "FAIRWATCH_TOPIC_DEAD_LETTER",
    "ticks": "FAIRWATCH_TOPIC_TICKS",
}


class TopicCheckError(Exception):
    """The topics on the broker do not fit a worker; the message says what and what to do (exit status 2)."""


@dataclass(frozen=True, slots=True)
class TopicNames:
    """The topics' names on the company's broker. Inside fairwatch an input is known by its role
    (``orders``, ``billing``, ``complaints``, ``feedback``: what event validation and the rules speak of)."""

    orders: str = "orders"
    billing: str = "billing"
    complaints: str = "complaints"
    #: The CRM's answers about alerts (SPEC §1): an input like the others, co-partitioned with them.
    feedback: str = FEEDBACK_TOPIC
    plans: str = PLANS_TOPIC
    alerts: str = ALERTS_TOPIC
    dead_letter: str = DEAD_LETTER_TOPIC
    ticks: str = TICKS_TOPIC
    app_id: str = "fairwatch"

    @classmethod
    def from_env(cls, env: Mapping[str, str], app_id: str = "fairwatch") -> TopicNames:
        chosen = {name: env[variable].strip() for name, variable in TOPIC_VARIABLES.items() if env.get(variable)}
        names = cls(app_id=app_id, **chosen)
        taken: dict[str, str] = {}
        for name in TOPIC_VARIABLES:
            topic = getattr(names, name)
            if topic in taken:
                other = TOPIC_VARIABLES[taken[topic]]
                raise ValueError(f"{TOPIC_VARIABLES[name]}={topic!r}: the same topic as {other}")
            taken[topic] = name
        return names

    @property
    def inputs(self) -> tuple[str, ...]:
        """The input topics' names, in the order of their roles (``models.events.INPUT_TOPICS``)."""
        return tuple(getattr(self, role) for role in INPUT_TOPICS)

    @property
    def changelog(self) -> str:
        return f"{self.app_id}-customers-changelog"

    def input_topic(self, role: str) -> str:
        """The name of the input topic with this role."""
        return getattr(self, role)

    def roles(self) -> dict[str, str]:
        """Input topic name -> role."""
        return {getattr(self, role): role for role in INPUT_TOPICS}


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    partitions: int
    compacted: bool = False


@dataclass(frozen=True, slots=True)
class Layout:
    """What the check found: the names and the one partition count the worker runs with."""

    names: TopicNames
    partitions: int
    #: Topics the check created (for the log and the tests).
    created: tuple[TopicSpec, ...] = field(default=())
    #: The plans topic's partition count (a global table: any count is read).
    plans_partitions: int = 1


def plan_layout(
    existing: Mapping[str, int], names: TopicNames, default_partitions: int
) -> tuple[int, list[TopicSpec], list[str]]:
    """Decide the partition count and the topics to create, from the topics that exist (name -> count).

    Returns (N, topics to create, notes for the log). Raises TopicCheckError when the existing topics do
    not fit: inputs at different counts, or a per-partition topic of the worker's at a count other than N.
    """
    inputs = {topic: existing[topic] for topic in names.inputs if topic in existing}
    counts = set(inputs.values())
    if len(counts) > 1:
        found = ", ".join(f"{topic} has {count}" for topic, count in inputs.items())
        raise TopicCheckError(
            f"the input topics are not co-partitioned ({found}): give them one partition count; "
            "a customer's events must share a partition number"
        )
    notes = []
    if counts:
        partitions = counts.pop()
        if partitions != default_partitions:
            notes.append(f"the input topics have {partitions} partitions: the worker uses {partitions}")
    else:
        partitions = default_partitions
    for topic, what in ((names.changelog, "changelog"), (names.ticks, "tick topic")):
        if topic in existing and existing[topic] != partitions:
            raise TopicCheckError(
                f"the {what} {topic} has {existing[topic]} partitions, the input topics {partitions}: delete "
                f"{topic} (the worker rebuilds it) or reset the application id (FAIRWATCH_APP_ID)"
                if what == "changelog"
                else f"the {what} {topic} has {existing[topic]} partitions, the input topics {partitions}: "
                f"delete {topic} (it holds nothing to keep; the worker creates it again)"
            )
    wanted = [TopicSpec(topic, partitions) for topic in names.inputs]
    wanted += [TopicSpec(names.ticks, partitions), TopicSpec(names.changelog, partitions, compacted=True)]
    wanted += [TopicSpec(names.alerts, partitions), TopicSpec(names.dead_letter, partitions)]
    wanted.append(TopicSpec(names.plans, 1, compacted=True))
    missing = [spec for spec in wanted if spec.name not in existing]
    return partitions, missing, notes


async def describe(admin: AIOKafkaAdminClient) -> dict[str, int]:
    """Every topic on the cluster and its partition count.

    One metadata request for all topics: naming a missing topic in a metadata
    request is what lets a broker auto-create it at its own default count.
    """
    found = {}
    for topic in await admin.describe_topics():
        if topic.get("error_code", 0) == 0:
            found[topic["topic"]] = len(topic["partitions"])
    return found


async def connect_admin(options: Mapping[str, Any], timeout: float = 30.0) -> AIOKafkaAdminClient:
    """An admin client connected to the cluster; retried for ``timeout`` seconds (a broker may still be starting)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        admin = AIOKafkaAdminClient(**options)
        try:
            await admin.start()
            return admin
        except Exception as exc:
            await admin.close()
            if asyncio.get_running_loop().time() > deadline:
                raise TopicCheckError(
                    f"cannot reach the Kafka cluster at {','.join(options.get('bootstrap_servers', []))}: "
                    f"{type(exc).__name__}: {exc}"
                ) from None
            await asyncio.sleep(1.0)


async def check_topics(
    options: Mapping[str, Any],
    names: TopicNames,
    default_partitions: int,
    *,
    create: bool = True,
    replication: int = 1,
    connect_timeout: float = 30.0,
) -> Layout:
    """Create or verify every topic before a worker starts; the Layout it runs with, or TopicCheckError."""
    admin = await connect_admin(options, connect_timeout)
    try:
        existing = await describe(admin)
        partitions, missing, notes = plan_layout(existing, names, default_partitions)
        for note in notes:
            log.info("fairwatch: %s", note)
        if missing and not create:
            raise TopicCheckError(
                "missing topics (FAIRWATCH_CREATE_TOPICS=0: the worker does not create them): "
                + ", ".join(f"{spec.name} ({spec.partitions} partitions)" for spec in missing)
            )
        if missing:
            await _create(admin, missing, replication)
            for spec in missing:
                log.info(
                    "fairwatch: created topic %s with %d partitions%s",
                    spec.name,
                    spec.partitions,
                    " (compacted)" if spec.compacted else "",
                )
            existing = await describe(admin)
            for spec in missing:
                if existing.get(spec.name) != spec.partitions:
                    raise TopicCheckError(
                        f"created {spec.name} with {spec.partitions} partitions but the cluster reports "
                        f"{existing.get(spec.name)}"
                    )
        return Layout(names, partitions, tuple(missing), existing.get(names.plans, 1))
    finally:
        await admin.close()


async def _create(admin: AIOKafkaAdminClient, specs: list[TopicSpec], replication: int) -> None:
    topics = [
        NewTopic(
            spec.name,
            spec.partitions,
            replication,
            topic_configs={"cleanup.policy": "compact"} if spec.compacted else {},
        )
        for spec in specs
    ]
    response = await admin.create_topics(topics)
    for name, code, *rest in getattr(response, "topic_errors", getattr(response, "topic_error_codes", [])):
        # 36: TOPIC_ALREADY_EXISTS (another worker created it meanwhile: the recheck decides).
        if code not in (0, 36):
            message = rest[0] if rest and isinstance(rest[0], str) else ""
            raise TopicCheckError(f"could not create {name}: error {code} {message}".rstrip())


async def ensure_topics(
    bootstrap: list[str] | Mapping[str, Any],
    partitions: int,
    replication: int = 1,
    names: TopicNames | None = None,
    *,
    client: Mapping[str, Any] | None = None,
) -> Layout:
    """For the tools beside a worker (produce, demo, tests): the same check and creation as the worker's.

    ``client``: aiokafka security settings (streams.security); None reads them from the environment.
    """
    if isinstance(bootstrap, list):
        from streams.security import client_kwargs

        options = {"bootstrap_servers": bootstrap, **(client_kwargs() if client is None else client)}
    else:
        options = dict(bootstrap)
    return await check_topics(options, names or TopicNames(), partitions, replication=replication)
