"""Faust's Prometheus sensor at a lower cost per event: the same metric families on ``/metrics``.

``faust.sensors.prometheus.PrometheusMonitor`` updates prometheus-client metrics in its per-message and
per-event hooks: per event about ten locked value updates, three ``labels()`` look-ups (each checks its
labels, builds a key and takes a lock) and a regular expression over the stream's label. The bench's Faust
floor measured that at about 30 µs an event, a third of a bare Faust agent.

``LightPrometheusMonitor`` keeps Faust's Monitor bookkeeping (the worker reads it: the consumer's event path
check, ``tp_read_offsets``) and, in the hot hooks (message in and out, stream event in and out, table
get/set/delete, send initiated and completed), only bumps plain integers and dictionaries. One collector
(``FaustFamilies``) turns them into Faust's metric families when ``/metrics`` is scraped: the same names,
types, help texts, label names, values, ``_created`` series and order (Faust's field order). The hooks that
run per commit, rebalance, assignment, web request, send error or ``count()`` keep Faust's own code and
metric objects, which the collector passes through.

What it relies on (checked against faust-streaming 0.15.3 and prometheus-client 0.26.0; the test in
tests/compat/test_sensor.py compares the two sensors' exposition on the same hook calls):
``PrometheusMonitor._metrics``, ``._stream_label`` and ``._clear_partition_related_metrics``; the
metric objects' ``_name``, ``_documentation``, ``_type``, ``_unit``, ``_created`` and ``_upper_bounds``;
``prometheus_client.metrics._use_created`` (``PROMETHEUS_DISABLE_CREATED_SERIES``).
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Callable, Iterable
from typing import Any, TypeVar, cast

from aiohttp.web import Response
from faust import web
from faust.sensors.monitor import Monitor
from faust.sensors.prometheus import FaustMetrics, PrometheusMonitor
from faust.types import TP, AppT, CollectionT, EventT, Message, PendingMessage, RecordMetadata, StreamT
from faust.types.transports import ProducerT
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client import metrics as prometheus_metrics
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

__all__ = ["LightPrometheusMonitor", "FaustFamilies", "setup_light_prometheus_sensors"]

#: Streams whose label is cached at most; past it the cache starts again (the counts stay): a worker that
#: made streams without end must not keep them all alive.
STREAM_CACHE_MAX = 1_024

_K = TypeVar("_K")


class _Histogram:
    """A Faust latency histogram as plain numbers: one count per bucket (not cumulative) and the sum."""

    __slots__ = ("bounds", "counts", "created", "sum")

    def __init__(self, like: MetricWrapperBase) -> None:
        # The upper bounds end with +Inf, so every value finds a bucket; bisect_left puts a value equal to a
        # bound in that bound's bucket, as prometheus-client's ``value <= bound`` does.
        self.bounds: tuple[float, ...] = tuple(like._upper_bounds)
        self.counts = [0] * len(self.bounds)
        self.sum = 0.0
        self.created: float = like._created

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value


class LightPrometheusMonitor(PrometheusMonitor):
    """PrometheusMonitor whose per-event hooks only count; ``FaustFamilies`` publishes the counts."""

    def __init__(self, metrics: FaustMetrics, **kwargs: Any) -> None:
        super().__init__(metrics=metrics, **kwargs)
        #: Per topic since the last rebalance (Faust removes these series when partitions move), and when
        #: each series appeared (its ``_created``).
        self.light_received: dict[str, int] = {}
        self.light_received_created: dict[str, float] = {}
        self.light_sent: dict[str, int] = {}
        self.light_sent_created: dict[str, float] = {}
        #: Faust decrements its gauge on every event out, the Monitor only when the event had a state.
        self.light_events_active = 0
        #: Events per stream label (Faust's ``stream.<label>.events``), and the label of each stream seen.
        self.light_stream_events: dict[str, int] = {}
        self.light_stream_created: dict[str, float] = {}
        self._stream_labels: dict[StreamT, str] = {}
        #: Table operations per (``table.<name>``, operation).
        self.light_table_ops: dict[tuple[str, str], int] = {}
        self.light_table_created: dict[tuple[str, str], float] = {}
        self.light_sent_completed = 0
        self.light_runtime = _Histogram(metrics.events_runtime_latency)
        self.light_send_latency = _Histogram(metrics.producer_send_latency)

    def on_message_in(self, tp: TP, offset: int, message: Message) -> None:
        """Messages received and active, and the per partition offset, are the Monitor's own numbers."""
        Monitor.on_message_in(self, tp, offset, message)
        topic = tp.topic
        try:
            self.light_received[topic] += 1
        except KeyError:
            self.light_received[topic] = 1
            self.light_received_created[topic] = time.time()

    def on_stream_event_in(self, tp: TP, offset: int, stream: StreamT, event: EventT) -> dict | None:
        state = Monitor.on_stream_event_in(self, tp, offset, stream, event)
        self.light_events_active += 1
        try:
            label = self._stream_labels[stream]
        except KeyError:
            label = self._learn_stream(stream)
        self.light_stream_events[label] += 1
        return state

    def _learn_stream(self, stream: StreamT) -> str:
        if len(self._stream_labels) >= STREAM_CACHE_MAX:
            self._stream_labels.clear()
        label = self._stream_labels[stream] = f"stream.{self._stream_label(stream)}.events"
        if label not in self.light_stream_events:
            self.light_stream_events[label] = 0
            self.light_stream_created[label] = time.time()
        return label

    def on_stream_event_out(
        self, tp: TP, offset: int, stream: StreamT, event: EventT, state: dict | None = None
    ) -> None:
        Monitor.on_stream_event_out(self, tp, offset, stream, event, state)
        self.light_events_active -= 1
        if state is not None:
            # Faust observes the runtime the Monitor just appended, in ms.
            value = self.events_runtime[-1] * 1000.0
            runtime = self.light_runtime
            runtime.counts[bisect_left(runtime.bounds, value)] += 1
            runtime.sum += value

    def on_message_out(self, tp: TP, offset: int, message: Message) -> None:
        Monitor.on_message_out(self, tp, offset, message)

    def on_table_get(self, table: CollectionT, key: Any) -> None:
        Monitor.on_table_get(self, table, key)
        self._table_op(table, self.KEYS_RETRIEVED)

    def on_table_set(self, table: CollectionT, key: Any, value: Any) -> None:
        Monitor.on_table_set(self, table, key, value)
        self._table_op(table, self.KEYS_UPDATED)

    def on_table_del(self, table: CollectionT, key: Any) -> None:
        Monitor.on_table_del(self, table, key)
        self._table_op(table, self.KEYS_DELETED)

    def _table_op(self, table: CollectionT, operation: str) -> None:
        key = (table.name, operation)
        try:
            self.light_table_ops[key] += 1
        except KeyError:
            self.light_table_ops[key] = 1
            self.light_table_created[key] = time.time()

    def on_send_initiated(
        self, producer: ProducerT, topic: str, message: PendingMessage, keysize: int, valsize: int
    ) -> Any:
        try:
            self.light_sent[topic] += 1
        except KeyError:
            self.light_sent[topic] = 1
            self.light_sent_created[topic] = time.time()
        return Monitor.on_send_initiated(self, producer, topic, message, keysize, valsize)

    def on_send_completed(self, producer: ProducerT, state: Any, metadata: RecordMetadata) -> None:
        Monitor.on_send_completed(self, producer, state, metadata)
        self.light_sent_completed += 1
        self.light_send_latency.observe(self.ms_since(cast(float, state)))

    def _clear_partition_related_metrics(self) -> None:
        # Faust removes the per topic series at a rebalance's start and end; they come back, new, with the
        # next message or send.
        super()._clear_partition_related_metrics()
        for counts in (self.light_received, self.light_received_created, self.light_sent, self.light_sent_created):
            counts.clear()


