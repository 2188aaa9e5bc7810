"""models.policy: defaults, then the TOML file, then FAIRWATCH_POLICY_<KEY>; invalid values name their key."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from models.errors import PolicyError
from models.policy import Policy, load_policy

DEFAULTS = {
    "currency": "EUR",
    "grace_minutes": 10.0,
    "max_future_minutes": 1440.0,
    "dedup_window": 100,
    "order_retention_days": 120.0,
    "max_orders_per_customer": 200,
    "max_complaints_per_customer": 200,
    "alert_retention_days": 400.0,
    "late_delivery_critical_hours": 72.0,
    "update_threshold": 0.10,
}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.toml"
    path.write_text(text)
    return path


def test_defaults() -> None:
    # The spine's documented defaults (detectors add keys of their own).
    assert DEFAULTS.items() <= Policy().as_dict().items()
    assert load_policy() == Policy()
    assert load_policy(None, {}) == Policy()


def test_policy_is_immutable() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        Policy().grace_minutes = 1.0  # type: ignore[misc]


def test_file_overrides_defaults(tmp_path: Path) -> None:
    path = write(tmp_path, 'currency = "GBP"\ngrace_minutes = 5\ndedup_window = 50\nupdate_threshold = 0.25\n')
    policy = load_policy(path)
    assert policy.as_dict() == Policy().as_dict() | {
        "currency": "GBP",
        "grace_minutes": 5.0,
        "dedup_window": 50,
        "update_threshold": 0.25,
    }
    # An integer in the file for a float key becomes a float.
    assert type(policy.grace_minutes) is float
    assert load_policy(str(path)) == policy


def test_environment_overrides_file(tmp_path: Path) -> None:
    path = write(tmp_path, "grace_minutes = 5\ndedup_window = 50\n")
    policy = load_policy(
        path,
        {
            "FAIRWATCH_POLICY_GRACE_MINUTES": "2.5",
            "FAIRWATCH_POLICY_MAX_ORDERS_PER_CUSTOMER": "7",
            "FAIRWATCH_POLICY_CURRENCY": "CHF",
            "FAIRWATCH_BROKER": "kafka://localhost:9092",  # not a policy variable: ignored
            "PATH": "/usr/bin",
        },
    )
    assert policy.as_dict() == Policy().as_dict() | {
        "grace_minutes": 2.5,
        "dedup_window": 50,
        "max_orders_per_customer": 7,
        "currency": "CHF",
    }


def test_environment_without_file() -> None:
    policy = load_policy(environ={"FAIRWATCH_POLICY_LATE_DELIVERY_CRITICAL_HOURS": "24"})
    assert policy.late_delivery_critical_hours == 24.0


def test_zero_is_allowed() -> None:
    assert load_policy(environ={"FAIRWATCH_POLICY_GRACE_MINUTES": "0"}).grace_minutes == 0.0


def test_update_threshold_of_one_is_allowed() -> None:
    assert load_policy(environ={"FAIRWATCH_POLICY_UPDATE_THRESHOLD": "1"}).update_threshold == 1.0


@pytest.mark.parametrize(
    ("file_text", "environ", "message"),
    [
        pytest.param(
            "grace_minute = 5\n",
            {},
            r"policy key 'grace_minute' is unknown \(in .*policy\.toml\)",
            id="file-unknown-key",
        ),
        pytest.param(
            None,
            {"FAIRWATCH_POLICY_GRACE": "5"},
            r"policy key 'grace' is unknown \(from FAIRWATCH_POLICY_GRACE\)",
            id="env-unknown-key",
        ),
        pytest.param(
            'dedup_window = "many"\n',
            {},
            r"policy key 'dedup_window': expected int, got 'many'",
            id="file-string-for-int",
        ),
        pytest.param(
            "dedup_window = 1.5\n", {}, r"policy key 'dedup_window': expected int, got 1\.5", id="file-float-for-int"
        ),
        pytest.param(
            "grace_minutes = true\n",
            {},
            r"policy key 'grace_minutes': expected float, got True",
            id="file-bool-for-float",
        ),
        pytest.param("currency = 978\n", {}, r"policy key 'currency': expected str, got 978", id="file-int-for-str"),
        pytest.param('currency = ""\n', {}, r"policy key 'currency': expected str, got ''", id="file-empty-str"),
        pytest.param(
            "grace_minutes = [5]\n", {}, r"policy key 'grace_minutes': expected float", id="file-array-for-float"
        ),
        pytest.param(
            "grace_minutes = -1\n",
            {},
            r"policy key 'grace_minutes': must not be negative, got -1",
            id="file-negative-float",
        ),
        pytest.param(
            "dedup_window = -5\n",
            {},
            r"policy key 'dedup_window': must not be negative, got -5",
            id="file-negative-int",
        ),
        pytest.param("grace_minutes = nan\n", {}, r"policy key 'grace_minutes'", id="file-nan"),
        pytest.param(
            None,
            {"FAIRWATCH_POLICY_DEDUP_WINDOW": "-1"},
            r"policy key 'dedup_window': must not be negative, got -1",
            id="env-negative",
        ),
        pytest.param(
            None,
            {"FAIRWATCH_POLICY_DEDUP_WINDOW": "1.5"},
            r"policy key 'dedup_window' \(from FAIRWATCH_POLICY_DEDUP_WINDOW\): expected int, got '1\.5'",
            id="env-float-for-int",
        ),
        pytest.param(
            None,
            {"FAIRWATCH_POLICY_GRACE_MINUTES": "ten"},
            r"policy key 'grace_minutes' \(from FAIRWATCH_POLICY_GRACE_MINUTES\): expected float, got 'ten'",
            id="env-not-a-number",
        ),
        pytest.param(None, {"FAIRWATCH_POLICY_CURRENCY": ""}, r"policy key 'currency': expected str", id="env-empty"),
        pytest.param(
            "update_threshold = 1.5\n",
            {},
            r"policy key 'update_threshold': must be a fraction",
            id="file-threshold-above-one",
        ),
        pytest.param(
            None,
            {"FAIRWATCH_POLICY_UPDATE_THRESHOLD": "2"},
            r"policy key 'update_threshold'",
            id="env-threshold-above-one",
        ),
        pytest.param("grace_minutes = \n", {}, r"policy file .*policy\.toml: .*line 1", id="bad-toml"),
        pytest.param(
            "[grace_minutes]\nvalue = 5\n", {}, r"policy key 'grace_minutes': expected float", id="file-table-for-float"
        ),
    ],
)
def test_invalid_policy_raises_policy_error_naming_the_key(
    tmp_path: Path, file_text: str | None, environ: dict[str, str], message: str
) -> None:
    path = write(tmp_path, file_text) if file_text is not None else None
    with pytest.raises(PolicyError, match=message):
        load_policy(path, environ)


def test_file_error_comes_before_environment_error(tmp_path: Path) -> None:
    path = write(tmp_path, "dedup_window = -5\n")
    with pytest.raises(PolicyError, match="dedup_window"):
        load_policy(path, {"FAIRWATCH_POLICY_GRACE": "5"})


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match=r"policy file .*absent\.toml does not exist"):
        load_policy(tmp_path / "absent.toml")


def test_policy_error_is_a_value_error() -> None:
    assert issubclass(PolicyError, ValueError)


@pytest.mark.parametrize(
    "environ",
    [
        pytest.param({"FAIRWATCH_POLICY_ORDER_RETENTION_DAYS": "inf"}, id="env-inf"),
        pytest.param({"FAIRWATCH_POLICY_GRACE_MINUTES": "Infinity"}, id="env-infinity"),
    ],
)
def test_infinite_value_is_rejected(environ: dict[str, str]) -> None:
    key = next(iter(environ)).removeprefix("FAIRWATCH_POLICY_").lower()
    with pytest.raises(PolicyError, match=key):
        load_policy(environ=environ)
