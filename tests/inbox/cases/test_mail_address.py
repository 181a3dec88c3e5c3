"""One rule for an e-mail address typed into a form (hand registration, decisions, the citizen's
web form, a staff member's notification address)."""

from __future__ import annotations

import pytest

from inbox.core.addresses import MAX_MAIL_ADDRESS, is_mail_address


@pytest.mark.parametrize(
    "address",
    [
        "anna@example.se",
        "o'brien@exempel.se",
        "anna.berg+synpunkt@kommun.lund.se",
        "åsa@exempel.se",
    ],
)
def test_addresses_people_have_are_taken(address: str) -> None:
    assert is_mail_address(address)


@pytest.mark.parametrize(
    "address",
    [
        "anna",
        "anna@example",
        "anna@@example.se",
        "anna berg@example.se",
        "anna@example.se\nBcc: all@example.se",  # a header smuggled in
        "Anna <anna@example.se>",
        "anna@example.se, bo@example.se",
        "anna@example.se;bo@example.se",
        "anna@example.",
        "anna@exam'ple.se",
        "a" * (MAX_MAIL_ADDRESS - len("@example.se") + 1) + "@example.se",
    ],
)
def test_anything_else_is_refused(address: str) -> None:
    assert not is_mail_address(address)
