"""Every header read as the sender meant it (issue 13): raw 8-bit header bytes in the charset the
message declares, a header block broken by lines without their leading white space, and a header
block below a forwarding banner. `test_header_edges.py` sends the same mails over SMTP and IMAP.
"""

from __future__ import annotations

import pytest

from inbox.core.inbound import UnparsableMessage
from mail.headers import header_start, repair_continuations
from mail.parse import message_key, parse_email
from tests.mail.header_cases import LEGACY, TRACKING, banner_mail, broken_mail, legacy_mail

# --- Raw 8-bit header bytes in a legacy charset ---------------------------------------------


@pytest.mark.parametrize("layout", ["one part", "declared in a later part"])
@pytest.mark.parametrize(("charset", "name", "subject"), LEGACY, ids=[c for c, _, _ in LEGACY])
def test_raw_header_bytes_are_decoded_with_the_charset_the_body_declares(
    charset: str, name: str, subject: str, layout: str
) -> None:
    message = parse_email(legacy_mail(charset, name, subject, layout=layout))
    assert message.subject == subject
    assert message.sender_name == name
    assert message.sender_address == "sender@example.org"
    assert not any("\ufffd" in d for d in message.defects)


def test_raw_header_bytes_in_utf8_stay_utf8_whatever_the_body_declares() -> None:
    raw = legacy_mail("koi8-r", "x", "y", layout="one part").replace(
        b"Subject: y", "Subject: Synpunkt på hemtjänsten".encode()
    )
    assert parse_email(raw).subject == "Synpunkt på hemtjänsten"


def test_raw_header_bytes_without_any_declared_charset_fall_back_to_latin_1() -> None:
    raw = "From: Åsa Öberg <asa@example.se>\nSubject: Synpunkt på vården\n\nHej\n".encode("latin-1")
    message = parse_email(raw)
    assert (message.sender_name, message.subject) == ("Åsa Öberg", "Synpunkt på vården")


def test_an_encoded_word_in_the_charset_of_the_raw_bytes_declares_it_too() -> None:
    subject = "=?koi8-r?B?" + __import__("base64").b64encode("Жалоба".encode("koi8-r")).decode()
    raw = f"From: Иван <i@example.org>\nSubject: {subject}?=\n\nHello\n".encode("koi8-r")
    message = parse_email(raw)
    assert (message.sender_name, message.subject) == ("Иван", "Жалоба")


def test_an_encoded_word_in_utf7_stays_decoded() -> None:
    raw = (
        b"From: postmaster@example.org\n"
        b"Subject: =?unicode-1-1-utf-7?Q?+ANw-bermittlungsstatus?=\n"
        b"Content-Type: text/plain; charset=koi8-r\n\nx\n"
    )
    assert parse_email(raw).subject == "Übermittlungsstatus"


# --- A header block broken by lines without leading white space ------------------------------


@pytest.mark.parametrize("line_end", ["\n", "\r\n"], ids=["lf", "crlf"])
def test_lines_without_a_colon_followed_by_header_fields_are_continuation_lines(
    line_end: str,
) -> None:
    raw = broken_mail(line_end)
    message = parse_email(raw)
    assert message.sender_address == "anna@example.se"
    assert message.sender_name == "Anna Andersson"
    assert message.subject == "Synpunkt om hemtjänsten"
    assert message.message_id == message.external_id == message_key(raw) == "broken.1@example.se"
    assert message.text == "Hej, personalen kommer ofta sent."
    assert message.raw == raw  # kept as it came; only the parser reads it repaired
    assert "2 lines in the header block without leading white space: read as folded" in (
        message.defects
    )
    assert "MissingHeaderBodySeparatorDefect" not in message.defects


def test_a_subject_folded_without_white_space_is_read_whole() -> None:
    raw = (
        b"Subject: Klagom\xc3\xa5l p\xc3\xa5 handl\xc3\xa4ggningen av\n"
        b"min ans\xc3\xb6kan om bist\xc3\xa5nd\n"
        b"From: Anna <anna@example.se>\nMessage-ID: <s.1@example.se>\n\nHej\n"
    )
    message = parse_email(raw)
    assert message.subject == "Klagomål på handläggningen av min ansökan om bistånd"
    assert message.sender_address == "anna@example.se"


