"""The bench's rules phase (streams.tools.bench.rules): no broker, so it runs here in seconds.

No speed is judged (the machine is shared); only that the phase really drives
the rules: every message is handled, alerts come out as CloudEvents, states
come out as encoded records, and ``--rules-only`` writes its figures.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from streams.tools.bench.rules import run_rules
from streams.tools.bench.workload import mixed_stream

ROOT = Path(__file__).resolve().parents[3]
END = 1_793_491_200_000  # 2026-11-01: a fixed year of event time


@pytest.mark.timeout(120)
def test_the_rules_phase_turns_raw_messages_into_alerts_and_encoded_states() -> None:
    stream = mixed_stream(3_000, 200, seed=5, end_ms=END)
    found = run_rules(stream, partitions=4, keep_alerts=True)

    assert found["events"] == 3_000
    assert found["eps"] > 0
    alerts = [orjson.loads(alert) for alert in found["encoded_alerts"]]
    assert len(alerts) == found["alerts"] > 0
    assert {alert["specversion"] for alert in alerts} == {"1.0"}
    assert {alert["type"] for alert in alerts} >= {"fairwatch.alert.raised", "fairwatch.alert.resolved"}
    # Every customer of the stream that sent a valid event has a stored state.
    assert 0 < found["customers"] <= 200
    assert found["state_bytes_per_customer"] > 0
    assert found["state_bytes_max"] >= found["state_bytes_per_customer"]


@pytest.mark.timeout(120)
def test_the_same_stream_gives_the_same_alerts_twice() -> None:
    stream = mixed_stream(2_000, 100, seed=6, end_ms=END)
    first = run_rules(stream, partitions=2, keep_alerts=True)["encoded_alerts"]
    assert run_rules(stream, partitions=2, keep_alerts=True)["encoded_alerts"] == first


@pytest.mark.timeout(200)
def test_rules_only_writes_its_figures(tmp_path: Path) -> None:
    output = tmp_path / "rules.json"
    command = [
        sys.executable,
        "-m",
        "streams.tools.cli",
        "bench",
        "--rules-only",
        "--events",
        "2000",
        "--customers",
        "200",
    ]
    command += ["--busy-customers", "20", "--partitions", "2", "--output", str(output)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    results = orjson.loads(output.read_bytes())
    assert results["rules_eps"] > 0
    assert results["ratio_rules_target"] == pytest.approx(results["rules_eps"] / 50_000)
    assert results["rules_busy_customers"] == 20  # 20 x 50 events: within the 2,000 of the workload
    assert results["rules_busy_state_bytes_per_customer"] > 0
    assert "x the 50,000 ev/s target" in done.stdout
