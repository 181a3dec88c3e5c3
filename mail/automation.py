"""Recognise mail written by machines, so the hub never answers one ("Never answer a machine").

Bounces, complaints, auto-replies, notifications, list and bulk mail still become cases; the
verdict here only stops the acknowledgement, and its kind says which machine wrote the mail, for
staff and for matching a bounce or complaint to the message of ours it is about. The evidence,
strongest first:

1. The shape of a report (RFC 6522 multipart/report by its report-type: RFC 3464 delivery-status,
   RFC 5965 feedback-report, RFC 8098 disposition-notification; their parts wherever they sit,
   except inside a message someone attached) and X-Failed-Recipients.
2. Headers only machines write: a notification service's (Amazon SNS's `x-amz-sns-*`).
3. An ARF preface or an ARF report's fields, and a notification service's JSON, in the opening
   of the text; a provider's complaint subject naming the sending IP, Apple Mail's opt-out header.
4. The sender: a mailer daemon or postmaster is a delivery report whatever its subject says.
5. A subject only delivery reports carry. Then delivery-failure phrases in the opening of the
   text, read only when the mail could be a bounce: phrases that name mail, when the sender could
   be a bounce's (the null reverse-path `Return-Path: <>`, written by the SMTP edge and by any
   delivering MTA; a daemon-like name in From; no usable sender; a no-reply or list-manager
   address) or the subject is about delivery; phrases a person could write about a letter or a
   parcel too, only in the first case; phrases only mail software writes, in any mail. A subject
   marked as forwarded (Fwd:, VB:) is a person passing a bounce on, never the bounce itself.
6. RFC 3834 Auto-Submitted and its older cousins (X-Autoreply, X-Auto-Response-Suppress, auto-reply
   subjects), RFC 2369 List-* and Precedence, list managers' own headers.
7. A no-reply address (an auto-reply when it answers something); a null reverse-path alone.
"""

from __future__ import annotations

import re
from email.message import Message

from inbox.core.inbound import Automation
from mail.headers import Headers, decode_bytes, decode_header_value, first, header_table

# --- senders ---------------------------------------------------------------------------------

# Local parts of the mail system's own senders (the start of the address; `\` for a quoted `@`).
_DAEMON = re.compile(
    r"^(?:mailer[-_.]?daemon|mail[-_.]?daemon|post[-_.]?master|mail[-_.]?delivery[-_.]?(?:sub)?"
    r"system|mdaemon|bounces?|ndr|microsoftexchange[0-9a-f]{32})\\?(?:[@+]|$)",
    re.IGNORECASE,
)
# The same as a display name, where From has no usable address or a borrowed one.
_DAEMON_DISPLAY = re.compile(
    r"""^[\s"'(]*(?:mail[ ._-]?delivery[ ._-]?(?:sub)?system|mailer[ ._-]?daemon"""
    r"|post[ ._-]?master|mail[ ._-]?administrator)\b",
    re.IGNORECASE,
)
# Anywhere in From: enough to read the text for a bounce's phrases, not a verdict.
_DAEMON_NAME = re.compile(r"mail delivery (?:system|subsystem)|mailer.daemon|postmaster", re.I)
# Addresses that say they take no replies; what they send is read by nobody if answered.
_NO_REPLY = re.compile(
    r"(?<![a-z])(?:no[-_.]?reply|do[-_.]?not[-_.]?reply|dont[-_.]?reply|no[-_.]?respon[sd]"
    r"|ne[-_.]?pas[-_.]?repondre|svara[-_.]?(?:inte|ej)|(?:inte|ej)[-_.]?svara|ingen[-_.]?svar"
    r"|nicht[-_.]?antworten|keine[-_.]?antwort)|^nobody$",
    re.IGNORECASE,
)
# A mailing-list manager's own addresses (fml's `-admin`, Mailman's `-bounces`, majordomo's
# `owner-`): what they send about a message is often a rejection quoting it.
_LIST_MANAGER = re.compile(
    r"^(?:majordomo|listserv|listproc|mailman|sympa|ecartis|owner-.+|.+-(?:admin|owner|request"
    r"|bounces?))$",
    re.IGNORECASE,
)
# Headers that list managers write instead of (or beside) RFC 2369's.
_LIST_HEADERS = (
    "list-id",
    "list-unsubscribe",
    "list-post",
    "mailing-list",
    "x-mailing-list",
    "x-mlserver",
    "x-ml-name",
    "x-mailman-version",
)

