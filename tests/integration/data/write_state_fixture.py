"""How ``state-format-1.json`` and ``state-format-2.json`` were written (kept for the record; not run by the tests).

Run once against a checkout of the last build that wrote each format: f6019c9 (format 1), 71e6876 (format 2,
the last build whose changelog records were plain JSON; streams.state_record compresses them since):

    git worktree add /tmp/v1 f6019c9
    PYTHONPATH=/tmp/v1 .venv/bin/python tests/integration/data/write_state_fixture.py /tmp/v1 OUT.json \
        "fairwatch f6019c9 (state format 1)"

It builds a history of customer stories as tests/integration/test_faults.py does, hands its first two thirds
to that build's processor in batched mode (as its ingest agent drove it, on the partitions the default
producer partitioner picks for 4 partitions), and writes the messages and the records the changelog held after
them (the last per key, input-offsets records included).
"""

from __future__ import annotations

import contextlib
import random
import sys
import time
from pathlib import Path

import orjson
from aiokafka.partitioner import DefaultPartitioner

from models.errors import Rejected
from models.events import decode_event
from models.policy import load_policy
from models.timestamps import MS_PER_DAY
from streams.processor import Processor
from streams.tools.stories import StoryBook
from streams.tools.topic_commands import read_plans_file

PARTITIONS = 4
CUSTOMERS, ROUNDS, SEED = 60, 3, 11


def main(checkout: Path, out: Path, written_by: str) -> None:
    book = StoryBook(seed=SEED)
    rng = random.Random(SEED)
    end = int(time.time() * 1000) - 2 * MS_PER_DAY
    messages = []
    for round_ in range(ROUNDS):
        for number in range(CUSTOMERS):
            story = book.weighted()
            now = end - (ROUNDS - round_) * 7 * MS_PER_DAY - rng.randrange(MS_PER_DAY)
            messages.extend(story(f"u-{number:04d}", now))
    half_grace = load_policy(None, {}).grace_minutes * 30_000
    at = 0
    ordered = []
    for message in messages:
        with contextlib.suppress(Rejected):
            at = decode_event(*message).at
        ordered.append((at + rng.randrange(int(half_grace)), len(ordered), message))
    messages = [message for _, _, message in sorted(ordered)]
    first = len(messages) * 2 // 3

    plans, problems = read_plans_file(checkout / "streams/tools/data/plans.toml")
    assert not problems, problems
    catalog = {key.decode(): orjson.loads(value) for key, value in plans}
    partitioner = DefaultPartitioner()
    every = list(range(PARTITIONS))
    ends: dict[tuple[str, int], int] = {}
    routed = []
    for topic, key, value in messages[:first]:
        partition = partitioner(key, every, every)
        offset = ends.get((topic, partition), 0)
        ends[topic, partition] = offset + 1
        routed.append((topic, partition, offset, key, value))
    store: dict[str, dict] = {}
    processor = Processor(
        load_policy(None, {}),
        store,
        lambda key, state: None,
        lambda t, p: ends.get((t, p), 0),
        catalog=catalog,
        batched=True,
    )
    for start in range(0, len(routed), 200):
        for topic, partition, offset, key, value in routed[start : start + 200]:
            processor.handle(topic, partition, offset, key, value)
        for key, state in processor.take_dirty().items():
            store[key] = orjson.loads(orjson.dumps(state))
    document = {
        "written_by": f"{written_by}, streams.processor.Processor in batched mode",
        "partitions": PARTITIONS,
        "messages": [[topic, key.decode(), value.decode()] for topic, key, value in messages],
        "first": first,
        "changelog": [{"partition": state["p"], "key": key, "value": state} for key, state in store.items()],
    }
    out.write_bytes(orjson.dumps(document))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3])
