"""What tests of several workers share: whether the partitions are split between them, the web token they use."""

from __future__ import annotations

import orjson

__all__ = ["TOKEN", "split_between"]

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
