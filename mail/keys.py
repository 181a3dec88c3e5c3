"""The intake ledger's key for a raw email, shared by the SMTP edge and the IMAP poller, so a
message that arrives both ways is stored once; and the digest of its content, which tells a
redelivery from another message under the same Message-ID.

The key is `mail.parse.message_key` (the Message-ID, else a hash of the bytes) made safe to store:
a key that cannot be read or does not fit the ledger's column becomes a hash instead.
"""

from __future__ import annotations

import hashlib
import logging
import re

from mail.parse import message_key

log = logging.getLogger(__name__)

# The width of IntakeRecord.external_id: a key that does not fit would fail the insert on
# PostgreSQL every time, and a 451 for ever is worse than a hash.
_KEY_LIMIT = 998

# Header fields added on the way rather than by the sender: the trace fields of RFC 5321 (section
# 4.4), what delivery agents add (the envelope's recipient and sender), and the receiving servers'
# verdicts on the path. A message retried through another relay, or read from the mailbox it was
# delivered to, has more or other ones; the sender's fields and the body are the same.
TRACE_FIELDS = frozenset(
    {
        "received",
        "return-path",
        "delivered-to",
        "x-original-to",
        "envelope-to",
        "x-envelope-to",
        "x-envelope-from",
        "received-spf",
        "authentication-results",
        "arc-seal",
        "arc-message-signature",
        "arc-authentication-results",
    }
)
_FIELD_NAME = re.compile(rb"([\x21-\x39\x3b-\x7e]+)[ \t]*:")
_LINE = re.compile(rb"[^\n]*\n?")


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


def content_digest(raw: bytes) -> str:
    """SHA-256 (hex) of the message without what relays add on the way: the top header block's
    `TRACE_FIELDS` and an mbox `From ` line left out, line ends as LF and trailing white space
    dropped.

    Two copies of one message have the same digest however they came (retried through another
    relay, over SMTP and from the mailbox); two messages that share a Message-ID (some clients
    reuse them) but say different things do not. One pass over the header block, one over the rest.
    """
    data = raw.replace(b"\r\n", b"\n").lstrip(b"\n\t ")
    kept: list[bytes] = []
    skipping = False  # within a trace field: its continuation lines go with it
    body = len(data)
    for match in _LINE.finditer(data):
        line = match.group()
        if not line.strip():
            body = match.end()  # after the blank line that ends the header block
            break
        if match.start() == 0 and line.startswith(b"From "):
            continue  # an mbox separator: the envelope, not the message
        field = _FIELD_NAME.match(line) if line[:1] not in (b" ", b"\t") else None
        if field is not None:
            skipping = field.group(1).lower().decode("ascii") in TRACE_FIELDS
        if not skipping:
            kept.append(line)
    digest = hashlib.sha256(b"".join(kept))
    digest.update(memoryview(data.rstrip())[body:])
    return digest.hexdigest()
