"""Kafka over TLS, for real: stunnel (with a CA and certificate made by openssl) in front of the embedded broker.

A worker and ``fairwatch produce`` / ``fairwatch alerts`` configured for SSL
with the test's CA process events and give their alerts, and ``fairwatch demo``
pointed at the TLS broker plays its stories; with a CA that did not
sign the broker's certificate, with plaintext against the TLS port, or with a
SASL login the broker refuses, the worker exits 2 before it starts, with one
line naming the cause (and never the password).
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest

from streams.security import aiokafka_kwargs, load_kafka_security
from streams.tools.broker import EmbeddedBroker, free_port
from streams.tools.supervisor import WorkerProcess
from streams.topics import ensure_topics
from tests.support.cli import read_json_lines
from tests.support.pipeline_scenario import WORKER_ENV, scenario
from tests.support.tls import Stunnel, make_ca, make_server_cert

pytestmark = pytest.mark.integration

PARTITIONS = 4
PASSWORD = "n0t-in-any-L0G"


@dataclass
class TlsKafka:
    broker: EmbeddedBroker
    stunnel: Stunnel
    ca: Path
    wrong_ca: Path

    @property
    def address(self) -> str:
        return self.stunnel.address

    def env(self, ca: Path | None = None) -> dict[str, str]:
        return {
            "FAIRWATCH_BROKER": self.address,
            "FAIRWATCH_KAFKA_SECURITY_PROTOCOL": "SSL",
            "FAIRWATCH_KAFKA_SSL_CAFILE": str(ca or self.ca),
        }

    def connections(self) -> int:
        """TLS connections stunnel accepted so far (its log says so for each)."""
        return self.stunnel.log_path.read_text(errors="replace").count("accepted connection")


@pytest.fixture
def tls_kafka(tmp_path: Path) -> Iterator[TlsKafka]:
    pki = tmp_path / "pki"
    ca = make_ca(pki)
    wrong_ca = make_ca(pki / "other", "other-ca")
    cert, key = make_server_cert(pki, ca)
    tls_port = free_port()
    # The broker tells clients to come back through stunnel: every connection after bootstrap is TLS too.
    with (
        EmbeddedBroker(log_path=tmp_path / "broker.log", advertise=f"127.0.0.1:{tls_port}") as broker,
        Stunnel(broker.address, cert, key, tmp_path, port=tls_port) as stunnel,
    ):
        kafka = TlsKafka(broker, stunnel, ca, wrong_ca)
        client = aiokafka_kwargs(load_kafka_security(kafka.env()))
        asyncio.run(ensure_topics([kafka.address], PARTITIONS, client=client))
        yield kafka


def worker_for(tmp_path: Path, name: str, env: dict[str, str]) -> WorkerProcess:
    return WorkerProcess(
        env["FAIRWATCH_BROKER"],
        tmp_path / f"{name}-data",
        tmp_path / f"{name}.log",
        env={**WORKER_ENV, **env},
        partitions=PARTITIONS,
        profile="tansu",
    )


def fairwatch(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "streams.tools.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "FAIRWATCH_PARTITIONS": str(PARTITIONS), **env},
    )


def exits_with_one_line(worker: WorkerProcess, timeout: float = 60) -> str:
    """The worker exits 2 by itself; its output is one line (no traceback), returned."""
    assert worker.process is not None
    try:
        status = worker.process.wait(timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the worker did not exit within {timeout} s; see {worker.log_path}")
    output = worker.log_path.read_text(errors="replace").strip().splitlines()
    assert status == 2, output
    assert len(output) == 1, output
    assert output[0].startswith("fairwatch: cannot reach Kafka with ")
    return output[0]


def test_worker_produce_and_alerts_over_tls(tls_kafka: TlsKafka, tmp_path: Path) -> None:
    env = tls_kafka.env()
    worker = worker_for(tmp_path, "worker", env)
    follower = None
    try:
        worker.start()
        worker.wait_ready(timeout=90)
        _, expected = scenario(int(time.time() * 1000))
        path = tmp_path / "events.jsonl"
        path.write_text("\n".join(value.decode() for _, _, value in expected["good"]) + "\n")
        published = fairwatch(env, "produce", str(path))
        out, err = published.communicate(timeout=60)
        assert published.returncode == 0, err
        assert out.strip() == f"published {len(expected['good'])} event(s)"

        follower = fairwatch(env, "alerts", "--from-beginning", "--json")
        seen = read_json_lines(follower, len(expected["alerts"]), timeout=60)
        got = {(d["data"]["customer_id"], d["data"]["kind"], d["type"].rsplit(".", 1)[1]) for d in seen}
        assert got == expected["alerts"]

        # The live page reads the alert topic with the same settings: it saw them too.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            body = orjson.loads(worker.get("/api/summary")[1])
            if body["seq"] >= len(expected["alerts"]):
                break
            time.sleep(0.2)
        assert body["reader"]["error"] is None
        assert body["seq"] >= len(expected["alerts"])
        counts = worker.counts()
        assert counts["in"] == len(expected["good"]) and counts.conserved, counts
        # fairwatch report reads the alert topic with them too.
        report = fairwatch(env, "report", "--out", str(tmp_path / "report"), "--timeout", "30")
        out, err = report.communicate(timeout=90)
        assert report.returncode == 0, err
        assert (tmp_path / "report" / "report.html").is_file()
        # Everything went through stunnel: the worker's clients, produce's and alerts' (several each).
        assert tls_kafka.connections() >= 6
    finally:
        if follower is not None:
            follower.send_signal(signal.SIGINT)
            follower.communicate(timeout=10)
        worker.stop()


def test_a_ca_that_did_not_sign_the_broker_certificate_stops_the_worker_with_one_line(
    tls_kafka: TlsKafka, tmp_path: Path
) -> None:
    worker = worker_for(tmp_path, "wrong-ca", tls_kafka.env(ca=tls_kafka.wrong_ca)).start()
    try:
        line = exits_with_one_line(worker)
    finally:
        worker.stop()
    assert f"{tls_kafka.address}: the broker's certificate is not trusted by FAIRWATCH_KAFKA_SSL_CAFILE=" in line
    assert str(tls_kafka.wrong_ca) in line


def test_plaintext_against_the_tls_port_is_named_a_wrong_protocol(tls_kafka: TlsKafka, tmp_path: Path) -> None:
    worker = worker_for(tmp_path, "plaintext", {"FAIRWATCH_BROKER": tls_kafka.address}).start()
    try:
        line = exits_with_one_line(worker)
    finally:
        worker.stop()
    assert "wrong protocol: the broker speaks TLS there (set FAIRWATCH_KAFKA_SECURITY_PROTOCOL=SSL" in line


def test_a_refused_sasl_login_is_one_line_without_the_password(tls_kafka: TlsKafka, tmp_path: Path) -> None:
    """The embedded broker without --authentication offers no SASL mechanism: the login fails, the line says so."""
    env = {
        **tls_kafka.env(),
        "FAIRWATCH_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "FAIRWATCH_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "FAIRWATCH_KAFKA_SASL_USERNAME": "fairwatch",
        "FAIRWATCH_KAFKA_SASL_PASSWORD": PASSWORD,
    }
    worker = worker_for(tmp_path, "sasl", env).start()
    try:
        line = exits_with_one_line(worker)
    finally:
        worker.stop()
    assert "SASL SCRAM-SHA-512 authentication as 'fairwatch' failed" in line
    assert PASSWORD not in worker.log_path.read_text(errors="replace")


def test_the_demo_stories_over_tls(tls_kafka: TlsKafka) -> None:
    """``fairwatch demo`` pointed at the TLS broker: its producer, alert printer and worker all go through TLS."""
    before = tls_kafka.connections()
    env = {**os.environ, **tls_kafka.env(), "FAIRWATCH_BROKER_PROFILE": "tansu", "FAIRWATCH_PARTITIONS": "4"}
    result = subprocess.run(
        [sys.executable, "-m", "streams.tools.cli", "demo", "--customers", "6", "--seconds", "10"],
        capture_output=True,
        text=True,
        timeout=150,
        env=env,
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert f"broker {tls_kafka.address} (external)" in out
    assert "promise.late_delivery (raised)" in out and "promise.wrong_delivery (raised)" in out
    assert re.search(r"(\d+) == (\d+) \+ (\d+) \+ (\d+) \(holds\)", out), out
    assert tls_kafka.connections() > before + 4
