"""The plan catalog of a generated world, and the usage each plan is the best buy for.

It is the demo's catalog (streams/tools/data/plans.toml) plus two plans that make
thresholds plantable to the cent: ``mobile-xl`` (a plan 10% cheaper than
``mobile-l`` at 85 GB) and the no-longer-sold ``broadband-2018``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["PLANS", "CLEAN_USAGE", "write_catalog"]

PLANS: list[dict[str, Any]] = [
    {
        "plan_id": "mobile-s-2019",
        "product": "mobile",
        "name": "Mobile S (2019)",
        "monthly_fee": 25.00,
        "included_units": 2,
        "unit": "GB",
        "overage_price": 5.00,
        "open_to": [],
        "active": False,
    },
    {
        "plan_id": "mobile-s",
        "product": "mobile",
        "name": "Mobile S",
        "monthly_fee": 15.00,
        "included_units": 5,
        "unit": "GB",
        "overage_price": 3.00,
        "open_to": ["new", "existing"],
        "active": True,
    },
    {
        "plan_id": "mobile-m",
        "product": "mobile",
        "name": "Mobile M",
        "monthly_fee": 25.00,
        "included_units": 20,
        "unit": "GB",
        "overage_price": 2.00,
        "open_to": ["new", "existing"],
        "active": True,
    },
    {
        "plan_id": "mobile-m-welcome",
        "product": "mobile",
        "name": "Mobile M Welcome",
        "monthly_fee": 18.00,
        "included_units": 20,
        "unit": "GB",
        "overage_price": 2.00,
        "open_to": ["new"],
        "active": True,
    },
    {
        "plan_id": "mobile-l",
        "product": "mobile",
        "name": "Mobile L",
        "monthly_fee": 35.00,
        "included_units": 60,
        "unit": "GB",
        "overage_price": 1.00,
        "open_to": ["new", "existing"],
        "active": True,
    },
    {
        "plan_id": "mobile-xl",
        "product": "mobile",
        "name": "Mobile XL",
        "monthly_fee": 54.00,
        "included_units": 100,
        "unit": "GB",
        "overage_price": 1.00,
        "open_to": ["new", "existing"],
        "active": True,
    },
    {
        "plan_id": "broadband-100",
        "product": "broadband",
        "name": "Broadband 100",
        "monthly_fee": 29.99,
        "included_units": 2000,
        "unit": "GB",
        "overage_price": 0.00,
        "open_to": ["new", "existing"],
        "active": True,
    },
    {
        "plan_id": "broadband-2018",
        "product": "broadband",
        "name": "Broadband (2018)",
        "monthly_fee": 24.99,
        "included_units": 1000,
        "unit": "GB",
        "overage_price": 0.00,
        "open_to": [],
        "active": False,
    },
    {
        "plan_id": "tv-extra",
        "product": "tv",
        "name": "TV Extra",
        "monthly_fee": 12.99,
        "included_units": 1000,
        "unit": "hours",
        "overage_price": 0.00,
        "open_to": ["new", "existing"],
        "active": True,
    },
]

#: plan_id -> (catalog fee, usage range per month in which no other open plan is cheaper at all).
#: Worked out per plan: Mobile S below 8 GB (9 GB would cost 27 > 25 on M), M 9-24 GB (S costs
#: 27+ there, L 35 > 33), L 30-70 GB (M 45+, XL 54 > 45), XL 90+ GB (L 65+).
CLEAN_USAGE: dict[str, tuple[str, float, float]] = {
    "mobile-s": ("15.00", 1, 8),
    "mobile-m": ("25.00", 9, 24),
    "mobile-l": ("35.00", 30, 70),
    "mobile-xl": ("54.00", 90, 120),
    "broadband-100": ("29.99", 80, 1800),
    "broadband-2018": ("24.99", 80, 900),
    "tv-extra": ("12.99", 10, 300),
}


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def write_catalog(path: Path) -> None:
    """The catalog as TOML, for ``fairwatch produce --plans``."""
    parts = ["# The plan catalog of a generated world (fairwatch simulate).\n"]
    for plan in PLANS:
        parts.append("\n[[plans]]\n" + "".join(f"{key} = {_toml_value(value)}\n" for key, value in plan.items()))
    path.write_text("".join(parts))