# --- subjects --------------------------------------------------------------------------------

_DSN_SUBJECT = re.compile(
    r"undeliver|undelivered|delivery (?:status|fail|notification|problem|report|error)"
    r"|returned (?:mail|to sender)|failure notice|failed mail|mail delivery failed|bounced"
    r"|could not be delivered|non.?deliver|not (?:be )?delivered|delivery (?:has )?failed"
    r"|warning: could not send|delayed mail|delivery delayed|unzustellbar|olevererbar"
    r"|unknown (?:user|recipient)|user unknown|mail system error|nicht zustellbar"
    r"|(?:message|mail) (?:status|not sent|rejected)|returned message|errors from"
    r"|fail(?:ure|ed) delivery|error sending your mail"
    r"|onbestelbaar|non remis|non recapitabile|no se (?:pudo|puede) entregar|kunde inte levereras"
    r"|zustellung fehlgeschlagen|ошибка доставки|не доставлен|退信|无法投递|传输失败",
    re.IGNORECASE,
)
# Subjects only delivery reports carry; trusted alone unless a person replies to or forwards one.
_STRONG_DSN_SUBJECT = re.compile(
    r"^\s*(?:undeliver(?:ed|able)\b|delivery (?:status|failure) notification|mail delivery"
    r" (?:failed|warning|failure)|returned mail\b|failure notice\b|delivery notification\b"
    r"|non.?delivery report|warning: could not send|delayed mail\b|unzustellbar"
    r"|olevererbart|delivery (?:has )?failed\b|message (?:not delivered|delivery delayed)"
    r"|postfix smtp server: errors from|onbestelbaar:|non remis\s*:|non recapitabile:"
    r"|\[bounce\])",
    re.IGNORECASE,
)
# A mailbox provider's own complaint report names the sending IP address in its subject.
_COMPLAINT_SUBJECT = re.compile(
    r"^\s*complaint about message from (?:\d{1,3}(?:\.\d{1,3}){3}|[0-9a-f:]*:[0-9a-f:]+)\b",
    re.IGNORECASE,
)
# A person passing a message on (a bounce they got, say): never the bounce itself.
_FORWARDED = re.compile(r"^\s*(?:fwd?|fw|vb|wg|tr|rv|vl|enc|doorst)\s*:", re.IGNORECASE)
_REPLY = re.compile(
    r"^\s*(?:re|sv|aw|antw|vs|odp|ref|réf|rif|res|atb|svar)\s*(?:\[\d+\]|\(\d+\))?\s*:",
    re.IGNORECASE,
)
_AUTO_REPLY_SUBJECT = re.compile(
    r"^\s*(?:auto(?:matic)?(?:matiskt?)? ?(?:reply|response|svar|antwort)\b|auto:|autosvar"
    r"|auto[- ]?reply|auto[- ]?response|automatische antwort|respuesta automática"
    r"|risposta automatica|automatisch antwoord|out of (?:the )?office|frånvaro|abwesenheit"
    r"|automaattinen vastaus|poissa|r[ée]ponse automatique|absence)",
    re.IGNORECASE,
)

# --- the opening of the text -----------------------------------------------------------------

