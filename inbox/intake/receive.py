"""`receive()`: one inbound message becomes part of a case, in one transaction.

The steps, in order: dedupe against the intake ledger; thread onto an existing case (reply headers,
then the case reference in the subject, then the chat), checking that the sender is the case's
contact; otherwise open a new case with the next reference; store the message and its attachments;
enqueue the acknowledgement unless the sender is a machine, us, or over the daily limit. It flushes
and never commits: the adapter's unit of work does.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from email.utils import make_msgid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from inbox.cases.contacts import find_or_create_contact, normalise_address
from inbox.cases.opening import Opening, open_case
from inbox.core import outbox
from inbox.core.audit import SYSTEM, audit
from inbox.core.inbound import Channel, InboundMessage
from inbox.core.models import (
    Attachment,
    Case,
    CaseStatus,
    Contact,
    Delivery,
    Direction,
    IntakeRecord,
    Message,
)
from inbox.core.personnummer import contains_personnummer
from inbox.core.references import reference_pattern
from inbox.intake import ledger
from inbox.intake.ack_limit import recent_acks, sender_key
from inbox.intake.acknowledgement import ACK_KIND, AckText, render_ack

# A step that may take an inbound message from a known contact before it joins a case (a short
# reply to a check-in mail is its answer, say): why it took the message, or None when it did not.
# The composition root hands these to intake, so that intake knows no feature that answers mail.
Claim = Callable[[AsyncSession, InboundMessage, Contact, datetime], Awaitable[str | None]]


@dataclass(frozen=True, slots=True)
class IntakePolicy:
    """What intake needs to know about this installation (built from Settings by the CLI)."""

    case_prefix: str = "SP"
    mail_domain: str = "synpunkt.localhost"
    own_addresses: frozenset[str] = frozenset()
    acks_per_sender_per_day: int = 3
    response_days: int = 10
    organisation: str = "Socialtjänsten"
    appeal_url: str = "https://www.domstol.se/forvaltningsratt/"
    claims: tuple[Claim, ...] = ()


@dataclass(frozen=True, slots=True)
class Receipt:
    """What `receive()` did: the case and message, or that the message was a duplicate."""

    case_id: int | None
    reference: str | None
    message_id: int | None
    new_case: bool
    duplicate: bool
    acknowledged: bool
    no_ack_reason: str | None = None


async def receive(
    session: AsyncSession,
    msg: InboundMessage,
    *,
    policy: IntakePolicy,
    now: datetime,
    record: IntakeRecord | None = None,
) -> Receipt:
    """Takes one normalised message into the inbox. `record` is its ledger row, when it has one."""
    msg = msg.normalised()
    if record is None:
        record = await _ledger_row(session, msg, now=now)
        if record is None:
            return await _duplicate(session, msg)

    sender = normalise_address(msg.channel, msg.sender_address) if msg.sender_address else None
    contact, new_contact = None, False
    if sender:
        contact, new_contact = await find_or_create_contact(
            session,
            channel=msg.channel,
            address=sender,
            display_name=msg.sender_name,
            language=msg.language,
            now=now,
        )

    claimed = None
    if contact is not None and not new_contact:
        claimed = await _claimed(session, msg, contact, policy, now)
    if claimed is not None:
        ledger.mark_done(record, case_id=None, case_reference=None, now=now)
        await session.flush()
        return Receipt(
            case_id=None,
            reference=None,
            message_id=None,
            new_case=False,
            duplicate=False,
            acknowledged=False,
            no_ack_reason=claimed,
        )

    # A contact created just now has no case to continue and no acknowledgements to count.
    case = None if new_contact else await _thread(session, msg, contact=contact, policy=policy)
    new_case = case is None
    if case is None:
        case = await open_case(
            session,
            opening(msg, contact_id=contact.id if contact else None, policy=policy, now=now),
            prefix=policy.case_prefix,
            now=now,
        )
    elif case.status in (CaseStatus.CLOSED, CaseStatus.WAITING):
        case.status = CaseStatus.OPEN
        case.closed_at = None
        case.updated_at = now
    if contains_personnummer(f"{msg.subject}\n{msg.text}"):
        case.flag_personnummer = True

    message = await _store_message(session, msg, case=case, record=record, now=now)
    ledger.mark_done(record, case_id=case.id, case_reference=case.reference, now=now)
    audit(
        session,
        actor=SYSTEM,
        action="case.created" if new_case else "message.received",
        case=case,
        now=now,
        channel=str(msg.channel),
        message_id=message.id,
    )

    reason = None
    if new_case:
        reason = await _no_ack_reason(session, msg, contact=contact, policy=policy, now=now)
        if reason is None:
            assert contact is not None
            await enqueue_ack(session, msg, case=case, contact=contact, policy=policy, now=now)
    await session.flush()
    return Receipt(
        case_id=case.id,
        reference=case.reference,
        message_id=message.id,
        new_case=new_case,
        duplicate=False,
        acknowledged=new_case and reason is None,
        no_ack_reason=reason,
    )


async def _claimed(
    session: AsyncSession,
    msg: InboundMessage,
    contact: Contact,
    policy: IntakePolicy,
    now: datetime,
) -> str | None:
    """Why one of the installation's claims took the message instead of a case, if one did."""
    for claim in policy.claims:
        reason = await claim(session, msg, contact, now)
        if reason is not None:
            return reason
    return None


