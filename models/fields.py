"""Field checks shared by the validators of events (models.events) and of plan records (models.catalog).

A check takes the value and the field's name, and returns the normalized value or raises
models.errors.Rejected naming the field (code ``invalid_field``; ``missing_field`` for one that is required
and absent).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from models.errors import Rejected
from models.money import to_micros

__all__ = ["Check", "MAX_ID", "text", "money", "required"]

Check = Callable[[Any, str], Any]
#: The longest id (of an event, a customer, an order, a plan, ...).
MAX_ID = 200


def text(limit: int) -> Check:
    """A non-empty string of at most ``limit`` characters."""

    def check(value: Any, name: str) -> str:
        if not isinstance(value, str) or not value:
            raise Rejected(f"{name}: must be a non-empty string")
        if len(value) > limit:
            raise Rejected(f"{name}: longer than {limit} characters")
        return value

    return check


def money(value: Any, name: str) -> int:
    """An amount of money that is not negative, in micro-units (models.money)."""
    try:
        micros = to_micros(value)
    except ValueError as exc:
        raise Rejected(f"{name}: {exc}") from None
    if micros < 0:
        raise Rejected(f"{name}: must not be negative")
    return micros


def required(document: Mapping[str, Any], name: str, check: Check) -> Any:
    """The field ``name`` of ``document``, checked; absent or null is ``missing_field``."""
    value = document.get(name)
    if value is None:
        raise Rejected(f"{name}: is required", "missing_field")
    return check(value, name)
