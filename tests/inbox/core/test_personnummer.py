"""The one personnummer detector: every way people write one is found and masked, nothing else."""

from __future__ import annotations

import pytest

from inbox.core.personnummer import contains_personnummer, find_personnummer, mask_personnummer

WRITTEN = [
    ("19850101-1236", "19850101-****"),
    ("850101-1236", "850101-****"),
    ("850101+1236", "850101+****"),
    ("850101 1236", "850101 ****"),
    ("8501011236", "850101-****"),
    ("198501011236", "19850101-****"),
    ("85-01-01-1236", "85-01-01-****"),
    ("1985-01-01-1236", "1985-01-01-****"),
    ("1985-01-01+1236", "1985-01-01+****"),
    ("85.01.01-1236", "85.01.01-****"),
    ("85/01/01/1236", "85/01/01/****"),
    ("85 01 01 1236", "85 01 01 ****"),
    ("85-01-61-1001", "85-01-61-****"),  # samordningsnummer: day + 60
]


@pytest.mark.parametrize(("number", "masked"), WRITTEN)
def test_every_written_form_is_found_and_masked_in_running_text(number: str, masked: str) -> None:
    text = f"Hej, det gäller min son ({number}). Ring mig."
    assert find_personnummer(text) == [number]
    assert mask_personnummer(text) == f"Hej, det gäller min son ({masked}). Ring mig."


def test_a_number_glued_to_letters_is_masked_too() -> None:
    assert mask_personnummer("Ärende VUX-850101-1236 och BES198501011236") == (
        "Ärende VUX-850101-**** och BES19850101-****"
    )


@pytest.mark.parametrize(
    "text",
    [
        # Each has a plausible date and a valid check digit; only the shape says it is no number.
        "Mötet 2026-03-10 1409 i rum 4",  # a date and a time
        "26-03-10 1417",
        "85-01.01-1236",  # mixed separators
        "12-850101-1236",  # part of a longer number
        "850101-1236-5",
        "1850101-1236",
        "850101-12367",
        # Ordinary numbers.
        "SP-2026-0042",
        "VUX-2026/0042",
        "IFO-2026-03-0042",
        "070-123 45 67",
        "08-123 456 78",
        "+46 70 123 45 67",
        "031-701 12 34",
        "2026-03-10",
        "10.03.2026",
        "2026-03-10 14:30",
        "1 234 567 kr",
        "85-01-01-1237",  # the check digit does not add up
    ],
)
def test_look_alikes_are_neither_found_nor_masked(text: str) -> None:
    assert not contains_personnummer(text)
    assert mask_personnummer(text) == text
