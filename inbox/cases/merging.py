"""Merging two cases of the same matter, and splitting a message off into a case of its own; and
undoing either for a while.

A merge moves every message of the source (with its attachments and outbox rows) to the target and
closes the source with a pointer to the target; a split moves one inbound message to a new case
with its own reference and due date. Both are recorded on both cases in the audit trail; the
search index follows through its triggers. Flushes, never commits.

Each is also recorded as a `CaseMove`: what moved, the columns it changed as they were, and a
fingerprint of both cases right after. For `UNDO_WINDOW` after, `undo_move` puts back exactly what
was there (the messages and outbox rows on their case, the source open again with its former
status, the flags and first answer of the target as they were; a split's new case removed, its
message back where it came from), unless either case has changed since: then, or after the
window, it refuses with the reason in Swedish. References never change.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Column, Table, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel, col

from inbox.cases.access import Scope
from inbox.cases.opening import Opening, open_case
from inbox.cases.queries import FLAGS
from inbox.core.audit import Actor, audit
from inbox.core.models import Case, CaseMove, CaseStatus, Direction, Message, OutboxItem, Unit

# How long a merge or a split can be undone from the case page.
UNDO_WINDOW = timedelta(minutes=15)
MERGE, SPLIT = "merge", "split"


class MergeError(Exception):
    """The merge or split cannot be done as asked; the message says why (in Swedish)."""


class UndoRefused(MergeError):
    """The move cannot be undone (any more); the message says why (in Swedish)."""


class MoveNotFound(LookupError):
    """No such merge or split on this case (404)."""


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

    message_ids = await _ids(session, Message, source.id)
    outbox_ids = await _ids(session, OutboxItem, source.id)
    added: list[str] = []  # the flags the merge sets on the target
    before: dict[str, Any] = {
        "messages": message_ids,
        "outbox": outbox_ids,
        "source": {
            "status": source.status,
            "closed_at": _iso(source.closed_at),
            "merged_into_id": source.merged_into_id,
        },
        "target": {"flags": added, "first_response_at": _iso(target.first_response_at)},
    }
    moved = len(message_ids)
    await session.execute(
        update(Message)
        .where(col(Message.id).in_(message_ids))
        .values(case_id=target.id)
        .execution_options(synchronize_session="fetch")
    )
    await session.execute(
        update(OutboxItem)
        .where(col(OutboxItem.id).in_(outbox_ids))
        .values(case_id=target.id)
        .execution_options(synchronize_session="fetch")
    )
    for name in FLAGS:  # what was flagged on either case stays flagged on the merged one
        if getattr(source, f"flag_{name}") and not getattr(target, f"flag_{name}"):
            setattr(target, f"flag_{name}", True)
            added.append(name)
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
    await _record(session, MERGE, source, target, before=before, actor=actor, now=now)
    return moved


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
    before = {"message_id": message_id}
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
    await _record(session, SPLIT, case, new, before=before, actor=actor, now=now)
    return new


# Undoing a merge or a split ----------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _from_iso(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


async def _ids(
    session: AsyncSession, model: type[Message] | type[OutboxItem], case_id: int
) -> list[int]:
    rows = await session.execute(
        select(col(model.id)).where(col(model.case_id) == case_id).order_by(col(model.id))
    )
    return [int(i) for i in rows.scalars() if i is not None]


def _case_links() -> list[tuple[Table, Column[Any]]]:
    """Every column of every table that refers to a case (but the moves' own, and the tables
    marked `NOT_CASE_CONTENT` such as who has it open): whatever is added to a case, in any table,
    changes its fingerprint."""
    links = []
    for table in SQLModel.metadata.sorted_tables:
        if table.name == CaseMove.__tablename__ or table.info.get("case_content") is False:
            continue
        for key in sorted(table.foreign_keys, key=lambda k: k.parent.name):
            if key.column.table.name == Case.__tablename__ and key.column.name == "id":
                links.append((table, key.parent))
    return links


async def fingerprint(session: AsyncSession, case_id: int) -> str:
    """A digest of the case's row and of the rows that refer to it (their keys): it changes with
    any change to the case, a message or note added, a reply queued, a task or measure added."""
    await session.flush()
    cases: Table = Case.__table__  # type: ignore[attr-defined]
    row = (await session.execute(select(cases).where(cases.c.id == case_id))).mappings().first()
    if row is None:
        return ""
    parts: dict[str, Any] = {"case": dict(row)}
    for table, column in _case_links():
        keys = list(table.primary_key.columns)
        rows = await session.execute(select(*keys).where(column == case_id).order_by(*keys))
        parts[f"{table.name}.{column.name}"] = [list(r) for r in rows]
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


async def _fingerprints(session: AsyncSession, *ids: int) -> dict[str, str]:
    return {str(i): await fingerprint(session, i) for i in ids}


async def _record(
    session: AsyncSession,
    kind: str,
    case: Case,
    other: Case,
    *,
    before: dict[str, Any],
    actor: Actor,
    now: datetime,
) -> CaseMove:
    assert case.id is not None and other.id is not None
    move = CaseMove(
        kind=kind,
        case_id=case.id,
        other_case_id=other.id,
        actor=actor.name,
        done_at=now,
        undo_until=now + UNDO_WINDOW,
        before=before,
        after=await _fingerprints(session, case.id, other.id),
    )
    session.add(move)
    await session.flush()
    return move


async def open_moves(session: AsyncSession, *, case: Case, now: datetime) -> list[CaseMove]:
    """The merges and splits of `case` (either side) that may still be undone, newest first:
    inside the window, not undone, and neither case changed since."""
    rows = await session.execute(
        select(CaseMove)
        .where(
            or_(col(CaseMove.case_id) == case.id, col(CaseMove.other_case_id) == case.id),
            col(CaseMove.undone_at).is_(None),
            col(CaseMove.undo_until) > now,
        )
        .order_by(col(CaseMove.done_at).desc(), col(CaseMove.id).desc())
    )
    moves = []
    for move in rows.scalars():
        if await _fingerprints(session, move.case_id, move.other_case_id) == move.after:
            moves.append(move)
    return moves


async def find_move(session: AsyncSession, *, case: Case, move_id: int, scope: Scope) -> CaseMove:
    """The merge or split `move_id` of `case` (either side), or `MoveNotFound` — also when the
    other case is outside `scope`: as if the move did not exist (the checks of a merge)."""
    move = await session.get(CaseMove, move_id)
    if move is None or case.id not in (move.case_id, move.other_case_id):
        raise MoveNotFound(f"no move {move_id} on {case.reference}")
    other = await session.get(Case, move.other_case_id if move.case_id == case.id else move.case_id)
    if other is not None and not scope.allows_unit(other.unit_id):
        raise MoveNotFound(f"no move {move_id} on {case.reference}")
    return move


async def last_move(session: AsyncSession, *, case: Case, other: Case) -> CaseMove | None:
    """The newest merge of `case` into `other`, or split of a message off `case` into the new
    case `other`: both sides named, so that a move another transaction made on `case` meanwhile
    (a split of another message) is never taken for this one."""
    return (
        await session.execute(
            select(CaseMove)
            .where(col(CaseMove.case_id) == case.id, col(CaseMove.other_case_id) == other.id)
            .order_by(col(CaseMove.id).desc())
            .limit(1)
        )
    ).scalar_one_or_none()


async def undo_move(
    session: AsyncSession, *, move: CaseMove, actor: Actor, now: datetime
) -> tuple[Case, Case | None]:
    """Puts back what `move` changed; returns the case the messages are back on and (for a merge)
    the other case. `UndoRefused` once undone, after the window, or when a case changed since.

    The caller has found both cases in the principal's scope (the access checks of a merge)."""
    what = "sammanslagningen" if move.kind == MERGE else "delningen"
    if move.undone_at is not None:
        raise UndoRefused(f"{what.capitalize()} är redan ångrad.")
    if now >= move.undo_until:
        minutes = int(UNDO_WINDOW.total_seconds() // 60)
        raise UndoRefused(
            f"{what.capitalize()} kan inte ångras längre: det går bara under {minutes} minuter."
        )
    if await _fingerprints(session, move.case_id, move.other_case_id) != move.after:
        raise UndoRefused(
            f"{what.capitalize()} kan inte ångras: ärendena har ändrats sedan dess (till exempel "
            "ett svar, en anteckning eller en ändrad handläggning). Flytta meddelanden för hand "
            "om det behövs."
        )
    case = await session.get(Case, move.case_id)
    other = await session.get(Case, move.other_case_id)
    assert case is not None and other is not None  # the fingerprints matched
    if move.kind == MERGE:
        await _undo_merge(session, move=move, source=case, target=other, actor=actor, now=now)
        result: tuple[Case, Case | None] = (case, other)
    else:
        await _undo_split(session, move=move, case=case, new=other, actor=actor, now=now)
        result = (case, None)
    move.undone_at = now
    move.undone_by = actor.name
    await session.flush()
    return result


async def _undo_merge(
    session: AsyncSession,
    *,
    move: CaseMove,
    source: Case,
    target: Case,
    actor: Actor,
    now: datetime,
) -> None:
    before = move.before
    messages: list[int] = before["messages"]
    await session.execute(
        update(Message)
        .where(col(Message.id).in_(messages))
        .values(case_id=source.id)
        .execution_options(synchronize_session="fetch")
    )
    await session.execute(
        update(OutboxItem)
        .where(col(OutboxItem.id).in_(before["outbox"]))
        .values(case_id=source.id)
        .execution_options(synchronize_session="fetch")
    )
    for name in before["target"]["flags"]:
        setattr(target, f"flag_{name}", False)
    target.first_response_at = _from_iso(before["target"]["first_response_at"])
    target.updated_at = now
    source.status = before["source"]["status"]
    source.closed_at = _from_iso(before["source"]["closed_at"])
    source.merged_into_id = before["source"]["merged_into_id"]
    source.updated_at = now
    audit(
        session,
        actor=actor,
        action="case.merge_undone",
        case=source,
        now=now,
        into=target.reference,
        messages=len(messages),
    )
    audit(
        session,
        actor=actor,
        action="case.merge_undone",
        case=target,
        now=now,
        source=source.reference,
        messages=len(messages),
    )


async def _undo_split(
    session: AsyncSession, *, move: CaseMove, case: Case, new: Case, actor: Actor, now: datetime
) -> None:
    """The message goes back; the case the split opened, which holds nothing else (its fingerprint
    is as the split left it), is removed. Its reference is not given out again."""
    message_id: int = move.before["message_id"]
    message = await session.get(Message, message_id)
    assert message is not None and message.case_id == new.id
    message.case_id = case.id or 0
    case.updated_at = now
    await session.flush()
    audit(
        session,
        actor=actor,
        action="message.split_undone",
        case=case,
        now=now,
        message_id=message_id,
        removed_case=new.reference,
    )
    audit(
        session,
        actor=actor,
        action="case.split_undone",
        case=new,
        now=now,
        message_id=message_id,
        back_to=case.reference,
    )
    await session.execute(delete(Case).where(col(Case.id) == new.id))
    session.expunge(new)
