"""The policy: every threshold fairwatch judges by, with defaults that work out of the box.

A policy file (TOML) overrides the defaults, and ``FAIRWATCH_POLICY_<KEY>``
environment variables override the file. Anything invalid raises PolicyError
naming the key, so a worker stops at start rather than judging by a silent default.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from models.errors import PolicyError

__all__ = ["Policy", "load_policy"]

ENV_PREFIX = "FAIRWATCH_POLICY_"


@dataclass(frozen=True, slots=True)
class Policy:
    """Thresholds and bounds. Durations carry their unit in the name."""

    currency: str = "EUR"
    #: Events up to this much older than the newest seen are still applied in order.
    grace_minutes: float = 10.0
    #: Events dated further than this ahead of the wall clock are rejected: one bogus
    #: timestamp must not drag stream time (and every deadline) into the future.
    max_future_minutes: float = 1440.0
    #: How many recent event ids per customer are remembered for de-duplication.
    dedup_window: int = 100
    #: Closed orders are kept this long (billing errors need them) and then forgotten.
    order_retention_days: float = 120.0
    #: Most orders kept per customer; the oldest closed ones go first.
    max_orders_per_customer: int = 200
    #: Most complaints kept per customer; the oldest resolved ones go first, then the oldest open (a
    #: complaint never resolved upstream would otherwise be kept forever).
    max_complaints_per_customer: int = 200
    #: Alerts are remembered this long after their last emission (resolved ones, so a returning
    #: condition gets its next revision; open ones, so fairwatch stops following an alert nobody
    #: acted on for over a year: if it is still true it is raised again, as a new episode).
    alert_retention_days: float = 400.0
    #: Most alerts remembered per customer; the oldest resolved ones go first, then the oldest open.
    max_alerts_per_customer: int = 100
    #: A late delivery of more than this is critical.
    late_delivery_critical_hours: float = 72.0
    #: An order not shipped this long before its promised delivery is at risk (0 turns the stage off).
    at_risk_hours: float = 24.0
    #: An invoiced order line still undelivered this long after its promised delivery is a billing error.
    invoiced_undelivered_days: float = 7.0
    #: A delivered order line not invoiced within this is the company's own loss (info).
    uninvoiced_days: float = 30.0
    #: A complaint must be acknowledged within this.
    complaint_ack_hours: float = 48.0
    #: Default resolve_by, from the complaint's opening, by severity.
    complaint_resolve_days_high: float = 3.0
    complaint_resolve_days_normal: float = 14.0
    complaint_resolve_days_low: float = 30.0
    #: An unresolved complaint is critical after this.
    complaint_critical_days: float = 56.0
    #: Gross margin on revenue, for cost to serve.
    margin_rate: float = 0.30
    #: Cost of one minute of customer contact, in the policy currency.
    contact_cost_per_minute: float = 1.00
    #: Cost of handling one complaint, in the policy currency.
    complaint_handling_cost: float = 25.00
    #: Cost to serve must exceed margin by at least this (currency) before it is worth an alert.
    unprofitable_min_excess: float = 50.00
    #: Broken-promise alerts within the window that make a pattern.
    repeated_promises_count: int = 3
    repeated_promises_days: float = 90.0
    # --- bad profits (SPEC §3.1-6); money in the policy currency, converted to micro-units by the detectors
    #: Better plan: the comparison runs over this many complete usage periods.
    better_plan_periods: int = 3
    #: Better plan: the saving must be at least this much a month ...
    better_plan_min_monthly_saving: float = 5.00
    #: ... and at least this fraction of what the customer pays now.
    better_plan_min_saving_fraction: float = 0.10
    #: Loyalty penalty: agreed fee at least this fraction above the new-customer fee of the same plan ...
    loyalty_penalty_min_fraction: float = 0.10
    #: ... after at least this many months of tenure.
    loyalty_penalty_tenure_months: int = 12
    #: Unused subscription: billed for this many consecutive periods with zero usage.
    unused_subscription_periods: int = 2
    #: Price rise: a price.change_notified counts only if sent at least this long before the price takes effect.
    price_rise_notice_days: float = 30.0
    #: Best-tariff notice: due from this tenure on ...
    best_tariff_tenure_months: int = 12
    #: ... whenever no best_tariff notice was sent within this many days.
    best_tariff_interval_days: float = 365.0
    #: Best-tariff notice before the minimum term ends: sent in the window from this many days before the end ...
    contract_end_notice_from_days: float = 40.0
    #: ... to this many days before it (past it, the notice is overdue: critical).
    contract_end_notice_until_days: float = 10.0
    #: Ended subscriptions are kept this long (late invoices for them are judged), then forgotten.
    subscription_retention_days: float = 400.0
    #: Most subscriptions kept per customer; the longest-ended ones go first.
    max_subscriptions_per_customer: int = 20
    #: An alert is re-emitted as updated when its money at stake moves by this fraction.
    update_threshold: float = 0.10
    #: A customer with no event for this many days (stream time) is forgotten, as ``fairwatch forget``
    #: would (their state, tombstoned in the changelog, and the page's memory of them); 0 keeps everyone.
    inactive_customer_days: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _coerce(name: str, expected: type, value: Any) -> Any:
    if expected is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    elif expected is int and isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif expected is str and isinstance(value, str) and value:
        return value
    else:
        raise PolicyError(f"policy key {name!r}: expected {expected.__name__}, got {value!r}")
    if not math.isfinite(number):
        raise PolicyError(f"policy key {name!r}: must be a finite number, got {value!r}")
    if number < 0:
        raise PolicyError(f"policy key {name!r}: must not be negative, got {value!r}")
    return number


def _from_env(name: str, expected: type, text: str) -> Any:
    try:
        return expected(text) if expected is not str else text
    except ValueError:
        raise PolicyError(
            f"policy key {name!r} (from {ENV_PREFIX}{name.upper()}): expected {expected.__name__}, got {text!r}"
        ) from None


def load_policy(path: str | Path | None = None, environ: Mapping[str, str] | None = None) -> Policy:
    """The effective policy: defaults, then the TOML file at ``path``, then the environment."""
    types = {f.name: {"float": float, "int": int, "str": str}[str(f.type)] for f in fields(Policy)}
    values: dict[str, Any] = {}
    if path:
        try:
            document = tomllib.loads(Path(path).read_text())
        except FileNotFoundError:
            raise PolicyError(f"policy file {path} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise PolicyError(f"policy file {path}: {exc}") from None
        for name, value in document.items():
            if name not in types:
                raise PolicyError(f"policy key {name!r} is unknown (in {path})")
            values[name] = _coerce(name, types[name], value)
    for variable, text in (environ or {}).items():
        if not variable.startswith(ENV_PREFIX):
            continue
        name = variable[len(ENV_PREFIX) :].lower()
        if name not in types:
            raise PolicyError(f"policy key {name!r} is unknown (from {variable})")
        values[name] = _coerce(name, types[name], _from_env(name, types[name], text))
    if "update_threshold" in values and values["update_threshold"] > 1:
        raise PolicyError("policy key 'update_threshold': must be a fraction between 0 and 1")
    for name in ("better_plan_min_saving_fraction", "loyalty_penalty_min_fraction"):
        if name in values and values[name] > 1:
            raise PolicyError(f"policy key {name!r}: must be a fraction between 0 and 1")
    if values.get("better_plan_periods", 1) < 1 or values.get("unused_subscription_periods", 1) < 1:
        raise PolicyError("policy keys 'better_plan_periods' and 'unused_subscription_periods': must be at least 1")
    defaults = Policy()
    if values.get("contract_end_notice_until_days", defaults.contract_end_notice_until_days) > values.get(
        "contract_end_notice_from_days", defaults.contract_end_notice_from_days
    ):
        raise PolicyError("policy key 'contract_end_notice_until_days': must not exceed contract_end_notice_from_days")
    return Policy(**values)
