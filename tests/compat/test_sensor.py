"""The light Prometheus sensor (streams.compat.sensor) against Faust's own, fed the same hook calls.

Both are real: Faust's ``PrometheusMonitor`` with its ``FaustMetrics`` in one registry, the light sensor in
another, each on a real Faust stream and table, with the same clock. Their /metrics text must be the same line
for line (names, help, types, label sets, values, order), but for the values of the ``_created`` series, which
are wall-clock times of when each series appeared.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import count
from types import SimpleNamespace
from typing import Any

import faust
import pytest
from faust.sensors.prometheus import FaustMetrics, PrometheusMonitor
from faust.types import TP
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client import metrics as prometheus_metrics

from streams.compat.sensor import STREAM_CACHE_MAX, LightPrometheusMonitor, light_prometheus_monitor

PREFIX = "fw_test"


class Clock:
    """Monitor's ``time``: each call a little later, by amounts that land in different latency buckets."""

    def __init__(self) -> None:
        self.now = 1_000.0
        self.steps = iter([0.0001, 0.004, 0.005, 0.0072, 0.09, 0.3, 2.0, 12.0] * 1_000)

    def __call__(self) -> float:
        self.now += next(self.steps)
        return self.now


def _sensors() -> tuple[tuple[PrometheusMonitor, CollectorRegistry], tuple[LightPrometheusMonitor, CollectorRegistry]]:
    faust_registry, light_registry = CollectorRegistry(), CollectorRegistry()
    faust_sensor = PrometheusMonitor(metrics=FaustMetrics.create(faust_registry, PREFIX), time=Clock())
    light = light_prometheus_monitor(light_registry, PREFIX)
    light.time = Clock()
    return (faust_sensor, faust_registry), (light, light_registry)


class Owner:
    """Stands for the task a stream is iterated in (the Monitor keeps it in a WeakKeyDictionary)."""


def _message() -> SimpleNamespace:
    # The Monitor writes time_in/time_out/time_total on the message: nothing else is read.
    return SimpleNamespace(time_in=None, time_out=None, time_total=None)


def _workload(app: faust.App) -> Iterator[Callable[[Any], None]]:
    """Every hook the Prometheus sensor implements, as the worker would call them, across a rebalance."""
    orders, billing = app.topic("orders"), app.topic("billing", "complaints")
    streams = [app.stream(orders), app.stream(billing)]
    for stream in streams:
        # The agent's actor task, in a worker.
        stream.task_owner = Owner()
    customers, plans = app.Table("customers"), app.Table("plans")
    offsets = count(100)
    rebalance = SimpleNamespace(rebalancing_count=1)
    states: dict[int, Any] = {}

    def event(topic: str, partition: int, stream: Any, finish: bool = True) -> Callable[[Any], None]:
        tp, offset = TP(topic, partition), next(offsets)

        def call(sensor: Any) -> None:
            message = _message()
            sensor.on_message_in(tp, offset, message)
            state = sensor.on_stream_event_in(tp, offset, stream, None)
            if finish:
                sensor.on_stream_event_out(tp, offset, stream, None, state)
                sensor.on_message_out(tp, offset, message)

        return call

    for i in range(12):
        yield event("orders", i % 3, streams[0])
    for i in range(5):
        yield event("billing", i % 2, streams[1])
    yield event("complaints", 0, streams[1], finish=False)  # still active at the scrape

    def stream_out_without_state(sensor: Any) -> None:
        # Faust decrements its active-events gauge even when the Monitor had no state for the event.
        sensor.on_stream_event_out(TP("orders", 0), 1, streams[0], None, None)

    yield stream_out_without_state

    def tables(sensor: Any) -> None:
        for _ in range(3):
            sensor.on_table_get(customers, "c-1")
        sensor.on_table_set(customers, "c-1", b"{}")
        sensor.on_table_del(customers, "c-1")
        sensor.on_table_get(plans, "p-1")

    yield tables

    def sends(sensor: Any) -> None:
        for topic in ("alerts", "alerts", "customers-changelog"):
            state = sensor.on_send_initiated(None, topic, None, 3, 100)
            sensor.on_send_completed(None, state, None)
        failed = sensor.on_send_initiated(None, "alerts", None, 3, 100)
        sensor.on_send_error(None, RuntimeError("broker gone"), failed)

    yield sends

    def misc(sensor: Any) -> None:
        sensor.count("deadlines_fired")
        sensor.count("deadlines_fired", 4)
        commit = sensor.on_commit_initiated(None)
        sensor.on_commit_completed(None, commit)
        sensor.on_tp_commit({TP("orders", 0): 105, TP("billing", 1): 113})
        sensor.track_tp_end_offset(TP("orders", 0), 130)
        assignment = sensor.on_assignment_start(None)
        sensor.on_assignment_completed(None, assignment)
        assignment = sensor.on_assignment_start(None)
        sensor.on_assignment_error(None, assignment, RuntimeError("no"))
        web = sensor.on_web_request_start(app, None)
        sensor.on_web_request_end(app, None, SimpleNamespace(status=404), web)

    yield misc

    def rebalance_start(sensor: Any) -> None:
        states[id(sensor)] = sensor.on_rebalance_start(rebalance)

    yield rebalance_start
    # Per topic series are removed at a rebalance's start; these come back new.
    yield event("orders", 2, streams[0])

    def rebalance_return(sensor: Any) -> None:
        sensor.on_rebalance_return(rebalance, states[id(sensor)])
        sensor.on_send_initiated(None, "alerts", None, 3, 100)

    yield rebalance_return

    def rebalance_end(sensor: Any) -> None:
        sensor.on_rebalance_end(rebalance, states[id(sensor)])

    yield rebalance_end
    yield event("billing", 0, streams[1])
    yield event("orders", 1, streams[0])


