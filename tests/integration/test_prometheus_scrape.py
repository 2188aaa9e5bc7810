"""A real Prometheus scrapes a real worker: domain and Faust metrics arrive, and the shipped rules evaluate on them.

The ``prometheus`` binary is Debian's (``scripts/ensure-prometheus.sh``, run by
``make test``); a missing one fails the test rather than skipping it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from streams.tools.broker import child_preexec, free_port, stop_process
from tests.support.kafka_io import produce, run
from tests.support.pipeline_scenario import WORKER_ENV, scenario

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

RULES = Path(__file__).resolve().parents[2] / "ops" / "prometheus" / "rules.yml"
JOB = "fairwatch"  # rules.yml selects up{job="fairwatch"}
WAIT = 20.0


@contextmanager
def prometheus_server(tmp_path: Path, target: str) -> Iterator[str]:
    """Prometheus on a free port, scraping ``target`` and evaluating the shipped rules every second."""
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("prometheus not found on PATH: run scripts/ensure-prometheus.sh (make test does)")
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
                "rule_files": [str(RULES)],
                "scrape_configs": [{"job_name": JOB, "static_configs": [{"targets": [target]}]}],
            }
        )
    )
    log_path = tmp_path / "prometheus.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=child_preexec,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + WAIT
        while not _answers(url + "/-/ready"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"prometheus did not start:\n{log_path.read_text(errors='replace')[-3000:]}")
            time.sleep(0.1)
        yield url
    except BaseException:
        print(f"--- {log_path} ---\n{log_path.read_text(errors='replace')[-3000:]}")
        raise
    finally:
        stop_process(process, 10)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


def api(prometheus: str, path: str, **params: str) -> object:
    query = f"?{urllib.parse.urlencode(params)}" if params else ""
    with urllib.request.urlopen(f"{prometheus}/api/v1/{path}{query}", timeout=5) as response:
        body = json.load(response)
    assert body["status"] == "success", body
    return body["data"]


def samples(prometheus: str, promql: str) -> dict[tuple[tuple[str, str], ...], float]:
    """An instant query's result as {sorted labels: value}."""
    data = api(prometheus, "query", query=promql)
    assert data["resultType"] == "vector", data
    return {tuple(sorted(item["metric"].items())): float(item["value"][1]) for item in data["result"]}


def wait_for(prometheus: str, promql: str, holds: Callable[[dict], bool]) -> dict:
    """Poll the query until ``holds(result)``; fail with the last result after WAIT seconds."""
    deadline = time.monotonic() + WAIT
    while True:
        result = samples(prometheus, promql)
        if holds(result):
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"{promql!r} still {result} after {WAIT} s")
        time.sleep(0.25)


def total(result: dict) -> float:
    return sum(result.values())


def test_prometheus_scrapes_a_worker_and_evaluates_the_shipped_rules(start_worker, broker, tmp_path: Path) -> None:
    worker = start_worker(env=WORKER_ENV)
    target = f"127.0.0.1:{worker.web_port}"

    with prometheus_server(tmp_path, target) as prometheus:
        wait_for(prometheus, f'up{{job="{JOB}"}}', lambda r: total(r) == 1)
        ready = wait_for(prometheus, "fairwatch_ready", lambda r: len(r) == 1)
        assert total(ready) == 1
        assert dict(next(iter(ready))) == {"__name__": "fairwatch_ready", "instance": target, "job": JOB}

        # Event times relative to now, taken just before producing: the live tick
        # moves stream time with the wall clock, and the scenario's deadlines are
        # set relative to this instant.
        messages, expected = scenario(int(time.time() * 1000))
        run(produce(broker, messages))

        wait_for(prometheus, "sum(fairwatch_events_in_total)", lambda r: total(r) == len(messages))
        by_topic = samples(prometheus, "sum by (topic) (fairwatch_events_in_total)")
        assert {dict(labels)["topic"] for labels in by_topic} == {"orders", "billing", "complaints"}
        wait_for(prometheus, "sum(fairwatch_events_dead_lettered_total)", lambda r: total(r) == len(expected["bad"]))
        # One emission per (customer, kind, lifecycle) in the scenario (test_pipeline checks the topic).
        emissions = Counter((kind, lifecycle) for _, kind, lifecycle in expected["alerts"])
        wait_for(
            prometheus,
            "sum by (kind, lifecycle) (fairwatch_alerts_total)",
            lambda r: Counter({(dict(k)["kind"], dict(k)["lifecycle"]): int(v) for k, v in r.items()}) == emissions,
        )
        wait_for(prometheus, "sum(fairwatch_processing_latency_seconds_count)", lambda r: total(r) > 0)
        open_promises = wait_for(prometheus, "fairwatch_open_promises", lambda r: len(r) > 0)
        assert all("kind" in dict(labels) for labels in open_promises)

        # The lag recording rule works on Faust's real offset gauges: a series per
        # consumed topic, and the input topics' lag back to zero once everything
        # is committed (fairwatch.ticks, the worker's own tick, always has a few
        # in flight).
        inputs = {"orders", "billing", "complaints"}
        lag = wait_for(
            prometheus,
            "fairwatch:consumer_lag:sum",
            lambda r: (
                inputs <= {dict(k)["topic"] for k in r}
                and sum(v for k, v in r.items() if dict(k)["topic"] in inputs) == 0
            ),
        )
        assert {dict(labels)["job"] for labels in lag} == {JOB}

        rules = [rule for group in api(prometheus, "rules")["groups"] for rule in group["rules"]]
        assert len(rules) == 10  # the workers' 8 and the Alertmanager bridge's 2
        assert [(rule["name"], rule.get("lastError", "")) for rule in rules if rule["health"] != "ok"] == []
        firing = [rule["name"] for rule in rules if rule.get("state") == "firing"]
        assert firing == []
