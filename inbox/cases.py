"""Reading cases: the filtered, keyset-paginated list and one case with its thread.

Lists are ordered newest first by (received_at, id), which the index on cases serves directly, and
continue from an opaque cursor rather than an offset, so page 1,000 costs what page 1 costs.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer
from sqlmodel import col

from inbox.access import Scope
from inbox.models import Attachment, Case, CaseStatus, Contact, Message, OutboxItem, Unit

MAX_LIMIT = 200


class InvalidCursor(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class CaseFilter:
    status: str | None = None
    kind: str | None = None
    unit: str | None = None  # unit code
    channel: str | None = None
    q: str | None = None
    assignee_id: int | None = None
    unassigned: bool = False  # no assignee
    overdue_on: date | None = None  # open cases due before this day
    flag: str | None = None  # a Case.flag_* name without the prefix


FILTER_FLAGS = frozenset(
    {"lex_sarah", "child_at_risk", "decision_not_executed", "appeal_intent", "personnummer"}
)


@dataclass(frozen=True, slots=True)
class CaseRow:
    case: Case
    unit_code: str | None
    contact_address: str | None
    preview: str


@dataclass(frozen=True, slots=True)
class CasePage:
    items: Sequence[CaseRow]
    next_cursor: str | None


@dataclass(slots=True)
class CaseDetail:
    case: Case
    unit_code: str | None
    contact: Contact | None
    messages: Sequence[Message]
    attachments: dict[int, list[Attachment]] = field(default_factory=dict)
    outbox: Sequence[OutboxItem] = ()


def encode_cursor(received_at: datetime, case_id: int) -> str:
    raw = f"{received_at.isoformat()}|{case_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        stamp, _, case_id = raw.partition("|")
        return datetime.fromisoformat(stamp), int(case_id)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidCursor("invalid cursor") from exc


async def list_cases(
    session: AsyncSession,
    *,
    filters: CaseFilter,
    scope: Scope,
    limit: int = 50,
    cursor: str | None = None,
) -> CasePage:
    limit = max(1, min(limit, MAX_LIMIT))
    first_text = (
        select(col(Message.display_text))
        .where(col(Message.case_id) == Case.id, col(Message.direction) == "inbound")
        .order_by(col(Message.created_at), col(Message.id))
        .limit(1)
        .scalar_subquery()
    )
    query = (
        select(Case, col(Unit.code), col(Contact.address), func.substr(first_text, 1, 300))
        .outerjoin(Unit, col(Unit.id) == Case.unit_id)
        .outerjoin(Contact, col(Contact.id) == Case.contact_id)
    )
    conditions = [scope.condition()]
    if filters.assignee_id is not None:
        conditions.append(col(Case.assignee_id) == filters.assignee_id)
    if filters.unassigned:
        conditions.append(col(Case.assignee_id).is_(None))
    if filters.overdue_on is not None:
        conditions.append(col(Case.due_on) < filters.overdue_on)
        conditions.append(col(Case.status) != CaseStatus.CLOSED)
    if filters.flag in FILTER_FLAGS:
        conditions.append(getattr(Case, f"flag_{filters.flag}").is_(True))
    if filters.status:
        conditions.append(col(Case.status) == filters.status)
    if filters.kind:
        conditions.append(col(Case.kind) == filters.kind)
    if filters.channel:
        conditions.append(col(Case.channel) == filters.channel)
    if filters.unit:
        conditions.append(col(Unit.code) == filters.unit)
    if filters.q:
        pattern = f"%{filters.q.strip()}%"
        matching = select(col(Message.case_id)).where(
            or_(col(Message.subject).ilike(pattern), col(Message.text).ilike(pattern))
        )
        conditions.append(
            or_(
                col(Case.subject).ilike(pattern),
                col(Case.reference).ilike(pattern),
                col(Case.id).in_(matching),
            )
        )
    if cursor:
        at, case_id = decode_cursor(cursor)
        conditions.append(
            or_(
                col(Case.received_at) < at,
                and_(col(Case.received_at) == at, col(Case.id) < case_id),
            )
        )
    query = (
        query.where(*conditions)
        .order_by(col(Case.received_at).desc(), col(Case.id).desc())
        .limit(limit + 1)
    )
    rows = (await session.execute(query)).all()
    items = [
        CaseRow(case=case, unit_code=code, contact_address=address, preview=preview or "")
        for case, code, address, preview in rows[:limit]
    ]
    next_cursor = None
    if len(rows) > limit:
        last = items[-1].case
        assert last.id is not None
        next_cursor = encode_cursor(last.received_at, last.id)
    return CasePage(items=items, next_cursor=next_cursor)


async def find_case(session: AsyncSession, *, reference: str, scope: Scope) -> Case | None:
    """The case with this reference if it is in `scope`; every lookup by reference uses this."""
    return (
        await session.execute(
            select(Case).where(col(Case.reference) == reference.upper(), scope.condition())
        )
    ).scalar_one_or_none()


async def find_message(session: AsyncSession, *, case: Case, message_id: int) -> Message | None:
    """A message of `case` (found through `find_case`, so already in scope)."""
    return (
        await session.execute(
            select(Message).where(col(Message.id) == message_id, col(Message.case_id) == case.id)
        )
    ).scalar_one_or_none()


async def find_attachment(
    session: AsyncSession, *, case: Case, attachment_id: int
) -> Attachment | None:
    """An attachment of a message of `case` (found through `find_case`, so already in scope)."""
    return (
        await session.execute(
            select(Attachment)
            .join(Message, col(Message.id) == Attachment.message_id)
            .where(col(Attachment.id) == attachment_id, col(Message.case_id) == case.id)
        )
    ).scalar_one_or_none()


async def status_counts(session: AsyncSession, *, scope: Scope) -> dict[str, int]:
    """How many cases in scope have each status."""
    rows = await session.execute(
        select(col(Case.status), func.count()).where(scope.condition()).group_by(col(Case.status))
    )
    return {status: count for status, count in rows.all()}


async def get_case(session: AsyncSession, *, reference: str, scope: Scope) -> CaseDetail | None:
    row = (
        await session.execute(
            select(Case, col(Unit.code), Contact)
            .outerjoin(Unit, col(Unit.id) == Case.unit_id)
            .outerjoin(Contact, col(Contact.id) == Case.contact_id)
            .where(col(Case.reference) == reference.upper(), scope.condition())
        )
    ).first()
    if row is None:
        return None
    case, unit_code, contact = row
    messages = (
        (
            await session.execute(
                select(Message)
                .where(col(Message.case_id) == case.id)
                .order_by(col(Message.created_at), col(Message.id))
            )
        )
        .scalars()
        .all()
    )
    detail = CaseDetail(case=case, unit_code=unit_code, contact=contact, messages=messages)
    ids = [m.id for m in messages]
    if ids:
        attachments = await session.execute(
            select(Attachment)
            .options(defer(Attachment.data))  # type: ignore[arg-type]
            .where(col(Attachment.message_id).in_(ids))
            .order_by(col(Attachment.id))
        )
        for attachment in attachments.scalars():
            detail.attachments.setdefault(attachment.message_id, []).append(attachment)
    detail.outbox = (
        (
            await session.execute(
                select(OutboxItem)
                .where(col(OutboxItem.case_id) == case.id)
                .order_by(col(OutboxItem.id))
            )
        )
        .scalars()
        .all()
    )
    return detail
