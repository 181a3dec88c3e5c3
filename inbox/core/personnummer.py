"""Swedish personal identity numbers (personnummer, samordningsnummer): find and mask them.

A match needs a plausible date and a valid Luhn check digit, with or without the century, written
together (`850101-1236`, `850101 1236`, `8501011236`) or with the date parts separated the same
way throughout (`85-01-01-1236`, `1985.01.01-1236`, `85 01 01 1236`). A separated date must be
followed by `-`, `+` or its own separator, so a date and a time (`2026-03-10 1430`) is no match,
and ordinary numbers (phone numbers, amounts, case references) rarely fit the shape at all.
"""

from __future__ import annotations

import re

# The shape of every candidate without its boundaries: most texts have none, and this search is
# several times cheaper than the full pattern (the case list masks 100 texts per page).
_SHAPE = re.compile(r"\d\d[-./ ]?\d\d[-./ ]?\d\d[-+./ ]?\d{4}")
_CANDIDATE = re.compile(
    # Not the middle of a longer number, nor its continuation after a separator; a letter or a
    # separator after a letter may come before (`VUX-850101-1236`).
    r"(?<!\d)(?<!\d[-./])"
    r"(?P<year>(?:19|20)?\d{2})"
    r"(?:"
    r"(?P<month>\d{2})(?P<day>\d{2})[-+ ]?"
    r"|(?P<datesep>[-./ ])(?P<smonth>\d{2})(?P=datesep)(?P<sday>\d{2})(?:[-+]|(?P=datesep))"
    r")"
    r"(?P<tail>\d{4})"
    r"(?!\d)(?![-./+]\d)"
)


def _luhn_ok(digits: str) -> bool:
    total = 0
    for index, char in enumerate(digits):
        value = int(char) * (2 if index % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def _parts(match: re.Match[str]) -> tuple[str, str, str, str]:
    """(year, month, day, last four) of a candidate, whichever way it was written."""
    month = match.group("month") or match.group("smonth")
    day = match.group("day") or match.group("sday")
    return match.group("year"), month, day, match.group("tail")


def _plausible(match: re.Match[str]) -> bool:
    year, month, day, tail = _parts(match)
    day_number = int(day)
    if day_number > 60:  # samordningsnummer: day + 60
        day_number -= 60
    if not (1 <= int(month) <= 12 and 1 <= day_number <= 31):
        return False
    return _luhn_ok(year[-2:] + month + day + tail)


def _matches(text: str) -> list[re.Match[str]]:
    if not _SHAPE.search(text):
        return []
    return [m for m in _CANDIDATE.finditer(text) if _plausible(m)]


def find_personnummer(text: str) -> list[str]:
    return [m.group(0) for m in _matches(text)]


def contains_personnummer(text: str) -> bool:
    return bool(_matches(text))


def mask_personnummer(text: str) -> str:
    """Keeps the date part as written, hides the last four: `19850101-1236` → `19850101-****`."""

    def _mask(match: re.Match[str]) -> str:
        if not _plausible(match):
            return match.group(0)
        date_part = match.group(0)[: match.start("tail") - match.start()]
        return date_part + ("-****" if date_part[-1].isdigit() else "****")

    if not _SHAPE.search(text):
        return text
    return _CANDIDATE.sub(_mask, text)
