"""The steps of intake, each a small function over a batch of `Item`s (see `pipeline` for their
order and the batches they get): what a message becomes is written on its item as it goes, and
each step writes its rows for the whole batch at once where the batch allows it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

from sqlalchemy import Table, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from inbox.cases.contacts import Sender, find_or_create_contacts, normalise_address
from inbox.cases.notifications import record_replies
from inbox.cases.opening import Opening, open_cases
from inbox.core.audit import SYSTEM, audit_row
from inbox.core.inbound import Channel, InboundMessage
from inbox.core.models import (
    Attachment,
    AuditEvent,
    Case,
    CaseStatus,
    Contact,
    Direction,
    IntakeRecord,
    Message,
)
from inbox.core.personnummer import contains_personnummer
from inbox.intake import ledger
from inbox.intake.ack_rules import no_ack_reasons
from inbox.intake.acknowledgement import Ack, counts_as_received, enqueue_acks
from inbox.intake.policy import IntakePolicy
from inbox.intake.threads import continued_case

# The rows are inserted into the tables (Core), not through the models: the ORM's bulk insert
# leaves out each row's None values and so splits a batch into a statement for every run of rows
# with the same None columns (a message with HTML and one without), and handles every row again.
_MESSAGES: Table = Message.__table__  # type: ignore[attr-defined]
_ATTACHMENTS: Table = Attachment.__table__  # type: ignore[attr-defined]
_AUDIT_EVENTS: Table = AuditEvent.__table__  # type: ignore[attr-defined]


@dataclass(slots=True)
class Item:
    """One message on its way through the steps, and what they made of it."""

    msg: InboundMessage  # normalised
    record: IntakeRecord | None  # its ledger row; `dedupe` finds or makes one
    contact: Contact | None = None
    new_contact: bool = False  # created for this message: no cases, check-ins or acks before it
    duplicate: bool = False  # the ledger had it processed: a redelivery
    claimed: bool = False  # a claim took it instead of a case
    case_id: int | None = None
    reference: str | None = None
    new_case: bool = False
    due_on: date | None = None  # of the case it opened
    message_id: int | None = None
    no_ack_reason: str | None = None  # also why a duplicate or a claimed message went no further
    appeal: bool = False  # the message may be an appeal (`appeals.recognise_appeals`)

    @property
    def joins_case(self) -> bool:
        return not self.duplicate and not self.claimed

    @property
    def acknowledged(self) -> bool:
        return self.joins_case and self.new_case and self.no_ack_reason is None


class Step(Protocol):
    """A step: it reads and writes the items it is given and the rows they stand for."""

    async def __call__(
        self,
        session: AsyncSession,
        items: Sequence[Item],
        *,
        policy: IntakePolicy,
        now: datetime,
    ) -> None: ...


# --- steps over the whole batch -------------------------------------------------------------


async def dedupe(
    session: AsyncSession, items: Sequence[Item], *, policy: IntakePolicy, now: datetime
) -> None:
    """A message without a ledger row (not from the worker) gets one now, unless the ledger has
    it processed already: then it is a duplicate, answered with the case it went to."""
    for item in items:
        if item.record is not None:
            continue
        item.record = await _ledger_row(session, item.msg, now=now)
        if item.record is None:
            row = await ledger.find(
                session, channel=item.msg.channel, external_id=item.msg.external_id
            )
            item.duplicate, item.no_ack_reason = True, "duplicate"
            item.case_id = row.case_id if row else None
            item.reference = row.case_reference if row else None


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


async def find_contacts(
    session: AsyncSession, items: Sequence[Item], *, policy: IntakePolicy, now: datetime
) -> None:
    """Each sender's contact: the known ones in one query, the others created in one insert, by
    the first message from them (the later ones find it known, as they would one by one). A
    message that has its case already (a bounce, from a mail system) needs none."""
    wanted: list[tuple[Item, Sender]] = []
    for item in items:
        sender = _sender(item.msg) if item.joins_case and item.case_id is None else None
        if sender is not None:
            wanted.append((item, sender))
    found = await find_or_create_contacts(session, [sender for _, sender in wanted], now=now)
    for (item, _), (contact, created) in zip(wanted, found, strict=True):
        item.contact, item.new_contact = contact, created


def _sender(msg: InboundMessage) -> Sender | None:
    """Whom the message's contact is for; None when it has no sender to answer."""
    channel = msg.reply_channel or msg.channel
    if not msg.sender_address or not normalise_address(channel, msg.sender_address):
        return None
    return Sender(
        channel=channel,
        address=msg.sender_address,
        display_name=msg.sender_name,
        language=msg.language,
    )


# --- steps over each run --------------------------------------------------------------------


