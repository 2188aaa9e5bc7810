"""fairwatch simulate + evaluate end to end: a small generated world through a real worker scores perfectly."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.timestamps import parse_rfc3339
from streams.tools.evaluate import KINDS, load_truth, run_pipeline, score
from streams.tools.simulate import generate, write_world

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

#: A fixed end in the past: the same world on every run (the live tick takes stream time past it).
END = parse_rfc3339("2026-10-01T00:00:00Z")


def test_a_generated_world_scores_precision_and_recall_one_for_every_kind(broker: str, tmp_path: Path) -> None:
    world = tmp_path / "world"
    write_world(generate(100, 12, 11, END), world, customers=100, months=12)
    summary, truth, near = load_truth(world)
    alerts = run_pipeline(world, partitions=4, timeout=240, work=tmp_path / "run", broker_address=broker)
    result = score(alerts, truth, near, parse_rfc3339(summary["end"]))
    assert result["mismatches"] == []
    for kind in KINDS:
        row = result["kinds"][kind]
        assert row["truth"] > 0, kind
        assert (row["precision"], row["recall"]) == (1.0, 1.0), (kind, row)
    assert result["totals"]["clears_on_time"] == result["totals"]["clears_expected"] > 0
    assert result["totals"]["near_misses"] > 0 and result["totals"]["near_misses_alerted"] == 0
