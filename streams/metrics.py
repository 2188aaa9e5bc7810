"""Domain metrics (SPEC §6), in prometheus-client's default registry next to Faust's sensor metrics.

Labels are bounded: topic, event type (or ``invalid``), a reason code, alert
kind and lifecycle. Never a customer id.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

__all__ = [
    "EVENTS_IN",
    "PROCESSED",
    "DUPLICATES",
    "INPUT_REWINDS",
    "INPUT_LAG",
    "LOG_START_MOVED",
    "FENCED_RECORDS",
    "INPUT_SKIPPED_READ",
    "DEAD_LETTERED",
    "LATE_EVENTS",
    "ALERTS",
    "OVERPAY",
    "PROCESSING_LATENCY",
    "EVENT_TO_ALERT",
    "READY",
    "OPEN_PROMISES",
    "OPEN_ALERTS",
    "CATALOG_PLANS",
    "PLANS_INVALID",
    "PLAN_NOT_IN_CATALOG",
    "DEADLINES_DUE",
    "FIRST_CONSUMED",
    "LAST_CONSUMED",
    "BATCH_MESSAGES",
    "BATCH_WRITES",
]

EVENTS_IN = Counter("fairwatch_events_in_total", "Messages consumed from input topics.", ["topic", "type"])
PROCESSED = Counter("fairwatch_events_processed_total", "Valid, new events applied to state.", ["topic"])
CUSTOMERS_FORGOTTEN = Counter(
    "fairwatch_customers_forgotten_total",
    "Customers forgotten: on request (fairwatch forget) or after inactive_customer_days without an event.",
    ["reason"],
)
DUPLICATES = Counter("fairwatch_events_duplicate_total", "Events ignored as duplicates by event_id.", ["topic"])
DEAD_LETTERED = Counter(
    "fairwatch_events_dead_lettered_total", "Messages sent to the dead-letter topic.", ["topic", "reason"]
)
LATE_EVENTS = Counter(
    "fairwatch_events_late_total", "Events older than stream time (beyond the grace); still applied.", ["topic"]
)
ALERTS = Counter("fairwatch_alerts_total", "Alert emissions.", ["kind", "lifecycle"])
OVERPAY = Counter(
    "fairwatch_money_at_stake_total", "Money at stake in raised alerts, in the policy currency.", ["kind", "per"]
)
PROCESSING_LATENCY = Histogram(
    "fairwatch_processing_latency_seconds",
    "Consume to alert produced, for events that caused alerts.",
    buckets=(0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5),
)
EVENT_TO_ALERT = Histogram(
    "fairwatch_event_to_alert_seconds",
    "Event time of the triggering event to alert emission (wall clock).",
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 30, 60, 300, 900, 3600),
)
BATCH_MESSAGES = Histogram(
    "fairwatch_batch_messages",
    "Messages the ingest agent handled per batch.",
    buckets=(1, 5, 25, 100, 250, 500, 1000, 2000, 5000),
)
BATCH_WRITES = Counter(
    "fairwatch_table_writes_total", "Customer states written to the table (and its changelog): once per batch each."
)
INPUT_REWINDS = Counter(
    "fairwatch_input_rewinds_total",
    "Times a newly assigned input partition was sought back to the offset the table records as next to handle, "
    "because the group's committed offset was past it.",
    ["topic", "when"],
)
INPUT_LAG = Gauge(
    "fairwatch_input_lag_messages",
    "Per input topic, over the partitions this worker owns: the end of the log (last stable offset, or high-water "
    "mark) minus the consumer's position. The position moves past transaction markers, so a trailing marker never "
    "leaves a partition looking behind.",
    ["topic"],
)
LOG_START_MOVED = Counter(
    "fairwatch_log_start_moved_total",
    "Times an assigned input partition's log start was past the offset recorded as next to handle (retention or "
    "DeleteRecords removed messages never handled): processing resumed from the log start.",
    ["topic"],
)
INPUT_SKIPPED_READ = Counter(
    "fairwatch_input_skipped_read_total",
    "Input records the consumer passed without handing them to the agent (Faust drops the rest of a fetched batch "
    "when a rebalance starts), read by the worker straight from the log and handled in order (streams.holes).",
    ["topic"],
)
FENCED_RECORDS = Counter(
    "fairwatch_fenced_records_total",
    "Changelog records skipped at restore because a later owner of the partition had fenced their writer "
    "(a worker expelled while paused that wrote on after it resumed).",
)
READY = Gauge("fairwatch_ready", "1 when joined, assigned partitions recovered; else 0.")
OPEN_PROMISES = Gauge(
    "fairwatch_open_promises",
    "Promises still running on this worker's partitions (e.g. orders not yet delivered).",
    ["kind"],
)
OPEN_ALERTS = Gauge("fairwatch_open_alerts", "Alerts raised and not resolved, on this worker's partitions.", ["kind"])
CATALOG_PLANS = Gauge("fairwatch_catalog_plans", "Valid plans in the plan catalog (the plans global table).")
PLANS_INVALID = Counter(
    "fairwatch_catalog_invalid_total", "Plan records skipped as invalid when read from the plans table.", ["reason"]
)
PLAN_NOT_IN_CATALOG = Gauge(
    "fairwatch_customers_plan_not_in_catalog",
    "Customers (on this worker's partitions) with a running subscription whose plan is not (yet) in the catalog.",
)

DEADLINES_DUE = Gauge(
    "fairwatch_customers_deadline_due",
    "Customers (on this worker's partitions) with a deadline that stream time, or the next live tick, has passed "
    "and that has not fired yet: non-zero while a jump of stream time (a catch-up) is being fired.",
)


class _Moments:
    """Wall-clock times of the first and the latest input message consumed (0 until then).

    Plain attributes the ingest agent sets once per batch; the gauges read them
    only when scraped, so the hot path pays no metric call for them. The
    benchmark derives events/s from them (first to last event consumed).
    """

    __slots__ = ("first", "last")

    def __init__(self) -> None:
        self.first = 0.0
        self.last = 0.0


CONSUMED = _Moments()
FIRST_CONSUMED = Gauge(
    "fairwatch_first_event_consumed_timestamp_seconds", "When this worker consumed its first input message."
)
FIRST_CONSUMED.set_function(lambda: CONSUMED.first)
LAST_CONSUMED = Gauge(
    "fairwatch_last_event_consumed_timestamp_seconds", "When this worker finished its latest input message."
)
LAST_CONSUMED.set_function(lambda: CONSUMED.last)
