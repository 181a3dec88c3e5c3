"""Turns an email outbox item into the RFC 5322 message that leaves the system.

Pure: no I/O, no clock, no fresh identifiers. The Message-ID comes from the payload, where it was
fixed when the row was enqueued, so a retried send is the same message and replies thread onto it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

from inbox.core.models import OutboxItem

# Written by staff: a person answers, so no Auto-Submitted (the citizen's vacation responder may
# answer it, and their mail client must not file it away as machine mail).
HUMAN_KINDS = frozenset({"case.reply"})

# What each automatic kind is, when its payload does not say (RFC 3834 §5): an acknowledgement
# answers a message, anything else the system sends on its own (check-ins, reminders) is generated.
DEFAULT_AUTO_SUBMITTED = {"case.ack": "auto-replied"}
FALLBACK_AUTO_SUBMITTED = "auto-generated"

# Wire form: CRLF line endings, headers encoded to 7-bit (RFC 2047) so any relay accepts them.
WIRE_POLICY = policy.SMTP


class ComposeError(ValueError):
    """The item cannot become a message at all (no Message-ID, no recipient): retrying won't help."""


def compose_email(item: OutboxItem, *, mail_from: str, now: datetime) -> EmailMessage:
    """The message for `item` from `mail_from`, dated `now`.

    Automatic mail carries `Auto-Submitted` and `X-Auto-Response-Suppress: All` so responders do
    not answer it. No `Precedence` header: RFC 3834 marks automatic mail with `Auto-Submitted`
    instead, and `Precedence: bulk/list` makes spam filters and mail clients treat an
    acknowledgement to one person as mass mail.
    """
    payload: Mapping[str, Any] = item.payload or {}
    message_id = _angle(payload.get("message_id"))
    if message_id is None:
        raise ComposeError(f"outbox item {item.id} has no message_id in its payload")
    if not item.recipient or not item.recipient.strip():
        raise ComposeError(f"outbox item {item.id} has no recipient")

    msg = EmailMessage(policy=policy.default)
    msg["From"] = mail_from
    msg["To"] = _one_line(item.recipient)
    msg["Subject"] = _one_line(str(payload.get("subject") or ""))
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = message_id
    in_reply_to = _angle(payload.get("in_reply_to"))
    if in_reply_to is not None:
        msg["In-Reply-To"] = in_reply_to
    references = _references(payload.get("references") or (), in_reply_to)
    if references:
        msg["References"] = " ".join(references)
    auto_submitted = auto_submitted_for(item.kind, payload)
    if auto_submitted is not None:
        msg["Auto-Submitted"] = auto_submitted
        # Exchange and Outlook ignore Auto-Submitted; this asks them for no out-of-office replies,
        # read receipts or delivery reports in answer to our automatic mail.
        msg["X-Auto-Response-Suppress"] = "All"
    msg.set_content(str(payload.get("text") or ""), subtype="plain", charset="utf-8")
    # After set_content, which clears every Content-* header.
    languages = [str(lang) for lang in payload.get("languages") or () if lang]
    if languages:
        msg["Content-Language"] = ", ".join(languages)
    return msg


def auto_submitted_for(kind: str, payload: Mapping[str, Any]) -> str | None:
    """The Auto-Submitted value for an item, or None for mail a person wrote."""
    if kind in HUMAN_KINDS:
        return None
    value = payload.get("auto_submitted")
    if isinstance(value, str) and value.strip():
        value = value.strip()
        return None if value.lower() == "no" else value
    return DEFAULT_AUTO_SUBMITTED.get(kind, FALLBACK_AUTO_SUBMITTED)


def to_bytes(msg: EmailMessage) -> bytes:
    """The exact bytes sent over SMTP and written to `.eml` files."""
    return msg.as_bytes(policy=WIRE_POLICY)


def _angle(value: object) -> str | None:
    """`abc@x` or `<abc@x>` → `<abc@x>`; None or blank → None."""
    if not isinstance(value, str):
        return None
    bare = value.strip().strip("<>").strip()
    return f"<{_one_line(bare)}>" if bare else None


def _references(values: Iterable[object], in_reply_to: str | None) -> list[str]:
    """Message-IDs in order, each once, ending with the one answered (RFC 5322 §3.6.4)."""
    seen: dict[str, None] = {}
    for value in values:
        mid = _angle(value)
        if mid is not None:
            seen.setdefault(mid, None)
    if in_reply_to is not None and in_reply_to not in seen:
        seen[in_reply_to] = None
    return list(seen)


def _one_line(value: str) -> str:
    # A line break in a header value would inject headers; the email package refuses them anyway.
    return " ".join(value.split()) if ("\n" in value or "\r" in value) else value.strip()
