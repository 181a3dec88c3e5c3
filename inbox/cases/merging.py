"""Merging two cases of the same matter, and splitting a message off into a case of its own.

A merge moves every message of the source (with its attachments and outbox rows) to the target and
closes the source with a pointer to the target; a split moves one inbound message to a new case
with its own reference and due date. Both are recorded on both cases in the audit trail; the
search index follows through its triggers. Flushes, never commits.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from inbox.cases.opening import Opening, open_case
from inbox.cases.queries import FLAGS
from inbox.core.audit import Actor, audit
from inbox.core.models import Case, CaseStatus, Direction, Message, OutboxItem, Unit


class MergeError(Exception):
    """The merge or split cannot be done as asked; the message says why (in Swedish)."""


async def merge_cases(
    session: AsyncSession, *, source: Case, target: Case, actor: Actor, now: datetime
) -> int:
    """Moves everything of `source` to `target` and closes `source`; returns the messages moved."""
    if source.id is None or target.id is None:
        raise MergeError("Ärendet finns inte.")
    if source.id == target.id:
        raise MergeError("Ett ärende kan inte slås ihop med sig självt.")
    if source.merged_into_id is not None:
        raise MergeError(f"{source.reference} är redan sammanslaget med ett annat ärende.")
    if target.merged_into_id is not None:
        raise MergeError(f"{target.reference} är sammanslaget med ett annat ärende.")
    if target.status == CaseStatus.CLOSED:
        raise MergeError(f"{target.reference} är avslutat; öppna det först.")

    moved = (
        await session.execute(
            update(Message)
            .where(col(Message.case_id) == source.id)
            .values(case_id=target.id)
            .execution_options(synchronize_session="fetch")
        )
    ).rowcount  # type: ignore[attr-defined]
    await session.execute(
        update(OutboxItem)
        .where(col(OutboxItem.case_id) == source.id)
        .values(case_id=target.id)
        .execution_options(synchronize_session="fetch")
    )
    for name in FLAGS:  # what was flagged on either case stays flagged on the merged one
        if getattr(source, f"flag_{name}"):
            setattr(target, f"flag_{name}", True)
    if target.first_response_at is None and source.first_response_at is not None:
        target.first_response_at = source.first_response_at
    target.updated_at = now
    source.status = CaseStatus.CLOSED
    source.closed_at = now
    source.merged_into_id = target.id
    source.updated_at = now
    audit(
        session,
        actor=actor,
        action="case.merged",
        case=source,
        now=now,
        into=target.reference,
        messages=moved,
    )
    audit(
        session,
        actor=actor,
        action="case.merged_from",
        case=target,
        now=now,
        source=source.reference,
        messages=moved,
    )
    await session.flush()
    return int(moved)


async def split_message(
    session: AsyncSession,
    *,
    case: Case,
    message_id: int,
    actor: Actor,
    now: datetime,
    prefix: str,
    response_days: int,
) -> Case:
    """Moves one inbound message of `case` to a new case (same contact and unit) and returns it.

    The new case was received when the message arrived; its due date counts from then, in the
    unit's working days (or `response_days` when the case has no unit).
    """
    message = await session.get(Message, message_id)
    if message is None or message.case_id != case.id:
        raise MergeError("Meddelandet finns inte i ärendet.")
    if message.direction != Direction.INBOUND:
        raise MergeError("Bara inkomna meddelanden kan brytas ut till ett nytt ärende.")
    inbound = (
        await session.execute(
            select(func.count())
            .select_from(Message)
            .where(col(Message.case_id) == case.id, col(Message.direction) == Direction.INBOUND)
        )
    ).scalar_one()
    if inbound < 2:
        raise MergeError("Ärendets enda inkomna meddelande kan inte brytas ut.")

    days = response_days
    if case.unit_id is not None:
        unit = await session.get(Unit, case.unit_id)
        days = unit.response_days if unit else days
    received = message.created_at
    new = await open_case(
        session,
        Opening(
            channel=case.channel,
            subject=message.subject or case.subject,
            text=message.text,
            received_at=received,
            response_days=days,
            contact_id=case.contact_id,
            unit_id=case.unit_id,
            origin=case.origin,
            submitter_role=case.submitter_role,
            language=message.language or case.language,
        ),
        prefix=prefix,
        now=now,
    )
    assert new.id is not None
    message.case_id = new.id
    case.updated_at = now
    audit(
        session,
        actor=actor,
        action="message.split",
        case=case,
        now=now,
        message_id=message_id,
        new_case=new.reference,
    )
    audit(
        session,
        actor=actor,
        action="case.created",
        case=new,
        now=now,
        split_from=case.reference,
        message_id=message_id,
    )
    await session.flush()
    return new
