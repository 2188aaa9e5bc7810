"""In-memory stand-ins for what the agents register on and write to: no broker, no Faust worker.

The agents read the installed runtime when they are imported (streams.app.runtime), so a test installs a
:class:`streams.app.Runtime` whose app, topics and tables are these fakes, then imports the agents afresh
(tests/unit/agents/conftest.py). The real configuration, policy, topic layout and processor are used.

Every step that matters to a checkpoint is written to one :class:`Journal`, in the order it happened: a send,
its delivery, a table write, an ack, an exit. A send or table write returns a future that the fake "broker"
completes on a later turn of the event loop, so it is done only if the agent waited for it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from types import ModuleType, SimpleNamespace
from typing import Any

from faust.types import TP

from streams.app import Runtime
from streams.compat import current_event_var
from streams.outbox import Delivery

from ..factories import DAY, T0, document, encode, iso, make_line

__all__ = [
    "CUSTOMER",
    "OTHER",
    "broken_promise_batch",
    "placed",
    "ready",
    "Agents",
    "BrokerDown",
    "Event",
    "FakeApp",
    "FakeOutbox",
    "FakeConsumer",
    "FakeStream",
    "FakeTable",
    "FakeThread",
    "FakeTopic",
    "FakeView",
    "Journal",
    "Message",
    "Sent",
    "messages",
    "settle",
]


class Journal(list[tuple[Any, ...]]):
    """What happened, in order: ``(step, where, key)`` tuples."""

    def index_of(self, step: str, where: str | None = None) -> list[int]:
        return [i for i, entry in enumerate(self) if entry[0] == step and (where is None or entry[1] == where)]


class BrokerDown(Exception):
    """What a fake send's future fails with when the test says so."""


def _later(journal: Journal, where: str, key: Any, result: Any, fails: bool) -> asyncio.Future[Any]:
    """A delivery future the fake broker completes on a later turn of the loop (journalled when it does)."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()

    def deliver() -> None:
        if fails:
            journal.append(("failed", where, key))
            future.set_exception(BrokerDown(f"{where}: not delivered"))
        else:
            journal.append(("delivered", where, key))
            future.set_result(result)

    loop.call_soon(deliver)
    return future


@dataclass
class Sent:
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]
    partition: int | None
    delivery: asyncio.Future[Any]


class FakeTopic:
    """A topic that records each send; ``fail(key, value)`` decides whether that send's delivery fails."""

    def __init__(
        self, name: str, journal: Journal, fail: Callable[[bytes | None, bytes | None], bool] = lambda key, value: False
    ) -> None:
        self.name = name
        self.journal = journal
        self.fail = fail
        self.sent: list[Sent] = []

    async def send(
        self,
        key: bytes | None = None,
        value: bytes | None = None,
        headers: list[tuple[str, bytes]] | None = None,
        partition: int | None = None,
    ) -> asyncio.Future[Any]:
        return self.submit(key, value, headers, partition)

    def submit(
        self, key: bytes | None, value: bytes | None, headers: Any = None, partition: int | None = None
    ) -> asyncio.Future[Any]:
        """A send as a record batch makes it (streams.outbox): journalled now, delivered later."""
        self.journal.append(("sent", self.name, key))
        fails = self.fail(key, value)
        sent = Sent(key, value, list(headers or []), partition, _later(self.journal, self.name, key, None, fails))
        self.sent.append(sent)
        return sent.delivery


