"""Shared fixtures for the pure unit tests (no broker, no Faust)."""

from __future__ import annotations

from typing import Any

import pytest

from models.policy import Policy
from models.state import new_state

from .factories import CUSTOMER


@pytest.fixture
def policy() -> Policy:
    return Policy()


@pytest.fixture
def state() -> dict[str, Any]:
    return new_state(CUSTOMER, 0)
