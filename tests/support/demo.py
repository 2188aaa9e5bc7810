"""Running ``fairwatch demo`` as a user does and reading its first lines."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

__all__ = ["DEMO", "demo_env", "started"]

DEMO = [sys.executable, "-m", "streams.tools.cli", "demo", "--customers", "6"]


def demo_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("FAIRWATCH_BROKER", None)  # the demo's own embedded broker
    return env


def started(process: subprocess.Popen[str], until: str, timeout: float = 30.0) -> tuple[list[str], str, str]:
    """Read output lines until one contains ``until``; return lines, broker address, work dir."""
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if until in line:
            break
    text = "".join(lines)
    match = re.search(r"broker (127\.0\.0\.1:\d+) .* logs in (\S+)", text)
    assert match, text
    assert until in text, text
    return lines, match.group(1), match.group(2)
