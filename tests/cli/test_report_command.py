"""``fairwatch report`` as a user types it, when it cannot make a report: one line saying why, exit status 1.

The report made from a real alert topic is checked in tests/integration/test_browser.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.tools.broker import free_port
from tests.support.cli import fairwatch


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "last week"], "fairwatch: 'last week': expected YYYY-MM, YYYY-MM-DD or an RFC 3339 time"),
        (["--since", "2026-11", "--until", "2026-10"], "fairwatch: --since must be before --until"),
    ],
)
def test_a_period_that_is_not_one_is_refused(args: list[str], message: str, tmp_path: Path) -> None:
    result = fairwatch("report", *args, "--out", str(tmp_path / "out"))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == message
    assert not (tmp_path / "out").exists()


def test_no_broker_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    address = f"127.0.0.1:{free_port()}"
    result = fairwatch("report", "--out", str(tmp_path / "out"), env={"FAIRWATCH_BROKER": address})
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith(f"fairwatch: cannot reach the broker at {address}")
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()