class FakeTable:
    """The customer table's writes as the agent uses them (streams.compat.tables.CustomersTable)."""

    def __init__(self, journal: Journal, fail: Callable[[str], bool] = lambda key: False) -> None:
        self.journal = journal
        self.fail = fail
        self.data: dict[str, Any] = {}
        #: (partition, key, epoch, partition of the current event at the time of the write)
        self.writes: list[tuple[int, str, int, int | None]] = []
        #: What ``persisted`` was told, call by call: (partition, records) per delivered changelog batch.
        self.persisted_calls: list[list[tuple[int, int]]] = []

    def _write(self, outbox: FakeOutbox, partition: int, key: str, epoch: int, step: str) -> None:
        self.journal.append((step, "changelog", key))
        event_ref = current_event_var.get(None)
        event = event_ref() if event_ref is not None else None
        self.writes.append((partition, key, epoch, None if event is None else event.message.partition))
        outbox.add(CHANGELOG, key, None, (), partition)

    def stage(self, outbox: FakeOutbox, partition: int, key: str, value: Any, epoch: int) -> None:
        self.data[key] = value
        self._write(outbox, partition, key, epoch, "put")

    def stage_removal(self, outbox: FakeOutbox, partition: int, key: str, epoch: int) -> bool:
        if key not in self.data:
            return False
        del self.data[key]
        self._write(outbox, partition, key, epoch, "remove")
        return True

    def persisted(self, deliveries: Iterable[Delivery]) -> None:
        self.persisted_calls.append([(d.partition, d.count) for d in deliveries if d.topic == CHANGELOG])

    def deliver(self, key: str) -> asyncio.Future[Any]:
        return _later(self.journal, "changelog", key, None, self.fail(key))


#: The name the fake table's changelog records are added to the outbox under.
CHANGELOG = "changelog"


class FakeOutbox:
    """streams.outbox.Outbox on the fakes: each record goes to the fake topic (or table) it is for, on send."""

    def __init__(self, topics: Iterable[FakeTopic], table: FakeTable) -> None:
        self.topics = {topic.name: topic for topic in topics}
        self.table = table
        self.records: list[tuple[str, Any, Any, Any, int | None]] = []

    def add(self, topic: str, key: Any, value: Any, headers: Any = (), partition: int | None = None) -> None:
        self.records.append((topic, key, value, headers, partition))

    async def send(self) -> list[Delivery]:
        records, self.records = self.records, []
        deliveries = []
        for topic, key, value, headers, partition in records:
            if topic == CHANGELOG:
                future = self.table.deliver(key)
            else:
                future = self.topics[topic].submit(key, value, headers, partition)
            deliveries.append(Delivery(topic, partition or 0, 1, future))
        return deliveries


class FakeThread:
    """The consumer thread's read of a partition's position and ends (streams.health.partition_position)."""

    def __init__(self) -> None:
        #: TP -> (position, high-water mark, last stable offset)
        self.positions: dict[TP, tuple[int | None, int | None, int | None]] = {}

    def partition_position(self, tp: TP) -> tuple[int | None, int | None, int | None]:
        return self.positions.get(tp, (None, None, None))

    def group_coordinator_known(self) -> bool:
        return True


class FakeConsumer:
    def __init__(self) -> None:
        self.fairwatch_thread = FakeThread()
        #: TP -> (position, next offset past the last record) as of the last fetch Faust took.
        self.handed: dict[TP, tuple[int | None, int | None]] = {}

    def handed_over(self, tp: TP) -> tuple[int | None, int | None]:
        return self.handed.get(tp, (None, None))


class FakeSignal:
    def __init__(self) -> None:
        self.receivers: list[Callable[..., Any]] = []

    def connect(self, receiver: Callable[..., Any]) -> Callable[..., Any]:
        self.receivers.append(receiver)
        return receiver