# Phrases of delivery failures that name mail, read only when sender or subject could be a
# bounce's.
_BOUNCE_TEXT = re.compile(
    r"this is the qmail-send program|mail delivery software|permanent fatal errors"
    r"|delivery has failed to these recipients|delivery to the following recipients? failed"
    r"|the following addresses? had (?:permanent |delivery )?(?:fatal )?(?:errors|problems)"
    r"|unable to deliver (?:your )?message|message could not be delivered"
    r"|undeliverable (?:mail|message)|i'm afraid i wasn't able to deliver"
    r"|delivery (?:status )?notification|returned mail: |the original message was received at"
    r"|unknown (?:user|recipient)|user unknown|no such (?:user|mailbox)"
    r"|mailbox (?:unavailable|not found|full|is full)|quota exceeded|over quota"
    r"|recipient address rejected|your (?:message|mail) (?:cannot|could not) be delivered"
    r"|smtp error from remote|while talking to|this message was undeliverable"
    r"|transcript of session follows|this is the mail system at host|original mail as follows"
    r"|not a member of this (?:mailing )?list|as their mailbox is full|your mail sent on:"
    r"|(?:reporting|remote)-mta: |final-recipient: |diagnostic-code: |requested action not taken"
    r"|no valid recipients|did not reach (?:the following|some or all)|non-delivery report"
    r"|could not be delivered to the following|could not be delivered because of"
    r"|the following recipients were affected|original message follows"
    r"|body of message generated response|we had trouble delivering your message",
    re.IGNORECASE,
)
# Phrases a person could write about a letter or a parcel too: read only when the sender (not
# only the subject) could be a bounce's.
_WEAK_BOUNCE_TEXT = re.compile(
    r"could not be delivered to|was not delivered to|has not been delivered|delivery failed"
    r"|a message that you sent|message you sent|invalid recipient|bad address|host unknown"
    r"|unknown address|konnte nicht zugestellt werden|kunde inte levereras|kan inte levereras"
    r"|niet (?:worden )?bezorgd|no se (?:pudo|puede) entregar|n'a pas pu être (?:remis|distribué)"
    r"|non è stato possibile recapitare|не может быть доставлено|не доставлено|宛先不明"
    r"|配信できませんでした|送信できませんでした|送信に失敗しました",
    re.IGNORECASE,
)
# Phrases that make any mail a report, whoever sent it (lower case, found with `in`).
_SURE_BOUNCE_PHRASES = (
    "qmail-send program",
    "mail delivery software",
    "permanent fatal errors",
    "this is the mail system at host",
)
_SURE_COMPLAINT_PHRASES = (
    "this is an email abuse report for an email message",
    "this is an autogenerated email abuse complaint",
    "authentication failure report for an email message",
)
# An ARF report in a text part (its three required fields), no part saying message/feedback-report.
_ARF_FIELDS = ("feedback-type:", "user-agent:", "version:")
# A notification service's JSON event (Amazon SNS, SES): what the text starts with, and its keys.
_NOTIFICATION_KEYS = ('"notificationtype"', '"eventtype"', '"topicarn"')
# Writing that answers: a no-reply address saying it got what it answers.
_RECEIVED_TEXT = re.compile(
    r"thank you for (?:your|contacting)|we(?: have|'ve) received your|has been received"
    r"|this is an automat(?:ed|ic) (?:reply|response|message)|auto(?:matic|mated)?[- ]?reply"
    r"|tack för (?:ditt|din|att)|vi har (?:tagit emot|mottagit)|automatiskt (?:svar|meddelande)"
    r"|vielen dank für ihre|wir haben ihre",
    re.IGNORECASE,
)
# `re.IGNORECASE` matches İ and ı to "i" and ſ to "s", which `str.lower` leaves as they are; in a
# text without them, a lower-cased `in` finds exactly what a case-blind pattern finds, and faster.
_CASE_TRAPS = re.compile("[\u0130\u0131\u017f]")
_SURE_BOUNCE_TEXT = re.compile("|".join(map(re.escape, _SURE_BOUNCE_PHRASES)), re.IGNORECASE)
_SURE_COMPLAINT_TEXT = re.compile("|".join(map(re.escape, _SURE_COMPLAINT_PHRASES)), re.I)
_TEXT_SAMPLE = 8000

# --- parts -----------------------------------------------------------------------------------

_DELIVERY_STATUS = frozenset(
    {"message/delivery-status", "message/global-delivery-status", "text/rfc822-headers"}
)
_FEEDBACK = frozenset({"message/feedback-report"})
_DISPOSITION = frozenset(
    {"message/disposition-notification", "message/global-disposition-notification"}
)
_ATTACHED_MESSAGE = frozenset({"message/rfc822", "message/global"})


