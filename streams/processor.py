"""One message in, its outcome out: decode, validate, de-duplicate, apply, advance time.

The processor is the stream wiring's engine room but knows nothing of Faust:
it reads customer state through a mapping and writes it through a ``persist``
callback, and asks ``highwater(topic, partition)`` how far each input goes.
Every message ends as exactly one of processed, duplicate or dead-lettered.

Batched mode (``batched=True``, what the ingest agent uses) keeps the same
decisions but defers the two per-event costs that do not decide anything:
writes go to ``dirty`` (each touched customer once, however many of its events
the batch held; the caller persists them with ``take_dirty``), and metric
increments are tallied and applied by ``flush_metrics``. Reads see ``dirty``
first, so every event of a batch sees what the events before it did. With
``hold_decoded`` set, at most that many of the written states are held decoded;
the least recently written of the others wait in their stored bytes
(streams.state_record), so a batch that touches every customer (a catch-up
after downtime fires nearly all of them at once) holds a few MiB, not one
decoded state per customer.

The table also records, per partition, the next offset to handle on each input
topic (the input-offsets record, written to the changelog after the customers it
covers), and that record, not the consumer group's committed offset, says where
processing got to (as Quix Streams keeps the processed source offsets in its
changelog). A message before it was handled already (redelivered after a crash
or a rebalance): a duplicate, not handled again. A message beyond it is simply
the next one: a log may skip offsets (compaction, transaction markers), so a gap
is never an error. Where a newly assigned partition resumes is decided once, at
assignment, by ``resume_positions`` (streams.positions).

The record also carries the partition's fencing epoch: a worker that takes a
partition writes under one more than the epoch it restored, and the customer
table's restore skips records of a lower epoch written after (streams.compat.tables).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from models.alerts import AlertChange
from models.catalog import CatalogView
from models.detectors import DEADLINE_CLOCKS
from models.engine import advance_to, apply_event
from models.errors import Rejected
from models.events import INPUT_TOPICS, decode_event
from models.kinds import kind_of_alert
from models.policy import Policy
from models.state import event_mark, has_mark, new_state, remember_mark
from models.subscriptions import plans_missing
from streams import metrics
from streams.clock import DeadlineIndex, PartitionClock
from streams.state_record import SetAside, decode_state, encode_state

__all__ = ["Processor", "Outcome", "HOLD_DECODED", "input_offsets_key", "is_input_offsets_key"]

State = dict[str, Any]
log = logging.getLogger("fairwatch")

#: Table keys of the input-offsets records, one per partition. A customer_id cannot take this form:
#: event validation rejects ids with control characters (models.events).
INPUT_OFFSETS_PREFIX = "\x00input-offsets/"
#: What marks the input-offsets record among the customer states
#: (``{"p": partition, "input_offsets": {topic role: next offset}, "epoch": fencing epoch}``).
INPUT_OFFSETS = "input_offsets"
EPOCH = "epoch"

#: Order statuses that count as an open promise.
_OPEN_ORDER = frozenset(("open", "shipped"))
#: How often (wall clock) a partition is looked over for customers inactive past inactive_customer_days.
SWEEP_SECONDS = 60.0
#: What the worker's batches hold decoded of the states they write (``hold_decoded``). A busy customer's state
#: is about 40 KiB decoded and 2 KiB stored, and a batch that fires every customer (a worker catching up after
#: downtime over a quiet spell; the benchmark's catch-up) held them all: 5,871 states, the worker from about
#: 330 to 512 MiB. With 256, about 10 MiB; the rest cost the encoding the checkpoint makes anyway, made
#: earlier, and a decoding if read again within the batch.
HOLD_DECODED = 256


def input_offsets_key(partition: int) -> str:
    """The table key of a partition's input-offsets record."""
    return f"{INPUT_OFFSETS_PREFIX}{partition}"


def is_input_offsets_key(key: str) -> bool:
    return key.startswith(INPUT_OFFSETS_PREFIX)


