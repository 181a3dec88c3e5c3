"""Time as a Swedish authority counts it: Stockholm's clock, and working days.

Weekends and Swedish public holidays are not working days. Used for due dates (a unit's response
time in working days), check-in scheduling and the year of a case reference.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import holidays

STOCKHOLM = ZoneInfo("Europe/Stockholm")


def stockholm_days(start: date, end: date) -> tuple[datetime, datetime]:
    """The UTC instants from the start of `start` to the end of `end` (inclusive), Stockholm
    dates: `since <= t < until` is "on one of those days"."""
    since = datetime.combine(start, time(), tzinfo=STOCKHOLM).astimezone(UTC)
    until = datetime.combine(end + timedelta(days=1), time(), tzinfo=STOCKHOLM).astimezone(UTC)
    return since, until


@cache
def _swedish_holidays(year: int) -> frozenset[date]:
    # holidays.Sweden counts every Sunday as a holiday by default; we only want the named days.
    # Midsummer, Christmas and New Year's Eve are not public holidays by law but are treated as
    # Sundays in working life (the "de facto" category), so offices are closed then too.
    calendar = holidays.country_holidays(
        "SE", years=year, include_sundays=False, categories=("public", "de_facto")
    )
    return frozenset(calendar)


def is_working_day(day: date) -> bool:
    return day.weekday() < 5 and day not in _swedish_holidays(day.year)


def add_working_days(start: date, days: int) -> date:
    """The date `days` working days after `start` (the start day itself never counts)."""
    current = start
    remaining = days
    while remaining > 0:
        current += timedelta(days=1)
        if is_working_day(current):
            remaining -= 1
    return current
