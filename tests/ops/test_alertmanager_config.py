"""The shipped Alertmanager config: valid for amtool, routing as documented, and naming labels the bridge posts.

amtool comes from Debian's ``prometheus-alertmanager`` package
(``scripts/ensure-alertmanager.sh``, run by ``make test``). A missing amtool fails
these tests: it never skips them.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from models.ledger import read_emission
from models.notifications import FAMILIES, ROLLUP_KIND, alert_labels
from tests.support.alert_documents import alert as alert_document

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "ops" / "alertmanager" / "alertmanager.yml"


@pytest.fixture(scope="module")
def amtool() -> str:
    path = shutil.which("amtool")
    if path is None:
        pytest.fail("amtool not found on PATH: run scripts/ensure-alertmanager.sh (make test does)")
    return path


@pytest.fixture(scope="module")
def config() -> dict:
    return yaml.safe_load(CONFIG.read_text())


def test_amtool_check_config_accepts_the_file(amtool: str) -> None:
    done = subprocess.run([amtool, "check-config", str(CONFIG)], capture_output=True, text=True, timeout=60)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "SUCCESS" in output


@pytest.mark.parametrize(
    ("labels", "receivers"),
    [
        ({"family": "promise", "severity": "critical"}, ["crm", "escalations"]),
        ({"family": "relationship", "severity": "critical"}, ["crm", "escalations"]),
        ({"family": "promise", "severity": "warning"}, ["crm"]),
        ({"family": "relationship", "severity": "warning"}, ["crm"]),
        ({"family": "overpaying", "severity": "warning"}, ["crm", "retention-team"]),
        ({"family": "overpaying", "severity": "critical"}, ["crm", "retention-team"]),
        ({"family": "promise", "severity": "info"}, ["crm", "billing-ops"]),
        ({"family": "overpaying", "severity": "info"}, ["crm", "billing-ops"]),
    ],
)
def test_routes_by_family_and_severity_and_everything_reaches_the_crm(
    amtool: str, labels: dict[str, str], receivers: list[str]
) -> None:
    done = subprocess.run(
        [
            amtool,
            "config",
            "routes",
            "test",
            f"--config.file={CONFIG}",
            "--verify.receivers=" + ",".join(receivers),
            "customer_id=c-1",
            "alert_id=late-1",
            *(f"{name}={value}" for name, value in labels.items()),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == ",".join(receivers)


def test_one_notification_per_customer(config: dict) -> None:
    assert config["route"]["group_by"] == ["customer_id"]
    for route in config["route"]["routes"]:
        assert route.get("group_by", ["customer_id"]) == ["customer_id"]


def test_only_the_promises_a_pattern_counts_are_inhibited_by_it(config: dict) -> None:
    (rule,) = config["inhibit_rules"]
    assert rule["source_matchers"] == [f'alertname="{ROLLUP_KIND}"']
    assert rule["target_matchers"] == ['rolled_up="true"']
    assert rule["equal"] == ["customer_id"]


def test_matchers_name_labels_and_values_the_bridge_posts(config: dict) -> None:
    posted = alert_labels(read_emission(alert_document()), rolled_up=True)
    matchers = [m for route in config["route"]["routes"] for m in route.get("matchers", [])]
    for rule in config["inhibit_rules"]:
        matchers += rule["source_matchers"] + rule["target_matchers"]
    assert matchers
    for matcher in matchers:
        name, _, value = re.fullmatch(r'(\w+)(=~|!=|!~|=)"(.*)"', matcher).groups()
        assert name in posted, f"{matcher}: the bridge posts no label {name}"
        if name == "family":
            assert set(value.split("|")) <= set(FAMILIES), matcher
        if name == "severity":
            assert set(value.split("|")) <= {"info", "warning", "critical"}, matcher


def test_every_receiver_is_a_webhook_that_sends_resolved(config: dict) -> None:
    for receiver in config["receivers"]:
        (webhook,) = receiver["webhook_configs"]
        assert webhook["send_resolved"] is True, receiver["name"]
