"""The dead-letter path: the one place that shapes a dead-letter record.

The record keeps the original key and value bytes untouched (so it can be
replayed once fixed) and carries the why and where in headers, as Kafka
Connect's dead-letter queues do.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import Any

from aiokafka.errors import MessageSizeTooLargeError

__all__ = ["KEPT_BYTES", "dead_letter_headers", "send_dead_letter"]

log = logging.getLogger("fairwatch")

#: What is kept of a value too large for the dead-letter topic (see send_dead_letter).
KEPT_BYTES = 64 * 1024


def dead_letter_headers(reason: str, code: str, topic: str, partition: int, offset: int) -> list[tuple[str, bytes]]:
    return [
        ("fairwatch.reason", reason.encode()),
        ("fairwatch.reason.code", code.encode()),
        ("fairwatch.source.topic", topic.encode()),
        ("fairwatch.source.partition", str(partition).encode()),
        ("fairwatch.source.offset", str(offset).encode()),
    ]


async def send_dead_letter(
    topic: Any, key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]]
) -> Awaitable[Any]:
    """Send one dead-letter record; never lose it, never crash the agent over its size.

    A value the input topic accepted can still be too large for the producer's
    ``max_request_size`` (FAIRWATCH_MAX_MESSAGE_BYTES) with the headers added.
    Then the record goes with the first KEPT_BYTES of the value and says so in
    ``fairwatch.truncated`` (the original size); the source headers still point at
    the original on its input topic. Returns the record's delivery future.
    """
    try:
        return await topic.send(key=key, value=value, headers=headers)
    except Exception as exc:  # Faust wraps the client's error in ProducerSendError
        if not isinstance(exc.__cause__ or exc, MessageSizeTooLargeError) or value is None:
            raise
    log.warning(
        "fairwatch: dead-letter value of %d bytes too large to send; keeping its first %d", len(value), KEPT_BYTES
    )
    return await topic.send(
        key=key[:KEPT_BYTES] if key else key,
        value=value[:KEPT_BYTES],
        headers=[*headers, ("fairwatch.truncated", str(len(value)).encode())],
    )
