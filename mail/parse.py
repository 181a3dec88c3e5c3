"""Turn raw RFC 5322 bytes into the hub's `InboundMessage`, purely and without ever giving up.

`message_key` is the cheap dedupe key the SMTP edge takes before anything else; `parse_email`
does the full work later, in the worker. Only input that is not an e-mail at all (an Outlook
.msg file, binary junk) raises `UnparsableMessage`; everything else parses, however broken.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from email import policy
from email.message import Message
from email.parser import BytesHeaderParser, BytesParser
from email.utils import parsedate_to_datetime

from inbox.inbound import Channel, InboundMessage, UnparsableMessage
from inbox.language import detect_language
from mail import mime
from mail.automation import classify
from mail.headers import (
    decode_header_value,
    mailboxes,
    raw_header_bytes,
    unfold,
    usable_address,
)
from mail.html import sanitize_html
from mail.quotes import strip_quotes

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_HEADER_LINE = re.compile(rb"^[\x21-\x39\x3b-\x7e]+[ \t]*:")
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_ANGLE_ID = re.compile(r"<([^<>]*)>")
# The language guess needs a few paragraphs, not a whole forwarded thread.
_LANGUAGE_SAMPLE = 3000


def message_key(raw: bytes) -> str:
    """The dedupe key: the Message-ID without angle brackets, else a hash of the bytes."""
    source = raw.lstrip(b"\r\n\t ")  # as parse_email reads it
    match = _HEADER_END.search(source)
    head = source[: match.end()] if match else source
    headers = BytesHeaderParser(policy=policy.compat32).parsebytes(head)
    return _message_id(headers) or "sha256:" + hashlib.sha256(raw).hexdigest()


def parse_email(raw: bytes) -> InboundMessage:
    """Parse `raw` into an `InboundMessage`; raise `UnparsableMessage` if it is not an e-mail."""
    _reject_non_messages(raw)
    source = raw.lstrip(b"\r\n\t ")
    try:
        msg: Message = BytesParser(policy=policy.default).parsebytes(source)
    except Exception:  # some inputs break the modern policy; the legacy one reads anything
        msg = BytesParser(policy=policy.compat32).parsebytes(source)
    hint = _charset_hint(msg)

    sender_name, sender_address = _sender(msg, hint)
    linesep = "\r\n" if b"\r\n" in source[:4096] else "\n"
    body = mime.extract(msg, hint=hint, linesep=linesep)
    text = body.text
    quote_free = body.text_without_html_quotes
    language = detect_language(text[:_LANGUAGE_SAMPLE]) if text else None
    display_text = strip_quotes(quote_free, language_hint=language) if quote_free else ""
    html = body.html
    subject = _header(msg, "Subject")
    extra = _extra(msg, hint)
    references = _references(_header(msg, "References"))
    in_reply_to = _ids(_header(msg, "In-Reply-To"))
    return InboundMessage(
        channel=Channel.EMAIL,
        external_id=message_key(raw),
        sender_address=sender_address,
        sender_name=sender_name,
        subject=decode_header_value(subject, hint=hint) if subject is not None else "",
        text=text,
        display_text=display_text or text,
        html=sanitize_html(html) if html else None,
        attachments=tuple(body.attachments),
        message_id=_message_id(msg),
        in_reply_to=in_reply_to[0] if in_reply_to else None,
        references=references,
        language=language,
        automation=classify(msg, sender_address),
        sent_at=_date(_header(msg, "Date")),
        recipients=tuple(
            address
            for _, address in mailboxes(_all(msg, "To") + _all(msg, "Cc"), hint=hint)
            if usable_address(address)
        ),
        defects=_defects(msg),
        raw=raw,
        extra=extra,
    )


def _reject_non_messages(raw: bytes) -> None:
    if raw.startswith(_OLE_MAGIC[:4]):
        raise UnparsableMessage("an Outlook .msg (OLE compound file), not an RFC 5322 message")
    head = raw[:4096]
    if not head.strip() or head.count(b"\x00") * 10 > len(head):
        raise UnparsableMessage("binary data, not an RFC 5322 message")
    lines = raw.lstrip(b"\r\n\t ").splitlines()
    first = lines[1] if lines and lines[0].startswith(b"From ") and len(lines) > 1 else lines[0]
    if not _HEADER_LINE.match(first):
        raise UnparsableMessage("no header lines: not an RFC 5322 message")


def _header(msg: Message, name: str) -> str | None:
    """The first raw value of a header; the header registry can raise on broken input."""
    values = _all(msg, name)
    return values[0] if values else None


def _all(msg: Message, name: str) -> list[str]:
    lowered = name.lower()
    return [str(value) for key, value in msg.raw_items() if key.lower() == lowered]


def _message_id(msg: Message) -> str | None:
    value = _header(msg, "Message-ID")
    ids = _ids(value)
    return ids[0] if ids else None


def _ids(value: str | None) -> list[str]:
    """Message-IDs in a header, in order; a bare id without brackets counts too."""
    if not value:
        return []
    value = raw_header_bytes(unfold(value)).decode("utf-8", "replace")
    found = [item.strip() for item in _ANGLE_ID.findall(value) if item.strip()]
    if not found:
        found = [token for token in re.split(r"[\s,]+", value.strip()) if token]
    return found


def _references(value: str | None) -> tuple[str, ...]:
    return tuple(dict.fromkeys(_ids(value)))


def _sender(msg: Message, hint: str | None) -> tuple[str | None, str | None]:
    """(name, address) of the From mailbox that answers go to; (name, None) when it has none.

    Only From counts. Reply-To, Sender, Return-Path and X-Original-Sender are whatever the sender
    chose, checked by nobody, so trusting them would let anyone aim our acknowledgement (and the
    case's contact) at a third party; From is at least what DMARC protects. They stay in `extra`
    for staff to read.
    """
    from_boxes = mailboxes(_all(msg, "From"), hint=hint)
    usable = [m for m in from_boxes if usable_address(m[1])]
    if usable:
        name, address = usable[0]
        return (name.strip() or None), address
    name = next((n for n, _ in from_boxes if n.strip()), "")
    return (name.strip() or None), None


def _charset_hint(msg: Message) -> str | None:
    """The first declared charset in the message, for guessing undeclared 8-bit headers."""
    try:
        for part in msg.walk():
            charset = part.get_param("charset")
            if isinstance(charset, str) and charset.strip():
                return charset
    except Exception:
        return None
    return None


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        sent = parsedate_to_datetime(unfold(value).strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if sent is None:
        return None
    return sent if sent.tzinfo else sent.replace(tzinfo=UTC)


def _defects(msg: Message) -> tuple[str, ...]:
    names: dict[str, None] = {}
    try:
        for part in msg.walk():
            for defect in part.defects:
                names.setdefault(type(defect).__name__, None)
    except Exception:
        pass
    return tuple(names)


def _extra(msg: Message, hint: str | None) -> dict[str, str]:
    extra: dict[str, str] = {}
    for key, header in (("reply_to", "Reply-To"), ("original_sender", "X-Original-Sender")):
        addresses = [a for _, a in mailboxes(_all(msg, header), hint=hint) if a]
        if addresses:
            extra[key] = ", ".join(addresses)
    return extra
