"""Recognise mail written by machines, so the hub never answers one ("Never answer a machine").

Bounces, auto-replies, list and bulk mail still become cases when they arrive; the verdict here
only stops the acknowledgement. Header evidence comes first (RFC 3834, RFC 2369, RFC 3464);
the text of classic MTA bounces is checked only as a last resort.
"""

from __future__ import annotations

import re
from email.message import Message

from inbox.core.inbound import Automation
from mail.headers import decode_header_value

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
_SURE_BOUNCE_TEXT = re.compile(
    r"qmail-send program|mail delivery software|permanent fatal errors", re.IGNORECASE
)
_AUTO_REPLY_SUBJECT = re.compile(
    r"^\s*(?:auto(?:matic)?(?:matiskt)? ?(?:reply|response|svar|antwort)\b|auto:|autosvar"
    r"|out of (?:the )?office|frånvaro|abwesenheit|automaattinen vastaus|poissa"
    r"|r[ée]ponse automatique|absence)",
    re.IGNORECASE,
)
_TEXT_SAMPLE = 8000


def classify(msg: Message, sender: str | None) -> Automation:
    """Why `msg` looks machine-made, or `Automation.NONE` when a person seems to have written it."""
    subject = decode_header_value(_get(msg, "Subject"))
    if _is_bounce(msg, sender, subject):
        return Automation.BOUNCE
    if _is_auto_reply(msg, subject):
        return Automation.AUTO_REPLY
    precedence = (_get(msg, "Precedence") or _get(msg, "X-Precedence")).strip().lower()
    if precedence == "list" or any(
        _get(msg, name) for name in ("List-Id", "List-Unsubscribe", "List-Post", "Mailing-List")
    ):
        return Automation.LIST
    if precedence in ("bulk", "junk"):
        return Automation.BULK
    return_path = _header(msg, "Return-Path")
    if return_path is not None and return_path.strip() in ("<>", "", '<"">'):
        # A null sender alone is not a bounce (spam uses it too), but nobody can answer it.
        return Automation.NULL_SENDER
    return Automation.NONE


def _is_bounce(msg: Message, sender: str | None, subject: str) -> bool:
    if _get(msg, "X-Failed-Recipients"):
        return True
    content_type = _content_type(msg)
    report_type = _param(msg, "report-type").lower()
    if content_type == "multipart/report" and report_type != "disposition-notification":
        return True
    if any(_content_type(part) == "message/delivery-status" for part in _walk(msg)):
        return True
    from_header = _get(msg, "From")
    daemon = bool(sender and _DAEMON.match(sender)) or bool(_DAEMON_NAME.search(from_header))
    if (daemon and _DSN_SUBJECT.search(subject)) or _STRONG_DSN_SUBJECT.search(subject):
        return True
    text = _first_text(msg)
    # The long pattern last: most mail is from a person with an ordinary subject.
    if (daemon or _DSN_SUBJECT.search(subject) or not sender) and _BOUNCE_TEXT.search(text):
        return True
    return bool(_SURE_BOUNCE_TEXT.search(text))


def _is_auto_reply(msg: Message, subject: str) -> bool:
    auto_submitted = _get(msg, "Auto-Submitted").strip().lower()
    if auto_submitted and not auto_submitted.startswith("no"):
        return True
    if any(_get(msg, name) for name in ("X-Autoreply", "X-Autorespond", "X-Autoresponder")):
        return True
    suppress = _get(msg, "X-Auto-Response-Suppress").lower()
    if "all" in suppress or "oof" in suppress:
        return True
    if _content_type(msg) == "multipart/report":
        return True  # read receipts (disposition-notification)
    return bool(_AUTO_REPLY_SUBJECT.search(subject))


def _get(msg: Message, name: str) -> str:
    return _header(msg, name) or ""


def _header(msg: Message, name: str) -> str | None:
    """A header's raw text; the registry-backed accessor can raise on broken headers."""
    lowered = name.lower()
    for key, value in msg.raw_items():
        if key.lower() == lowered:
            return str(value)
    return None


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


def _first_text(msg: Message) -> str:
    for part in _walk(msg):
        if part.is_multipart() or _content_type(part) not in ("text/plain", "text/html"):
            continue
        try:
            payload = part.get_payload(decode=True)
        except Exception:
            continue
        if isinstance(payload, bytes) and payload.strip():
            return payload[:_TEXT_SAMPLE].decode("utf-8", "replace")
    return ""
