"""streams.processor without a broker: stream time per topic makes the outcome independent of interleaving.

A consumer interleaves the input topics as fetches happen to come back; each
topic's own order is all that is fixed. Any interleaving must give the same
alerts.
"""

from __future__ import annotations

import random
from typing import Any

import orjson
import pytest

from models.policy import Policy
from streams.processor import Processor
from tests.support.disorder_history import history

TOPICS = ("orders", "billing", "complaints")


def run(messages: list[tuple[int, str, bytes, bytes]]) -> list[tuple[Any, ...]]:
    store: dict[str, Any] = {}
    per_topic = {topic: sum(1 for m in messages if m[1] == topic) for topic in TOPICS}
    processor = Processor(
        Policy(grace_minutes=10),
        store,
        lambda customer_id, state: store.__setitem__(customer_id, orjson.loads(orjson.dumps(state))),
        lambda topic, partition: per_topic[topic],  # all of it is backlog: no tick may jump it
        wall_clock=lambda: 4_102_444_800.0,  # far in the future: no event is rejected as future
    )
    offsets = dict.fromkeys(TOPICS, 0)
    emitted = []
    for _, topic, key, value in messages:
        outcome = processor.handle(topic, 0, offsets[topic], key, value)
        offsets[topic] += 1
        emitted += [
            (c.alert_id, c.lifecycle, c.revision, c.at, orjson.dumps(c.details, option=orjson.OPT_SORT_KEYS))
            for c in outcome.changes
        ]
    return sorted(emitted)


def interleave(messages: list, seed: int) -> list:
    """Another interleaving of the same per-topic sequences, in runs of 1 to 4 messages."""
    queues = {topic: [m for m in messages if m[1] == topic] for topic in TOPICS}
    rng = random.Random(seed)
    out: list = []
    while any(queues.values()):
        topic = rng.choice([t for t in TOPICS if queues[t]])
        run_length = rng.randint(1, 4)
        out.extend(queues[topic][:run_length])
        del queues[topic][:run_length]
    return out


@pytest.mark.parametrize("seed", range(8))
def test_any_interleaving_of_the_topics_gives_the_same_alerts(seed: int) -> None:
    messages = history()
    other = interleave(messages, seed)
    assert sorted(other) == sorted(messages)
    assert other != messages
    assert run(other) == run(messages)


def test_topic_by_topic_gives_the_same_alerts() -> None:
    messages = history()
    one_topic_at_a_time = [m for topic in ("billing", "complaints", "orders") for m in messages if m[1] == topic]
    baseline = run(messages)
    assert run(one_topic_at_a_time) == baseline
    assert len(baseline) >= 6
