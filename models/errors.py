"""Exceptions raised by the pure domain."""

from __future__ import annotations

__all__ = ["Rejected", "PolicyError", "CatalogError"]


class Rejected(ValueError):
    """An input message is not a valid event.

    ``reason`` is one line for the dead-letter record; ``code`` is a short,
    bounded category for metric labels (never the reason itself: that holds
    field values and would explode label cardinality).
    """

    def __init__(self, reason: str, code: str = "invalid_field") -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


class PolicyError(ValueError):
    """A policy value is invalid; the message names the key."""


class CatalogError(ValueError):
    """A plan catalog file cannot be read as a whole; the message says why."""
