"""Speed work on the rules changes no output (issue 14, target 1).

The bench's rules phase runs over two fixed workloads: the bench's mixed
stream, and a busy history (about 50 events per customer, where rolling
windows, pruning and deadlines weigh most). The encoded alerts must be the
same bytes, and the final states the same values, as before the speed work
began: their sha256 digests are recorded below, the alerts' as main at f6019c9
gives them (state format 1) and as 4d62c0d does (format 2, before the speed
work), the states' as 4d62c0d gives them. The phase's final tick runs at a
fixed wall clock (``WALL``): it moves stream time to the wall clock, so what it
fires and what retention then forgets would otherwise change with the day.

The states' digest is over each record decoded and re-encoded with sorted
keys (equal values, whatever the order their keys were written in). It pins
today's state format: a deliberate change of that format (issue 14's compact
state record) records it anew, with ``python -m tests.tools.bench.test_rules_unchanged``,
which prints both digests of both workloads. The alerts' digest changes only
with the alert contract (SPEC §2).
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
import pytest

import streams.tools.bench.rules as rules
from streams.state_record import decode_state
from streams.tools.bench.workload import mixed_stream

END = 1_793_491_200_000  # 2026-11-01: a fixed year of event time
#: The wall clock of the phase's final tick, a week after the stream ends: the tick moves stream time there, so
#: what it fires and what retention then forgets would otherwise change with the day the test runs.
WALL = END / 1000 + 7 * 86_400

#: (events, customers) -> (alerts, sha256 of the alerts, sha256 of the states in format 2).
RECORDED: dict[tuple[int, int], tuple[int, str, str]] = {
    (20_000, 2_000): (
        16_094,
        "0e8b9a732e499e698dfc2d47b7cf1633ed4ff44707ea78f2d3ab6327e22eb080",
        "388ce135d697c33ac2aeade4765078ea23d2afe8f18bde155eb6212f3bde6a2a",
    ),
    (10_000, 200): (
        8_818,
        "f12d2e00f0ec345ebcaa6b5b2aaf832541946ac9e6384a21f64582d9bfbba994",
        "2ee10031a5af25c110237a02cfa5c2c1db00946304d6745f50f54e58a9aabde5",
    ),
}


def digests(events: int, customers: int) -> tuple[int, str, str]:
    """Run the rules phase on the workload; (alert count, alerts' sha256, states' sha256)."""
    stream = mixed_stream(events, customers, end_ms=END)
    found = rules.run_rules(stream, keep_alerts=True, keep_records=True, wall_clock=lambda: WALL)
    alerts: list[bytes] = found["encoded_alerts"]
    states = hashlib.sha256()
    records: dict[str, bytes] = found["records"]
    for key in sorted(records):
        value: Any = decode_state(records[key])
        states.update(orjson.dumps([key, value], option=orjson.OPT_SORT_KEYS) + b"\n")
    return len(alerts), hashlib.sha256(b"\n".join(alerts)).hexdigest(), states.hexdigest()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("workload", list(RECORDED), ids=lambda w: f"{w[0]}x{w[1]}")
def test_the_rules_give_the_same_alerts_and_states_as_before(workload: tuple[int, int]) -> None:
    count, alerts, states = digests(*workload)
    expected_count, expected_alerts, expected_states = RECORDED[workload]
    assert count == expected_count
    assert alerts == expected_alerts, "the encoded alerts are not the same bytes as before"
    assert states == expected_states, "the final states are not the same as before"


if __name__ == "__main__":
    for events, customers in RECORDED:
        print(f"({events}, {customers}):", digests(events, customers))