def test_several_broken_runs_are_each_repaired() -> None:
    raw = (
        b"X-A: 1\nQUFBQUFB\nQkJCQkJC\nX-B: 2\nQ0NDQ0ND\nFrom: anna@example.se\n"
        b"Subject: Hej\nMessage-ID: <runs@example.se>\n\nText\n"
    )
    message = parse_email(raw)
    assert (message.sender_address, message.subject, message.message_id) == (
        "anna@example.se",
        "Hej",
        "runs@example.se",
    )
    assert message.text == "Text"


def test_a_mail_without_a_blank_line_after_its_headers_keeps_its_body() -> None:
    raw = (
        b"From: anna@example.se\nSubject: Hej\n"
        b"Jag vill klaga p\xc3\xa5 bem\xc3\xb6tandet.\nObs: det h\xc3\xa4nde tv\xc3\xa5 g\xc3\xa5nger.\n"
    )
    message = parse_email(raw)
    assert message.subject == "Hej"
    assert message.text == "Jag vill klaga på bemötandet.\nObs: det hände två gånger."
    assert repair_continuations(raw) == (raw, 0)


def test_prose_is_not_glued_to_a_header_by_a_line_that_only_looks_like_a_field() -> None:
    # "Ärende:" is no field real mail carries, and the lines before it are sentences.
    raw = "From: anna@example.se\nSubject: Hej\nJag skriver om min mamma.\nÄrende:1\n".encode()
    assert repair_continuations(raw) == (raw, 0)
    raw = b"From: anna@example.se\nSubject: Hej\nJag skriver om min mamma.\nNote:x\n"
    assert repair_continuations(raw) == (raw, 0)


def test_a_run_of_tokens_before_any_field_is_a_continuation() -> None:
    raw = b"X-A: 1\nQUFBQUFB\nX-Custom-Thing: 2\nFrom: anna@example.se\n\nText\n"
    repaired, count = repair_continuations(raw)
    assert count == 1 and repaired == raw.replace(b"\nQUFB", b"\n QUFB")


def test_an_unbroken_header_block_is_not_copied() -> None:
    raw = broken_mail().replace(TRACKING.encode(), b"")
    assert repair_continuations(raw)[0] is raw


# --- A forwarding banner above the header block ----------------------------------------------


@pytest.mark.parametrize(
    "banner",
    [
        "---- Original email message ----\n",
        "-----Original Message-----\n",
        "Begin forwarded message:\n\n",
        "---------- Forwarded message ---------\n",
        "From anna@example.se Tue Mar 10 09:00:00 2026\n---- Original email message ----\n",
    ],
    ids=["original-email", "outlook", "apple-mail", "gmail", "after-mbox-line"],
)
def test_a_message_starting_with_a_forwarding_banner_is_read_from_its_header_block(
    banner: str,
) -> None:
    raw = banner_mail(banner)
    message = parse_email(raw)
    assert (message.sender_address, message.subject) == ("anna@example.se", "Synpunkt")
    assert message.message_id == message.external_id == message_key(raw) == "banner.1@example.se"
    assert message.text == "Hej, vården var bra."
    assert message.recipients == ("synpunkt@kommun.se",)
    assert message.raw == raw
    assert "lines above the header block (a forwarding banner): read from below them" in (
        message.defects
    )


@pytest.mark.parametrize(
    "raw",
    [
        b"Just some text without any headers.\n",
        b"Hej!\nJag heter Anna.\nObs: viktigt\n\nText\n",
        b"A\nB\nC\nD\nFrom: anna@example.se\n\nText\n",  # more than a banner
        b"x" * 300 + b"\nFrom: anna@example.se\n\nText\n",  # a line longer than a banner
    ],
    ids=["no-headers", "no-known-field", "too-many-lines", "too-long"],
)
def test_text_that_is_no_banner_above_a_header_block_is_still_refused(raw: bytes) -> None:
    assert header_start(raw) == 0
    with pytest.raises(UnparsableMessage):
        parse_email(raw)
