"""The ``fairwatch`` command as a user types it, without the caller's FAIRWATCH_* settings."""

from __future__ import annotations

import os
import subprocess
import sys

__all__ = ["fairwatch"]


def fairwatch(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FAIRWATCH_")}
    return subprocess.run(
        [sys.executable, "-m", "streams.tools.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**clean, **(env or {})},
    )