def classify(
    msg: Message,
    sender: str | None,
    *,
    headers: Headers | None = None,
    parts: list[Message] | None = None,
) -> Automation:
    """Which machine wrote `msg`, or `Automation.NONE` when a person seems to have written it.

    `sender` is the From address answers would go to. `headers` (`mail.headers.header_table(msg)`)
    and `parts` (`msg.walk()` as a list) spare reading them again when the caller has them.
    """
    headers = header_table(msg) if headers is None else headers
    parts = _walk(msg) if parts is None else parts
    reported = _by_report(msg, headers, parts)
    # A read receipt (RFC 8098) is an auto-reply, unless the mail system wrote it to say it
    # refused the message (a Sieve `reject`): that is a bounce, found below by its sender.
    if reported not in (None, Automation.AUTO_REPLY):
        return reported
    if any(name.startswith("x-amz-sns-") for name in headers):
        return Automation.NOTIFICATION
    subject = decode_header_value(_get(headers, "subject"))
    forwarded = _FORWARDED.match(subject) is not None
    text = _first_text(parts)
    lowered = text.lower() if not _CASE_TRAPS.search(text) else None
    if _is_notification(text, lowered, sender):
        return Automation.NOTIFICATION
    if not forwarded and _is_complaint(text, lowered):
        return Automation.COMPLAINT
    if _COMPLAINT_SUBJECT.match(subject) or _get(headers, "x-apple-unsubscribe"):
        return Automation.COMPLAINT  # an opt-out Apple Mail sends for its user counts as one
    from_header = _get(headers, "from")
    if _is_daemon(sender, from_header) or _STRONG_DSN_SUBJECT.search(subject):
        return Automation.BOUNCE
    local = _local_part(sender)
    no_reply = bool(local and _NO_REPLY.search(local))
    envelope = _envelope(headers, msg)
    sender_could_bounce = (
        envelope is not None
        or no_reply
        or not sender
        or bool(local and _LIST_MANAGER.match(local))
        or _DAEMON_NAME.search(from_header) is not None
    )
    # The long patterns last, and only then: most mail is a person's with an ordinary subject.
    if sender_could_bounce or (not forwarded and _DSN_SUBJECT.search(subject)):
        if _BOUNCE_TEXT.search(text) or (sender_could_bounce and _WEAK_BOUNCE_TEXT.search(text)):
            return Automation.BOUNCE
    if not forwarded and _has_phrase(text, lowered, _SURE_BOUNCE_PHRASES, _SURE_BOUNCE_TEXT):
        return Automation.BOUNCE
    if reported is Automation.AUTO_REPLY or _is_auto_reply(headers, subject):
        return Automation.AUTO_REPLY
    precedence = (_get(headers, "precedence") or _get(headers, "x-precedence")).strip().lower()
    if precedence == "list" or any(_get(headers, name) for name in _LIST_HEADERS):
        return Automation.LIST
    if precedence in ("bulk", "junk"):
        return Automation.BULK
    if no_reply:
        answers = (
            _REPLY.match(subject)
            or _get(headers, "in-reply-to")
            or _get(headers, "references")
            or _RECEIVED_TEXT.search(text)
        )
        return Automation.AUTO_REPLY if answers else Automation.NO_REPLY
    if envelope == "null":
        # A null sender alone is not a bounce (spam uses it too), but nobody can answer it.
        return Automation.NULL_SENDER
    return Automation.NONE


def _by_report(msg: Message, headers: Headers, parts: list[Message]) -> Automation | None:
    """The verdict a report's structure gives, or None for a message that is no report."""
    types, report_types = _report_parts(msg, parts)
    if "feedback-report" in report_types or types & _FEEDBACK:
        return Automation.COMPLAINT
    if report_types - {"disposition-notification"} or types & _DELIVERY_STATUS:
        return Automation.BOUNCE
    if _get(headers, "x-failed-recipients"):
        return Automation.BOUNCE
    if report_types or types & _DISPOSITION:
        return Automation.AUTO_REPLY  # a read receipt
    return None


def _report_parts(msg: Message, parts: list[Message]) -> tuple[set[str], set[str]]:
    """The content types of the message's own parts, and the report-types of its multipart/report
    parts ("" for one without): the parts of a message attached to it do not count, since a
    person forwarding a bounce as an attachment did not write a report."""
    types: set[str] = set()
    report_types: set[str] = set()
    try:
        stack = [msg]
        while stack:
            part = stack.pop()
            content_type = _content_type(part)
            types.add(content_type)
            if content_type == "multipart/report":
                report_types.add(_param(part, "report-type").strip().lower())
            if content_type in _ATTACHED_MESSAGE:
                continue
            payload = part.get_payload() if part.is_multipart() else None
            if isinstance(payload, list):
                stack.extend(child for child in payload if isinstance(child, Message))
    except Exception:  # a tree the walk cannot read: its parts as the parser listed them
        types = {_content_type(part) for part in parts}
        if _content_type(msg) == "multipart/report":
            report_types = {_param(msg, "report-type").strip().lower()}
    return types, report_types


