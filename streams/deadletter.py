"""The dead-letter path: the one place that shapes a dead-letter record.

The record keeps the original key and value bytes untouched (so it can be
replayed once fixed) and carries the why and where in headers, as Kafka
Connect's dead-letter queues do.
"""

from __future__ import annotations

__all__ = ["DEAD_LETTER_TOPIC", "dead_letter_headers"]

DEAD_LETTER_TOPIC = "fairwatch.dead-letter"


def dead_letter_headers(reason: str, code: str, topic: str, partition: int, offset: int) -> list[tuple[str, bytes]]:
    return [
        ("fairwatch.reason", reason.encode()),
        ("fairwatch.reason.code", code.encode()),
        ("fairwatch.source.topic", topic.encode()),
        ("fairwatch.source.partition", str(partition).encode()),
        ("fairwatch.source.offset", str(offset).encode()),
    ]
