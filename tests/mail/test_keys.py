"""The ledger key both mail edges store a message under, and the digest that tells a redelivery
from a different message under the same Message-ID."""

from __future__ import annotations

import hashlib

import pytest

from mail.keys import content_digest, ledger_key


def test_a_message_is_keyed_by_its_message_id() -> None:
    assert ledger_key(b"Message-ID: <a.1@example.org>\r\n\r\nHej\r\n") == "a.1@example.org"


def test_a_message_without_message_id_is_keyed_by_a_hash_of_its_bytes() -> None:
    raw = b"Subject: Hej\r\n\r\nText\r\n"
    assert ledger_key(raw) == "sha256:" + hashlib.sha256(raw).hexdigest()


def test_an_overlong_message_id_is_keyed_by_its_hash_so_redeliveries_still_dedupe() -> None:
    long_id = "x" * 1200 + "@example.org"
    first = ledger_key(f"Message-ID: <{long_id}>\r\n\r\nEtt\r\n".encode())
    again = ledger_key(f"Message-ID: <{long_id}>\r\nX-Retry: 1\r\n\r\nEtt\r\n".encode())
    assert first == again == "sha256-id:" + hashlib.sha256(long_id.encode()).hexdigest()


# --- The content digest: a redelivery from another message under the same Message-ID -----------

MESSAGE = (
    b"From: Anna <anna@example.se>\r\nTo: synpunkt@kommun.se\r\nSubject: Synpunkt\r\n"
    b"Message-ID: <same@example.se>\r\n\r\nHej, hemtj\xc3\xa4nsten kom inte.\r\n"
)


@pytest.mark.parametrize(
    "copy",
    [
        b"Received: from relay2.example.org\r\n\tby mx.kommun.se; Tue, 10 Mar 2026\r\n" + MESSAGE,
        b"Return-Path: <anna@example.se>\r\nDelivered-To: synpunkt@kommun.se\r\n"
        b"X-Original-To: synpunkt@kommun.se\r\n" + MESSAGE,
        MESSAGE.replace(b"Subject:", b"Received: by mx2 (Postfix)\r\nSubject:"),
        b"Authentication-Results: mx.kommun.se; spf=pass\r\nARC-Seal: i=1; a=rsa-sha256\r\n"
        + MESSAGE,
        MESSAGE.replace(b"\r\n", b"\n"),
        b"From anna@example.se Tue Mar 10 09:00:00 2026\n" + MESSAGE + b"\r\n\r\n",
    ],
    ids=["relay", "delivery", "trace-inside", "verdicts", "lf", "mbox"],
)
def test_copies_of_one_message_have_one_digest_whatever_relays_added(copy: bytes) -> None:
    assert content_digest(copy) == content_digest(MESSAGE)
    assert ledger_key(copy) == ledger_key(MESSAGE) == "same@example.se"


@pytest.mark.parametrize(
    "other",
    [
        MESSAGE.replace(b"kom inte", b"kom sent"),
        MESSAGE.replace(b"Subject: Synpunkt", b"Subject: Klagom\xc3\xa5l"),
        MESSAGE.replace(b"To: synpunkt@kommun.se", b"To: registrator@kommun.se"),
        MESSAGE.replace(b"\r\n\r\n", b"\r\nX-Mailer: Scanner 3000\r\n\r\n"),
    ],
    ids=["body", "subject", "recipient", "sender-field"],
)
def test_a_message_that_says_something_else_has_another_digest(other: bytes) -> None:
    assert content_digest(other) != content_digest(MESSAGE)
    assert ledger_key(other) == ledger_key(MESSAGE)  # the id alone cannot tell them apart


def test_the_digest_is_a_sha256_of_what_is_left() -> None:
    raw = b"Received: x\nSubject: a\n\nb\n"
    assert content_digest(raw) == hashlib.sha256(b"Subject: a\nb").hexdigest()
