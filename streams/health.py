"""Readiness, liveness and input lag of a worker.

Ready (``/ready``): the topics checked out (the worker does not start
otherwise), the worker joined its group, every assigned table partition is
recovered, the group coordinator is known, and the processing loop is running
and not stalled. Live (``/live``): the processing loop made progress within
``FAIRWATCH_LIVE_STALL_SECONDS``, or there is nothing to process.
"""

from __future__ import annotations

import time
from typing import Any

from faust.types import TP

__all__ = ["is_ready", "is_live", "assigned_partitions", "partition_position", "position_and_end", "input_lag"]


def partition_position(app: Any, tp: TP) -> tuple[int | None, int | None, int | None]:
    """(consumer position, high-water mark, last stable offset) of ``tp``; None where unknown."""
    thread = getattr(app.consumer, "fairwatch_thread", None)
    if thread is None:
        return None, None, None
    try:
        return thread.partition_position(tp)
    except Exception:  # consumer not started or partition not fetched yet: unknown
        return None, None, None


def position_and_end(app: Any, tp: TP) -> tuple[int | None, int | None]:
    """The consumer's position on ``tp`` and where the log ends for it: the last stable offset (read_committed),
    else the high-water mark."""
    position, highwater, stable = partition_position(app, tp)
    return position, stable if stable is not None and stable >= 0 else highwater


def input_lag(rt: Any) -> dict[str, int]:
    """Per input topic, over the owned partitions: the end of the log minus the consumer's position."""
    lag = {topic: 0 for topic in rt.layout.names.inputs}
    for tp in rt.app.assignor.assigned_actives():
        if tp.topic not in lag:
            continue
        position, end = position_and_end(rt.app, tp)
        if position is not None and end is not None:
            lag[tp.topic] += max(0, end - position)
    return lag


def _recovered(app: Any) -> bool:
    if app.rebalancing or app.in_recovery:
        return False
    thread = getattr(app.consumer, "fairwatch_thread", None)
    if thread is not None and not thread.group_coordinator_known():
        return False
    recovery = app.tables.recovery
    return recovery.completed.is_set() and not recovery.in_recovery


def is_live(rt: Any, now: float | None = None) -> tuple[bool, str]:
    """False (with why) when the processing loop has made no progress for the configured time while input waits.

    Progress is a batch handled; the stream is idle, not stalled, while the consumer's position is at the end of
    every owned input partition.
    """
    now = time.monotonic() if now is None else now
    started = rt.state.get("agent_started")
    if started is None:
        return True, "starting"
    last = max(rt.state.get("progress", 0.0), rt.state.get("lag_zero", 0.0), started)
    if now - last <= rt.config.live_stall_seconds:
        return True, "progressing"
    return False, f"no batch handled for {now - last:.0f} s with input waiting"


def is_ready(rt: Any) -> bool:
    app = rt.app
    if not rt.state.get("joined") or not _recovered(app):
        return False
    return rt.state.get("agent_started") is not None and is_live(rt)[0]


def assigned_partitions(rt: Any) -> list[int]:
    """Partition numbers of the input topics this worker owns now."""
    inputs = set(rt.layout.names.inputs)
    return sorted({tp.partition for tp in rt.app.assignor.assigned_actives() if tp.topic in inputs})
