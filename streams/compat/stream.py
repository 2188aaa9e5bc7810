"""Faust's current-event context variable, and the batch window of ``take_events``.

``Table.__setitem__``, ``partition_for_key`` and the RocksDB store take the
partition from the event being processed (``faust.streams._current_event``).
The agent handles a batch (``take_events``) and writes each customer under an
event of that customer's partition, so it sets the variable itself, as Faust's
own iteration does for one event at a time.

``take_events(max_, within)`` fixes ``within`` for the stream's life, but the
agent wants a batch window that depends on how far behind the worker is
(agents/ingest.py: short when caught up, for latency; long with a backlog, so a
batch fills and each customer is written once for many events). Faust waits
for each batch with ``self.wait_for_stopped(buffer_full, timeout=...)``, the
stream's only caller of it; ``wait_batches_for`` puts a wrapper on the stream
instance that asks for the window at each of those waits.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from faust import streams as faust_streams

__all__ = ["current_event_var", "wait_batches_for"]

current_event_var: ContextVar[Any] = faust_streams._current_event


def wait_batches_for(stream: Any, window: Callable[[], float]) -> None:
    """Make each batch of ``stream.take_events`` wait at most ``window()`` seconds to fill, read as the wait
    starts (the ``within`` given to ``take_events`` is then not used)."""
    wait = stream.wait_for_stopped

    async def wait_for_stopped(*events: Any, timeout: float | None = None) -> Any:
        return await wait(*events, timeout=window())

    stream.wait_for_stopped = wait_for_stopped
