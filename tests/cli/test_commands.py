"""The ``fairwatch`` command as a user types it: policy, configuration errors, usage."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import fairwatch


def test_policy_prints_the_effective_policy_as_toml(tmp_path: Path) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text("grace_minutes = 5\n")
    result = fairwatch("policy", env={"FAIRWATCH_POLICY": str(policy), "FAIRWATCH_POLICY_DEDUP_WINDOW": "50"})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "grace_minutes = 5.0" in lines
    assert "dedup_window = 50" in lines
    assert 'currency = "EUR"' in lines
    # What it prints is itself a valid policy file.
    again = tmp_path / "again.toml"
    again.write_text(result.stdout)
    assert fairwatch("policy", env={"FAIRWATCH_POLICY": str(again)}).stdout == result.stdout


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('grace_minutes = "soon"\n', "fairwatch: policy key 'grace_minutes': expected float, got 'soon'"),
        ("dedup_window = -1\n", "fairwatch: policy key 'dedup_window': must not be negative, got -1"),
        ("gracee_minutes = 5\n", "fairwatch: policy key 'gracee_minutes' is unknown (in {path})"),
    ],
)
@pytest.mark.parametrize("command", ["policy", "worker"])
def test_a_bad_policy_stops_with_one_line_naming_the_key(
    tmp_path: Path, command: str, content: str, message: str
) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(content)
    result = fairwatch(command, env={"FAIRWATCH_POLICY": str(path)})
    assert result.returncode == 2
    assert result.stderr.strip() == message.format(path=path)
    assert "Traceback" not in result.stderr + result.stdout


def test_a_bad_setting_stops_the_worker_with_one_line_naming_the_variable() -> None:
    result = fairwatch("worker", env={"FAIRWATCH_STORE": "disk"})
    assert result.returncode == 2
    assert result.stderr.strip() == "fairwatch: FAIRWATCH_STORE='disk': expected memory or rocksdb"


def test_unknown_command_is_a_usage_error() -> None:
    result = fairwatch("frobnicate")
    assert result.returncode == 2
    assert "unknown command 'frobnicate'" in result.stderr


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "fairwatch: FAIRWATCH_ALERTMANAGER_URL is not set: name the Alertmanager(s), e.g. http://127.0.0.1:9093"),
        (
            {"FAIRWATCH_ALERTMANAGER_URL": "am.internal:9093"},
            "fairwatch: FAIRWATCH_ALERTMANAGER_URL: 'am.internal:9093' is not an http(s) URL",
        ),
        (
            {"FAIRWATCH_ALERTMANAGER_URL": "http://am:9093", "FAIRWATCH_POLICY_GRACE_MINUTES": "soon"},
            "fairwatch: policy key 'grace_minutes' (from FAIRWATCH_POLICY_GRACE_MINUTES): expected float, got 'soon'",
        ),
    ],
)
def test_the_alertmanager_bridge_stops_with_one_line_when_it_is_not_configured(
    env: dict[str, str], message: str
) -> None:
    result = fairwatch("alertmanager", env=env)
    assert result.returncode == 2
    assert result.stderr.strip() == message
    assert "Traceback" not in result.stderr + result.stdout
