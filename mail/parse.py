"""Turn raw RFC 5322 bytes into the hub's `InboundMessage`, purely and without ever giving up.

`message_key` is the cheap dedupe key the SMTP edge takes before anything else; `parse_email`
does the full work later, in the worker. Only input that is not an e-mail at all (an Outlook
.msg file, binary junk) raises `UnparsableMessage`; everything else parses, however broken, in
time linear in its size: what had to be read in a simpler way (an unusable charset label, HTML too
big to lay out, a MIME tree too deep or with too many parts) is noted in the message's `defects`.
Every string it returns fits the database column it goes to (no NUL, no lone surrogate, ids and
addresses no longer than their columns): whatever the input, the message can be stored.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from email import policy
from email.feedparser import FeedParser
from email.message import Message
from email.parser import BytesHeaderParser, BytesParser
from email.policy import Compat32
from email.utils import parsedate_to_datetime

from inbox.core.inbound import Channel, InboundAttachment, InboundMessage, UnparsableMessage
from inbox.core.language import detect_language
from mail import mime
from mail.automation import classify
from mail.dsn import delivery_report
from mail.headers import (
    Headers,
    Hint,
    charset_defect,
    codec_for,
    decode_header_value,
    encoded_words,
    first,
    header_start,
    header_table,
    mailboxes,
    raw_header_bytes,
    repair_continuations,
    unfold,
    usable_address,
)
from mail.html import budget_defect, sanitize_html
from mail.quotes import strip_quotes

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_HEADER_LINE = re.compile(rb"^[\x21-\x39\x3b-\x7e]+[ \t]*:")
_FIRST_LINES = re.compile(rb"\r\n|\r|\n")  # line ends as the MIME parser sees them
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_ANGLE_ID = re.compile(r"<([^<>]*)>")
# The stdlib splits MIME parameters in quadratic time (`email.message._parseparam` copies the rest
# of the header for each one), and every part's Content-Type is split again on each lookup. Real
# headers are far shorter, long RFC 2231 file names included; longer ones are cut for parsing.
MAX_MIME_HEADER_CHARS = 4096
_MIME_HEADERS = frozenset({"content-type", "content-disposition"})
# Deeper MIME trees (a message in a message in a message …) are read as one text part: the
# stdlib parser and every walk of the tree recurse once per level.
MAX_MIME_DEPTH = 50
# Parts read of one message. The parser builds an object for each part and every step after it
# looks at each one, so a message of tiny parts (25 MB holds a million) costs time and memory in
# proportion to its parts, not its bytes. Real mail has tens; the rest of a message with more is
# kept in the raw message only. Attachments kept as files are capped in `mime.MAX_ATTACHMENTS`.
MAX_MIME_PARTS = 2_000
_FEED_CHARS = 8192  # what `email.parser.Parser` feeds at once
# The columns a parsed message goes to (inbox/core/models.py): a longer Message-ID or Content-ID is no
# id any reply could quote (RFC 5322 lines end at 998), a longer name is cut.
MAX_ID_CHARS = 998
MAX_NAME_CHARS = 200
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class _ParsePolicy(Compat32):
    """compat32 (header values stay as written), with over-long MIME headers cut, noting which.

    compat32 rather than `policy.default`: its header registry re-parses a header on every access
    and is about ten times slower on the parameter lists that MIME headers carry.
    """

    cut: list[str] | None = None

    def header_source_parse(self, sourcelines: list[str]) -> tuple[str, str]:
        name, value = super().header_source_parse(sourcelines)
        if len(value) > MAX_MIME_HEADER_CHARS and name.strip().lower() in _MIME_HEADERS:
            if self.cut is not None:
                self.cut.append(f"{name.strip()} header of {len(value):,} characters")
            end = value.rfind(";", 0, MAX_MIME_HEADER_CHARS)  # whole parameters only
            value = value[: end if end > 0 else MAX_MIME_HEADER_CHARS]
        return name, value


def message_key(raw: bytes) -> str:
    """The dedupe key: the Message-ID without angle brackets, else a hash of the bytes."""
    source = raw.lstrip(b"\r\n\t ")  # as parse_email reads it (`_source`)
    source = source[header_start(source) :]
    match = _HEADER_END.search(source)
    head, _ = repair_continuations(source[: match.end()] if match else source)
    headers = BytesHeaderParser(policy=policy.compat32).parsebytes(head)
    return _key(_message_id(header_table(headers)), raw)


def _key(message_id: str | None, raw: bytes) -> str:
    return message_id or "sha256:" + hashlib.sha256(raw).hexdigest()


def parse_email(raw: bytes) -> InboundMessage:
    """Parse `raw` into an `InboundMessage`; raise `UnparsableMessage` if it is not an e-mail."""
    _reject_non_messages(raw)
    source, read = _source(raw)
    msg, notes = _parse_mime(source)
    notes[:0] = read
    headers = header_table(msg)  # the top headers, read once
    walked, complete = _walk(msg)
    parts = walked if complete else [msg]  # for the steps that read a failed walk as one part
    declared, words = _declared_charsets(walked)
    hint = _charset_hint(declared, words)

    sender_name, sender_address = _sender(headers, hint)
    linesep = "\r\n" if b"\r\n" in source[:4096] else "\n"
    body = mime.extract(msg, hint=hint, linesep=linesep, source=source)
    if body.skipped:
        notes.append(
            f"{body.skipped:,} attachments over the first {mime.MAX_ATTACHMENTS:,}: not kept as"
            " files, only in the original message"
        )
    text = body.text
    quote_free = body.text_without_html_quotes
    language = detect_language(text) if text else None  # reads the opening only
    display_text = strip_quotes(quote_free, language_hint=language) if quote_free else ""
    html = body.html
    subject = first(headers, "subject")
    extra = _extra(headers, hint)
    notes.extend(_charset_defects(declared, words))
    html_note = budget_defect(html) if html else None
    if html_note:
        notes.append(html_note)
    # The same headers `message_key` reads from the top of the raw message: its key, without
    # parsing them again.
    message_id = _message_id(headers)
    references = _references(first(headers, "references"))
    in_reply_to = _ids(first(headers, "in-reply-to"))
    threading = [message_id, *in_reply_to[:1], *references]
    automation = classify(msg, sender_address, headers=headers, parts=parts)
    ids = [i for i in threading if i and len(_storable(i)) > MAX_ID_CHARS]
    if ids:
        notes.append(
            f"{len(ids)} Message-ID{'s' if len(ids) > 1 else ''} over {MAX_ID_CHARS} characters:"
            " not used for threading"
        )
    return InboundMessage(
        channel=Channel.EMAIL,
        external_id=_key(message_id, raw),
        sender_address=_storable(sender_address) if sender_address else None,
        sender_name=_cut(_storable(sender_name), MAX_NAME_CHARS) if sender_name else None,
        subject=_storable(decode_header_value(subject, hint=hint)) if subject is not None else "",
        text=_storable(text),
        display_text=_storable(display_text or text),
        html=_storable(sanitize_html(html)) if html else None,
        attachments=tuple(map(_storable_attachment, body.attachments)),
        message_id=_id(message_id),
        in_reply_to=_id(in_reply_to[0]) if in_reply_to else None,
        references=tuple(i for i in map(_id, references) if i),
        language=language,
        automation=automation,
        delivery_report=delivery_report(msg, headers, automation),
        sent_at=_date(first(headers, "date")),
        recipients=tuple(
            _storable(address)
            for _, address in mailboxes(headers.get("to", []) + headers.get("cc", []), hint=hint)
            if usable_address(address)
        ),
        defects=tuple(map(_storable, _defects(walked) + tuple(dict.fromkeys(notes)))),
        raw=raw,
        extra={_storable(k): _storable(v) for k, v in extra.items()},
    )


def _source(raw: bytes) -> tuple[bytes, list[str]]:
    """The message as the MIME parser is to read it, and notes on what was read differently: from
    its header block when a forwarding banner is above it, with lines that broke the block read as
    the continuation lines they are (`mail.headers`). `raw` itself is kept as it came."""
    source = raw.lstrip(b"\r\n\t ")
    notes: list[str] = []
    start = header_start(source)
    if start:
        notes.append("lines above the header block (a forwarding banner): read from below them")
        source = source[start:]
    source, continued = repair_continuations(source)
    if continued:
        lines = f"{continued:,} line{'s' if continued > 1 else ''}"
        notes.append(f"{lines} in the header block without leading white space: read as folded")
    return source, notes


def _storable(text: str) -> str:
    """`text` as a database column takes it: NUL dropped, a lone surrogate (an undecoded byte of a
    header) shown as U+FFFD."""
    if not _UNSTORABLE.search(text):
        return text
    return _UNSTORABLE.sub(lambda m: "" if m.group() == "\x00" else "\ufffd", text)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _id(value: str | None) -> str | None:
    """A Message-ID as stored, or None for one no column (and no reply) can hold."""
    if value is None:
        return None
    value = _storable(value)
    return value if value and len(value) <= MAX_ID_CHARS else None


def _storable_attachment(part: InboundAttachment) -> InboundAttachment:
    content_id = _id(part.content_id)
    if (
        content_id == part.content_id
        and _storable(part.filename) == part.filename
        and _storable(part.content_type) == part.content_type
    ):
        return part
    return InboundAttachment(
        filename=_storable(part.filename) or "attachment.bin",
        content_type=_storable(part.content_type),
        data=part.data,
        content_id=content_id,
        inline=part.inline,
    )


def _parse_mime(source: bytes) -> tuple[Message, list[str]]:
    """The parsed message, and notes on what had to be read in a simpler way to parse it."""
    cut: list[str] = []
    parse_policy = _ParsePolicy().clone(cut=cut)  # type: ignore[call-arg]
    notes: list[str] = []
    msg: Message | None
    try:
        msg, stopped = _feed(source, parse_policy)
        if stopped:
            notes.append(
                f"more than {MAX_MIME_PARTS:,} MIME parts: the first {MAX_MIME_PARTS:,} are read,"
                " the rest is only in the original message"
            )
        if _depth(msg) > MAX_MIME_DEPTH:
            msg = None
    except RecursionError:
        msg = None
    if msg is None:
        # Too deep to walk: only the top headers are parsed, the body stays as written.
        cut.clear()
        notes.clear()
        msg = BytesParser(policy=parse_policy).parsebytes(source, headersonly=True)
        notes.append(f"MIME parts nested over {MAX_MIME_DEPTH} deep: the body is read as one part")
    return msg, [f"{what}: cut to {MAX_MIME_HEADER_CHARS:,} for parsing" for what in cut] + notes


def _feed(source: bytes, parse_policy: Compat32) -> tuple[Message, bool]:
    """What `BytesParser.parsebytes` gives, but read no further than `MAX_MIME_PARTS` parts; and
    whether it stopped there (the parts beyond are dropped, the one cut off among them)."""
    parts: list[Message] = []

    def factory(policy: Compat32 = parse_policy) -> Message:
        part = Message(policy)
        parts.append(part)
        return part

    parser = FeedParser(factory, policy=parse_policy)
    parts.clear()  # the parser makes one to try the factory
    text = source.decode("ascii", "surrogateescape")
    stopped = False
    for start in range(0, len(text), _FEED_CHARS):
        parser.feed(text[start : start + _FEED_CHARS])
        if len(parts) > MAX_MIME_PARTS:
            stopped = True
            break
    if not stopped:
        return parser.close(), False
    kept = parts[:MAX_MIME_PARTS]
    found = [len(part.defects) for part in kept]
    msg: Message = parser.close()
    # What the parser finds missing now (closing boundaries) is missing only because it stopped.
    for part, count in zip(kept, found, strict=True):
        del part.defects[count:]
    _drop(msg, {id(part) for part in parts[MAX_MIME_PARTS:]})
    return msg, True


def _drop(msg: Message, unwanted: set[int]) -> None:
    """Removes the parts in `unwanted` (by id) from the tree, without recursion."""
    stack = [msg]
    while stack:
        part = stack.pop()
        payload = part.get_payload() if part.is_multipart() else None
        if isinstance(payload, list):
            payload[:] = [child for child in payload if id(child) not in unwanted]
            stack.extend(child for child in payload if isinstance(child, Message))


def _depth(msg: Message) -> int:
    """How deep the MIME tree goes, without recursion; stops counting past the limit."""
    deepest = 0
    stack = [(msg, 1)]
    while stack and deepest <= MAX_MIME_DEPTH:
        part, depth = stack.pop()
        deepest = max(deepest, depth)
        payload = part.get_payload() if part.is_multipart() else None  # a list, never decoded
        if isinstance(payload, list):
            stack.extend((child, depth + 1) for child in payload if isinstance(child, Message))
    return deepest


def _reject_non_messages(raw: bytes) -> None:
    if raw.startswith(_OLE_MAGIC[:4]):
        raise UnparsableMessage("an Outlook .msg (OLE compound file), not an RFC 5322 message")
    source = raw.lstrip(b"\r\n\t ")
    if not source.strip():
        raise UnparsableMessage("empty: not an RFC 5322 message")
    source = source[header_start(source) :]
    lines = _FIRST_LINES.split(source[:65536], maxsplit=2)  # only the first two lines count
    first = lines[1] if lines[0].startswith(b"From ") and len(lines) > 1 else lines[0]
    if not _HEADER_LINE.match(first):
        # A NUL later in a header line is a defect of that header; before its colon, junk.
        if b"\x00" in first:
            raise UnparsableMessage("binary data, not an RFC 5322 message")
        raise UnparsableMessage("no header lines: not an RFC 5322 message")


def _message_id(headers: Headers) -> str | None:
    ids = _ids(first(headers, "message-id"))
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


def _sender(headers: Headers, hint: Hint) -> tuple[str | None, str | None]:
    """(name, address) of the From mailbox that answers go to; (name, None) when it has none.

    Only From counts. Reply-To, Sender, Return-Path and X-Original-Sender are whatever the sender
    chose, checked by nobody, so trusting them would let anyone aim our acknowledgement (and the
    case's contact) at a third party; From is at least what DMARC protects. They stay in `extra`
    for staff to read.
    """
    from_boxes = mailboxes(headers.get("from", []), hint=hint)
    usable = [m for m in from_boxes if usable_address(m[1])]
    if usable:
        name, address = usable[0]
        return (name.strip() or None), address
    name = next((n for n, _ in from_boxes if n.strip()), "")
    return (name.strip() or None), None


def _declared_charsets(parts: list[Message]) -> tuple[list[str], list[str]]:
    """The charset labels of the parts, and of the encoded words in their headers, each in order
    and once: read in one walk for the hint and for the notes on unusable labels."""
    declared: dict[str, None] = {}
    words: dict[str, None] = {}
    for part in parts:
        try:
            label = part.get_param("charset")
        except Exception:
            label = None
        if isinstance(label, str):
            declared.setdefault(label, None)
        for _key, value in part.raw_items():
            if "=?" in str(value):
                for word in encoded_words(str(value)):
                    words.setdefault(word[2], None)
    return list(declared), list(words)


def _charset_hint(declared: list[str], words: list[str]) -> tuple[str, ...]:
    """The charsets the message declares, for what it does not label (raw 8-bit header bytes, a
    part without a label): its parts' labels first, then its encoded words'. The charset of a
    Russian mail's body is the likeliest for the raw bytes of its Subject; UTF-8 and ASCII labels
    are left out, as UTF-8 is tried first anyway, and so are labels that name no charset."""
    hint: dict[str, None] = {}
    for label in (*declared, *words):
        codec = codec_for(label)
        if codec is not None and codec != "utf-8":
            hint.setdefault(label, None)
    return tuple(hint)


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


def _charset_defects(declared: list[str], words: list[str]) -> list[str]:
    """A note for each charset label, of a part or an encoded word, that could not be used."""
    return [note for note in map(charset_defect, dict.fromkeys((*declared, *words))) if note]


def _walk(msg: Message) -> tuple[list[Message], bool]:
    """The parts of the tree, walked once for every step that looks at them, and whether the
    walk got to the end (the parts before a failure, if not)."""
    parts: list[Message] = []
    try:
        for part in msg.walk():
            parts.append(part)
    except Exception:
        return parts, False
    return parts, True


def _defects(parts: list[Message]) -> tuple[str, ...]:
    names: dict[str, None] = {}
    for part in parts:
        for defect in part.defects:
            names.setdefault(type(defect).__name__, None)
    return tuple(names)


def _extra(headers: Headers, hint: Hint) -> dict[str, str]:
    extra: dict[str, str] = {}
    for key, header in (("reply_to", "reply-to"), ("original_sender", "x-original-sender")):
        addresses = [a for _, a in mailboxes(headers.get(header, []), hint=hint) if a]
        if addresses:
            extra[key] = ", ".join(addresses)
    return extra