@dataclass(slots=True)
class _Partition:
    """What this worker keeps in memory for a partition it owns; rebuilt from the table."""

    clock: PartitionClock
    deadlines: dict[tuple[str, ...], DeadlineIndex]  # by the input topics whose time drives them
    open_orders: int = 0
    open_alerts: Counter[str] = field(default_factory=Counter)
    #: Customers with a running subscription on a plan the catalog does not (yet) know.
    plans_missing: set[str] = field(default_factory=set)
    #: What each customer's saved state adds to the counts above (open orders, kinds of its open alerts), with
    #: the hash of those open alerts' ids: taking it back out needs no second walk over the customer's orders
    #: and alerts, and a save with the same open alerts needs no kind read from their ids. The hash, not the
    #: ids: they kept every open alert's id alive, 24 MiB at the benchmark's 10,000 customers (a collision,
    #: 1 in 2^64 a save, would leave one customer's kinds uncounted until their next change).
    counted: dict[str, tuple[int, tuple[str, ...], int]] = field(default_factory=dict)
    #: Each customer's earliest deadline per set of driving topics, as their last save left it: a customer
    #: popped from a deadline index but not due is put back without reading (decoding) their state.
    next_due: dict[str, dict[tuple[str, ...], int]] = field(default_factory=dict)
    #: The next offset to handle, per input topic (absent: none handled, take what comes).
    next_offsets: dict[str, int] = field(default_factory=dict)
    #: The fencing epoch this worker writes the partition's records under (streams.compat.tables).
    epoch: int = 0
    #: Each customer's newest event time (stream time, ms): who has been inactive how long.
    last_event: dict[str, int] = field(default_factory=dict)
    #: When (wall clock) the partition was last looked over for inactive customers.
    swept_at: float = float("-inf")
    #: The partition number (the Processor's key for it).
    number: int = -1
    #: A bounded firing (fire_most, fire_within) left deadlines due: the partition's next events fire more of
    #: them, tick or no tick.
    owed: bool = False

    def count(self, state: State) -> None:
        """Add a saved state's open orders and alerts (replacing what the customer's previous state added)."""
        orders = 0
        for order in state["orders"].values():
            if order["status"] in _OPEN_ORDER:
                orders += 1
        open_ids = tuple([alert_id for alert_id, record in state["alerts"].items() if record["o"]])
        mark = hash(open_ids)
        before = self.counted.get(state["id"])
        if before is not None and before[0] == orders and before[2] == mark:
            return  # saved again with the same open items (most saves): nothing to move
        kinds = tuple([kind_of_alert(alert_id) for alert_id in open_ids])
        self.uncount(state)
        self.open_orders += orders
        for kind in kinds:
            self.open_alerts[kind] += 1
        self.counted[state["id"]] = (orders, kinds, mark)

    def note_newest(self, state: State) -> None:
        """Remember the customer's newest event time (at every save: whether or not their open items moved)."""
        newest = state.get("lt")
        if newest:  # a state without event times (none yet) is not judged inactive
            self.last_event[state["id"]] = max(newest.values())

    def uncount(self, state: State) -> None:
        """Take out what the customer's last saved state added."""
        added = self.counted.pop(state["id"], None)
        if added is not None:
            self.open_orders -= added[0]
            for kind in added[1]:
                self.open_alerts[kind] -= 1


@dataclass(slots=True)
class Outcome:
    status: Literal["processed", "duplicate", "dead_letter"]
    changes: list[AlertChange] = field(default_factory=list)
    rejected: Rejected | None = None
    event_at: int | None = None


