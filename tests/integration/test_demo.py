"""``fairwatch demo`` as a user runs it: alerts within seconds, clean stops, no orphan processes."""

from __future__ import annotations

import os
import re
import signal
import subprocess

import pytest

from tests.support.demo import DEMO, demo_env, started
from tests.support.processes import wait_gone

pytestmark = pytest.mark.integration


def test_demo_with_seconds_stops_by_itself_and_counts_are_conserved() -> None:
    result = subprocess.run([*DEMO, "--seconds", "8"], capture_output=True, text=True, timeout=90, env=demo_env())
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    first = float(re.search(r"first alert (\d+\.\d) s after start", out).group(1))
    assert first < 10  # a generous bound; the figure itself is reported, not timed here
    assert "promise.late_delivery (raised)" in out
    assert "promise.wrong_delivery (raised)" in out
    counts = re.search(r"(\d+) == (\d+) \+ (\d+) \+ (\d+) \(holds\)", out)
    assert counts, out
    total, processed, duplicates, dead = map(int, counts.groups())
    assert total == processed + duplicates + dead and duplicates > 0 and dead > 0
    produced = int(re.search(r"produced\s+(\d+)", out).group(1))
    assert produced == total
    broker = re.search(r"broker (127\.0\.0\.1:\d+)", out).group(1)
    workdir = re.search(r"logs in (\S+)", out).group(1)
    assert wait_gone(broker, 5) == []
    assert wait_gone(workdir, 5) == []


def test_ctrl_c_stops_the_demo_cleanly_with_its_summary() -> None:
    process = subprocess.Popen(DEMO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=demo_env())
    try:
        _, broker, workdir = started(process, "first alert")
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=60)
        assert "in == processed + duplicates + dead_lettered" in out
        assert "(holds)" in out
        assert process.returncode == 0
        assert wait_gone(broker, 5) == []
        assert wait_gone(workdir, 5) == []
    finally:
        if process.poll() is None:
            process.kill()


def test_a_killed_demo_leaves_no_broker_or_worker_behind() -> None:
    process = subprocess.Popen(DEMO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=demo_env())
    try:
        _, broker, workdir = started(process, "worker on")
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)
        # PR_SET_PDEATHSIG: the children get SIGTERM when their parent dies.
        assert wait_gone(broker, 10) == []
        assert wait_gone(workdir, 20) == []
    finally:
        if process.poll() is None:
            process.kill()
