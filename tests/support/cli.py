"""The ``fairwatch`` command as a user types it, without the caller's FAIRWATCH_* settings."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Any

import orjson

__all__ = ["fairwatch", "read_json_lines"]


def fairwatch(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FAIRWATCH_")}
    return subprocess.run(
        [sys.executable, "-m", "streams.tools.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**clean, **(env or {})},
    )


def read_json_lines(process: subprocess.Popen[str], count: int, timeout: float) -> list[Any]:
    """Up to ``count`` JSON lines from the process's output (``fairwatch alerts --json``), or what came in time."""
    seen: list[Any] = []
    deadline = time.monotonic() + timeout
    assert process.stdout is not None
    while len(seen) < count and time.monotonic() < deadline:
        line = process.stdout.readline()
        if line:
            seen.append(orjson.loads(line))
    return seen
