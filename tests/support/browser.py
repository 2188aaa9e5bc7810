"""A real headless Chromium for the page tests (Debian's, via scripts/ensure-chromium.sh), driven by Playwright.

The ``browser`` fixture (tests/integration/conftest.py) opens one with ``chromium``; once Playwright's sync API
runs, the thread's event loop is taken, so ``off_loop`` runs asyncio code (aiokafka) in a thread beside it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest

__all__ = ["ARTIFACTS", "CHROMIUM", "chromium", "off_loop"]

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("FAIRWATCH_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("FAIRWATCH_TEST_ARTIFACTS", ROOT / "test-artifacts")) / "browser"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-quic",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
T = TypeVar("T")


def off_loop(function: Callable[[], T], timeout: float = 60.0) -> T:
    """Run asyncio code (aiokafka) in a thread: Playwright's sync API owns this thread's event loop."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(function).result(timeout)


@contextmanager
def chromium(profile: Path) -> Iterator[Any]:
    """A headless Chromium with a fresh profile in ``profile``; closed whatever happens. Fails when it is missing."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} not found: run scripts/ensure-chromium.sh (make test does) or set FAIRWATCH_CHROMIUM")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1000},
            timeout=60_000,
        )
        try:
            context.set_default_timeout(30_000)
            yield context
        finally:
            context.close()