async def _ledger_row(
    session: AsyncSession, msg: InboundMessage, *, now: datetime
) -> IntakeRecord | None:
    """The message's ledger row, created now; None when the ledger already has it processed."""
    existing = await ledger.find(
        session, channel=msg.channel, external_id=msg.external_id, lock=True
    )
    if existing is not None:
        return None if existing.status != "pending" else existing
    row_id = await ledger.record(
        session, channel=msg.channel, external_id=msg.external_id, raw=msg.raw, now=now
    )
    if row_id is None:  # a concurrent delivery of the same message won the insert
        return None
    return await session.get(IntakeRecord, row_id)


async def _duplicate(session: AsyncSession, msg: InboundMessage) -> Receipt:
    row = await ledger.find(session, channel=msg.channel, external_id=msg.external_id)
    return Receipt(
        case_id=row.case_id if row else None,
        reference=row.case_reference if row else None,
        message_id=None,
        new_case=False,
        duplicate=True,
        acknowledged=False,
        no_ack_reason="duplicate",
    )


async def _thread(
    session: AsyncSession, msg: InboundMessage, *, contact: Contact | None, policy: IntakePolicy
) -> Case | None:
    """The case this message continues, if any; only ever a case of the same contact."""
    if contact is None or msg.extra.get("new_case") == "1":  # the person asked for a new case
        return None
    ids = msg.thread_ids
    if ids:
        rows = await session.execute(
            select(col(Message.rfc_message_id), Case)
            .join(Case, col(Case.id) == Message.case_id)
            .where(col(Message.rfc_message_id).in_(ids))
        )
        by_id = {mid: case for mid, case in rows.all()}
        for mid in ids:
            case = by_id.get(mid)
            if case is not None and case.contact_id == contact.id:
                return case
    match = reference_pattern(policy.case_prefix).search(msg.subject or "")
    if match:
        case = (
            await session.execute(select(Case).where(col(Case.reference) == match.group(1).upper()))
        ).scalar_one_or_none()
        if case is not None and case.contact_id == contact.id:
            return case
    if msg.channel == Channel.TELEGRAM:
        return (
            await session.execute(
                select(Case)
                .where(col(Case.contact_id) == contact.id, col(Case.status) != CaseStatus.CLOSED)
                .order_by(col(Case.received_at).desc(), col(Case.id).desc())
                .limit(1)
            )
        ).scalar_one_or_none()
    return None


def opening(
    msg: InboundMessage, *, contact_id: int | None, policy: IntakePolicy, now: datetime
) -> Opening:
    """The case a message from a channel opens (`receive` and `receive_many` alike)."""
    return Opening(
        channel=msg.channel,
        subject=msg.subject or "",
        text=msg.text,
        received_at=now,
        response_days=policy.response_days,
        contact_id=contact_id,
        language=msg.language,
        automated=msg.automated,
    )


