"""``fairwatch produce`` and ``fairwatch alerts`` against a real broker and worker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli import read_json_lines
from tests.support.pipeline_scenario import WORKER_ENV, scenario

pytestmark = pytest.mark.integration


_started: list[subprocess.Popen[str]] = []


@pytest.fixture(autouse=True)
def _no_process_left_behind() -> Iterator[None]:
    yield
    while _started:
        process = _started.pop()
        if process.poll() is None:
            process.kill()
            process.wait()


def fairwatch(broker: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "FAIRWATCH_BROKER": broker, "FAIRWATCH_PARTITIONS": "4"}
    process = subprocess.Popen(
        [sys.executable, "-m", "streams.tools.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    _started.append(process)
    return process


def test_produce_validates_first_then_publishes_and_alerts_follows(start_worker, broker, tmp_path: Path) -> None:
    worker = start_worker(env=WORKER_ENV)
    _, expected = scenario(int(time.time() * 1000))
    lines = [value.decode() for _, _, value in expected["good"]]
    lines.insert(1, '{"event_id": "x", "type": "order.placed"')  # line 2: cut short
    lines.insert(3, lines[0].replace('"customer_id":"c-late"', '"customer_id":7'))  # line 4: wrong type
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n")

    refused = fairwatch(broker, "produce", str(path))
    out, err = refused.communicate(timeout=60)
    assert refused.returncode == 1
    assert f"{path}:line 2: not valid JSON" in err
    assert f"{path}:line 4: customer_id: must be a non-empty string" in err
    assert "nothing published" in err
    time.sleep(1.0)
    assert worker.counts()["in"] == 0

    published = fairwatch(broker, "produce", str(path), "--skip-bad")
    out, err = published.communicate(timeout=60)
    assert published.returncode == 0, err
    assert out.strip() == f"published {len(expected['good'])} event(s), skipped 2 bad line(s)"

    follower = fairwatch(broker, "alerts", "--from-beginning", "--json")
    try:
        seen = read_json_lines(follower, len(expected["alerts"]), timeout=30)
        got = {(d["data"]["customer_id"], d["data"]["kind"], d["type"].rsplit(".", 1)[1]) for d in seen}
        assert got == expected["alerts"]
    finally:
        follower.send_signal(signal.SIGINT)
        follower.communicate(timeout=10)
    assert follower.returncode == 0
    counts = worker.counts()
    assert counts["in"] == counts["processed"] == len(expected["good"])
