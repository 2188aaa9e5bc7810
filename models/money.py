"""Money as integer micro-units (millionths of the currency unit).

Integer cents cannot hold per-unit prices such as 0.0125 EUR/kWh, and Decimal
does not survive a JSON round trip through the state changelog; micro-units are
exact for every realistic price, sum without drift and serialize as plain ints.
Floats appear only at the output edge, rounded to cents.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

__all__ = ["MICROS", "to_micros", "to_amount", "format_money", "share", "policy_money"]

MICROS = 1_000_000
_CENT = Decimal("0.01")
_MICRO = Decimal("0.000001")
# No company bills a trillion in one figure; bigger values are corrupt input.
_LIMIT = 10**12 * MICROS


# Plain decimals (the shortest repr of most floats, and most strings): integer arithmetic gives what Decimal
# gives, several times cheaper. Anything else (exponents, signs, spaces, underscores) takes the Decimal path.
_PLAIN = re.compile(r"(-?)(\d{1,16})(?:\.(\d{1,6}))?\Z")


def to_micros(value: object) -> int:
    """Parse a JSON number or decimal string into micro-units; ValueError if it is not money."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError("must be a decimal number")
    if isinstance(value, int):
        return _bounded(value * MICROS)
    plain = _PLAIN.match(str(value) if isinstance(value, float) else value)
    if plain is not None:
        sign, whole, fraction = plain.groups()
        micros = int(whole) * MICROS + (int(fraction.ljust(6, "0")) if fraction else 0)
        return _bounded(-micros if sign else micros)
    try:
        # str() of a float is its shortest repr, so 12.34 becomes exactly 12.34.
        amount = Decimal(str(value) if isinstance(value, float) else value)
    except InvalidOperation:
        raise ValueError("must be a decimal number") from None
    if not amount.is_finite():
        raise ValueError("must be a finite decimal number")
    # Judge the value's own digits: scaling first would round to the context's
    # 28 digits, and a huge exponent would overflow it.
    if amount.as_tuple().exponent < -6 and amount != amount.quantize(_MICRO, rounding=ROUND_HALF_EVEN):
        raise ValueError("has more than 6 decimal places")
    if abs(amount.adjusted()) > 15:
        raise ValueError("is out of range")
    return _bounded(int(amount.scaleb(6)))


def _bounded(micros: int) -> int:
    if -_LIMIT <= micros <= _LIMIT:
        return micros
    raise ValueError("is out of range")


def to_amount(micros: int) -> float:
    """The JSON number for an alert: rounded to cents (the output edge only)."""
    # Every alert has one: integer rounding, half to even as Decimal's quantize, several times cheaper. Both
    # end in the double nearest the cents (cents / 100 is correctly rounded), and a negative amount that
    # rounds to nothing stays -0.0, as Decimal's signed zero gives it.
    cents, rest = divmod(micros, 10_000)
    if rest > 5_000 or (rest == 5_000 and cents & 1):
        cents += 1
    if cents == 0:
        return -0.0 if micros < 0 else 0.0
    return cents / 100


def format_money(micros: int, currency: str) -> str:
    """``EUR 1,234.50`` for a summary sentence."""
    # Rounded as to_amount rounds, in integers; a negative amount keeps its sign even when it rounds to
    # nothing (``-0.00``), as Decimal's signed zero prints.
    cents, rest = divmod(micros, 10_000)
    if rest > 5_000 or (rest == 5_000 and cents & 1):
        cents += 1
    units, hundredths = divmod(abs(cents), 100)
    return f"{currency} {'-' if micros < 0 else ''}{units:,}.{hundredths:02d}"


def share(micros: int, fraction: float) -> Decimal:
    """``fraction`` of an amount, exactly (the fraction as written in the policy, not its binary float)."""
    return Decimal(micros) * Decimal(str(fraction))


def policy_money(amount: float) -> int:
    """A money threshold from the policy (currency units) in micro-units."""
    return to_micros(amount)
