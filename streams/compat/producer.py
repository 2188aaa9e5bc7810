"""The aiokafka producer under Faust's, for record batches (streams.outbox).

Faust's producer keeps its aiokafka producer private (``Producer._ensure_producer``,
which raises NotReady before the producer service started). Sending through it, not a
second producer, keeps one connection, one configuration (security, acks, linger,
max batch size) and one ``flush`` at shutdown.
"""

from __future__ import annotations

from typing import Any

__all__ = ["kafka_producer"]


def kafka_producer(app: Any) -> Any:
    """The started aiokafka producer of ``app``'s Faust producer."""
    return app.producer._ensure_producer()
