"""Every place fairwatch bends Faust or aiokafka: one room, each override with its reason.

Checked against faust-streaming 0.15.3 and aiokafka 0.14.0 (pinned in
pyproject.toml); ``tests/compat/`` holds one test per override that fails when
an upgrade moves the private name it relies on.

- ``consumer``: the worker's consumer and its thread (fetch wait, read_committed,
  exact end offsets for recovery, the coordinator and position read for readiness
  and lag, the seek to the table's input offsets at assignment).
- ``tables``: the plans global table whose changelog is a topic others write; the
  customer table whose restore skips records of a fenced (older) generation, and
  whose changelog sends the agent awaits.
- ``producer``: the aiokafka producer under Faust's, which streams.outbox sends
  record batches through.
- ``stream``: the current-event context variable that the table and its RocksDB
  store read the partition from; the batch window of ``take_events``, asked for at
  each batch.
- ``sensor``: Faust's Prometheus sensor whose per-event hooks only count; a
  collector publishes Faust's metric families from the counts at scrape time.
"""

from streams.compat.consumer import VERSIONS_CHECKED, FairwatchTransport
from streams.compat.stream import current_event_var
from streams.compat.tables import CustomersTable, PlansTable

__all__ = ["FairwatchTransport", "CustomersTable", "PlansTable", "current_event_var", "VERSIONS_CHECKED"]
