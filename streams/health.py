"""Readiness: joined the group and every assigned table partition recovered."""

from __future__ import annotations

from typing import Any

from models.events import INPUT_TOPICS

__all__ = ["is_ready", "assigned_partitions"]


def is_ready(app: Any) -> bool:
    # fairwatch_joined is set by the first partition assignment (agents.ingest).
    if not getattr(app, "fairwatch_joined", False) or app.rebalancing or app.in_recovery:
        return False
    thread = getattr(app.consumer, "fairwatch_thread", None)
    if thread is not None and not thread.group_coordinator_known():
        return False
    recovery = app.tables.recovery
    return recovery.completed.is_set() and not recovery.in_recovery


def assigned_partitions(app: Any) -> list[int]:
    """Partition numbers of the input topics this worker owns now."""
    return sorted({tp.partition for tp in app.assignor.assigned_actives() if tp.topic in INPUT_TOPICS})
