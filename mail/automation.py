"""Recognise mail written by machines, so the hub never answers one ("Never answer a machine").

Bounces, auto-replies, list and bulk mail still become cases when they arrive; the verdict here
only stops the acknowledgement. Header evidence comes first (RFC 3834, RFC 2369, RFC 3464);
the text of classic MTA bounces is checked only as a last resort, with the long pattern only when
sender or subject could be a bounce's.
"""

from __future__ import annotations

import re
from email.message import Message

from inbox.core.inbound import Automation
from mail.headers import Headers, decode_header_value, first, header_table

_DAEMON = re.compile(
    r"^(?:mailer[-_]?daemon|mail[-_]?daemon|postmaster|mail[-_]?delivery[-_]?system|"
    r"mdaemon|majordomo|bounces?|nobody)\\?(?:@|$)",
    re.IGNORECASE,
)
_DAEMON_NAME = re.compile(r"mail delivery (?:system|subsystem)|mailer.daemon|postmaster", re.I)
_DSN_SUBJECT = re.compile(
    r"undeliver|undelivered|delivery (?:status|fail|notification|problem|report|error)"
    r"|returned (?:mail|to sender)|failure notice|failed mail|mail delivery failed|bounce"
    r"|could not be delivered|non.?deliver|not (?:be )?delivered|delivery (?:has )?failed"
    r"|warning: could not send|delayed mail|delivery delayed|unzustellbar|olevererbar"
    r"|unknown (?:user|recipient)|user unknown|mail system error|nicht zustellbar"
    r"|message (?:status|not sent|rejected)|returned message|rejected",
    re.IGNORECASE,
)
# Subjects only delivery reports carry; trusted alone unless a person replies to or forwards one.
_STRONG_DSN_SUBJECT = re.compile(
    r"^\s*(?:undeliver(?:ed|able)\b|delivery (?:status|failure) notification|mail delivery"
    r" (?:failed|warning|failure)|returned mail\b|failure notice\b|delivery notification\b"
    r"|non.?delivery report|warning: could not send|delayed mail\b|unzustellbar"
    r"|olevererbart|delivery (?:has )?failed\b|message (?:not delivered|delivery delayed))",
    re.IGNORECASE,
)
# Phrases only mail software writes; safe to trust in any mail.
_BOUNCE_TEXT = re.compile(
    r"this is the qmail-send program|mail delivery software|permanent fatal errors"
    r"|delivery has failed to these recipients|delivery to the following recipients? failed"
    r"|the following addresses? had (?:permanent )?(?:fatal )?errors|could not be delivered to"
    r"|unable to deliver (?:your )?message|message could not be delivered"
    r"|undeliverable (?:mail|message)|i'm afraid i wasn't able to deliver"
    r"|was not delivered to|delivery (?:status )?notification|returned mail: "
    r"|the original message was received at|unknown (?:user|recipient|address)|user unknown"
    r"|no such (?:user|mailbox)|mailbox (?:unavailable|not found|full|is full)"
    r"|quota exceeded|over quota|recipient address rejected|host unknown"
    r"|your message (?:cannot|could not) be delivered|has not been delivered"
    r"|smtp error from remote|while talking to|delivery failed|a message that you sent"
    r"|message you sent|this message was undeliverable|invalid recipient|bad address",
    re.IGNORECASE,
)
# Phrases that make any mail a bounce, whoever sent it.
_SURE_BOUNCE_PHRASES = ("qmail-send program", "mail delivery software", "permanent fatal errors")
_SURE_BOUNCE_TEXT = re.compile("|".join(map(re.escape, _SURE_BOUNCE_PHRASES)), re.IGNORECASE)
# `re.IGNORECASE` matches İ and ı to "i" and ſ to "s", which `str.lower` leaves as they are; in a
# text without them, a lower-cased `in` finds exactly what the pattern finds, several times faster.
_CASE_TRAPS = re.compile("[\u0130\u0131\u017f]")
_AUTO_REPLY_SUBJECT = re.compile(
    r"^\s*(?:auto(?:matic)?(?:matiskt)? ?(?:reply|response|svar|antwort)\b|auto:|autosvar"
    r"|out of (?:the )?office|frånvaro|abwesenheit|automaattinen vastaus|poissa"
    r"|r[ée]ponse automatique|absence)",
    re.IGNORECASE,
)
_TEXT_SAMPLE = 8000