class Processor:
    def __init__(
        self,
        policy: Policy,
        store: Mapping[str, State],
        persist: Callable[[str, State], None],
        highwater: Callable[[str, int], int | None],
        topics: tuple[str, ...] = INPUT_TOPICS,
        wall_clock: Callable[[], float] = time.time,
        catalog: Mapping[str, Any] | None = None,
        batched: bool = False,
        consumed: Callable[[str, int], int | None] | None = None,
        fire_most: int | None = None,
        fire_within: float | None = None,
        hold_decoded: int | None = None,
    ) -> None:
        self.policy = policy
        self.store = store
        self.persist = persist
        self.highwater = highwater
        #: The next offset the consumer hands over on (topic, partition) once it has read to the end of the log
        #: (None until then): past the records, where a trailing transaction marker leaves the high-water mark.
        self.consumed = consumed
        self.topics = topics
        self.wall_clock = wall_clock
        self.grace_ms = int(policy.grace_minutes * 60_000)
        self.max_future_ms = int(policy.max_future_minutes * 60_000)
        self.partitions: dict[int, _Partition] = {}
        #: Customers whose state the last deadline firing rewrote.
        self.touched: set[str] = set()
        #: The plan catalog (the plans global table: plan_id -> record), validated as it is read.
        self.catalog = None if catalog is None else CatalogView(catalog, on_invalid=_plan_invalid)
        self._catalog_published = 0.0
        self.batched = batched
        #: Batched mode: customer_id -> state written since the last take_dirty(), or its stored bytes once
        #: more than ``hold_decoded`` states are held (a record's place in the order is its first write's).
        self.dirty: dict[str, State | SetAside] = {}
        #: Batched mode: at most this many written states held decoded (None: all). A busy customer's state is
        #: about 40 KiB of Python objects and 2 KiB stored.
        self.hold_decoded = hold_decoded
        #: The customers of ``dirty`` held decoded, least recently written first.
        self._decoded: dict[str, None] = {}
        #: Batched mode: partitions whose input offsets moved since the last take_dirty().
        self._offsets_moved: set[int] = set()
        #: Customers forgotten since the last take_dirty(): the store still holds them until the caller's
        #: tombstone, but a later event of the batch must start afresh, not from what was forgotten.
        self._forgotten: set[str] = set()
        #: Batched mode: how many customers' deadlines may fire between two take_dirty() calls for the sake
        #: of stream time alone (None: all that are due). A customer's own due deadlines always fire before
        #: their next event, whatever is left.
        self.fire_most = fire_most
        self._fire_left = fire_most
        #: Batched mode: the seconds of such firings one checkpoint may spend (None: no limit); the first
        #: customer of a checkpoint fires whatever, so a catch-up always moves.
        self.fire_within = fire_within
        self._fire_until: float | None = None
        #: Either bound set: unbounded, nothing is ever left due, so the per-event checks for it are skipped.
        self._bounded = fire_most is not None or fire_within is not None
        #: Where a partition with nothing recorded starts, per (topic, partition): set at assignment, so that
        #: records skipped before the first one handled are noticed too.
        self._starts: dict[tuple[str, int], int] = {}
        # Metric increments since the last flush_metrics(), and the labelled children they go to:
        # prometheus-client's labels() takes a lock and validates the labels on every call.
        self._tally: Counter[tuple[Any, tuple[str, ...]]] = Counter()
        self._children: dict[tuple[Any, tuple[str, ...]], Any] = {}

    # --- per message -------------------------------------------------------

    def handle(self, topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None) -> Outcome:
        owned = self._partition(partition)
        expected = owned.next_offsets.get(topic)
        if expected is not None and offset < expected:
            highwater = self.highwater(topic, partition)
            if highwater is None or highwater >= expected:
                return self._redelivered(topic)
            # The topic ends before what was handled: it was recreated, its offsets start again.
            log.warning(
                "fairwatch: %s/%d ends at %d, before offset %d handled here: the topic was recreated; "
                "taking it from offset %d",
                topic,
                partition,
                highwater,
                expected,
                offset,
            )
        # Beyond the expected offset is the next message all the same: compaction and transaction markers leave
        # gaps in a log's offsets.
        outcome = self._handle(owned, topic, partition, offset, key, value)
        owned.next_offsets[topic] = offset + 1
        if self.batched:
            self._offsets_moved.add(partition)
        else:
            self.persist(input_offsets_key(partition), self._offsets_record(partition, owned))
            self.flush_metrics()
        return outcome

    def take_dirty(self) -> dict[str, State | SetAside]:
        """Batched mode: what to persist now, in order: the states written since the last call (customer_id ->
        state, or its stored bytes when ``hold_decoded`` set it aside), then
        the input-offsets record of each partition that moved (after the customers it covers)."""
        dirty, self.dirty = self.dirty, {}
        self._decoded.clear()
        self._forgotten.clear()
        self._fire_left = self.fire_most
        self._fire_until = None
        for state in dirty.values():
            if type(state) is not SetAside:  # counted when set aside
                self._tally_state(state)
        for partition in sorted(self._offsets_moved):
            owned = self.partitions.get(partition)
            if owned is not None:
                dirty[input_offsets_key(partition)] = self._offsets_record(partition, owned)
        self._offsets_moved.clear()
        return dirty

    def recorded_offset(self, topic: str, partition: int) -> int | None:
        """The next offset of ``topic`` the table says to handle on ``partition`` (None: nothing recorded)."""
        record = self.store.get(input_offsets_key(partition))
        return None if record is None else record[INPUT_OFFSETS].get(topic)

    def start_at(self, topic: str, partition: int, offset: int) -> None:
        """Nothing recorded for ``topic`` on ``partition``: its first offset to handle is ``offset``."""
        self._starts[topic, partition] = offset
        owned = self.partitions.get(partition)
        if owned is not None:
            owned.next_offsets.setdefault(topic, offset)

    def epoch(self, partition: int) -> int:
        """The fencing epoch this worker writes ``partition``'s records under."""
        return self._partition(partition).epoch

    def handled_offset(self, topic: str, partition: int) -> int | None:
        """The next offset of ``topic`` to handle on ``partition``, as this worker knows it now (None: any)."""
        return self._partition(partition).next_offsets.get(topic)

    @staticmethod
    def _offsets_record(partition: int, owned: _Partition) -> State:
        return {"p": partition, INPUT_OFFSETS: dict(owned.next_offsets), EPOCH: owned.epoch}

    def _redelivered(self, topic: str) -> Outcome:
        # Handled before, whatever it holds: not decoded, not dead-lettered a second time.
        self._tally[metrics.EVENTS_IN, (topic, "redelivered")] += 1
        self._tally[metrics.DUPLICATES, (topic,)] += 1
        if not self.batched:
            self.flush_metrics()
        return Outcome("duplicate")

    def flush_metrics(self) -> None:
        """Apply the tallied metric increments."""
        tally, children = self._tally, self._children
        for key, count in tally.items():
            child = children.get(key)
            if child is None:
                metric, labels = key
                child = children[key] = metric.labels(*labels)
            child.inc(count)
        tally.clear()

    def _tally_state(self, state: State) -> None:
        """The open counts and the catalog check of a state about to be persisted."""
        owned = self.partitions.get(state["p"])
        if owned is not None:
            owned.count(state)
            self._note_plans(owned, state)

    def _get(self, customer_id: str) -> State | None:
        state = self.dirty.get(customer_id)
        if state is not None:
            return decode_state(state.record) if type(state) is SetAside else state
        if customer_id in self._forgotten:
            return None
        return self.store.get(customer_id)

    def _hold(self, customer_id: str, state: State) -> None:
        """Batched mode: the written state waits for take_dirty(); beyond ``hold_decoded``, the least recently
        written waits encoded (a read decodes it, as a read from the store would)."""
        self.dirty[customer_id] = state
        limit = self.hold_decoded
        if limit is None:
            return
        decoded = self._decoded
        decoded.pop(customer_id, None)
        decoded[customer_id] = None
        if len(decoded) > limit:
            oldest = next(iter(decoded))
            del decoded[oldest]
            aside: Any = self.dirty[oldest]
            self._tally_state(aside)
            self.dirty[oldest] = SetAside(aside["p"], encode_state(aside))

    def _handle(
        self, owned: _Partition, topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None
    ) -> Outcome:
        tally = self._tally
        clock = owned.clock
        try:
            event = decode_event(topic, key, value)
            if event.at > self.wall_clock() * 1000 + self.max_future_ms:
                raise Rejected(
                    f"occurred_at: more than {self.policy.max_future_minutes / 60:g} hours in the future",
                    "future_time",
                )
        except Rejected as rejected:
            clock.observe(topic, offset, None)
            tally[metrics.EVENTS_IN, (topic, "invalid")] += 1
            tally[metrics.DEAD_LETTERED, (topic, rejected.code)] += 1
            return Outcome("dead_letter", rejected=rejected)
        tally[metrics.EVENTS_IN, (topic, event.type)] += 1
        customer_id = event.customer_id
        mark = event_mark(event.event_id)
        state = self._get(customer_id)
        if state is not None and has_mark(state, mark):
            clock.observe(topic, offset, None)
            tally[metrics.DUPLICATES, (topic,)] += 1
            return Outcome("duplicate")
        before = clock.time(topic)
        if before is not None and event.at < before:
            tally[metrics.LATE_EVENTS, (topic,)] += 1
        # Time first: what this event says about its topic's stream time fires the
        # deadlines that passed before it (this customer's too), then the event
        # applies. So a backlog replayed gives what a live run gave, where the tick
        # had fired them.
        self.touched.clear()
        moved = clock.observe(topic, offset, event.at)
        if owned.owed:
            # More of what a bounded firing left due, on every topic's indexes: those of a topic whose time
            # does not move again would otherwise wait for a tick.
            changes = self._fire_due(owned, self.topics)
        elif moved:
            changes = self._fire_due(owned, [topic])
        else:
            changes = []
        if state is None or customer_id in self.touched:
            state = self._get(customer_id) or new_state(customer_id, partition)
        if self._bounded and self._owes(owned, customer_id):
            # Left due by a bounded firing (fire_most): the customer's own deadlines come before their event.
            changes.extend(self._fire_own(owned, state))
        remember_mark(state, mark, self.policy.dedup_window)
        newest = state.setdefault("lt", {})
        if event.at > newest.get(topic, event.at - 1):
            newest[topic] = event.at  # this customer's newest per topic: stream time resumes from it
        changes.extend(apply_event(state, event, self.policy, catalog=self.catalog))
        set_in_the_past = self._save(owned, state)
        tally[metrics.PROCESSED, (topic,)] += 1
        if set_in_the_past:
            # This customer's, and any that a firing of this batch left due (a firing's own saves do not look
            # again): the replays' outputs (tests/tools/bench/test_rules_unchanged.py) depend on both going here.
            changes.extend(self._fire_due(owned, self.topics))
            # The checkpoint's share was spent (fire_most): theirs all the same. Read again: that firing may
            # have fired them, from a copy decoded from what ``hold_decoded`` set aside.
            if self._bounded and self._owes(owned, customer_id):
                changes.extend(self._fire_own(owned, self._get(customer_id) or state))
        return Outcome("processed", changes, event_at=event.at)

    def tick(self, partition: int) -> list[AlertChange]:
        """The live tick: each caught-up topic of the partition moves to the wall clock minus the grace."""
        owned = self._partition(partition)
        moved = owned.clock.tick(self._ends(partition, owned), int(self.wall_clock() * 1000))
        if not self._bounded:
            return self._fire_due(owned, moved) if moved else []
        # Bounded, a tick goes on with what earlier batches left due, whether or not time moved.
        return self._fire_due(owned, self.topics)

    def _live(self, owned: _Partition) -> bool:
        """True if every input topic of the partition with a known end is read to it (the live tick's test): a bounded
        firing applies only then. Reading a backlog (a restart, a replay) fires every due deadline as stream
        time passes it, so its outcome is the reference's whatever the batches."""
        offsets = owned.clock.next_offset
        known = False
        for topic, end in self._ends(owned.number, owned).items():
            if end is not None:  # None: no end known (yet) for the topic here
                if offsets.get(topic, 0) < end:
                    return False
                known = True
        return known

    def _ends(self, partition: int, owned: _Partition) -> dict[str, int | None]:
        """Per input topic, the offset the partition counts as caught up at (the live tick's test)."""
        ends = {}
        for topic in self.topics:
            end = self.highwater(topic, partition)
            consumed = self.consumed(topic, partition) if self.consumed is not None else None
            handled = owned.clock.next_offset.get(topic)
            # Read to the end with nothing left unhandled: caught up, even where a trailing transaction marker
            # keeps the high-water mark one past the last record.
            if end is not None and consumed is not None and handled is not None and handled >= consumed:
                end = min(end, handled)
            ends[topic] = end
        return ends

    def due_customers(self) -> int:
        """Customers with a deadline due and not yet fired, over the partitions this worker owns.

        Due by stream time, or by the time the next live tick gives a caught-up topic: a jump of stream time
        counts from the moment the partition caught up, not from the tick that makes it. Non-zero while a
        bounded firing (``fire_most``) catches up; the benchmark waits for 0 before it measures steady latency.
        The walk costs what is due (every index's top is checked first), so an idle scrape costs little.
        """
        wall_ms = int(self.wall_clock() * 1000)
        total = 0
        for partition, owned in tuple(self.partitions.items()):
            times = owned.clock.ahead(self._ends(partition, owned), wall_ms)
            next_due = owned.next_due
            due: set[str] = set()
            for clocks, index in tuple(owned.deadlines.items()):
                now = _time_of(times, clocks)
                if now is None:
                    continue
                for customer_id in index.entries_due(now):
                    # An entry is a hint (streams.clock.DeadlineIndex): the last save says whether it is due.
                    nexts = next_due.get(customer_id)
                    at = None if nexts is None else nexts.get(clocks)
                    if at is not None and at <= now:
                        due.add(customer_id)
            total += len(due)
        return total

    def forget(self, partitions: Iterable[int]) -> None:
        """Partitions were revoked or reassigned: rebuilt from the table when next used."""
        for partition in partitions:
            self.partitions.pop(partition, None)

    def stream_time(self, partition: int) -> dict[str, int]:
        """Stream time of the partition, per input topic (before its first message since an assignment: what
        the recovered table says, read without building the partition)."""
        owned = self.partitions.get(partition)
        if owned is not None:
            return dict(owned.clock.times)
        newest: dict[str, int] = {}
        for state in self._states_of(partition):
            _note_newest(newest, state)
        return {topic: at - self.grace_ms for topic, at in newest.items()}

    def _states_of(self, partition: int) -> Iterable[State]:
        """The customers' states of ``partition`` in the table (not the input-offsets record)."""
        for state in self.store.values():
            if state["p"] == partition and INPUT_OFFSETS not in state:
                yield state

    def peek_handled(self, topic: str, partition: int) -> int | None:
        """``handled_offset`` read without building the partition (for timers outside the stream)."""
        owned = self.partitions.get(partition)
        if owned is not None:
            return owned.next_offsets.get(topic)
        recorded = self.recorded_offset(topic, partition)
        return recorded if recorded is not None else self._starts.get((topic, partition))

    def open_counts(self) -> tuple[int, Counter[str]]:
        """Open orders, and open alerts by kind, over the partitions this worker owns."""
        alerts: Counter[str] = Counter()
        for owned in self.partitions.values():
            alerts.update(owned.open_alerts)
        return sum(owned.open_orders for owned in self.partitions.values()), alerts

    # --- time --------------------------------------------------------------

    def _fire_due(self, owned: _Partition, topics: Iterable[str]) -> list[AlertChange]:
        """Fire the deadlines that the stream time of ``topics`` has passed."""
        changes: list[AlertChange] = []
        times = owned.clock.times
        moved = topics if isinstance(topics, (set, frozenset)) else set(topics)
        if moved.issuperset(self.topics):
            owned.owed = False  # set again below if this firing is cut short too
        #: Whether this call is bounded: decided at the first index with something due (None: not yet).
        bounded: bool | None = None
        # A copy: saving below may add an index. (Their order is the order they were made in: it decides
        # which customers' alerts come first when several indexes fire at once.)
        for clocks, index in tuple(owned.deadlines.items()):
            heap = index.heap
            if not heap or moved.isdisjoint(clocks):
                continue
            now = _time_of(times, clocks)
            if now is None or heap[0][0] > now:
                continue  # nothing due: the common case, decided without popping
            if bounded is None:
                bounded = self._bounded and self._live(owned)
            left = self._fire_left if bounded else None
            if left is not None and left <= 0:
                owned.owed = True
                break  # this checkpoint's share is fired: the rest stay due in the heaps, for the next batch
            next_due = owned.next_due
            popped = index.pop_due(now, left)
            for at, customer_id in enumerate(popped):
                # What the customer's last save left (every change of a state is saved, and a forgotten
                # customer has no entry): one no longer due is put back without decoding their state.
                nexts = next_due.get(customer_id)
                due = None if nexts is None else nexts.get(clocks)
                if due is None or due > now:
                    if due is not None:
                        index.add(due, customer_id)
                    continue
                if bounded and self.fire_within is not None and self._out_of_time():
                    # This checkpoint's time is spent: the rest go back in the heap, due, for the next batch.
                    for rest in popped[at:]:
                        again = next_due.get(rest, {}).get(clocks)
                        if again is not None:
                            index.add(again, rest)
                    self._fire_left = 0
                    owned.owed = True
                    return changes
                state = self._get(customer_id)
                if state is None:
                    continue
                changes.extend(advance_to(state, times, self.policy, catalog=self.catalog))
                self._save(owned, state, fired=True)
                self.touched.add(customer_id)
                if self._fire_left is not None:
                    self._fire_left -= 1
            if bounded and heap and heap[0][0] <= now:
                owned.owed = True  # the share ran out within this index (pop_due stopped at it)
        return changes

    def _out_of_time(self) -> bool:
        """True once this checkpoint's firings for the sake of stream time took ``fire_within`` seconds (the
        clock starts at its first)."""
        now = time.perf_counter()
        if self._fire_until is None:
            self._fire_until = now + self.fire_within  # type: ignore[operator]
            return False
        return now >= self._fire_until

    def _owes(self, owned: _Partition, customer_id: str) -> bool:
        """True if one of the customer's deadlines is due by stream time now (left by a bounded firing)."""
        nexts = owned.next_due.get(customer_id)
        if not nexts:
            return False
        times = owned.clock.times
        for clocks, due in nexts.items():
            now = _time_of(times, clocks)
            if now is not None and due <= now:
                return True
        return False

    def _fire_own(self, owned: _Partition, state: State) -> list[AlertChange]:
        """Fire the customer's own due deadlines now, whatever the checkpoint's share (``fire_most``)."""
        changes = advance_to(state, owned.clock.times, self.policy, catalog=self.catalog)
        self._save(owned, state, fired=True)
        self.touched.add(state["id"])
        return changes

    def _save(self, owned: _Partition, state: State, fired: bool = False) -> bool:
        """Record the customer's state as changed; True if one of their deadlines is already due.

        ``fired``: the change is a deadline firing, which moves no event time (``lt``), so the customer's
        newest event time is what their last save noted.
        """
        customer_id = state["id"]
        if not fired:
            owned.note_newest(state)
        if self.batched:
            # The open counts and the catalog check are gauges published each second: taken once per customer
            # per batch, in take_dirty, not at each of the customer's saves (about two per event).
            self._hold(customer_id, state)
        else:
            self.persist(customer_id, state)
            owned.count(state)
            self._note_plans(owned, state)
        deadlines = owned.deadlines
        times = owned.clock.times
        due_now = False
        nexts = owned.next_due[customer_id] = _next_deadlines(state)
        for clocks, due in nexts.items():
            index = deadlines.get(clocks)
            if index is None:
                index = deadlines[clocks] = DeadlineIndex()
            index.add(due, customer_id)
            if not due_now:
                now = _time_of(times, clocks)
                due_now = now is not None and due <= now
        return due_now

    def _partition(self, partition: int) -> _Partition:
        owned = self.partitions.get(partition)
        if owned is None:
            # One pass over the recovered table: stream time resumes at the newest
            # event seen here, and every pending deadline and open item is indexed.
            owned = _Partition(PartitionClock(self.topics, self.grace_ms), {}, number=partition)
            newest: dict[str, int] = {}
            entries: dict[str, list[tuple[int, str]]] = {}
            for state in self._states_of(partition):
                _note_newest(newest, state)
                nexts = owned.next_due[state["id"]] = _next_deadlines(state)
                for clocks, due in nexts.items():
                    entries.setdefault(clocks, []).append((due, state["id"]))
                owned.count(state)
                owned.note_newest(state)
                self._note_plans(owned, state)
            owned.deadlines = {clocks: DeadlineIndex.build(found) for clocks, found in entries.items()}
            owned.clock.times = {topic: at - self.grace_ms for topic, at in newest.items()}
            record = self.store.get(input_offsets_key(partition))
            if record is not None:
                owned.next_offsets = dict(record[INPUT_OFFSETS])
            for (topic, number), offset in self._starts.items():
                if number == partition:
                    owned.next_offsets.setdefault(topic, offset)
            # A quiet topic's clock knows how far it was handled, so the tick can move it after a restart.
            owned.clock.next_offset.update(owned.next_offsets)
            # Fence: this worker writes the partition under an epoch above any restored, starting with the
            # input-offsets record of its first batch.
            owned.epoch = (record or {}).get(EPOCH, 0) + 1
            self._offsets_moved.add(partition)
            self.partitions[partition] = owned
        return owned

    # --- forgetting customers ---------------------------------------------

    def forget_customer(self, partition: int, customer_id: str) -> bool:
        """Drop what the processor holds for the customer; the caller deletes their table entry (a tombstone).

        False when the partition holds nothing for them. A later event starts a fresh state: nothing of
        the old one, not even the event ids seen, is kept. Deadline index entries left behind are skipped
        when due (the state is gone) or re-checked against the new state.
        """
        if is_input_offsets_key(customer_id):
            return False
        owned = self._partition(partition)
        state = self._get(customer_id)
        self.dirty.pop(customer_id, None)
        self._decoded.pop(customer_id, None)
        if state is None or state.get("p") != partition:
            return False
        owned.uncount(state)
        owned.last_event.pop(customer_id, None)
        owned.next_due.pop(customer_id, None)
        owned.plans_missing.discard(customer_id)
        self.touched.discard(customer_id)
        if self.batched:
            self._forgotten.add(customer_id)
        return True

    def inactive_customers(self, partition: int) -> list[str]:
        """Customers of the partition with no event for ``inactive_customer_days`` of stream time.

        Looked over at most every SWEEP_SECONDS of wall time, from memory (each customer's newest event
        time), not from the table. Stream time is the partition's newest, so a replayed backlog forgets as
        a live run would have.
        """
        days = self.policy.inactive_customer_days
        if days <= 0:
            return []
        owned = self._partition(partition)
        now = self.wall_clock()
        # Not before the partition holds customers: the first look comes as soon as it does.
        if not owned.last_event or not owned.clock.times or now - owned.swept_at < SWEEP_SECONDS:
            return []
        owned.swept_at = now
        cutoff = max(owned.clock.times.values()) - int(days * 86_400_000)
        return [customer_id for customer_id, at in owned.last_event.items() if at < cutoff]

    # --- the plan catalog --------------------------------------------------

    def _note_plans(self, owned: _Partition, state: State) -> None:
        if self.catalog is not None and plans_missing(state, self.catalog):
            owned.plans_missing.add(state["id"])
        else:
            owned.plans_missing.discard(state["id"])

    def publish_catalog_metrics(self, every: float = 0.5) -> None:
        """Catalog size and customers whose plan it lacks (the web timer calls it each second).

        A plan arriving on the plans topic clears its customers here, without
        waiting for their next event (the detectors judge them at that event).
        """
        now = self.wall_clock()
        if self.catalog is None or now - self._catalog_published < every:
            return
        self._catalog_published = now
        metrics.CATALOG_PLANS.set(len(self.catalog))
        for owned in self.partitions.values():
            for customer_id in list(owned.plans_missing):
                state = self.store.get(customer_id)
                if state is None or not plans_missing(state, self.catalog):
                    owned.plans_missing.discard(customer_id)
        metrics.PLAN_NOT_IN_CATALOG.set(sum(len(owned.plans_missing) for owned in self.partitions.values()))


