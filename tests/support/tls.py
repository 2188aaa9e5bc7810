"""Kafka over TLS for the tests: a CA and certificates made with openssl, and stunnel in front of the embedded broker.

The embedded broker's own TLS listener did not complete a handshake, so stunnel
terminates TLS and forwards plaintext to it; the broker advertises stunnel's
address, so every connection a client makes (bootstrap, then the partition
leaders and the group coordinator) goes through TLS.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from pathlib import Path

from streams.tools.broker import child_preexec, free_port, stop_process

__all__ = ["make_ca", "make_server_cert", "Stunnel"]


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=30)


def make_ca(directory: Path, name: str = "ca") -> Path:
    """A self-signed CA: ``name.pem`` (certificate) and ``name.key``; returns the certificate's path."""
    directory.mkdir(parents=True, exist_ok=True)
    _openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "2", "-subj", f"/CN=fairwatch test {name}",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=directory,
    )  # fmt: skip
    return directory / f"{name}.pem"


def make_server_cert(directory: Path, ca: Path, name: str = "server") -> tuple[Path, Path]:
    """A server certificate for 127.0.0.1 and localhost, signed by ``ca``: (certificate, key)."""
    key = ca.with_suffix(".key")
    (directory / f"{name}.ext").write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
    )
    _openssl(
        "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", "/CN=localhost",
        cwd=directory,
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", f"{name}.csr", "-CA", str(ca), "-CAkey", str(key), "-CAcreateserial",
        "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext",
        cwd=directory,
    )  # fmt: skip
    return directory / f"{name}.pem", directory / f"{name}.key"


def stunnel_binary() -> str:
    found = shutil.which("stunnel") or shutil.which("stunnel4")
    if found is None:
        raise RuntimeError("stunnel is not installed: run scripts/ensure-stunnel.sh (make test does)")
    return found


class Stunnel:
    """stunnel accepting TLS on a free 127.0.0.1 port and forwarding plaintext to ``target`` (host:port)."""

    def __init__(self, target: str, cert: Path, key: Path, directory: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.target = target
        self.config = directory / "stunnel.conf"
        self.log_path = directory / "stunnel.log"
        self.config.write_text(
            "foreground = yes\n"
            f"output = {self.log_path}\n"
            "[kafka]\n"
            f"accept = 127.0.0.1:{self.port}\n"
            f"connect = {target}\n"
            f"cert = {cert}\n"
            f"key = {key}\n"
        )
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> Stunnel:
        self.process = subprocess.Popen(
            [stunnel_binary(), str(self.config)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=child_preexec,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"stunnel exited with status {self.process.returncode}; see {self.log_path}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return self
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"stunnel did not listen on {self.address} within {timeout} s; see {self.log_path}")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            stop_process(process, 5)

    def __enter__(self) -> Stunnel:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