async def claim(
    session: AsyncSession, items: Sequence[Item], *, policy: IntakePolicy, now: datetime
) -> None:
    """The installation's claims (a check-in answer, say) may take a known contact's message."""
    for item in _known(items):
        assert item.contact is not None
        for one in policy.claims:
            reason = await one(session, item.msg, item.contact, now)
            if reason is not None:
                item.claimed, item.no_ack_reason = True, reason
                break


async def thread(
    session: AsyncSession, items: Sequence[Item], *, policy: IntakePolicy, now: datetime
) -> None:
    """A known contact's message may continue one of their cases; a closed or waiting case opens
    again, and a personnummer in the message flags it."""
    for item in _known(items):
        assert item.contact is not None
        case = await continued_case(
            session, item.msg, contact=item.contact, prefix=policy.case_prefix
        )
        if case is None:
            continue
        _reopen(case, item.msg, now=now)
        item.case_id, item.reference = case.id, case.reference


async def continue_by_reference(
    session: AsyncSession, items: Sequence[Item], *, policy: IntakePolicy, now: datetime
) -> None:
    """A message that names the case it adds to (`continues`: the web form's follow-up page,
    where the sender proved they know its code) joins that case, opened again if it was closed."""
    for item in items:
        reference = item.msg.extra.get(CONTINUES) if item.msg.channel == Channel.WEB else None
        if not item.joins_case or item.case_id is not None or not reference:
            continue
        case = (
            await session.execute(select(Case).where(col(Case.reference) == reference))
        ).scalar_one_or_none()
        if case is None:
            continue  # gone since: the message opens a case of its own
        _reopen(case, item.msg, now=now)
        item.case_id, item.reference = case.id, case.reference


def _reopen(case: Case, msg: InboundMessage, *, now: datetime) -> None:
    """A closed or waiting case opens again for a new message; a personnummer flags it."""
    if case.status in (CaseStatus.CLOSED, CaseStatus.WAITING):
        case.status = CaseStatus.OPEN
        case.closed_at = None
        case.updated_at = now
    if contains_personnummer(f"{msg.subject}\n{msg.text}"):
        case.flag_personnummer = True


async def open_new_cases(
    session: AsyncSession, items: Sequence[Item], *, policy: IntakePolicy, now: datetime
) -> None:
    """Every other message opens a case: the next references, in batch order, in one insert."""
    opening = [item for item in items if item.joins_case and item.case_id is None]
    openings = [
        Opening(
            channel=item.msg.channel,
            subject=item.msg.subject or "",
            text=item.msg.text,
            received_at=_arrival(item, now),
            response_days=policy.response_days,
            contact_id=item.contact.id if item.contact else None,
            language=item.msg.language,
            automated=item.msg.automated,
            **_described(item.msg),
        )
        for item in opening
    ]
    opened = await open_cases(session, openings, prefix=policy.case_prefix, now=now)
    for item, new, (case_id, reference) in zip(opening, openings, opened, strict=True):
        item.case_id, item.reference = case_id, reference
        item.new_case, item.due_on = True, new.due_on(now=now)


# What a channel that asks its questions (the web form) knows of the case, by `extra` key: the
# reference reserved when it was written, its kind, who the sender is, its unit, and the event.
CONTINUES = "continues"
_DESCRIBED = {
    "reference": "reference",
    "kind": "kind",
    "submitter_role": "submitter_role",
    "event_what": "event_what",
    "event_when": "event_when",
    "event_where": "event_where",
}


def _described(msg: InboundMessage) -> dict[str, Any]:
    """The `Opening` fields the message's channel filled in (see `_DESCRIBED`): only the web
    form's, whose rows our own server wrote; no other channel's `extra` says anything of a case."""
    if msg.channel != Channel.WEB:
        return {}
    known: dict[str, Any] = {
        field: msg.extra[key] for key, field in _DESCRIBED.items() if msg.extra.get(key)
    }
    if msg.extra.get("unit_id", "").isdigit():
        known["unit_id"] = int(msg.extra["unit_id"])
    return known