def classify(
    msg: Message,
    sender: str | None,
    *,
    headers: Headers | None = None,
    parts: list[Message] | None = None,
) -> Automation:
    """Why `msg` looks machine-made, or `Automation.NONE` when a person seems to have written it.

    `headers` (`mail.headers.header_table(msg)`) and `parts` (`msg.walk()` as a list) spare
    reading them again when the caller has them.
    """
    headers = header_table(msg) if headers is None else headers
    parts = _walk(msg) if parts is None else parts
    subject = decode_header_value(_get(headers, "subject"))
    if _is_bounce(msg, headers, parts, sender, subject):
        return Automation.BOUNCE
    if _is_auto_reply(msg, headers, subject):
        return Automation.AUTO_REPLY
    precedence = (_get(headers, "precedence") or _get(headers, "x-precedence")).strip().lower()
    if precedence == "list" or any(
        _get(headers, name) for name in ("list-id", "list-unsubscribe", "list-post", "mailing-list")
    ):
        return Automation.LIST
    if precedence in ("bulk", "junk"):
        return Automation.BULK
    return_path = first(headers, "return-path")
    if return_path is not None and return_path.strip() in ("<>", "", '<"">'):
        # A null sender alone is not a bounce (spam uses it too), but nobody can answer it.
        return Automation.NULL_SENDER
    return Automation.NONE


def _is_bounce(
    msg: Message, headers: Headers, parts: list[Message], sender: str | None, subject: str
) -> bool:
    if _get(headers, "x-failed-recipients"):
        return True
    content_type = _content_type(msg)
    report_type = _param(msg, "report-type").lower()
    if content_type == "multipart/report" and report_type != "disposition-notification":
        return True
    if any(_content_type(part) == "message/delivery-status" for part in parts):
        return True
    from_header = _get(headers, "from")
    daemon = bool(sender and _DAEMON.match(sender)) or bool(_DAEMON_NAME.search(from_header))
    if (daemon and _DSN_SUBJECT.search(subject)) or _STRONG_DSN_SUBJECT.search(subject):
        return True
    text = _first_text(parts)
    # The long pattern last: most mail is from a person with an ordinary subject.
    if (daemon or _DSN_SUBJECT.search(subject) or not sender) and _BOUNCE_TEXT.search(text):
        return True
    return _has_sure_bounce_phrase(text)


def _has_sure_bounce_phrase(text: str) -> bool:
    if _CASE_TRAPS.search(text):
        return _SURE_BOUNCE_TEXT.search(text) is not None
    lowered = text.lower()
    return any(phrase in lowered for phrase in _SURE_BOUNCE_PHRASES)


def _is_auto_reply(msg: Message, headers: Headers, subject: str) -> bool:
    auto_submitted = _get(headers, "auto-submitted").strip().lower()
    if auto_submitted and not auto_submitted.startswith("no"):
        return True
    if any(_get(headers, name) for name in ("x-autoreply", "x-autorespond", "x-autoresponder")):
        return True
    suppress = _get(headers, "x-auto-response-suppress").lower()
    if "all" in suppress or "oof" in suppress:
        return True
    if _content_type(msg) == "multipart/report":
        return True  # read receipts (disposition-notification)
    return bool(_AUTO_REPLY_SUBJECT.search(subject))


def _get(headers: Headers, name: str) -> str:
    """A header's first raw value, or "" (raw: the registry-backed accessor can raise on broken
    headers)."""
    return first(headers, name) or ""


def _content_type(part: Message) -> str:
    try:
        return part.get_content_type()
    except Exception:
        return "application/octet-stream"


def _param(part: Message, name: str) -> str:
    try:
        value = part.get_param(name)
    except Exception:
        return ""
    return value if isinstance(value, str) else ""


def _walk(msg: Message) -> list[Message]:
    try:
        return list(msg.walk())
    except Exception:
        return [msg]


def _first_text(parts: list[Message]) -> str:
    for part in parts:
        if part.is_multipart() or _content_type(part) not in ("text/plain", "text/html"):
            continue
        try:
            payload = part.get_payload(decode=True)
        except Exception:
            continue
        if isinstance(payload, bytes) and payload.strip():
            return payload[:_TEXT_SAMPLE].decode("utf-8", "replace")
    return ""