async def _store_message(
    session: AsyncSession,
    msg: InboundMessage,
    *,
    case: Case,
    record: IntakeRecord,
    now: datetime,
) -> Message:
    assert case.id is not None
    message = Message(
        case_id=case.id,
        direction=Direction.INBOUND,
        channel=msg.channel,
        rfc_message_id=msg.message_id,
        in_reply_to=msg.in_reply_to,
        sender_address=msg.sender_address,
        sender_name=msg.sender_name,
        subject=msg.subject or "",
        text=msg.text,
        display_text=msg.display_text or msg.text,
        html=msg.html,
        language=msg.language,
        automation=msg.automation,
        defects=list(msg.defects),
        intake_id=record.id,
        created_at=now,
    )
    session.add(message)
    await session.flush()
    assert message.id is not None
    for part in msg.attachments:
        session.add(
            Attachment(
                message_id=message.id,
                filename=part.filename[:255],
                content_type=part.content_type[:255],
                size=part.size,
                sha256=part.sha256,
                content_id=part.content_id,
                inline=part.inline,
                data=part.data,
            )
        )
    return message


async def _no_ack_reason(
    session: AsyncSession,
    msg: InboundMessage,
    *,
    contact: Contact | None,
    policy: IntakePolicy,
    now: datetime,
) -> str | None:
    """Why no acknowledgement may go out, or None when one should."""
    if contact is None:
        return "no sender address"
    if msg.automated:
        return f"machine mail ({msg.automation})"
    return await ack_refusal(session, contact=contact, policy=policy, now=now)


async def ack_refusal(
    session: AsyncSession, *, contact: Contact, policy: IntakePolicy, now: datetime
) -> str | None:
    """Why `contact` may not get an acknowledgement now, whoever opened the case; None if it may."""
    if own_address(contact.channel, contact.address, policy):
        return "our own address"
    if contact.blocked:
        return "contact blocked"
    key = sender_key(contact.channel, contact.address)
    recent = await recent_acks(session, channel=contact.channel, keys=[key], now=now)
    if recent[key] >= policy.acks_per_sender_per_day:
        return f"over {policy.acks_per_sender_per_day} acknowledgements in 24 hours"
    return None


def own_address(channel: str, address: str, policy: IntakePolicy) -> bool:
    """Whether `address` is one of ours (any spelling of it): we never acknowledge ourselves."""
    if channel != Channel.EMAIL:
        return False
    ours = {sender_key(channel, own) for own in policy.own_addresses}
    return sender_key(channel, address) in ours


async def enqueue_ack(
    session: AsyncSession,
    msg: InboundMessage,
    *,
    case: Case,
    contact: Contact,
    policy: IntakePolicy,
    now: datetime,
) -> None:
    assert case.id is not None and case.due_on is not None
    ack = render_ack(
        reference=case.reference,
        organisation=policy.organisation,
        response_days=policy.response_days,
        due=case.due_on,
        appeal_url=policy.appeal_url,
        message_language=msg.language,
        channel=msg.channel,
    )
    rfc_id = make_msgid(idstring=case.reference.lower(), domain=policy.mail_domain)
    outbound = Message(
        case_id=case.id,
        direction=Direction.OUTBOUND,
        channel=msg.channel,
        kind=ACK_KIND,
        rfc_message_id=rfc_id.strip("<>"),
        in_reply_to=msg.message_id,
        recipient=contact.address,
        subject=ack.subject,
        text=ack.text,
        display_text=ack.text,
        language=ack.languages[0],
        delivery=Delivery.QUEUED,
        created_at=now,
    )
    session.add(outbound)
    await session.flush()
    await outbox.enqueue(
        session,
        kind=ACK_KIND,
        channel=msg.channel,
        recipient=contact.address,
        payload=ack_payload(msg, ack, rfc_id=rfc_id, address=contact.address),
        idempotency_key=f"{ACK_KIND}:{case.reference}",
        case_id=case.id,
        message_id=outbound.id,
        now=now,
    )


def ack_payload(msg: InboundMessage, ack: AckText, *, rfc_id: str, address: str) -> dict[str, Any]:
    """The outbox payload of the acknowledgement of `msg` to the contact at `address`."""
    payload: dict[str, Any] = {"text": ack.text, "languages": list(ack.languages)}
    if msg.channel == Channel.TELEGRAM:
        payload["chat_id"] = msg.chat_id or address
    else:
        references = [*msg.references, msg.message_id] if msg.message_id else list(msg.references)
        payload |= {
            "subject": ack.subject,
            "message_id": rfc_id,
            "in_reply_to": f"<{msg.message_id}>" if msg.message_id else None,
            "references": [f"<{mid}>" for mid in references][-20:],
            "auto_submitted": "auto-replied",
            "chat_id": msg.chat_id,
        }
    return payload
