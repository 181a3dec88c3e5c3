"""Bounces close the loop: a delivery report about a message of ours marks that message's
delivery instead of opening a case of its own.

A bounce (machine mail of the kind `bounce` that carries a `DeliveryReport`) quotes the Message-ID
of what it reports on. When that is an outbound message on a case (an acknowledgement, a staff
reply), the report joins that case as a machine message, so staff see it beside what bounced; the
message's delivery becomes `bounced` with the reported kind, status and diagnostic; and after a
hard bounce the contact is unreachable, so no automatic mail goes there again (the outbox's
re-check and the acknowledgement rules both read it). A report about a check-in mail (check-ins
belong to no case) marks the contact the same way and is kept in the ledger alone. A report that
matches nothing of ours goes on as machine mail and opens a case in "Maskinpost".
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from inbox.cases.contacts import find_contact
from inbox.core.audit import SYSTEM, audit
from inbox.core.inbound import Automation, Channel, DeliveryReport, InboundMessage
from inbox.core.models import (
    BounceKind,
    Case,
    CheckIn,
    Contact,
    Delivery,
    Direction,
    Message,
)
from inbox.intake.policy import IntakePolicy
from inbox.intake.steps import Item

BOUNCED = "delivery.bounced"  # the audit event
MAX_REASON = 500  # of `Contact.unreachable_reason`


async def match_reports(
    session: AsyncSession, items: Sequence[Item], *, policy: IntakePolicy, now: datetime
) -> None:
    """The intake step: each bounce about a message of ours joins that message's case (or, about
    a check-in, is taken whole) and records what it reports."""
    reports = [(item, reported_ids(item.msg)) for item in items if _is_report(item)]
    wanted = {i for _, ids in reports for i in ids}
    if not wanted:
        return
    messages = await _outbound(session, wanted)
    checkins = await _checkins(session, wanted - messages.keys())
    for item, ids in reports:
        report = item.msg.delivery_report
        assert report is not None and item.record is not None
        found = next((messages[i] for i in ids if i in messages), None)
        if found is not None:
            message, case = found
            await record_bounce(
                session,
                message=message,
                case=case,
                report=report,
                now=now,
                intake_id=item.record.id,
            )
            item.case_id, item.reference = case.id, case.reference
            continue
        checkin = next((checkins[i] for i in ids if i in checkins), None)
        if checkin is not None:
            await _checkin_bounced(
                session, checkin=checkin, report=report, now=now, intake_id=item.record.id
            )
            item.claimed, item.no_ack_reason = True, "delivery report about a check-in"


def reported_ids(msg: InboundMessage) -> tuple[str, ...]:
    """The Message-IDs a bounce may be about, surest first: those of the message it quotes, then
    those it answers (a few mail systems write In-Reply-To on their reports)."""
    report = msg.delivery_report
    quoted = report.original_ids if report is not None else ()
    return tuple(dict.fromkeys(i.strip().strip("<>") for i in (*quoted, *msg.thread_ids) if i))


def _is_report(item: Item) -> bool:
    msg = item.msg
    return (
        item.joins_case
        and msg.channel == Channel.EMAIL
        and msg.automation is Automation.BOUNCE
        and msg.delivery_report is not None
    )


async def _outbound(session: AsyncSession, ids: Collection[str]) -> dict[str, tuple[Message, Case]]:
    rows = await session.execute(
        select(Message, Case)
        .join(Case, col(Case.id) == Message.case_id)
        .where(
            col(Message.rfc_message_id).in_(sorted(ids)),
            col(Message.direction) == Direction.OUTBOUND,
        )
    )
    return {
        message.rfc_message_id: (message, case)
        for message, case in rows.all()
        if message.rfc_message_id is not None
    }


async def _checkins(session: AsyncSession, ids: Collection[str]) -> dict[str, CheckIn]:
    if not ids:
        return {}
    wanted = sorted(ids)
    rows = await session.execute(
        select(CheckIn).where(
            or_(col(CheckIn.ask_rfc_id).in_(wanted), col(CheckIn.reminder_rfc_id).in_(wanted))
        )
    )
    found: dict[str, CheckIn] = {}
    for checkin in rows.scalars():
        for rfc_id in (checkin.ask_rfc_id, checkin.reminder_rfc_id):
            if rfc_id is not None and rfc_id in ids:
                found[rfc_id] = checkin
    return found


def bounce_kind(report: DeliveryReport) -> BounceKind:
    """Hard for a permanent failure (5.x.x, or "failed" without a status); soft otherwise: a
    temporary failure, a delay, or a report that does not say (nothing is final on a guess)."""
    worst = report.worst
    return BounceKind.HARD if worst is not None and worst.hard else BounceKind.SOFT


async def record_bounce(
    session: AsyncSession,
    *,
    message: Message,
    case: Case,
    report: DeliveryReport,
    now: datetime,
    intake_id: int | None = None,
) -> BounceKind:
    """Marks `message` bounced as `report` says, the contact unreachable after a hard bounce, and
    audits it. A soft report after a hard one (a late delay warning) leaves the hard one shown."""
    kind = bounce_kind(report)
    worst = report.worst
    status = worst.status if worst else None
    diagnostic = worst.diagnostic if worst else None
    if not (message.bounce_kind == BounceKind.HARD and kind is BounceKind.SOFT):
        message.delivery = Delivery.BOUNCED
        message.bounce_kind = kind
        message.bounce_status = status
        message.bounce_diagnostic = diagnostic
        message.bounced_at = now
    contact = None
    if kind is BounceKind.HARD and message.recipient:
        contact = await find_contact(session, channel=message.channel, address=message.recipient)
    case.updated_at = now
    _audit_bounce(
        session,
        report,
        kind=kind,
        contact=contact,
        case=case,
        now=now,
        intake_id=intake_id,
        message_id=message.id,
    )
    await session.flush()
    return kind


async def _checkin_bounced(
    session: AsyncSession,
    *,
    checkin: CheckIn,
    report: DeliveryReport,
    now: datetime,
    intake_id: int | None,
) -> None:
    kind = bounce_kind(report)
    contact = await session.get(Contact, checkin.contact_id) if kind is BounceKind.HARD else None
    _audit_bounce(
        session,
        report,
        kind=kind,
        contact=contact,
        case=None,
        now=now,
        intake_id=intake_id,
        checkin_id=checkin.id,
    )
    await session.flush()


def _audit_bounce(
    session: AsyncSession,
    report: DeliveryReport,
    *,
    kind: BounceKind,
    contact: Contact | None,
    case: Case | None,
    now: datetime,
    intake_id: int | None,
    **about: int | None,
) -> None:
    """Makes `contact` (given for a hard bounce) unreachable and audits the bounce with the
    report's worst failure; `about` names what bounced (a message or a check-in)."""
    worst = report.worst
    status = worst.status if worst else None
    diagnostic = worst.diagnostic if worst else None
    unreachable = contact is not None and _mark_unreachable(
        contact, status=status, diagnostic=diagnostic, now=now
    )
    audit(
        session,
        actor=SYSTEM,
        action=BOUNCED,
        case=case,
        now=now,
        **about,
        kind=str(kind),
        status=status,
        diagnostic=diagnostic,
        recipient=worst.address if worst else None,
        contact_unreachable=unreachable,
        intake_id=intake_id,
    )


def _mark_unreachable(
    contact: Contact, *, status: str | None, diagnostic: str | None, now: datetime
) -> bool:
    """The contact unreachable from now, for the reason reported; True when it was reachable."""
    if contact.unreachable_at is not None:
        return False
    contact.unreachable_at = now
    reason = f"hard bounce {status or '(no status)'}: {diagnostic or 'no diagnostic'}"
    contact.unreachable_reason = reason[:MAX_REASON]
    return True