def _split(text: str) -> tuple[list[str], list[tuple[str, float]]]:
    """The exposition's lines, ``_created`` values cut off; and the ``_created`` series with their values."""
    lines, created = [], []
    for line in text.splitlines():
        series, _, value = line.rpartition(" ")
        if not line.startswith("#") and series.split("{")[0].endswith("_created"):
            lines.append(series)
            created.append((series, float(value)))
        else:
            lines.append(line)
    return lines, created


@pytest.fixture
def app() -> faust.App:
    return faust.App("fw-test", broker="kafka://127.0.0.1:1", store="memory://", autodiscover=False)


@pytest.mark.parametrize("use_created", [True, False])
def test_the_light_sensor_publishes_what_faust_s_sensor_publishes_for_the_same_hook_calls(
    app: faust.App, use_created: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(prometheus_metrics, "_use_created", use_created)
    (faust_sensor, faust_registry), (light, light_registry) = _sensors()
    scrapes = 0
    for step in _workload(app):
        step(faust_sensor)
        step(light)
        expected, expected_created = _split(generate_latest(faust_registry).decode())
        got, got_created = _split(generate_latest(light_registry).decode())
        assert got == expected
        assert [series for series, _ in got_created] == [series for series, _ in expected_created]
        # Each series appeared at the same step for both (the values are wall-clock times).
        for (series, a), (_, b) in zip(got_created, expected_created, strict=True):
            assert abs(a - b) < 5.0, series
        scrapes += 1

    text = generate_latest(light_registry).decode()
    # The workload really reached the families the light sensor makes itself, with their values.
    assert f"{PREFIX}_messages_received_total 21.0" in text
    assert f"{PREFIX}_total_active_events 0.0" in text  # one still active, one stream-out without a state
    assert f'{PREFIX}_messages_received_per_topic_total{{topic="orders"}} 1.0' in text  # since the rebalance
    assert f'{PREFIX}_table_operations_total{{operation="keys_retrieved",table="table.customers"}} 3.0' in text
    assert f"{PREFIX}_events_runtime_ms_count 20.0" in text
    assert f'{PREFIX}_total_events_per_stream_total{{stream="stream.topic_orders.events"}} 14.0' in text
    assert (f"{PREFIX}_producer_send_latency_created" in text) is use_created
    assert scrapes > 10


def test_the_hot_hooks_do_not_touch_prometheus_client_metrics(app: faust.App) -> None:
    """What makes the sensor light: Faust's metric objects served from the counts stay at zero."""
    _, (light, _registry) = _sensors()
    for step in _workload(app):
        step(light)
    untouched = ("messages_received", "total_events", "total_sent_messages")
    for field in untouched:
        assert getattr(light._metrics, field)._value.get() == 0.0, field
    assert light._metrics.events_runtime_latency._sum.get() == 0.0
    assert light.messages_received_total == 21 and light.light_sent_completed == 3


def test_a_stream_s_label_is_cached_and_the_cache_bounded(app: faust.App) -> None:
    _, (light, _registry) = _sensors()
    topic = app.topic("orders")
    first = app.stream(topic)
    first.task_owner = Owner()
    for offset in range(3):
        light.on_stream_event_in(TP("orders", 0), offset, first, None)
    assert light._stream_labels == {first: "stream.topic_orders.events"}
    others = [app.stream(topic) for _ in range(STREAM_CACHE_MAX)]
    for stream in others:
        stream.task_owner = first.task_owner
        light.on_stream_event_in(TP("orders", 0), 9, stream, None)
    assert len(light._stream_labels) <= STREAM_CACHE_MAX
    # Counts survive the cache starting again.
    assert light.light_stream_events == {"stream.topic_orders.events": 3 + STREAM_CACHE_MAX}
