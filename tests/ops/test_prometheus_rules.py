"""The shipped Prometheus rules and config: valid for promtool, unit-tested, and naming metrics that exist.

promtool comes from Debian's ``prometheus`` package (``scripts/ensure-prometheus.sh``,
run by ``make test``). A missing promtool fails these tests: it never skips them.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from faust.sensors.prometheus import FaustMetrics
from prometheus_client import CollectorRegistry
from prometheus_client.metrics import MetricWrapperBase

from streams import metrics as domain_metrics
from streams.tools import alertmanager as bridge

ROOT = Path(__file__).resolve().parents[2]
OPS = ROOT / "ops" / "prometheus"
RULES = OPS / "rules.yml"
RULES_TEST = OPS / "rules_test.yml"
CONFIG = OPS / "prometheus.yml"
SEVERITIES = {"warning", "critical"}


@pytest.fixture(scope="module")
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool not found on PATH: run scripts/ensure-prometheus.sh (make test does)")
    return path


def run_promtool(promtool: str, *args: str) -> str:
    done = subprocess.run([promtool, *args], cwd=ROOT, capture_output=True, text=True, timeout=60)
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"promtool {' '.join(args)} exited {done.returncode}:\n{output}"
    return output


def alerting_rules() -> list[dict]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def test_rules_pass_promtool_check(promtool: str) -> None:
    output = run_promtool(promtool, "check", "rules", str(RULES.relative_to(ROOT)))
    assert "SUCCESS" in output, output


def test_config_passes_promtool_check_with_its_rule_files(promtool: str) -> None:
    # rule_files resolve relative to the config's directory, as in the container.
    output = run_promtool(promtool, "check", "config", str(CONFIG.relative_to(ROOT)))
    assert "is valid prometheus config file syntax" in output, output
    assert re.search(r"SUCCESS: 1 rule files? found", output), output
    assert f"Checking {RULES.relative_to(ROOT)}" in output, output  # the rule file itself was checked too


def test_rule_unit_tests_pass(promtool: str) -> None:
    output = run_promtool(promtool, "test", "rules", str(RULES_TEST.relative_to(ROOT)))
    assert "SUCCESS" in output and "FAILED" not in output, output


def test_every_alert_has_a_severity_and_readable_annotations() -> None:
    rules = alerting_rules()
    assert {rule["alert"] for rule in rules} == {
        "FairwatchConsumerLagGrowing",
        "FairwatchDeadLetterRateHigh",
        "FairwatchNoEventsIn",
        "FairwatchWorkerNotReady",
        "FairwatchWorkerDown",
        "FairwatchProcessingLatencyHigh",
        "FairwatchProcessingStalled",
        "FairwatchAlertmanagerUnreachable",
        "FairwatchAlertmanagerBridgeDown",
    }
    for rule in rules:
        assert rule["labels"]["severity"] in SEVERITIES, rule["alert"]
        assert rule["annotations"]["summary"].strip(), rule["alert"]
        assert len(rule["annotations"]["description"]) > 80, rule["alert"]


def test_every_alert_is_tested_firing_and_not_firing() -> None:
    suite = yaml.safe_load(RULES_TEST.read_text())
    assert suite["rule_files"] == [RULES.name]
    fires: set[str] = set()
    stays_quiet: set[str] = set()
    for case in suite["tests"]:
        for check in case.get("alert_rule_test", []):
            (fires if check.get("exp_alerts") else stays_quiet).add(check["alertname"])
    names = {rule["alert"] for rule in alerting_rules()}
    assert names - fires == set(), "alerts with no case where they fire"
    assert names - stays_quiet == set(), "alerts with no case where they must not fire"


def exposed_names(registry: CollectorRegistry) -> set[str]:
    """The sample names a registry exposes (``_total``, ``_bucket``... included), children or not."""
    suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"], "gauge": [""]}
    return {family.name + suffix for family in registry.collect() for suffix in suffixes.get(family.type, [""])}


def test_rules_name_only_metrics_the_worker_or_the_bridge_exposes() -> None:
    # Faust's sensor names (prefixed with the app name), the domain metrics and the
    # Alertmanager bridge's; a rename on either side would otherwise leave a rule
    # silently matching nothing.
    faust_registry = CollectorRegistry()
    FaustMetrics.create(faust_registry, "fairwatch")
    domain_registry = CollectorRegistry()
    for name in domain_metrics.__all__:
        domain_registry.register(getattr(domain_metrics, name))
    bridge_registry = CollectorRegistry()
    for metric in vars(bridge).values():
        if isinstance(metric, MetricWrapperBase):
            bridge_registry.register(metric)
    known = exposed_names(faust_registry) | exposed_names(domain_registry) | exposed_names(bridge_registry)

    exprs = [rule["expr"] for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]
    used = {name for expr in exprs for name in re.findall(r"\bfairwatch_[a-z0-9_]+\b", expr)}
    assert used, "no fairwatch metric found in the rules"
    assert used - known == set()


def test_rules_select_the_job_the_config_scrapes() -> None:
    jobs = {job["job_name"] for job in yaml.safe_load(CONFIG.read_text())["scrape_configs"]}
    selected = set(re.findall(r'job="([^"]+)"', RULES.read_text()))
    assert selected == {"fairwatch", "fairwatch-alertmanager-bridge"}
    assert selected <= jobs
