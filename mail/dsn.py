"""Read what a bounce says: which message it is about, and what became of each recipient.

`mail.automation` decides that a message is a bounce; this reads its facts, so that the hub can
mark the message of ours it reports on. A report's structure says them best (RFC 3464/6522): the
per-recipient fields of its `message/delivery-status` part (Final-Recipient, Action, Status,
Diagnostic-Code) and the Message-ID in its `message/rfc822` or `text/rfc822-headers` part. Mail
systems that write their own bounces (qmail, old Postfix and Exim, Exchange, providers) say the
same in text: the failed addresses on lines of their own, a copy of the message below a marker,
Exim's `X-Failed-Recipients`; those are read as well as text allows.

Every scan is linear and reads a bounded opening of each part; what it returns fits the columns it
goes to (no NUL, no lone surrogate, short enough).
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Iterator
from email.message import Message

from inbox.core.inbound import Automation, DeliveryReport, ReportedRecipient
from mail.headers import Headers, decode_bytes, first, raw_header_bytes, unfold

MAX_READ = 64 * 1024  # characters of any one part (or text) read here
MAX_PARTS = 200  # parts of the report looked at; a real one has three or four
MAX_RECIPIENTS = 50
MAX_IDS = 10
MAX_LINE = 998  # longer lines are no header or address line (RFC 5322's limit)
MAX_DIAGNOSTIC = 1000
MAX_ADDRESS = 320
MAX_ID = 998

_STATUS_TYPES = frozenset({"message/delivery-status", "message/global-delivery-status"})
_MESSAGE_TYPES = frozenset({"message/rfc822", "message/global"})
_HEADER_TYPES = frozenset({"text/rfc822-headers", "message/global-headers"})
_LEAVES = _MESSAGE_TYPES | _STATUS_TYPES  # parts whose insides are no parts of the report
_ACTIONS = frozenset({"failed", "delayed", "delivered", "relayed", "expanded"})
# Actions as some mail systems spell them.
_ACTION_SPELLINGS = {"failure": "failed", "error": "failed", "fail": "failed", "delay": "delayed"}

# RFC 3463 status codes: class.subject.detail; found in Status fields and in servers' answers.
_STATUS = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
# In a bounce's text only a failure's code counts, and only where a server's answer or qmail put
# it (`550 5.1.1`, `#5.1.1`): a version number (Mailman 2.0.12) is no status.
_TEXT_STATUS = re.compile(r"(?:(?<!\d)[45]\d\d[ -]|#|\(#?)([45])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
_REPLY_CODE = re.compile(r"(?<![\d.])([45])\d\d(?=[ -]|$)")
_ANGLE_ID = re.compile(r"<([^<>\s]{1,998})>")
_MESSAGE_ID_LINE = re.compile(r"^[\s>]*message-id:\s*(.*)$", re.IGNORECASE)
# An address in text: the local part starts where no local-part character is before it, so that
# a run of them is tried once, not from each of its characters.
_LOCAL = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]"
_DOMAIN = r"[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})+"
_ADDRESS = re.compile(rf"(?<!{_LOCAL}){_LOCAL}{{1,64}}@{_DOMAIN}")
# The same where the caller says where it starts (after `SMTP=`, say).
_ADDRESS_AT = re.compile(rf"{_LOCAL}{{1,64}}@{_DOMAIN}")
_SMTP_PREFIX = re.compile(r"SMTP[:=]", re.IGNORECASE)
_TAG = re.compile(r"<[^<>]{0,998}>")
_BREAK = re.compile(r"<(?:br|p|div|tr|li)\b[^<>]{0,998}>", re.IGNORECASE)
# Lines after which the report quotes the message it is about: no failed address below them.
_QUOTE_MARKERS = (
    "original message",
    "copy of the message",
    "copy of your message",
    "below this line",
    "message header follows",
    "returned message",
    "message body",
    "undelivered message",
    "headers of the original",
    "original mail",
)
_DAEMON = re.compile(
    r"^(?:mailer-?daemon|postmaster|mail-?delivery|mdaemon|abuse|hostmaster)(?:@|$)", re.I
)
# What marks a line as a failure notice, when an address on it is not at its start.
_FAILURE_WORDS = re.compile(
    r"fail|unknown|undeliver|deliver|could not|couldn't|no such|reject|invalid|not found|error"
    r"|does not exist|doesn't exist|unavailable|not reach|did not|no mailbox|bad address|quota"
    r"|mailbox|recipient|addressed to|(?:generated|expanded) from|\bfull\b",
    re.IGNORECASE,
)
# A report saying it will try again is a warning (soft), not a final failure.
_WARNING = re.compile(
    r"will (?:continue to |keep )?(?:be )?(?:retr|try)|not yet been delivered|still (?:be )?trying"
    r"|delivery (?:is )?delayed|has been delayed|warning: |\bdelayed\b|this is only a warning",
    re.IGNORECASE,
)
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_SPACES = re.compile(r"\s+")


def delivery_report(
    msg: Message, headers: Headers, automation: Automation, *, nested: bool = False
) -> DeliveryReport | None:
    """The facts of `msg` (its top headers `headers`) when it is a bounce: what it is about and
    whom it failed; None for any other message, whatever it quotes (a person forwarding mail)."""
    if automation is not Automation.BOUNCE:
        return None
    ids: dict[str, None] = {}
    recipients: list[ReportedRecipient] = []
    structured = False
    texts: list[Message] = []
    attached: list[Message] = []
    for part in _own_parts(msg):
        content_type = _content_type(part)
        if content_type in _STATUS_TYPES:
            structured = True
            recipients.extend(_status_recipients(part))
        elif content_type in _MESSAGE_TYPES:
            _add(ids, _attached_ids(part))
            attached.append(part)
        elif content_type in _HEADER_TYPES:
            _add(ids, _header_ids(_text(part)))
        elif content_type in ("text/plain", "text/html") and len(texts) < 3:
            texts.append(part)
    if not structured and not nested:
        wrapped = _wrapped_report(attached, headers)
        if wrapped is not None:
            return wrapped
    plain = [part for part in texts if _content_type(part) == "text/plain"]
    text = "\n".join(map(_plain_text, plain or texts))[:MAX_READ]
    report = _before_quote(text)
    if not ids:
        _add(ids, _text_ids(text))
    if not recipients:
        recipients = _failed_header(first(headers, "x-failed-recipients"), report)
    if not recipients:
        recipients = _text_recipients(report)
    return DeliveryReport(
        original_ids=tuple(list(ids)[:MAX_IDS]),
        recipients=tuple(recipients[:MAX_RECIPIENTS]),
        structured=structured,
    )


def _wrapped_report(attached: list[Message], headers: Headers) -> DeliveryReport | None:
    """The report a filter wrapped as an attachment (a virus scanner passing the DSN on as
    `message/rfc822`), when that is all there is: its facts, read one level down."""
    for part in attached[:3]:
        payload = part.get_payload()
        inner = payload[0] if isinstance(payload, list) and payload else None
        if isinstance(inner, Message) and _content_type(inner) == "multipart/report":
            report = delivery_report(inner, headers, Automation.BOUNCE, nested=True)
            if report is not None and report.structured:
                return report
    return None


# --- the report's parts ------------------------------------------------------------------------


def _own_parts(msg: Message) -> Iterator[Message]:
    """The parts of the report itself, in order, without going into a message it attaches (the
    bounced message's own parts say nothing about its delivery); at most `MAX_PARTS`."""
    stack = [msg]
    seen = 0
    while stack and seen < MAX_PARTS:
        part = stack.pop()
        seen += 1
        yield part
        if _content_type(part) in _LEAVES:
            continue
        payload = part.get_payload() if part.is_multipart() else None
        if isinstance(payload, list):
            stack.extend(reversed([p for p in payload if isinstance(p, Message)]))


def _content_type(part: Message) -> str:
    try:
        return part.get_content_type()
    except Exception:
        return "application/octet-stream"


def _text(part: Message) -> str:
    """The opening of a text part (or a non-multipart message/* part), decoded."""
    try:
        payload = part.get_payload(decode=True)
    except Exception:
        payload = None
    if isinstance(payload, bytes):
        try:
            charset = part.get_content_charset()
        except Exception:
            charset = None
        return decode_bytes(payload[: MAX_READ * 2], charset)[:MAX_READ]
    raw = part.get_payload()
    return raw[:MAX_READ] if isinstance(raw, str) else ""


def _plain_text(part: Message) -> str:
    """A text part's words; an HTML one (some mail systems send nothing else) with its tags
    dropped and its line breaks kept, as well as a report needs."""
    text = _text(part)
    if _content_type(part) != "text/html":
        return text
    return html.unescape(_TAG.sub("", _BREAK.sub("\n", text)))


def _status_recipients(part: Message) -> list[ReportedRecipient]:
    """The per-recipient blocks of a delivery-status part. The first block is about the message;
    a block is a recipient's when it names one or an action (some servers run the two together)."""
    found = (_recipient(block) for block in _field_blocks(part))
    return [r for r in found if r is not None][:MAX_RECIPIENTS]


def _field_blocks(part: Message) -> Iterator[dict[str, str]]:
    """The blocks of fields of a delivery-status part. The stdlib parses `message/delivery-status`
    into a message per block; any other (`message/global-delivery-status`) stays text, or becomes
    one message of the first block with the others as its body."""
    payload = part.get_payload()
    if isinstance(payload, str):
        yield from _parse_blocks(_text(part))
        return
    if not isinstance(payload, list):
        return
    for block in payload[: MAX_RECIPIENTS + 1]:
        if not isinstance(block, Message):
            continue
        fields: dict[str, str] = {}
        for name, value in block.items()[:100]:
            # Header values keep undecoded bytes as surrogates: a global (UTF-8) report's are UTF-8.
            text = raw_header_bytes(unfold(str(value)[:MAX_READ])).decode("utf-8", "replace")
            fields.setdefault(str(name).strip().lower(), text[:MAX_LINE])
        yield fields
        # The blocks after the first, as bytes: `get_payload()` would turn 8-bit bytes into "?".
        try:
            rest = block.get_payload(decode=True) if not block.is_multipart() else None
        except Exception:  # a block the stdlib cannot decode: its first fields are read
            rest = None
        if isinstance(rest, bytes) and rest.strip():
            yield from _parse_blocks(rest[:MAX_READ].decode("utf-8", "replace"))


def _parse_blocks(text: str) -> Iterator[dict[str, str]]:
    """Blocks of `Name: value` fields separated by blank lines; folded lines join their field."""
    fields: dict[str, str] = {}
    name: str | None = None
    count = 0
    for line in text[:MAX_READ].splitlines():
        if not line.strip():
            if fields:
                yield fields
                count += 1
                if count > MAX_RECIPIENTS:
                    return
            fields, name = {}, None
            continue
        if line[:1] in " \t" and name is not None:
            if len(fields[name]) < MAX_LINE:
                fields[name] = (fields[name] + " " + line.strip())[:MAX_LINE]
            continue
        field, colon, value = line.partition(":")
        if not colon or not field.strip() or " " in field.strip():
            name = None
            continue
        name = field.strip().lower()
        fields.setdefault(name, value.strip()[:MAX_LINE])
    if fields:
        yield fields


def _recipient(fields: dict[str, str]) -> ReportedRecipient | None:
    # The address as the sender wrote it (ours: the contact's) before any forwarding rewrote it.
    address = _typed_address(fields.get("original-recipient"))
    if address is None:
        address = _typed_address(fields.get("final-recipient"))
    action = (fields.get("action") or "").strip().lower().split(" ", 1)[0] or None
    action = _ACTION_SPELLINGS.get(action or "", action)
    diagnostic = _diagnostic(fields.get("diagnostic-code"))
    status = (
        _status(fields.get("status"))
        or _status(diagnostic)
        or _reply_status(fields.get("status"))
        or _reply_status(diagnostic)
    )
    if address is None and action is None:
        return None
    return ReportedRecipient(
        address=address,
        action=action if action in _ACTIONS else None,
        status=status,
        diagnostic=diagnostic,
    )


def _typed_address(value: str | None) -> str | None:
    """`rfc822; anna@example.se` → `anna@example.se`; None for another type (X.400) or none."""
    if not value:
        return None
    kind, semicolon, rest = value.partition(";")
    if semicolon and kind.strip().lower() not in ("rfc822", "utf-8"):
        return None
    address = (rest if semicolon else kind).strip().strip("<>").strip()
    return _address(address)


def _diagnostic(value: str | None) -> str | None:
    """A Diagnostic-Code without its type: `smtp; 550 5.1.1 …` → `550 5.1.1 …`."""
    if not value:
        return None
    kind, semicolon, rest = value.partition(";")
    text = rest if semicolon and " " not in kind.strip() else value
    return _clean(_SPACES.sub(" ", text).strip(), MAX_DIAGNOSTIC) or None


def _status(value: str | None, pattern: re.Pattern[str] = _STATUS) -> str | None:
    if not value:
        return None
    found = pattern.search(value[:MAX_READ])
    return ".".join(found.groups()) if found else None


def _reply_status(value: str | None) -> str | None:
    """The status an SMTP reply code implies when no status code is given: `550` → `5.0.0`."""
    found = _REPLY_CODE.search(value[:MAX_LINE]) if value else None
    return f"{found.group(1)}.0.0" if found else None


# --- the message it is about -------------------------------------------------------------------


def _attached_ids(part: Message) -> list[str]:
    """The Message-ID of the message a `message/rfc822` part carries."""
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        value = payload[0].get("message-id")
        return _ids(str(value)[:MAX_READ]) if value is not None else []
    return _header_ids(_text(part))  # not parsed as a message (a broken part): its text


def _header_ids(text: str) -> list[str]:
    """The Message-ID field in a block of header lines (a `text/rfc822-headers` part)."""
    value: str | None = None
    for line in text[:MAX_READ].splitlines():
        if not line.strip():
            break  # the end of the headers
        if value is not None:
            if line[:1] in " \t":
                if len(value) < MAX_LINE:
                    value += " " + line.strip()
                continue
            break
        if line[:11].lower() == "message-id:":
            value = line[11:].strip()
    return _ids(value[:MAX_LINE]) if value else []


def _text_ids(text: str) -> list[str]:
    """Message-IDs a bounce quotes in its text (a copy of the message's headers, "This report
    relates to your message: … Message-ID: <…>")."""
    found: list[str] = []
    for line in text.splitlines():
        if len(line) > MAX_LINE:
            continue
        match = _MESSAGE_ID_LINE.match(line)
        if match:
            found.extend(i for i in _ANGLE_ID.findall(match.group(1)) if "@" in i)
            if len(found) >= MAX_IDS:
                break
    return found


def _ids(value: str) -> list[str]:
    value = unfold(value)
    found = [i for i in _ANGLE_ID.findall(value) if i.strip()]
    if not found and "@" in value and len(value.split()) == 1:
        found = [value.strip()]  # a bare id without brackets
    return [_clean(i.strip(), MAX_ID) for i in found if len(i) <= MAX_ID]


def _add(ids: dict[str, None], found: Iterable[str]) -> None:
    for i in found:
        if i and len(ids) < MAX_IDS:
            ids.setdefault(i, None)


# --- what a mail system's own bounce text says -------------------------------------------------


def _before_quote(text: str) -> str:
    """The report's own words: the text above the copy of the message, when it marks one."""
    position = 0
    for line in text.splitlines(keepends=True):
        stripped = line.strip().lower()
        if stripped and len(stripped) <= 100 and any(m in stripped for m in _QUOTE_MARKERS):
            if stripped.startswith(("-", "=", "*")) or (
                stripped.rstrip(".: ").endswith(("follows", "follow", "below this line"))
            ):
                return text[:position]
        position += len(line)
    return text


def _failed_header(value: str | None, report: str) -> list[ReportedRecipient]:
    """Exim's X-Failed-Recipients: the addresses, with what the text says of each."""
    if not value:
        return []
    addresses = [a for a in map(_address, unfold(value).split(",")) if a]
    return _described(list(dict.fromkeys(addresses)), report)


def _text_recipients(report: str) -> list[ReportedRecipient]:
    """The failed addresses in a bounce's text: lines that start with one (qmail, Postfix, Exim,
    most providers: `<anna@example.se>: …`, `  anna@example.se`), Exchange's `SMTP=` form, else
    an address on a line that says something failed."""
    leading: dict[str, None] = {}
    worded: dict[str, None] = {}
    for line in report.splitlines():
        if len(line) > MAX_LINE or "@" not in line:
            continue
        start = _leading_address(line)
        if start is not None:
            leading.setdefault(start, None)
            continue
        smtp = _SMTP_PREFIX.search(line)
        if smtp is not None:
            found = _ADDRESS_AT.match(line, smtp.end())
            if found and (address := _address(found.group())):
                leading.setdefault(address, None)
                continue
        if not leading and _FAILURE_WORDS.search(line):
            for found in _ADDRESS.finditer(line):
                if address := _address(found.group()):
                    worded.setdefault(address, None)
        if len(leading) + len(worded) >= MAX_RECIPIENTS:
            break
    return _described(list(leading or worded), report)


def _leading_address(line: str) -> str | None:
    """The address a line starts with (after indentation, `>`, `*` or `-`), followed by nothing
    but `>`, `:`, `,`, `(`, a space and more words."""
    text = line.lstrip(' \t>*-•["')
    if text.startswith("<"):
        text = text[1:]
    found = _ADDRESS.match(text)
    if found is None:
        return None
    rest = text[found.end() :]
    if rest and rest[0] not in '>:;,( \t.]"':
        return None
    return _address(found.group())


def _described(addresses: list[str], report: str) -> list[ReportedRecipient]:
    """What the report's text says of each address: the status and the answer quoted near it;
    a report that says it will try again is a warning (delayed), else a failure."""
    action = "delayed" if _WARNING.search(report[:8000]) else "failed"
    overall = _status(report, _TEXT_STATUS)
    lowered = report.lower()
    described = []
    for address in addresses[:MAX_RECIPIENTS]:
        at = report.find(address)
        if at < 0:
            at = lowered.find(address.lower())
        near = report[at : at + 600].split("\n\n", 1)[0] if at >= 0 else ""
        status = (
            _status(near, _TEXT_STATUS)
            or _status(near.split("\n", 1)[0])
            or overall
            or _reply_status(near)
        )
        diagnostic = _clean(_SPACES.sub(" ", near).strip(), MAX_DIAGNOSTIC) or None
        described.append(ReportedRecipient(address, action, status, diagnostic))
    return described


def _address(value: str) -> str | None:
    """A usable address, or None: a mailer daemon's own, or something too long to be one."""
    value = value.strip().strip("<>'\"").strip().rstrip(".")
    if not value or "@" not in value or len(value) > MAX_ADDRESS or _DAEMON.match(value):
        return None
    return _clean(value, MAX_ADDRESS) or None


def _clean(text: str, limit: int) -> str:
    """`text` as a column takes it: no NUL, a lone surrogate (an undecoded byte) as U+FFFD, cut."""
    if _UNSTORABLE.search(text):
        text = _UNSTORABLE.sub(lambda m: "" if m.group() == "\x00" else "\ufffd", text)
    return text[:limit]
