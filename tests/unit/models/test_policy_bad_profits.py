"""The bad-profit policy keys: SPEC defaults, overrides, and the values that make no sense refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.errors import PolicyError
from models.policy import Policy, load_policy


def test_defaults_are_the_specs() -> None:
    policy = Policy()
    assert (
        policy.better_plan_periods,
        policy.better_plan_min_monthly_saving,
        policy.better_plan_min_saving_fraction,
    ) == (3, 5.0, 0.10)
    assert (policy.loyalty_penalty_min_fraction, policy.loyalty_penalty_tenure_months) == (0.10, 12)
    assert policy.unused_subscription_periods == 2 and policy.price_rise_notice_days == 30.0
    assert (policy.best_tariff_tenure_months, policy.best_tariff_interval_days) == (12, 365.0)
    assert (policy.contract_end_notice_from_days, policy.contract_end_notice_until_days) == (40.0, 10.0)


def test_file_and_environment_override(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text("better_plan_min_monthly_saving = 7.5\nunused_subscription_periods = 3\n")
    policy = load_policy(path, {"FAIRWATCH_POLICY_PRICE_RISE_NOTICE_DAYS": "14"})
    assert (policy.better_plan_min_monthly_saving, policy.unused_subscription_periods) == (7.5, 3)
    assert policy.price_rise_notice_days == 14.0


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("BETTER_PLAN_MIN_SAVING_FRACTION", "1.5", "must be a fraction between 0 and 1"),
        ("LOYALTY_PENALTY_MIN_FRACTION", "2", "must be a fraction between 0 and 1"),
        ("BETTER_PLAN_PERIODS", "0", "must be at least 1"),
        ("UNUSED_SUBSCRIPTION_PERIODS", "0", "must be at least 1"),
        ("CONTRACT_END_NOTICE_UNTIL_DAYS", "41", "must not exceed contract_end_notice_from_days"),
        ("BEST_TARIFF_TENURE_MONTHS", "1.5", "expected int"),
    ],
)
def test_values_that_make_no_sense_stop_the_worker(variable: str, value: str, message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        load_policy(None, {f"FAIRWATCH_POLICY_{variable}": value})