class FaustFamilies(Collector):
    """Faust's metric families, in Faust's order: the light sensor's counts, or Faust's metric objects."""

    def __init__(self, monitor: LightPrometheusMonitor) -> None:
        self.monitor = monitor
        self.faust = monitor._metrics
        #: The families made from the light sensor's counts; the others are Faust's metric objects.
        self.light: dict[str, Callable[[], Metric]] = {
            "messages_received": self._messages_received,
            "active_messages": self._active_messages,
            "messages_received_per_topics": self._messages_received_per_topics,
            "messages_received_per_topics_partition": self._messages_received_per_topics_partition,
            "events_runtime_latency": self._events_runtime_latency,
            "total_events": self._total_events,
            "total_active_events": self._total_active_events,
            "total_events_per_stream": self._total_events_per_stream,
            "table_operations": self._table_operations,
            "topic_messages_sent": self._topic_messages_sent,
            "total_sent_messages": self._total_sent_messages,
            "producer_send_latency": self._producer_send_latency,
        }

    def describe(self) -> Iterable[Metric]:
        for field in FaustMetrics._fields:
            yield from getattr(self.faust, field).describe()

    def collect(self) -> Iterable[Metric]:
        for field in FaustMetrics._fields:
            made = self.light.get(field)
            if made is None:
                yield from getattr(self.faust, field).collect()
            else:
                yield made()

    def _family(self, field: str) -> Metric:
        like = getattr(self.faust, field)
        return Metric(like._name, like._documentation, like._type, like._unit)

    def _counter(self, field: str, value: float) -> Metric:
        family = self._family(field)
        family.add_sample(family.name + "_total", {}, value)
        if prometheus_metrics._use_created:
            family.add_sample(family.name + "_created", {}, getattr(self.faust, field)._created)
        return family

    def _labelled_counter(
        self,
        field: str,
        counts: dict[_K, int],
        created: dict[_K, float],
        labels_of: Callable[[_K], dict[str, str]],
    ) -> Metric:
        family = self._family(field)
        use_created = prometheus_metrics._use_created
        # Copies: the loop must not iterate a dictionary a hook changes (a hook on another thread).
        created = dict(created)
        for key, value in list(counts.items()):
            labels = labels_of(key)
            family.add_sample(family.name + "_total", labels, value)
            if use_created:
                family.add_sample(family.name + "_created", labels, created.get(key, 0.0))
        return family

    def _gauge(self, field: str, value: float) -> Metric:
        family = self._family(field)
        family.add_sample(family.name, {}, value)
        return family

    def _histogram(self, field: str, histogram: _Histogram) -> Metric:
        family = self._family(field)
        counts, total = list(histogram.counts), histogram.sum
        seen = 0.0
        for bound, count in zip(histogram.bounds, counts, strict=True):
            seen += count
            family.add_sample(family.name + "_bucket", {"le": floatToGoString(bound)}, seen)
        family.add_sample(family.name + "_count", {}, seen)
        if histogram.bounds[0] >= 0:
            family.add_sample(family.name + "_sum", {}, total)
        if prometheus_metrics._use_created:
            family.add_sample(family.name + "_created", {}, histogram.created)
        return family

    def _messages_received(self) -> Metric:
        return self._counter("messages_received", self.monitor.messages_received_total)

    def _active_messages(self) -> Metric:
        return self._gauge("active_messages", self.monitor.messages_active)

    def _messages_received_per_topics(self) -> Metric:
        m = self.monitor
        return self._labelled_counter(
            "messages_received_per_topics", m.light_received, m.light_received_created, _topic_labels
        )

    def _messages_received_per_topics_partition(self) -> Metric:
        family = self._family("messages_received_per_topics_partition")
        for tp, offset in list(self.monitor.tp_read_offsets.items()):
            family.add_sample(family.name, {"topic": tp.topic, "partition": str(tp.partition)}, offset)
        return family

    def _events_runtime_latency(self) -> Metric:
        return self._histogram("events_runtime_latency", self.monitor.light_runtime)

    def _total_events(self) -> Metric:
        return self._counter("total_events", self.monitor.events_total)

    def _total_active_events(self) -> Metric:
        return self._gauge("total_active_events", self.monitor.light_events_active)

    def _total_events_per_stream(self) -> Metric:
        m = self.monitor
        return self._labelled_counter(
            "total_events_per_stream", m.light_stream_events, m.light_stream_created, _stream_labels
        )

    def _table_operations(self) -> Metric:
        m = self.monitor
        return self._labelled_counter("table_operations", m.light_table_ops, m.light_table_created, _table_labels)

    def _topic_messages_sent(self) -> Metric:
        m = self.monitor
        return self._labelled_counter("topic_messages_sent", m.light_sent, m.light_sent_created, _sent_labels)

    def _total_sent_messages(self) -> Metric:
        return self._counter("total_sent_messages", self.monitor.light_sent_completed)

    def _producer_send_latency(self) -> Metric:
        return self._histogram("producer_send_latency", self.monitor.light_send_latency)


