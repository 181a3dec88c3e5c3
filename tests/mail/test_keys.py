"""The ledger key both mail edges store a message under."""

from __future__ import annotations

import hashlib

from mail.keys import ledger_key


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
