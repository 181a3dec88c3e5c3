"""Staff answers and internal notes on a case: one outbound message and one outbox row, together.

An answer goes back through the channel the case came in on: by email in the thread of the last
inbound message (In-Reply-To/References, the case reference and the neutral ärendemening in the
subject, never the sender's own subject), by Telegram into the contact's chat, and for a case sent
anonymously through the web form onto its follow-up page ("via webben"). The page and the API
both call `add_reply`; the worker delivers it and the message shows its delivery on the case. An
answer to a närstående without a consent in force needs its author's word that it says nothing
about the person concerned (`consent`). A note is never sent anywhere, but it is no secret either:
a note can be an allmän handling that anyone may ask for, the person it is about included.
"""

from __future__ import annotations

from datetime import datetime
from email.utils import make_msgid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from inbox.cases.consent import reply_needs_confirmation
from inbox.cases.registry import registry_title
from inbox.cases.templates import unfilled
from inbox.core import outbox
from inbox.core.audit import Actor, audit
from inbox.core.inbound import Automation, Channel
from inbox.core.models import (
    Case,
    CaseStatus,
    Contact,
    Delivery,
    Direction,
    Message,
    Unit,
)

REPLY_KIND = "case.reply"
MAX_REPLY_LENGTH = 20_000
# Telegram refuses longer texts in one message (Bot API sendMessage: 1-4096 characters).
TELEGRAM_MAX_TEXT = 4096

_SUBJECT = {"sv": "Svar", "en": "Reply"}


_NO_CONTACT = (
    "Ärendet har ingen kontaktuppgift att svara till. Svara på annat sätt och skriv en "
    "anteckning om det."
)


class ReplyError(Exception):
    """The answer cannot be sent as asked (empty, too long, nobody to send it to): the reason in
    English for the API and, where staff can meet it on a page, in Swedish (`swedish`), as
    `inbox.cases.triage.TriageError` does."""

    def __init__(self, message: str, *, swedish: str | None = None) -> None:
        super().__init__(message)
        self.swedish = swedish


class UnfilledPlaceholder(ReplyError):
    """The answer still has a template placeholder without a value, such as `{enhet}`."""

    def __init__(self, placeholders: list[str]) -> None:
        super().__init__(f"the answer still has placeholders: {', '.join(placeholders)}")
        self.placeholders = placeholders


class ConfirmationNeeded(ReplyError):
    """The submitter is a närstående without a consent in force: the author must confirm that
    the answer says nothing about the person concerned's circumstances."""


def _clean(text: str) -> str:
    text = text.replace("\r\n", "\n").strip()
    if not text:
        raise ReplyError("the answer is empty", swedish="Svaret är tomt.")
    if len(text) > MAX_REPLY_LENGTH:
        raise ReplyError(
            f"the answer is longer than {MAX_REPLY_LENGTH} characters",
            swedish="Svaret är för långt.",
        )
    return text


