"""The one normalised shape every channel adapter produces for the hub.

Adapters (mail, bot) turn whatever arrived into an `InboundMessage` with pure functions and hand it
to `inbox.intake.receive.receive()`; nothing in the hub knows how an email or a Telegram update looks.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum


class Channel(StrEnum):
    EMAIL = "email"
    TELEGRAM = "telegram"
    WEB = "web"
    MANUAL = "manual"


class Automation(StrEnum):
    """Which kind of machine wrote a message; `NONE` for a person writing. None of them is ever
    answered; each is a kind of its own so that staff can see them apart and later steps can act
    on them (a bounce or a complaint about a message of ours). At most 16 characters (the column).
    """

    NONE = "none"
    # An automatic answer: RFC 3834 (vacation, "we got your message"), a read receipt (RFC 8098).
    AUTO_REPLY = "auto-reply"
    # A delivery report: an RFC 3464 DSN or a mail system's own bounce, delay or error notice.
    BOUNCE = "bounce"
    # A complaint (feedback) report about a message: RFC 5965 ARF, a mailbox provider's own.
    COMPLAINT = "complaint"
    # An event relayed as mail by a notification service (Amazon SNS: a bounce, a complaint).
    NOTIFICATION = "notification"
    LIST = "list"
    BULK = "bulk"
    # From an address that says it takes no replies (noreply@), and answering nothing.
    NO_REPLY = "no-reply"
    # Nothing but the null reverse-path (Return-Path: <>), which nobody can answer.
    NULL_SENDER = "null-sender"


def bare_id(message_id: str | None) -> str | None:
    """`<abc@x>` → `abc@x`; None or blank → None."""
    if message_id is None:
        return None
    bare = message_id.strip().strip("<>").strip()
    return bare or None


class UnparsableMessage(ValueError):
    """Raised by an adapter's parser for input that is not a message of its channel at all."""


@dataclass(frozen=True, slots=True)
class InboundAttachment:
    filename: str
    content_type: str
    data: bytes
    content_id: str | None = None
    inline: bool = False

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass(frozen=True, slots=True)
class ReportedRecipient:
    """One recipient a delivery report is about: RFC 3464's per-recipient fields, or what a mail
    system's own bounce text says of the address."""

    address: str | None
    action: str | None = None  # failed, delayed, delivered, relayed, expanded
    status: str | None = None  # an RFC 3463 status code: 5.1.1
    diagnostic: str | None = None  # the remote server's answer, or the report's reason

    @property
    def hard(self) -> bool:
        """A permanent failure: a 5.x.x status, or "failed" without a status to say otherwise."""
        if self.status:
            return self.status.startswith("5")
        return self.action == "failed"

    @property
    def failed(self) -> bool:
        """Not delivered (yet): anything but a report of success (delivered, relayed, expanded)."""
        return self.action not in ("delivered", "relayed", "expanded")


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """What a bounce (delivery report) says: the Message-IDs of the message it is about, as
    quoted in its `message/rfc822` or `text/rfc822-headers` part (or its text), and what happened
    to each recipient. `structured`: read from an RFC 3464 delivery-status part, not from text."""

    original_ids: tuple[str, ...] = ()
    recipients: tuple[ReportedRecipient, ...] = ()
    structured: bool = False

    @property
    def worst(self) -> ReportedRecipient | None:
        """The recipient that fared worst: a hard failure before a soft one, before the rest."""
        failed = [r for r in self.recipients if r.failed]
        hard = [r for r in failed if r.hard]
        chosen = hard or failed
        return chosen[0] if chosen else None


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """What any channel received, normalised.

    `external_id` identifies the message within its channel (an RFC 5322 Message-ID, a Telegram
    update id) and is the deduplication key. `text` is the full cleaned text; `display_text` is
    the same with quoted history and signatures stripped, for display only.
    """

    channel: Channel
    external_id: str
    sender_address: str | None
    sender_name: str | None = None
    subject: str = ""
    text: str = ""
    display_text: str = ""
    html: str | None = None
    attachments: tuple[InboundAttachment, ...] = ()
    message_id: str | None = None
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    chat_id: str | None = None
    language: str | None = None
    automation: Automation = Automation.NONE
    # What a bounce reports (automation BOUNCE), for matching it to the message of ours it is about.
    delivery_report: DeliveryReport | None = None
    sent_at: datetime | None = None
    recipients: tuple[str, ...] = ()
    defects: tuple[str, ...] = ()
    raw: bytes = b""
    extra: dict[str, str] = field(default_factory=dict)
    # The channel the sender wants answers on, when not the one they wrote on: the e-mail address
    # given on the web form. None: the channel itself.
    reply_channel: Channel | None = None

    @property
    def automated(self) -> bool:
        return self.automation is not Automation.NONE

    def normalised(self) -> InboundMessage:
        """The same message with Message-IDs bare (no angle brackets, no surrounding space)."""
        return replace(
            self,
            message_id=bare_id(self.message_id),
            in_reply_to=bare_id(self.in_reply_to),
            references=tuple(r for r in (bare_id(x) for x in self.references) if r),
        )

    @property
    def thread_ids(self) -> tuple[str, ...]:
        """Message-IDs this message answers, most specific first, without repeats."""
        seen: dict[str, None] = {}
        for mid in (self.in_reply_to, *reversed(self.references)):
            if mid:
                seen.setdefault(mid, None)
        return tuple(seen)