async def store_messages(
    session: AsyncSession, items: Sequence[Item], *, policy: IntakePolicy, now: datetime
) -> None:
    """The messages on their cases, and their attachments: one insert each."""
    joining = [item for item in items if item.joins_case]
    if not joining:
        return
    stored = await session.execute(
        insert(_MESSAGES).returning(_MESSAGES.c.id, _MESSAGES.c.intake_id),
        [_inbound_row(item, now=now) for item in joining],
    )
    ids = {intake_id: id_ for id_, intake_id in stored.all()}
    for item in joining:
        assert item.record is not None
        item.message_id = ids[item.record.id]
    # A message on a case that was there before is a reply its handläggare is told of.
    await record_replies(
        session,
        [
            (item.case_id, item.message_id)
            for item in joining
            if not item.new_case
            and item.case_id is not None
            and item.message_id is not None
            and not item.msg.automated
        ],
        now=now,
    )
    attachments = [
        {
            "message_id": item.message_id,
            "filename": part.filename[:255],
            "content_type": part.content_type[:255],
            "size": part.size,
            "sha256": part.sha256,
            "content_id": part.content_id,
            "inline": part.inline,
            "data": part.data,
        }
        for item in joining
        for part in item.msg.attachments
    ]
    if attachments:
        await session.execute(insert(_ATTACHMENTS), attachments)


def _inbound_row(item: Item, *, now: datetime) -> dict[str, Any]:
    assert item.record is not None
    msg = item.msg
    return {
        "case_id": item.case_id,
        "direction": Direction.INBOUND,
        "channel": msg.channel,
        "rfc_message_id": msg.message_id,
        "in_reply_to": msg.in_reply_to,
        "sender_address": msg.sender_address,
        "sender_name": msg.sender_name,
        "subject": msg.subject or "",
        "text": msg.text,
        "display_text": msg.display_text or msg.text,
        "html": msg.html,
        "language": msg.language,
        "automation": msg.automation,
        "defects": [*msg.defects, *ledger.reuse_notes(item.record)],
        "intake_id": item.record.id,
        "created_at": _arrival(item, now),
    }


async def audit_messages(
    session: AsyncSession, items: Sequence[Item], *, policy: IntakePolicy, now: datetime
) -> None:
    """The audit trail: a case created, or a message received on a case, by the system."""
    rows = [
        audit_row(
            actor=SYSTEM,
            action="case.created" if item.new_case else "message.received",
            case_id=item.case_id,
            case_reference=item.reference,
            now=now,
            detail={
                "channel": str(item.msg.channel),
                "message_id": item.message_id,
                **_reuse_detail(item.record),
            },
        )
        for item in items
        if item.joins_case
    ]
    if rows:
        await session.execute(insert(_AUDIT_EVENTS), rows)


def _reuse_detail(record: IntakeRecord | None) -> dict[str, int]:
    """For the audit trail: the ledger row whose Message-ID this message reused, if it did."""
    return {"reuses_id_of": record.reuses_id_of} if record and record.reuses_id_of else {}


async def mark_ledger(
    session: AsyncSession, items: Sequence[Item], *, policy: IntakePolicy, now: datetime
) -> None:
    """Each ledger row done, with the case its message went to (none when a claim took it)."""
    for item in items:
        assert item.record is not None
        ledger.mark_done(item.record, case_id=item.case_id, case_reference=item.reference, now=now)


async def refuse_acks(
    session: AsyncSession, items: Sequence[Item], *, policy: IntakePolicy, now: datetime
) -> None:
    """Why a message that opened a case gets no acknowledgement, if it gets none
    (`ack_rules`: machines, us, blocked contacts, the daily limit per sender)."""
    opened = [item for item in items if item.joins_case and item.new_case]
    reasons = await no_ack_reasons(
        session, [(item.msg, item.contact) for item in opened], policy=policy, now=now
    )
    for item, reason in zip(opened, reasons, strict=True):
        item.no_ack_reason = reason


async def acknowledge(
    session: AsyncSession, items: Sequence[Item], *, policy: IntakePolicy, now: datetime
) -> None:
    """The acknowledgements that may go out, queued."""
    acks = []
    for item in items:
        if item.acknowledged:
            assert item.contact and item.case_id and item.reference and item.due_on
            acks.append(
                Ack(
                    msg=item.msg,
                    case_id=item.case_id,
                    reference=item.reference,
                    due_on=item.due_on,
                    address=item.contact.address,
                    appeal=item.appeal,
                    received_at=item.record.received_at if item.record else None,
                    channel=item.contact.channel,
                )
            )
    await enqueue_acks(session, acks, policy=policy, now=now)


def _arrival(item: Item, now: datetime) -> datetime:
    """When the message arrived: its ledger row's time (at the latest now), which a worker
    catching up a day later (or after New Year) must not replace with its own — or Telegram's
    earlier server time, as the acknowledgement counts it (`counts_as_received`)."""
    stored = min(item.record.received_at, now) if item.record is not None else now
    return counts_as_received(item.msg, stored)


def _known(items: Sequence[Item]) -> Iterator[Item]:
    """The messages still going that come from a contact the inbox knew before them."""
    return (
        item
        for item in items
        if item.joins_case and item.contact is not None and not item.new_contact
    )