async def add_reply(
    session: AsyncSession,
    *,
    case: Case,
    text: str,
    actor: Actor,
    now: datetime,
    mail_domain: str,
    confirmed_no_personal_details: bool = False,
) -> Message:
    """Queues `text` to the case's contact through the case's channel; flushes, never commits.

    `confirmed_no_personal_details` is the author's word that the answer says nothing about the
    circumstances of the person concerned, which an answer to a närstående without a consent in
    force needs (`ConfirmationNeeded` otherwise)."""
    text = _clean(text)
    placeholders = unfilled(text)
    if placeholders:
        raise UnfilledPlaceholder(placeholders)
    if case.id is not None and case.contact_id is None and case.channel == Channel.WEB:
        # Sent anonymously through the web form: the answer is published to its follow-up page.
        contact = Contact(channel=Channel.WEB, address=case.reference, created_at=now)
    elif case.id is None or case.contact_id is None:
        raise ReplyError(
            "the case has no contact to answer (registered by hand?)",
            swedish=_NO_CONTACT,
        )
    else:
        found = await session.get(Contact, case.contact_id)
        if found is None:
            raise ReplyError(
                "the case has no contact to answer",
                swedish=_NO_CONTACT,
            )
        contact = found
    if contact.blocked or contact.unreachable_at is not None:
        reason = contact.unreachable_reason or "blocked"
        raise ReplyError(
            f"the contact cannot be reached ({reason})",
            swedish="Avsändaren går inte att nå i den här kanalen (adressen är spärrad eller "
            "meddelanden studsar). Svara på annat sätt och skriv en anteckning om det.",
        )
    if contact.channel == Channel.TELEGRAM and len(text) > TELEGRAM_MAX_TEXT:
        raise ReplyError(
            f"a Telegram answer can be at most {TELEGRAM_MAX_TEXT} characters",
            swedish="Ett svar i Telegram får vara högst 4 096 tecken.",
        )
    unconsented = await reply_needs_confirmation(session, case=case, now=now)
    if unconsented and not confirmed_no_personal_details:
        raise ConfirmationNeeded(
            "the sender is a relative and no consent is recorded: confirm that the answer says "
            "nothing about the circumstances of the person concerned"
        )

    language = "en" if (case.language or contact.language) == "en" else "sv"
    unit = await session.get(Unit, case.unit_id) if case.unit_id else None
    title = registry_title(case, unit.name if unit else None)
    subject = f"[{case.reference}] {_SUBJECT[language]}: {title}"
    payload: dict[str, Any] = {"text": text, "languages": [language]}
    rfc_id: str | None = None
    if contact.channel == Channel.EMAIL:
        last = (
            await session.execute(
                select(Message)
                .where(
                    col(Message.case_id) == case.id,
                    col(Message.direction) == Direction.INBOUND,
                    col(Message.rfc_message_id).is_not(None),
                    # A bounce on the case is the mail system's, not the contact's, message.
                    col(Message.automation) != Automation.BOUNCE,
                )
                .order_by(col(Message.created_at).desc(), col(Message.id).desc())
                .limit(1)
            )
        ).scalar_one_or_none()
        rfc_id = make_msgid(idstring=f"{case.reference.lower()}.reply", domain=mail_domain)
        payload |= {
            "subject": subject,
            "message_id": rfc_id,
            "in_reply_to": f"<{last.rfc_message_id}>" if last else None,
            "references": [f"<{last.rfc_message_id}>"] if last else [],
        }
    elif contact.channel == Channel.TELEGRAM:
        payload["chat_id"] = contact.address

    message = Message(
        case_id=case.id,
        direction=Direction.OUTBOUND,
        channel=contact.channel,
        kind=REPLY_KIND,
        rfc_message_id=rfc_id.strip("<>") if rfc_id else None,
        recipient=contact.address,
        subject=subject if contact.channel == Channel.EMAIL else "",
        text=text,
        display_text=text,
        language=language,
        author_id=actor.user_id,
        delivery=Delivery.QUEUED,
        created_at=now,
    )
    session.add(message)
    await session.flush()
    await outbox.enqueue(
        session,
        kind=REPLY_KIND,
        channel=contact.channel,
        recipient=contact.address,
        payload=payload,
        idempotency_key=f"{REPLY_KIND}:{message.id}",
        case_id=case.id,
        message_id=message.id,
        now=now,
    )
    if case.first_response_at is None:
        case.first_response_at = now
    if case.status == CaseStatus.NEW:
        case.status = CaseStatus.OPEN
    case.updated_at = now
    confirmed = {"confirmed_without_consent": True} if unconsented else {}
    audit(
        session,
        actor=actor,
        action="case.reply",
        case=case,
        now=now,
        message_id=message.id,
        **confirmed,
    )
    await session.flush()
    return message


async def add_note(
    session: AsyncSession, *, case: Case, text: str, actor: Actor, now: datetime
) -> Message:
    """An internal note on the case: never sent, but not secret by being a note (see above)."""
    text = _clean(text)
    assert case.id is not None
    message = Message(
        case_id=case.id,
        direction=Direction.NOTE,
        channel="internal",
        kind="case.note",
        text=text,
        display_text=text,
        author_id=actor.user_id,
        created_at=now,
    )
    session.add(message)
    await session.flush()
    case.updated_at = now
    audit(session, actor=actor, action="case.note", case=case, now=now, message_id=message.id)
    return message
