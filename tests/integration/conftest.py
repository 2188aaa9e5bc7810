"""Integration fixtures: a real broker (embedded Tansu, or FAIRWATCH_BROKER) and real worker processes.

Every process is started by the fixture and stopped in its ``finally``; the
worker's log is printed when a test fails, so a red run says why.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from streams.tools.broker import EmbeddedBroker
from streams.tools.supervisor import WorkerProcess
from streams.topics import ensure_topics
from tests.support.browser import chromium
from tests.support.kafka_io import PARTITIONS


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[str]:
    """A fresh, empty broker per test (Tansu starts in ~20 ms), or the external one."""
    external = os.environ.get("FAIRWATCH_BROKER")
    if external:
        yield external
        return
    with EmbeddedBroker(log_path=tmp_path / "broker.log") as embedded:
        asyncio.run(ensure_topics([embedded.address], PARTITIONS))
        yield embedded.address


@pytest.fixture
def start_worker(broker: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator:
    """Start workers on the test's broker: ``start_worker(env={...})`` returns a ready WorkerProcess."""
    workers: list[WorkerProcess] = []

    external = bool(os.environ.get("FAIRWATCH_BROKER"))
    profile = os.environ.get("FAIRWATCH_BROKER_PROFILE", "kafka" if external else "tansu")

    def start(env: dict[str, str] | None = None, name: str = "worker") -> WorkerProcess:
        worker = WorkerProcess(
            broker,
            tmp_path / f"{name}-data",
            tmp_path / f"{name}.log",
            env=env,
            partitions=PARTITIONS,
            profile=profile,
        )
        workers.append(worker.start())
        worker.wait_ready(timeout=60)
        return worker

    try:
        yield start
    finally:
        for worker in workers:
            worker.stop()
        failed = getattr(request.node, "rep_call", None)
        if failed is not None and failed.failed:
            for worker in workers:
                print(f"--- {worker.log_path} (last 60 lines) ---")
                print("\n".join(worker.log_path.read_text(errors="replace").splitlines()[-60:]))


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator:
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture
def browser(tmp_path: Path, broker: str) -> Iterator[Any]:
    """A fresh Chromium profile per test. After the broker: once Playwright's sync API runs, this thread's event
    loop is taken (the broker fixture needs asyncio.run)."""
    with chromium(tmp_path / "chromium-profile") as context:
        yield context


@pytest.fixture
def logs_on_failure(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[None]:
    """For tests that start their workers themselves: print the last lines of every log in tmp_path if it fails."""
    yield
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        for log in sorted(tmp_path.glob("*.log")):
            print(f"--- {log.name} (last 40 lines) ---")
            print("\n".join(log.read_text(errors="replace").splitlines()[-40:]))