def _is_notification(text: str, lowered: str | None, sender: str | None) -> bool:
    """A notification service's event, relayed as mail: JSON that names its event type."""
    if sender and sender.lower().endswith("@sns.amazonaws.com"):
        return True
    if not text.lstrip().startswith("{"):
        return False
    folded = lowered if lowered is not None else text.lower()
    return any(key in folded for key in _NOTIFICATION_KEYS)


def _is_complaint(text: str, lowered: str | None) -> bool:
    """A complaint (feedback) report in the text: an ARF preface, or ARF's fields in a text part."""
    folded = lowered if lowered is not None else text.lower()
    if lowered is None or "an email message" in folded or "abuse complaint" in folded:
        if _has_phrase(text, lowered, _SURE_COMPLAINT_PHRASES, _SURE_COMPLAINT_TEXT):
            return True
    return all(field in folded for field in _ARF_FIELDS) and "\nfeedback-type:" in folded


def _is_daemon(sender: str | None, from_header: str) -> bool:
    """From is the mail system itself: a mailer daemon, a postmaster, a delivery subsystem."""
    if sender:
        return _DAEMON.match(sender) is not None or _DAEMON_DISPLAY.match(from_header) is not None
    return _DAEMON_NAME.search(from_header) is not None


def _envelope(headers: Headers, msg: Message) -> str | None:
    """What the reverse-path says: "null" (none), "daemon" (a mail system's own), else None.

    The reverse-path is the top Return-Path, written at final delivery (by the SMTP edge for mail
    it takes); a leading mbox `From ` line says the same where a mailbox file was read.
    """
    return_path = first(headers, "return-path")
    if return_path is not None:
        path = return_path.strip().strip("<>").strip().strip('"')
        if not path:
            return "null"
        return "daemon" if _DAEMON.match(path) else None
    unixfrom = msg.get_unixfrom() or ""
    if unixfrom.startswith("From "):
        envelope_sender = unixfrom[5:].lstrip()
        if envelope_sender.startswith("<>"):
            return "null"
        if _DAEMON.match(envelope_sender.split(" ", 1)[0]):
            return "daemon"
    return None


def _is_auto_reply(headers: Headers, subject: str) -> bool:
    auto_submitted = _get(headers, "auto-submitted").strip().lower()
    if auto_submitted and not auto_submitted.startswith("no"):
        return True
    if any(_get(headers, name) for name in ("x-autoreply", "x-autorespond", "x-autoresponder")):
        return True
    suppress = _get(headers, "x-auto-response-suppress").lower()
    if "all" in suppress or "oof" in suppress:
        return True
    precedence = (_get(headers, "precedence") or _get(headers, "x-precedence")).strip().lower()
    if precedence == "auto_reply":
        return True
    return bool(_AUTO_REPLY_SUBJECT.search(subject))


def _has_phrase(
    text: str, lowered: str | None, phrases: tuple[str, ...], pattern: re.Pattern[str]
) -> bool:
    if lowered is None:  # a text with a case trap: only the pattern finds what it finds
        return pattern.search(text) is not None
    return any(phrase in lowered for phrase in phrases)


def _local_part(sender: str | None) -> str:
    return sender.rpartition("@")[0].strip('"').split("+", 1)[0] if sender else ""


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
    """The opening of the first text part that has any, in its charset: up to the last whole line
    of its first `_TEXT_SAMPLE` bytes, so no character is cut in two."""
    for part in parts:
        if part.is_multipart() or _content_type(part) not in ("text/plain", "text/html"):
            continue
        try:
            payload = part.get_payload(decode=True)
        except Exception:
            continue
        if isinstance(payload, bytes) and payload.strip():
            sample = payload[:_TEXT_SAMPLE]
            if len(payload) > _TEXT_SAMPLE and b"\n" in sample:
                sample = sample[: sample.rindex(b"\n")]
            try:  # most mail: UTF-8 or ASCII, whatever its label, and no label to read
                text = sample.decode("utf-8")
                if "\x1b" not in text:  # not 7-bit ISO-2022-JP
                    return text
            except UnicodeDecodeError:
                pass
            try:
                charset = part.get_content_charset()
            except Exception:
                charset = None
            return decode_bytes(sample, charset)
    return ""
