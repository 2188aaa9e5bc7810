"""models.timestamps: the one place that parses and formats times (epoch ms, UTC)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from models.timestamps import (
    MS_PER_DAY,
    MS_PER_HOUR,
    add_months,
    format_date,
    format_duration,
    format_human,
    format_ms,
    parse_rfc3339,
    period_of,
)

from ..factories import MINUTE, T0


def test_units() -> None:
    assert (MS_PER_HOUR, MS_PER_DAY) == (3_600_000, 86_400_000)


@pytest.mark.parametrize(
    ("text", "epoch_ms"),
    [
        pytest.param("1970-01-01T00:00:00Z", 0, id="epoch"),
        pytest.param("1969-12-31T23:59:59.999Z", -1, id="before-epoch"),
        pytest.param("2026-11-22T10:00:00Z", T0, id="z"),
        pytest.param("2026-11-22T10:00:00+00:00", T0, id="zero-offset"),
        pytest.param("2026-11-22T11:00:00+01:00", T0, id="positive-offset"),
        pytest.param("2026-11-22T00:00:00-10:00", T0, id="negative-offset-across-midnight"),
        pytest.param("2026-11-22T10:00:00.5Z", T0 + 500, id="one-fraction-digit"),
        pytest.param("2026-11-22T10:00:00.001Z", T0 + 1, id="millisecond"),
        pytest.param("2026-11-22T10:00:00.0009Z", T0, id="sub-millisecond-floors"),
        pytest.param("2026-11-22T10:00:00.999999999+00:00", T0 + 999, id="nanoseconds"),
        pytest.param("2024-02-29T00:00:00Z", 1709164800000, id="leap-day"),
    ],
)
def test_parse_rfc3339(text: str, epoch_ms: int) -> None:
    assert parse_rfc3339(text) == epoch_ms


@pytest.mark.parametrize(
    ("value", "message"),
    [
        pytest.param(None, "must be an RFC 3339 string", id="none"),
        pytest.param(T0, "must be an RFC 3339 string", id="number"),
        pytest.param("", "must be RFC 3339 with a time zone offset", id="empty"),
        pytest.param("2026-11-22T10:00:00", "must be RFC 3339 with a time zone offset", id="no-offset"),
        pytest.param("2026-11-22", "must be RFC 3339 with a time zone offset", id="date-only"),
        pytest.param("2026-11-22T10:00Z", "must be RFC 3339 with a time zone offset", id="no-seconds"),
        pytest.param("20261122T100000Z", "must be RFC 3339 with a time zone offset", id="basic-format"),
        pytest.param("2026-11-22T10:00:00+0100", "must be RFC 3339 with a time zone offset", id="offset-no-colon"),
        pytest.param("2026-11-22T10:00:00.Z", "must be RFC 3339 with a time zone offset", id="empty-fraction"),
        pytest.param("2026-11-22T10:00:00Z trailing", "must be RFC 3339 with a time zone offset", id="trailing"),
        pytest.param("2026-11-22T10:00:00Z\n", "must be RFC 3339 with a time zone offset", id="trailing-newline"),
        pytest.param("2026-02-30T10:00:00Z", "is not a valid date and time", id="february-30"),
        pytest.param("2026-11-22T24:00:01Z", "is not a valid date and time", id="hour-24"),
        pytest.param("2026-11-22T10:00:00+25:00", "is not a valid date and time", id="offset-25h"),
    ],
)
def test_parse_rfc3339_rejects(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{message}$"):
        parse_rfc3339(value)


def test_parse_rfc3339_accepts_lower_case_t_and_z() -> None:
    assert parse_rfc3339("2026-11-22t10:00:00z") == T0


@pytest.mark.parametrize(
    ("epoch_ms", "text"),
    [
        pytest.param(0, "1970-01-01T00:00:00Z", id="epoch"),
        pytest.param(T0, "2026-11-22T10:00:00Z", id="whole-second"),
        pytest.param(T0 + 5, "2026-11-22T10:00:00.005Z", id="milliseconds-padded"),
        pytest.param(T0 + 999, "2026-11-22T10:00:00.999Z", id="just-below-next-second"),
        pytest.param(-1, "1969-12-31T23:59:59.999Z", id="before-epoch"),
    ],
)
def test_format_ms(epoch_ms: int, text: str) -> None:
    assert format_ms(epoch_ms) == text


@pytest.mark.parametrize("epoch_ms", [0, 1, T0, T0 + 1, T0 + 123, T0 + 999, 253402300799999])
def test_format_ms_round_trips(epoch_ms: int) -> None:
    assert parse_rfc3339(format_ms(epoch_ms)) == epoch_ms


def test_format_human() -> None:
    assert format_human(T0) == "22 Nov 2026, 10:00 UTC"
    assert format_human(T0 - 9 * MS_PER_HOUR + 59_999) == "22 Nov 2026, 01:00 UTC"


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        pytest.param(0, "0 minutes", id="zero"),
        pytest.param(MINUTE - 1, "0 minutes", id="below-a-minute"),
        pytest.param(MINUTE, "1 minute", id="one-minute-singular"),
        pytest.param(119 * MINUTE, "119 minutes", id="just-below-two-hours"),
        pytest.param(120 * MINUTE, "2 hours", id="two-hours"),
        pytest.param(72 * MS_PER_HOUR - 1, "71 hours", id="just-below-three-days"),
        pytest.param(72 * MS_PER_HOUR, "3 days", id="three-days"),
        pytest.param(10 * MS_PER_DAY + MS_PER_HOUR, "10 days", id="days-floor"),
    ],
)
def test_format_duration(ms: int, text: str) -> None:
    assert format_duration(ms) == text


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _by_datetime_add_months(epoch_ms: int, months: int) -> int:
    moment = _EPOCH + timedelta(milliseconds=epoch_ms)
    year, month = divmod(moment.year * 12 + moment.month - 1 + months, 12)
    last_day = (datetime(year + (month == 11), (month + 1) % 12 + 1, 1, tzinfo=UTC) - timedelta(days=1)).day
    moved = moment.replace(year=year, month=month + 1, day=min(moment.day, last_day))
    return (moved - _EPOCH) // timedelta(milliseconds=1)


def test_the_calendar_helpers_agree_with_datetime() -> None:
    """They work on whole days from tables and remembered days, for speed: the same answers as datetime's."""
    rng = random.Random(15)
    moments = [rng.randrange(-2 * 10**12, 4 * 10**12) for _ in range(3000)]
    # Month ends and leap days, their first and last millisecond.
    for year in (1900, 2000, 2023, 2024, 2100):
        for month in range(1, 13):
            start = (datetime(year, month, 1, tzinfo=UTC) - _EPOCH) // timedelta(milliseconds=1)
            moments += [start, start - 1, start + MS_PER_DAY - 1]
    for epoch_ms in moments:
        moment = _EPOCH + timedelta(milliseconds=epoch_ms)
        assert format_ms(epoch_ms) == moment.isoformat(timespec="milliseconds").replace(".000", "").replace(
            "+00:00", "Z"
        )
        assert format_human(epoch_ms) == moment.strftime("%-d %b %Y, %H:%M UTC")
        assert format_date(epoch_ms) == moment.strftime("%-d %b %Y")
        assert period_of(epoch_ms) == moment.strftime("%Y-%m")
        for months in (1, -1, 12, 13, -25, rng.randrange(-120, 120)):
            assert add_months(epoch_ms, months) == _by_datetime_add_months(epoch_ms, months), (epoch_ms, months)
