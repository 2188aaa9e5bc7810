"""Faust's current-event context variable.

``Table.__setitem__``, ``partition_for_key`` and the RocksDB store take the
partition from the event being processed (``faust.streams._current_event``).
The agent handles a batch (``take_events``) and writes each customer under an
event of that customer's partition, so it sets the variable itself, as Faust's
own iteration does for one event at a time.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from faust import streams as faust_streams

__all__ = ["current_event_var"]

current_event_var: ContextVar[Any] = faust_streams._current_event
