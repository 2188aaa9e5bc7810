"""Runs a fairwatch worker (or the Alertmanager bridge) as a child process and watches it: for the demo and the tests.

The child is started with the embedded broker's fast timing profile, in its own
process group and with PR_SET_PDEATHSIG (see streams.tools.broker), and is always
stopped: SIGTERM, then SIGKILL after a bound.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from streams.tools.broker import child_preexec, free_port

__all__ = ["WorkerProcess", "BridgeProcess", "Counts", "read_counts"]


class _Child:
    """A ``fairwatch`` command as a child process: its output appended to ``log_path``, stopped for sure."""

    #: The ``fairwatch`` command line after the program name.
    command: tuple[str, ...] = ()
    log_path: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None

    def _spawn(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "streams.tools.cli", *self.command],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                preexec_fn=child_preexec,
                cwd=Path(__file__).resolve().parents[2],
            )

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM, then SIGKILL to its process group after ``timeout``; its exit status (None: not running)."""
        process, self.process = self.process, None
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        return process.returncode


class WorkerProcess(_Child):
    command = ("worker", "-l", "info")

    def __init__(
        self,
        broker: str,
        data_dir: Path,
        log_path: Path,
        *,
        env: Mapping[str, str] | None = None,
        partitions: int = 4,
        profile: str = "tansu",
    ) -> None:
        self.web_port = free_port()
        self.log_path = log_path
        self.env = {
            **os.environ,
            "FAIRWATCH_BROKER": broker,
            "FAIRWATCH_BROKER_PROFILE": profile,
            "FAIRWATCH_WEB_PORT": str(self.web_port),
            "FAIRWATCH_DATA_DIR": str(data_dir),
            "FAIRWATCH_PARTITIONS": str(partitions),
            **(env or {}),
        }
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def start(self) -> WorkerProcess:
        self._spawn()
        return self

    def get(self, path: str, timeout: float = 2.0) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=timeout) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def wait_ready(self, timeout: float = 30.0) -> float:
        """Block until /ready answers 200; return the seconds it took."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.process is None or self.process.poll() is not None:
                raise RuntimeError(f"worker exited; see {self.log_path}")
            try:
                if self.get("/ready", timeout=0.5)[0] == 200:
                    return time.monotonic() - started
            except OSError:
                pass
            time.sleep(0.05)
        raise TimeoutError(f"worker not ready within {timeout} s; see {self.log_path}")

    def counts(self) -> Counts:
        return read_counts(self.get("/metrics")[1].decode())

    def kill(self) -> None:
        """kill -9, for fault tests."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.process = None

    def __enter__(self) -> WorkerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class BridgeProcess(_Child):
    """``fairwatch alertmanager`` as a child process (demo, tests), with its metrics on a port of its own."""

    command = ("alertmanager",)

    def __init__(self, broker: str, log_path: Path, *, env: Mapping[str, str] | None = None) -> None:
        self.metrics_port = free_port()
        self.log_path = log_path
        self.env = {
            **os.environ,
            "FAIRWATCH_BROKER": broker,
            "FAIRWATCH_ALERTMANAGER_METRICS_PORT": str(self.metrics_port),
            **(env or {}),
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> BridgeProcess:
        self._spawn()
        return self

    def metrics(self, timeout: float = 1.0) -> str:
        """The bridge's /metrics text (OSError while it does not answer)."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=timeout) as response:
            return response.read().decode()


class Counts(dict):
    """Totals from a worker's /metrics: in, processed, duplicates, dead_lettered, alerts by kind.

    ``redelivered`` is the part of ``in`` (and of ``duplicates``) that came again at an offset already
    handled (after a crash or a rebalance): ``in - redelivered`` messages were handled, each once.
    """

    @property
    def conserved(self) -> bool:
        return self["in"] == self["processed"] + self["duplicates"] + self["dead_lettered"]


def read_counts(metrics_text: str) -> Counts:
    totals = {"in": 0.0, "processed": 0.0, "duplicates": 0.0, "dead_lettered": 0.0, "redelivered": 0.0}
    names = {
        "fairwatch_events_in": "in",
        "fairwatch_events_processed": "processed",
        "fairwatch_events_duplicate": "duplicates",
        "fairwatch_events_dead_lettered": "dead_lettered",
    }
    alerts: dict[str, int] = {}
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            if not sample.name.endswith("_total"):
                continue
            if family.name in names:
                totals[names[family.name]] += sample.value
                if family.name == "fairwatch_events_in" and sample.labels.get("type") == "redelivered":
                    totals["redelivered"] += sample.value
            elif family.name == "fairwatch_alerts":
                kind = f"{sample.labels['kind']}:{sample.labels['lifecycle']}"
                alerts[kind] = alerts.get(kind, 0) + int(sample.value)
    counts = Counts({key: int(value) for key, value in totals.items()})
    counts["alerts"] = alerts
    return counts
