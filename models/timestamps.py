"""The one place that parses and formats timestamps.

Event time is carried as integer epoch milliseconds (UTC) from decode to alert:
cheap to compare, exact, and JSON-friendly in state.
"""

from __future__ import annotations

import functools
import re
import time
from datetime import UTC, datetime, timedelta

__all__ = [
    "parse_rfc3339",
    "format_ms",
    "format_human",
    "format_duration",
    "MS_PER_HOUR",
    "MS_PER_DAY",
    "add_months",
    "month_index",
    "period_start",
    "period_end",
    "period_of",
    "shift_period",
    "format_period",
    "format_date",
]

MS_PER_HOUR = 3_600_000
MS_PER_DAY = 24 * MS_PER_HOUR

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)

# datetime.fromisoformat accepts far more than RFC 3339 (dates alone, basic
# format, no offset); the shape check keeps the contract strict.
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2})\Z")


def parse_rfc3339(value: object) -> int:
    """Return epoch milliseconds for an RFC 3339 timestamp with offset.

    Raises ValueError with a short reason when the value is not one.
    """
    if not isinstance(value, str):
        raise ValueError("must be an RFC 3339 string")
    if _RFC3339.match(value) is None:
        raise ValueError("must be RFC 3339 with a time zone offset")
    text = value.upper()  # RFC 3339 allows t and z; fromisoformat wants T and Z
    if "." in text:
        # Python parses at most microseconds; nanosecond inputs are valid RFC 3339.
        head, _, rest = text.partition(".")
        digits = len(rest) - len(rest.lstrip("0123456789"))
        text = head + "." + rest[: min(digits, 6)] + rest[digits:]
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError("is not a valid date and time") from None
    return (moment - _EPOCH) // _ONE_MS


# English month abbreviations, as strftime's %b gives them in the C locale (the worker never sets another):
# formatting from time.gmtime's fields is several times cheaper than strftime, and every alert formats times.
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


# Every alert formats its time: the date of a day is made once (stream time walks through few days), the
# time of day from small tables.
_HOURS_MINUTES = tuple(f"{h:02d}:{m:02d}:" for h in range(24) for m in range(60))
_SECONDS = tuple(f"{s:02d}" for s in range(60))
_MILLIS = ("Z", *(f".{ms:03d}Z" for ms in range(1, 1000)))


@functools.lru_cache(maxsize=4096)
def _date_of_day(days: int) -> str:
    t = time.gmtime(days * 86400)
    return f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T"


def format_ms(epoch_ms: int) -> str:
    """Format epoch milliseconds as RFC 3339 UTC (``Z``), millisecond precision when needed."""
    seconds, ms = divmod(epoch_ms, 1000)
    days, second_of_day = divmod(seconds, 86400)
    minute_of_day, second = divmod(second_of_day, 60)
    return _date_of_day(days) + _HOURS_MINUTES[minute_of_day] + _SECONDS[second] + _MILLIS[ms]


