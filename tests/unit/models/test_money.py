"""models.money: money as integer micro-units, floats only at the output edge."""

from __future__ import annotations

import decimal
import math
import random

import pytest

from models.money import MICROS, format_money, to_amount, to_micros


@pytest.mark.parametrize(
    ("value", "micros"),
    [
        pytest.param(0, 0, id="zero"),
        pytest.param(3, 3_000_000, id="int"),
        pytest.param(-3, -3_000_000, id="negative-int"),
        pytest.param(12.34, 12_340_000, id="float-shortest-repr"),
        pytest.param(0.1, 100_000, id="float-tenth"),
        pytest.param("2.50", 2_500_000, id="decimal-string"),
        pytest.param("0.012345", 12_345, id="six-decimals"),
        pytest.param("0.000001", 1, id="one-micro"),
        pytest.param("-24.99", -24_990_000, id="negative-string"),
        pytest.param("1E+3", 1_000_000_000, id="exponent-string"),
        pytest.param(10**12, 10**12 * MICROS, id="limit"),
    ],
)
def test_to_micros(value: object, micros: int) -> None:
    result = to_micros(value)
    assert result == micros
    assert type(result) is int


@pytest.mark.parametrize(
    ("value", "message"),
    [
        pytest.param(True, "must be a decimal number", id="bool"),
        pytest.param(None, "must be a decimal number", id="none"),
        pytest.param([1], "must be a decimal number", id="list"),
        pytest.param(decimal.Decimal("1.5"), "must be a decimal number", id="decimal-object"),
        pytest.param("ten", "must be a decimal number", id="words"),
        pytest.param("", "must be a decimal number", id="empty-string"),
        pytest.param("NaN", "must be a finite decimal number", id="nan-string"),
        pytest.param("Infinity", "must be a finite decimal number", id="infinity-string"),
        pytest.param(float("inf"), "must be a finite decimal number", id="float-infinity"),
        pytest.param("0.0000001", "has more than 6 decimal places", id="seven-decimals"),
        pytest.param(0.30000000000000004, "has more than 6 decimal places", id="float-noise"),
        pytest.param(10**12 + 1, "is out of range", id="int-over-limit"),
        pytest.param("-1000000000000.000001", "is out of range", id="negative-over-limit"),
        pytest.param(1e300, "is out of range", id="huge-float"),
    ],
)
def test_to_micros_rejects(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{message}$"):
        to_micros(value)


def test_to_micros_huge_exponent_raises_value_error() -> None:
    with pytest.raises(ValueError, match="is out of range"):
        to_micros("1e999999")


def test_to_micros_rejects_many_decimals_beyond_context_precision() -> None:
    with pytest.raises(ValueError, match="has more than 6 decimal places"):
        to_micros("0.1000000000000000000000000000001")


@pytest.mark.parametrize(
    ("micros", "amount"),
    [
        pytest.param(0, 0.0, id="zero"),
        pytest.param(25_000_000, 25.0, id="whole"),
        pytest.param(12_340_000, 12.34, id="cents"),
        pytest.param(12_345_000, 12.34, id="half-to-even-down"),
        pytest.param(12_355_000, 12.36, id="half-to-even-up"),
        pytest.param(12_345_001, 12.35, id="above-half"),
        pytest.param(-4_990_000, -4.99, id="negative"),
        pytest.param(1, 0.0, id="one-micro"),
        pytest.param(-15_000, -0.02, id="negative-half-to-even-away"),
        pytest.param(-25_000, -0.02, id="negative-half-to-even-toward"),
        pytest.param(-5_000, -0.0, id="negative-rounding-to-nothing"),
    ],
)
def test_to_amount_rounds_to_cents_half_even(micros: int, amount: float) -> None:
    result = to_amount(micros)
    assert result == amount
    assert isinstance(result, float)
    assert math.copysign(1, result) == math.copysign(1, amount)  # -0.0 stays negative in the JSON


def test_to_amount_and_format_money_round_as_decimal_does() -> None:
    """Both round in integers for speed: the same figures as Decimal's half-even quantize, sign of zero too."""
    rng = random.Random(14)
    values = [rng.randrange(-(10**13), 10**13) for _ in range(3000)]
    values += [rng.randrange(-(10**6), 10**6) * 5_000 for _ in range(3000)]  # half cents and whole ones
    for micros in values:
        cents = (decimal.Decimal(micros) / MICROS).quantize(decimal.Decimal("0.01"), rounding=decimal.ROUND_HALF_EVEN)
        amount = to_amount(micros)
        assert (amount, math.copysign(1, amount)) == (float(cents), math.copysign(1, float(cents))), micros
        assert format_money(micros, "EUR") == f"EUR {cents:,.2f}", micros


@pytest.mark.parametrize(
    ("micros", "currency", "text"),
    [
        pytest.param(1_234_500_000, "EUR", "EUR 1,234.50", id="thousands"),
        pytest.param(25_000_000, "GBP", "GBP 25.00", id="two-decimals"),
        pytest.param(5_000, "EUR", "EUR 0.00", id="half-cent-to-even"),
        pytest.param(-1_234_567_890, "EUR", "EUR -1,234.57", id="negative"),
        pytest.param(-5_000, "EUR", "EUR -0.00", id="negative-rounding-to-nothing"),
    ],
)
def test_format_money(micros: int, currency: str, text: str) -> None:
    assert format_money(micros, currency) == text
