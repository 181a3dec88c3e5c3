"""`receive_many()`: the worker's batch of messages, taken in as `receive()` would take each one.

Most feedback comes from people writing for the first time: a new contact has no case to continue
and no check-in to answer, and the acknowledgements other spellings of its address already got are
counted for the whole batch in one query, so what `receive()` does for it is fixed from the message
and that count. Those messages are stored with a few multi-row Core inserts per batch instead of
about ten statements each. Every other message (a known sender, a sender seen twice in the batch
under any spelling, no sender) goes through `receive()` itself, in its place in the batch, so
threading, check-in answers and rate limits see exactly what they would one message at a time.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import make_msgid
from typing import Any

from sqlalchemy import insert, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from inbox.cases.contacts import normalise_address
from inbox.cases.opening import open_cases
from inbox.core.audit import SYSTEM, audit_row
from inbox.core.db import insert_ignoring_conflicts
from inbox.core.inbound import InboundMessage
from inbox.core.models import (
    Attachment,
    AuditEvent,
    Contact,
    Delivery,
    Direction,
    IntakeRecord,
    Message,
    OutboxItem,
    OutboxStatus,
)
from inbox.core.time import STOCKHOLM, add_working_days
from inbox.intake import ledger
from inbox.intake.ack_limit import recent_acks, sender_key
from inbox.intake.acknowledgement import ACK_KIND, render_ack
from inbox.intake.receive import IntakePolicy, ack_payload, opening, own_address, receive


@dataclass(slots=True)
class _New:
    """A message from a sender the inbox has never seen, and what it becomes."""

    msg: InboundMessage
    record: IntakeRecord
    address: str
    recent_acks: int = 0  # to other spellings of the address, in the last 24 hours
    contact_id: int = 0
    case_id: int = 0
    reference: str = ""


async def receive_many(
    session: AsyncSession,
    items: Sequence[tuple[InboundMessage, IntakeRecord]],
    *,
    policy: IntakePolicy,
    now: datetime,
) -> None:
    """Takes ledger rows' parsed messages into the inbox, in order; flushes, never commits."""
    normalised = [(msg.normalised(), record) for msg, record in items]
    keys: list[tuple[str, str] | None] = [
        (str(msg.channel), normalise_address(msg.channel, msg.sender_address))
        if msg.sender_address
        else None
        for msg, _ in normalised
    ]
    wanted = {key for key in keys if key is not None}
    known = await _known_contacts(session, wanted)
    # Two spellings of one mailbox in a batch share one acknowledgement limit: `receive()` counts.
    senders = [(key[0], sender_key(*key)) if key is not None else None for key in keys]
    seen = Counter(senders)
    acked = await _recent_acks(session, {sender for sender in senders if sender is not None}, now)
    run: list[_New] = []
    for (msg, record), key, sender in zip(normalised, keys, senders, strict=True):
        if key is not None and key[1] and key not in known and seen[sender] == 1:
            assert sender is not None
            run.append(_New(msg=msg, record=record, address=key[1], recent_acks=acked[sender]))
            continue
        await _store_new(session, run, policy=policy, now=now)
        run = []
        await receive(session, msg, policy=policy, now=now, record=record)
    await _store_new(session, run, policy=policy, now=now)
    await session.flush()


async def _recent_acks(
    session: AsyncSession, senders: set[tuple[str, str]], now: datetime
) -> Counter[tuple[str, str]]:
    """Acknowledgements in the last 24 hours per (channel, sender key) of the batch."""
    found: Counter[tuple[str, str]] = Counter()
    for channel in sorted({channel for channel, _ in senders}):
        keys = [key for ch, key in senders if ch == channel]
        counts = await recent_acks(session, channel=channel, keys=keys, now=now)
        found.update({(channel, key): n for key, n in counts.items()})
    return found


async def _known_contacts(
    session: AsyncSession, keys: set[tuple[str, str]]
) -> set[tuple[str, str]]:
    if not keys:
        return set()
    rows = await session.execute(
        select(col(Contact.channel), col(Contact.address)).where(
            tuple_(col(Contact.channel), col(Contact.address)).in_(sorted(keys))
        )
    )
    return {(channel, address) for channel, address in rows.all()}


async def _store_new(
    session: AsyncSession, run: list[_New], *, policy: IntakePolicy, now: datetime
) -> None:
    """Stores messages of new senders (each once in `run`) as `receive()` would, in bulk."""
    if not run:
        return
    created = await session.execute(
        insert_ignoring_conflicts(session, Contact).returning(
            col(Contact.id), col(Contact.channel), col(Contact.address)
        ),
        [
            {
                "channel": new.msg.channel,
                "address": new.address,
                "display_name": new.msg.sender_name,
                "language": new.msg.language,
                "opted_out": False,
                "blocked": False,
                "unreachable_at": None,
                "unreachable_reason": None,
                "created_at": now,
            }
            for new in run
        ],
    )
    ids = {(channel, address): id_ for id_, channel, address in created.all()}
    # A concurrent intake created one of these contacts a moment ago: then it is not new.
    late = [new for new in run if (new.msg.channel, new.address) not in ids]
    run = [new for new in run if (new.msg.channel, new.address) in ids]
    for new in run:
        new.contact_id = ids[(new.msg.channel, new.address)]
    if run:
        await _open_cases(session, run, policy=policy, now=now)
        await _store_messages(session, run, now=now)
        await _acknowledge(session, run, policy=policy, now=now)
    for new in late:
        await receive(session, new.msg, policy=policy, now=now, record=new.record)