def _topic_labels(topic: str) -> dict[str, str]:
    return {"topic": topic}


def _sent_labels(topic: str) -> dict[str, str]:
    return {"topic": f"topic.{topic}"}


def _stream_labels(label: str) -> dict[str, str]:
    return {"stream": label}


def _table_labels(key: tuple[str, str]) -> dict[str, str]:
    return {"table": f"table.{key[0]}", "operation": key[1]}


def light_prometheus_monitor(
    registry: CollectorRegistry = REGISTRY, name_prefix: str = "faust"
) -> LightPrometheusMonitor:
    """The sensor, its metric families registered in ``registry`` under Faust's names for ``name_prefix``."""
    # Faust's metric objects live in a registry of their own: the collector publishes them, in Faust's order,
    # with the light sensor's counts in place of the ones the hot hooks no longer touch.
    faust_metrics = FaustMetrics.create(CollectorRegistry(), name_prefix.replace("-", "_").replace(".", "_"))
    monitor = LightPrometheusMonitor(metrics=faust_metrics)
    registry.register(FaustFamilies(monitor))
    return monitor


def setup_light_prometheus_sensors(
    app: AppT, pattern: str = "/metrics", registry: CollectorRegistry = REGISTRY, name_prefix: str | None = None
) -> None:
    """As ``faust.sensors.prometheus.setup_prometheus_sensors``: the monitor and the page that serves it."""
    app.monitor = light_prometheus_monitor(registry, app.conf.name if name_prefix is None else name_prefix)

    @app.page(pattern)
    async def metrics_handler(self: web.View, request: web.Request) -> web.Response:
        body = generate_latest(registry)
        return cast(web.Response, Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST}, status=200))
