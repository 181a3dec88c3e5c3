"""Swedish personal identity numbers (personnummer, samordningsnummer): find and mask them.

A match needs a plausible date and a valid Luhn check digit, with or without the century and with
or without the separator, so ordinary ten-digit numbers (phone numbers, amounts) are rarely hit.
"""

from __future__ import annotations

import re

# Every candidate has its date part, six digits in a row; most texts have none, and this search is
# several times cheaper than the full pattern (the case list masks 100 texts per page).
_SIX_DIGITS = re.compile(r"\d{6}")
_CANDIDATE = re.compile(r"(?<![\d-])((?:19|20)?\d{2})(\d{2})(\d{2})([-+ ]?)(\d{4})(?![\d-])")


def _luhn_ok(digits: str) -> bool:
    total = 0
    for index, char in enumerate(digits):
        value = int(char) * (2 if index % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def _plausible(match: re.Match[str]) -> bool:
    year, month, day, _sep, tail = match.groups()
    day_number = int(day)
    if day_number > 60:  # samordningsnummer: day + 60
        day_number -= 60
    if not (1 <= int(month) <= 12 and 1 <= day_number <= 31):
        return False
    return _luhn_ok(year[-2:] + month + day + tail)


def find_personnummer(text: str) -> list[str]:
    return [m.group(0) for m in _CANDIDATE.finditer(text) if _plausible(m)]


def contains_personnummer(text: str) -> bool:
    return any(_plausible(m) for m in _CANDIDATE.finditer(text))


def mask_personnummer(text: str) -> str:
    """Keeps the date part, hides the last four digits: `19850101-1234` → `19850101-****`."""

    def _mask(match: re.Match[str]) -> str:
        if not _plausible(match):
            return match.group(0)
        year, month, day, sep, _tail = match.groups()
        return f"{year}{month}{day}{sep or '-'}****"

    if not _SIX_DIGITS.search(text):
        return text
    return _CANDIDATE.sub(_mask, text)
