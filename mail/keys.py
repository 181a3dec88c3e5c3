"""The intake ledger's key for a raw email, shared by the SMTP edge and the IMAP poller, so a
message that arrives both ways is stored once.

It is `mail.parse.message_key` (the Message-ID, else a hash of the bytes) made safe to store: a
key that cannot be read or does not fit the ledger's column becomes a hash instead.
"""

from __future__ import annotations

import hashlib
import logging

from mail.parse import message_key

log = logging.getLogger(__name__)

# The width of IntakeRecord.external_id: a key that does not fit would fail the insert on
# PostgreSQL every time, and a 451 for ever is worse than a hash.
_KEY_LIMIT = 998


def ledger_key(raw: bytes) -> str:
    """The ledger key of a raw message: its Message-ID, else a hash."""
    try:
        key = message_key(raw)
    except Exception:  # a broken header block must not become a 451 for ever
        log.exception("message_key failed; keying the message by its hash")
        return "sha256:" + hashlib.sha256(raw).hexdigest()
    if len(key) > _KEY_LIMIT or "\x00" in key:
        # Keyed by a hash of the Message-ID, not of the bytes, so redeliveries still dedupe.
        return "sha256-id:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
    return key