class FakeApp:
    """Records what the agents register; every decorator returns the function itself, to be called directly."""

    def __init__(self) -> None:
        self.agents: dict[str, tuple[Any, Callable[..., Any]]] = {}
        self.timers: dict[str, float] = {}
        self.pages: dict[str, Callable[..., Any]] = {}
        self.tasks: list[Callable[..., Any]] = []
        self.consumer = FakeConsumer()
        self.on_partitions_revoked = FakeSignal()
        self.on_partitions_assigned = FakeSignal()
        self.active: set[TP] = set()
        self.assignor = SimpleNamespace(assigned_actives=lambda: set(self.active))
        self.rebalancing = False
        self.in_recovery = False
        completed = asyncio.Event()
        completed.set()
        self.tables = SimpleNamespace(recovery=SimpleNamespace(completed=completed, in_recovery=False))
        self.fairwatch_resume: Any = None

    def agent(self, channel: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def register(function: Callable[..., Any]) -> Callable[..., Any]:
            self.agents[function.__name__] = (channel, function)
            return function

        return register

    def timer(self, interval: float) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def register(function: Callable[..., Any]) -> Callable[..., Any]:
            self.timers[function.__name__] = interval
            return function

        return register

    def page(self, path: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def register(function: Callable[..., Any]) -> Callable[..., Any]:
            self.pages[path] = function
            return function

        return register

    def table_route(self, table: Any, match_info: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return lambda function: function

    def task(self, function: Callable[..., Any]) -> Callable[..., Any]:
        self.tasks.append(function)
        return function


@dataclass
class Message:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    time_in: float | None = None


@dataclass(eq=False)
class Event:
    """What Faust's stream hands the agent: an event holding its message (weak-referenceable, as Faust's is)."""

    message: Message


@dataclass
class FakeStream:
    """``stream.take_events`` as Faust runs it: each batch is acked once the agent's loop body returns for it,
    and (as Faust's ``finally`` does) when the loop is left by an exception."""

    batches: list[list[Event]]
    journal: Journal
    taken: list[int] = field(default_factory=list)
    #: The timeout of each wait for a batch to fill, as Faust passes it (``within``, unless the agent's
    #: streams.compat.stream.wait_batches_for wrapper asks for another).
    waits: list[float | None] = field(default_factory=list)

    async def wait_for_stopped(self, *events: Any, timeout: float | None = None) -> bool:
        self.waits.append(timeout)
        return False

    async def take_events(self, max_: int, within: float) -> AsyncIterator[list[Event]]:
        for number, batch in enumerate(self.batches, 1):
            await self.wait_for_stopped(None, timeout=within)
            self.taken.append(len(batch))
            try:
                yield batch
            finally:
                self.journal.append(("ack", "batch", number))


class FakeView:
    """The ``self`` of a Faust view: its answers are plain tuples."""

    def json(self, value: Any, status: int = 200, **kwargs: Any) -> tuple[int, Any]:
        return status, value

    def bytes(self, value: bytes, content_type: str = "", headers: Any = None, **kwargs: Any) -> tuple[int, Any]:
        return 200, (content_type, value)


def messages(
    topic: str, partition: int, values: Iterable[tuple[bytes | None, bytes | None]], first: int = 0
) -> list[Event]:
    """Events of consecutive offsets on one partition."""
    return [Event(Message(topic, partition, first + i, key, value)) for i, (key, value) in enumerate(values)]


async def settle() -> None:
    """Let the fake broker complete what was sent (a few turns of the loop)."""
    for _ in range(3):
        await asyncio.sleep(0)


@dataclass
class Agents:
    """The runtime of fakes and the agent modules imported on it."""

    rt: Runtime
    app: FakeApp
    journal: Journal
    alerts: FakeTopic
    dead_letter: FakeTopic
    ticks: FakeTopic
    customers: FakeTable
    ingest: ModuleType
    web: ModuleType
    page: ModuleType
    prometheus_setups: list[tuple[Any, str]]

    def topic(self, role: str) -> str:
        """The configured name of an input topic (``orders``, ``billing``, ``complaints``) or ``ticks``."""
        return getattr(self.rt.layout.names, role)


CUSTOMER, OTHER = "c-1", "c-2"


def placed(order_id: str, at: int, due: int, customer: str = CUSTOMER, event_id: str | None = None) -> bytes:
    data = {"order_id": order_id, "lines": [make_line()], "promised_delivery_by": iso(due)}
    return encode(document("order.placed", data, customer_id=customer, at=at, event_id=event_id))


def broken_promise_batch(agents: Agents, partition: int = 1) -> list[Event]:
    """Two orders of one customer; the second one's time passes the first one's promise: an alert."""
    orders = agents.topic("orders")
    key = CUSTOMER.encode()
    return messages(
        orders,
        partition,
        [
            (key, placed("o-1", T0, T0 + 2 * DAY)),
            (key, placed("o-2", T0 + 10 * DAY, T0 + 12 * DAY)),
        ],
    )


def ready(agents: Agents, partitions: set[TP]) -> None:
    agents.app.active = partitions
    agents.rt.state.update(joined=True, agent_started=time.monotonic(), progress=time.monotonic())
