"""How a baseline child hands its figures to the bench: one file, there whole or not at all."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson


def publish(path: Path, found: dict[str, Any]) -> None:
    """Write ``found`` to ``path`` so that a reader polling for the file never sees it half written."""
    # The bench polls for the file's existence; a plain write_bytes creates it empty first, and a poll
    # landing between the open and the write read a zero-length document (a CI failure, stop 22).
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(orjson.dumps(found))
    os.replace(partial, path)
