"""Fixtures for the mail adapter's tests: a real Dovecot on loopback (see `dovecot.py`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import require_component
from tests.mail.dovecot import Dovecot, available


def _dovecot(tls: bool) -> Iterator[Dovecot]:
    require_component(
        "Dovecot", available(), "apt-get install dovecot-imapd (the tests run it as root)"
    )
    server = Dovecot(tls=tls)
    try:
        server.start()
        yield server
    finally:
        server.close()


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    """Plain IMAP (no STARTTLS) with a fresh maildir."""
    yield from _dovecot(tls=False)


@pytest.fixture
def dovecot_tls() -> Iterator[Dovecot]:
    """imaps and STARTTLS with a self-signed certificate (`ssl_context()` trusts it)."""
    yield from _dovecot(tls=True)
