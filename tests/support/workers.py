"""What tests of several workers share: whether the partitions are split between them, the web token they use."""

from __future__ import annotations

import time
from typing import Any

import orjson

__all__ = ["TOKEN", "split_between", "wait_until_split"]

#: The web port's access token the integration tests start workers with (FAIRWATCH_WEB_TOKEN).
TOKEN = "test-token-0123456789-abcdef"


def split_between(workers) -> bool:
    """Every partition owned, by exactly one of the workers, each ready."""
    owned = []
    for worker in workers:
        status, body = worker.get("/ready")
        if status != 200:
            return False
        owned.append(set(orjson.loads(body)["partitions"]))
    return all(owned) and set.union(*owned) == set(range(4)) and sum(map(len, owned)) == 4


def wait_until_split(workers: list[Any], timeout: float = 30.0) -> None:
    """Wait until the partitions are split between ``workers`` (see split_between); fail at the timeout."""
    deadline = time.monotonic() + timeout
    while not split_between(workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert split_between(workers), "the partitions were not split between the workers in time"