def format_human(epoch_ms: int) -> str:
    """``22 Nov 2026, 10:00 UTC`` for a sentence a person reads out."""
    return _format_minute(epoch_ms // 60_000)


# Many alerts name the same moment (a promise, a deadline): the few recent minutes are remembered.
@functools.lru_cache(maxsize=4096)
def _format_minute(minutes: int) -> str:
    t = time.gmtime(minutes * 60)
    return f"{t.tm_mday} {_MONTHS[t.tm_mon - 1]} {t.tm_year:04d}, {t.tm_hour:02d}:{t.tm_min:02d} UTC"


def format_duration(ms: int) -> str:
    """``26 hours`` / ``3 days`` / ``45 minutes``: the lateness a person understands."""
    minutes = ms // 60_000
    if minutes < 120:
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    hours = ms // MS_PER_HOUR
    if hours < 72:
        return f"{hours} hours"
    return f"{ms // MS_PER_DAY} days"


# --- calendar months: billing periods ("YYYY-MM") and terms in months ---------


# Calendar arithmetic on whole days: a customer's terms, periods and notices fall on few distinct days, so
# a day's fields and a date's day number are remembered, and the rest is integer arithmetic.
@functools.lru_cache(maxsize=8192)
def _fields_of_day(days: int) -> tuple[int, int, int]:
    """(year, month, day) of the day ``days`` after 1 Jan 1970 (UTC)."""
    moment = _EPOCH + timedelta(days=days)
    return moment.year, moment.month, moment.day


@functools.lru_cache(maxsize=8192)
def _day_of_date(year: int, month: int, day: int) -> int:
    """Days from 1 Jan 1970 to the date."""
    return (datetime(year, month, day, tzinfo=UTC) - _EPOCH).days


_DAYS_IN_MONTH = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def add_months(epoch_ms: int, months: int) -> int:
    """The same wall-clock moment ``months`` calendar months later (UTC), clamped to the month's end.

    31 Jan + 1 month is 28/29 Feb: a term of a month never spills into the next one.
    """
    days, ms_of_day = divmod(epoch_ms, MS_PER_DAY)
    year, month, day = _fields_of_day(days)
    year, month = divmod(year * 12 + month - 1 + months, 12)
    month += 1
    if not 1 <= year <= 9998:
        return _add_months_by_datetime(epoch_ms, months)  # datetime's limits decide there, as they did
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    days_in_month = 29 if month == 2 and leap else _DAYS_IN_MONTH[month - 1]
    return _day_of_date(year, month, min(day, days_in_month)) * MS_PER_DAY + ms_of_day


def _add_months_by_datetime(epoch_ms: int, months: int) -> int:
    moment = _EPOCH + timedelta(milliseconds=epoch_ms)
    index = moment.year * 12 + moment.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    days_in_month = (datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=UTC) - timedelta(days=1)).day
    moved = moment.replace(year=year, month=month, day=min(moment.day, days_in_month))
    return (moved - _EPOCH) // _ONE_MS


def month_index(epoch_ms: int) -> int:
    """Calendar months since year 0 of the moment's month (UTC): the difference of two counts whole months."""
    t = time.gmtime(epoch_ms // 1000)
    return t.tm_year * 12 + t.tm_mon - 1


# Periods are few (a customer's last months) and asked for at every usage judgment: remembered.
@functools.lru_cache(maxsize=1024)
def period_start(period: str) -> int:
    """Epoch ms at which the period ``YYYY-MM`` begins (UTC)."""
    year, month = int(period[:4]), int(period[5:7])
    return (datetime(year, month, 1, tzinfo=UTC) - _EPOCH) // _ONE_MS


@functools.lru_cache(maxsize=1024)
def period_end(period: str) -> int:
    """Epoch ms at which the period ``YYYY-MM`` ends: the start of the next one."""
    return add_months(period_start(period), 1)


def period_of(epoch_ms: int) -> str:
    """The period ``YYYY-MM`` that contains the moment (UTC)."""
    year, month, _ = _fields_of_day(epoch_ms // MS_PER_DAY)
    return f"{year:04d}-{month:02d}"


def shift_period(period: str, months: int) -> str:
    """The period ``months`` after (or before, if negative) ``period``."""
    return period_of(add_months(period_start(period), months))


@functools.lru_cache(maxsize=1024)
def format_period(period: str) -> str:
    """``Oct 2026`` for a sentence a person reads out."""
    return datetime(int(period[:4]), int(period[5:7]), 1, tzinfo=UTC).strftime("%b %Y")


@functools.lru_cache(maxsize=4096)
def _format_day(days: int) -> str:
    moment = _EPOCH + timedelta(days=days)
    return f"{moment.day} {moment.strftime('%b %Y')}"


def format_date(epoch_ms: int) -> str:
    """``22 Nov 2026`` for a sentence a person reads out."""
    return _format_day(epoch_ms // MS_PER_DAY)