def _next_deadlines(state: State) -> dict[tuple[str, ...], int]:
    """The customer's earliest deadline per set of driving topics."""
    earliest: dict[tuple[str, ...], int] = {}
    for name, due in state["deadlines"].items():
        clocks = DEADLINE_CLOCKS[name.partition("|")[0]]
        known = earliest.get(clocks)
        if known is None or due < known:
            earliest[clocks] = due
    return earliest


def _time_of(times: dict[str, int], clocks: tuple[str, ...]) -> int | None:
    """The stream time of deadlines driven by ``clocks``: the earliest of theirs (None: one has none yet)."""
    now = None
    for topic in clocks:
        time = times.get(topic)
        if time is None:
            return None
        if now is None or time < now:
            now = time
    return now


def _note_newest(newest: dict[str, int], state: State) -> None:
    """Fold a customer's newest event time per topic into ``newest``: where the partition's stream time resumes."""
    for topic, at in state.get("lt", {}).items():
        if at > newest.get(topic, at - 1):
            newest[topic] = at


def _plan_invalid(plan_id: str, rejected: Rejected) -> None:
    """A bad record on the plans topic: skipped (its plan counts as not in the catalog), counted and logged."""
    metrics.PLANS_INVALID.labels(rejected.code).inc()
    log.warning("fairwatch: plan record %r skipped: %s", plan_id[:80], rejected.reason)