async def _open_cases(
    session: AsyncSession, run: list[_New], *, policy: IntakePolicy, now: datetime
) -> None:
    opened = await open_cases(
        session,
        [opening(new.msg, contact_id=new.contact_id, policy=policy, now=now) for new in run],
        prefix=policy.case_prefix,
        now=now,
    )
    for new, (case_id, reference) in zip(run, opened, strict=True):
        new.case_id, new.reference = case_id, reference


async def _store_messages(session: AsyncSession, run: list[_New], *, now: datetime) -> None:
    stored = await session.execute(
        insert(Message).returning(col(Message.id), col(Message.intake_id)),
        [
            {
                "case_id": new.case_id,
                "direction": Direction.INBOUND,
                "channel": new.msg.channel,
                "rfc_message_id": new.msg.message_id,
                "in_reply_to": new.msg.in_reply_to,
                "sender_address": new.msg.sender_address,
                "sender_name": new.msg.sender_name,
                "subject": new.msg.subject or "",
                "text": new.msg.text,
                "display_text": new.msg.display_text or new.msg.text,
                "html": new.msg.html,
                "language": new.msg.language,
                "automation": new.msg.automation,
                "defects": list(new.msg.defects),
                "intake_id": new.record.id,
                "created_at": now,
            }
            for new in run
        ],
    )
    message_ids = {intake_id: id_ for id_, intake_id in stored.all()}
    attachments = [
        {
            "message_id": message_ids[new.record.id],
            "filename": part.filename[:255],
            "content_type": part.content_type[:255],
            "size": part.size,
            "sha256": part.sha256,
            "content_id": part.content_id,
            "inline": part.inline,
            "data": part.data,
        }
        for new in run
        for part in new.msg.attachments
    ]
    if attachments:
        await session.execute(insert(Attachment), attachments)
    await session.execute(
        insert(AuditEvent),
        [
            audit_row(
                actor=SYSTEM,
                action="case.created",
                case_id=new.case_id,
                case_reference=new.reference,
                now=now,
                detail={
                    "channel": str(new.msg.channel),
                    "message_id": message_ids[new.record.id],
                },
            )
            for new in run
        ],
    )
    for new in run:
        ledger.mark_done(new.record, case_id=new.case_id, case_reference=new.reference, now=now)


def _no_ack_reason(new: _New, policy: IntakePolicy) -> str | None:
    """`receive._no_ack_reason` for a contact created just now (so not blocked)."""
    if new.msg.automated:
        return f"machine mail ({new.msg.automation})"
    if own_address(new.msg.channel, new.address, policy):
        return "our own address"
    if new.recent_acks >= policy.acks_per_sender_per_day:
        return f"over {policy.acks_per_sender_per_day} acknowledgements in 24 hours"
    return None


async def _acknowledge(
    session: AsyncSession, run: list[_New], *, policy: IntakePolicy, now: datetime
) -> None:
    acked = [new for new in run if _no_ack_reason(new, policy) is None]
    if not acked:
        return
    outbound: list[dict[str, Any]] = []
    payloads: dict[int, dict[str, Any]] = {}
    for new in acked:
        due_on = add_working_days(now.astimezone(STOCKHOLM).date(), policy.response_days)
        ack = render_ack(
            reference=new.reference,
            organisation=policy.organisation,
            response_days=policy.response_days,
            due=due_on,
            appeal_url=policy.appeal_url,
            message_language=new.msg.language,
            channel=new.msg.channel,
        )
        rfc_id = make_msgid(idstring=new.reference.lower(), domain=policy.mail_domain)
        outbound.append(
            {
                "case_id": new.case_id,
                "direction": Direction.OUTBOUND,
                "channel": new.msg.channel,
                "kind": ACK_KIND,
                "rfc_message_id": rfc_id.strip("<>"),
                "in_reply_to": new.msg.message_id,
                "recipient": new.address,
                "subject": ack.subject,
                "text": ack.text,
                "display_text": ack.text,
                "language": ack.languages[0],
                "delivery": Delivery.QUEUED,
                "defects": [],
                "created_at": now,
            }
        )
        payloads[new.case_id] = ack_payload(new.msg, ack, rfc_id=rfc_id, address=new.address)
    stored = await session.execute(
        insert(Message).returning(col(Message.id), col(Message.case_id)), outbound
    )
    message_ids = {case_id: id_ for id_, case_id in stored.all()}
    await session.execute(
        insert_ignoring_conflicts(session, OutboxItem),
        [
            {
                "kind": ACK_KIND,
                "channel": new.msg.channel,
                "recipient": new.address,
                "payload": payloads[new.case_id],
                "idempotency_key": f"{ACK_KIND}:{new.reference}",
                "status": OutboxStatus.PENDING,
                "run_at": now,
                "attempts": 0,
                "case_id": new.case_id,
                "message_id": message_ids[new.case_id],
                "created_at": now,
            }
            for new in acked
        ],
    )
