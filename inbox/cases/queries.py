"""Reading cases: the filtered, searchable, keyset-paginated list, counts per status, one case.

Lists are ordered newest first by (received_at, id), which the indexes on cases serve directly, and
continue from an opaque cursor rather than an offset, so page 1,000 costs what page 1 costs. A
search (`q`) orders by relevance first; its cursor carries the score too. Every list query is
built by `_where`, the one place where filters and the viewer's scope become a WHERE clause.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, TypeVar, cast

from sqlalchemy import Select, and_, column, func, literal_column, not_, or_, select, table
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col

from inbox.cases.access import Need, Scope
from inbox.cases.consent import consents_of
from inbox.cases.disclosure import requests_of
from inbox.cases.registry import default_title, hides_identity
from inbox.cases.search import SEARCH_CANDIDATES, SearchQuery, hits, parse_query
from inbox.core.inbound import Channel
from inbox.core.models import (
    Attachment,
    Case,
    CaseKind,
    CaseStatus,
    CaseTombstone,
    Consent,
    Contact,
    DocumentRequest,
    Message,
    OutboxItem,
    StaffUser,
    Unit,
)
from inbox.core.personnummer import mask_personnummer
from inbox.core.time import STOCKHOLM

MAX_LIMIT = 200
PREVIEW_LENGTH = 300
FLAGS = (
    "lex_sarah",
    "child_at_risk",
    "decision_not_executed",
    "appeal_intent",
    "personnummer",
    "automated",
    "callback",  # a check-in answer asks someone to call back
)
# Every flag column a list row carries.
ROW_FLAGS = FLAGS
UNASSIGNED = "unassigned"
_AnySelect = TypeVar("_AnySelect", bound="Select[*tuple[Any, ...]]")


class InvalidFilter(ValueError):
    """A filter value the list does not know (an unknown status, flag, cursor …)."""


class InvalidCursor(InvalidFilter):
    pass


@dataclass(frozen=True, slots=True)
class CaseFilter:
    status: str | None = None
    kind: str | None = None
    unit: str | None = None  # unit code
    channel: str | None = None
    # A user id, a username, or "unassigned"; the caller resolves "mine" to the user's id.
    assignee: int | str | None = None
    overdue: bool = False  # due before today (Europe/Stockholm) and not closed; needs `now`
    flags: tuple[str, ...] = ()  # every named flag set (names from FLAGS)
    q: str | None = None
    # Machine mail (`Case.flag_automated`): False the inbox staff triage, True the "Maskinpost"
    # beside it, None both.
    machine: bool | None = None


@dataclass(frozen=True, slots=True)
class CaseRow:
    """What a list shows of a case: plain columns, not a `Case` (building 50 SQLModel objects
    per page cost more than the query)."""

    id: int
    reference: str
    kind: str
    status: str
    channel: str
    origin: str
    unit_code: str | None
    contact_address: str | None  # None too when the identity is protected from the viewer
    subject: str  # personnummer masked
    preview: str  # personnummer masked
    received_at: datetime
    due_on: date | None
    assignee_id: int | None
    flags: tuple[str, ...]  # the names (from ROW_FLAGS) of the flags set
    registry_title: str = ""  # the ärendemening
    secrecy_marked: bool = False
    identity_protected: bool = False
    unit_name: str | None = None  # what staff read; the code is for the API and the commands


@dataclass(frozen=True, slots=True)
class CasePage:
    items: Sequence[CaseRow]
    next_cursor: str | None


@dataclass(slots=True)
class CaseDetail:
    """One case as `scope` may see it: with a protected identity hidden from it, `contact` is
    None and the messages are copies without addresses and names (`identity_hidden`)."""

    case: Case
    unit_code: str | None
    contact: Contact | None
    messages: Sequence[Message]
    attachments: dict[int, list[Attachment]] = field(default_factory=dict)
    outbox: Sequence[OutboxItem] = ()
    unit_name: str | None = None
    identity_hidden: bool = False
    consents: Sequence[Consent] = ()
    requests: Sequence[DocumentRequest] = ()  # for documents (`disclosure`)

    @property
    def registry_title(self) -> str:
        return self.case.registry_title or default_title(self.case.kind, self.unit_name)


# Ids are INTEGER columns; a larger number cannot come from us and PostgreSQL refuses to bind it.
_MAX_ID = 2**31 - 1
_MAX_CURSOR = 200
_CURSOR_ID = re.compile(r"[1-9][0-9]{0,9}", re.ASCII)


SORTS = ("received", "due")  # newest first; earliest due date first (none last)


def encode_due_cursor(due_on: date | None, case_id: int) -> str:
    """The position after a case in the list sorted by due date."""
    raw = f"due|{due_on.isoformat() if due_on else '-'}|{case_id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_due_cursor(cursor: str) -> tuple[date | None, int]:
    """The position an `encode_due_cursor` cursor names; `InvalidCursor` for anything else."""
    try:
        if len(cursor) > _MAX_CURSOR:
            raise ValueError("too long")
        padded = cursor + "=" * (-len(cursor) % 4)
        raw = base64.b64decode(padded, altchars=b"-_", validate=True).decode("ascii")
        marker, day, case_id = raw.split("|")
        if marker != "due" or not _CURSOR_ID.fullmatch(case_id) or int(case_id) > _MAX_ID:
            raise ValueError(raw)
        return (None if day == "-" else date.fromisoformat(day)), int(case_id)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidCursor("invalid cursor") from exc


def encode_cursor(received_at: datetime, case_id: int, score: float | None = None) -> str:
    raw = f"{received_at.isoformat()}|{case_id}"
    if score is not None:
        raw += f"|{score!r}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int, float | None]:
    """The position an `encode_cursor` cursor names; `InvalidCursor` for anything else.

    A cursor comes back from the client, so it is checked as untrusted input down to what the
    database will be asked to bind: an aware time that converts to UTC, an id in the column's
    range, a finite score.
    """
    try:
        if len(cursor) > _MAX_CURSOR:
            raise ValueError("too long")
        padded = cursor + "=" * (-len(cursor) % 4)
        raw = base64.b64decode(padded, altchars=b"-_", validate=True).decode("ascii")
        parts = raw.split("|")
        if len(parts) not in (2, 3) or not _CURSOR_ID.fullmatch(parts[1]):
            raise ValueError(raw)
        at = datetime.fromisoformat(parts[0])
        if at.tzinfo is None:
            raise ValueError("no time zone")
        case_id = int(parts[1])
        score = float(parts[2]) if len(parts) == 3 else None
        if case_id > _MAX_ID or (score is not None and not math.isfinite(score)):
            raise ValueError(raw)
        return at.astimezone(UTC), case_id, score
    except (ValueError, OverflowError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidCursor("invalid cursor") from exc


def check_filter(filters: CaseFilter) -> None:
    """`InvalidFilter` for a value no list knows (the API's 400, a saved filter refused)."""
    if filters.status and filters.status not in set(CaseStatus):
        raise InvalidFilter(f"unknown status {filters.status!r}")
    if filters.kind and filters.kind not in set(CaseKind):
        raise InvalidFilter(f"unknown kind {filters.kind!r}")
    if filters.channel and filters.channel not in set(Channel):
        raise InvalidFilter(f"unknown channel {filters.channel!r}")
    unknown = [name for name in filters.flags if name not in FLAGS]
    if unknown:
        raise InvalidFilter(f"unknown flag {unknown[0]!r}; known: {', '.join(FLAGS)}")
    # Digits name a user id, which `int` would read in any script ('٣') or not at all ('³').
    assignee = filters.assignee
    if isinstance(assignee, str) and assignee.isdigit():
        if not _CURSOR_ID.fullmatch(assignee) or int(assignee) > _MAX_ID:
            raise InvalidFilter(
                f"assignee {assignee!r}: a user id is 1 to {_MAX_ID} in ASCII digits"
            )


def _visible(scope: Scope) -> list[ColumnElement[bool]]:
    return [scope.condition()]


def _where(
    filters: CaseFilter,
    *,
    scope: Scope,
    now: datetime | None,
    search: SearchQuery,
    with_status: bool = True,
) -> list[ColumnElement[bool]]:
    """The WHERE clause of every list query: the filters, the reference search and the scope."""
    check_filter(filters)
    conditions = _visible(scope)
    if with_status and filters.status:
        conditions.append(col(Case.status) == filters.status)
    if filters.kind:
        conditions.append(col(Case.kind) == filters.kind)
    if filters.channel:
        conditions.append(col(Case.channel) == filters.channel)
    if filters.unit:
        unit_id = select(col(Unit.id)).where(col(Unit.code) == filters.unit).scalar_subquery()
        conditions.append(col(Case.unit_id) == unit_id)
    if filters.assignee == UNASSIGNED:
        conditions.append(col(Case.assignee_id).is_(None))
    elif isinstance(filters.assignee, int) or (
        isinstance(filters.assignee, str) and filters.assignee.isdigit()
    ):
        conditions.append(col(Case.assignee_id) == int(filters.assignee))
    elif filters.assignee:
        user_id = (
            select(col(StaffUser.id))
            .where(col(StaffUser.username) == filters.assignee)
            .scalar_subquery()
        )
        conditions.append(col(Case.assignee_id) == user_id)
    if filters.overdue:
        if now is None:
            raise ValueError("the overdue filter needs `now`")
        today = now.astimezone(STOCKHOLM).date()
        # 'closed' as a literal, so the planner can match the partial index on cases not closed.
        not_closed = col(Case.status) != literal_column(f"'{CaseStatus.CLOSED.value}'")
        conditions += [col(Case.due_on) < today, not_closed]
    for name in filters.flags:
        conditions.append(getattr(Case, f"flag_{name}").is_(True))
    if filters.machine is not None:
        # Written as the partial index `ix_cases_automated_received` reads it.
        machine = cast(ColumnElement[bool], col(Case.flag_automated))
        conditions.append(machine if filters.machine else not_(machine))
    if search.reference:
        conditions.append(col(Case.reference) == search.reference)
    return conditions


def _searched(
    query: _AnySelect,
    session: AsyncSession,
    search: SearchQuery,
    conditions: list[ColumnElement[bool]],
    candidates: int,
    ranked: bool = True,
) -> tuple[_AnySelect, ColumnElement[float] | None]:
    """`query` over the cases matching `conditions` (and the search words, if any)."""
    if not search.terms:
        return query.where(*conditions), None
    # The filters go inside the candidate set, so that a filtered search ranks the newest matches
    # among the filtered cases, not the filtered part of the newest matches.
    matches = hits(
        session.get_bind().dialect.name,
        search.terms,
        where=conditions,
        candidates=candidates,
        ranked=ranked,
    )
    return query.join(matches, matches.c.case_id == Case.id), matches.c.score


_ROW_COLUMNS = (
    col(Case.id),
    col(Case.reference),
    col(Case.kind),
    col(Case.status),
    col(Case.channel),
    col(Case.origin),
    col(Case.subject),
    col(Case.received_at),
    col(Case.due_on),
    col(Case.assignee_id),
)
_FLAG_COLUMNS = tuple(getattr(Case, f"flag_{name}") for name in ROW_FLAGS)
_REGISTRY_COLUMNS = (
    col(Case.registry_title),
    col(Unit.name),
    col(Case.secrecy_marked),
    col(Case.identity_protected),
)


def _row(row: Any, scope: Scope) -> CaseRow:
    """A `CaseRow` from a result row: `_ROW_COLUMNS`, unit, contact, preview, `_FLAG_COLUMNS`,
    `_REGISTRY_COLUMNS`; the contact left out when the viewer may not see a protected one."""
    (
        case_id,
        reference,
        kind,
        status,
        channel,
        origin,
        subject,
        received_at,
        due_on,
        assignee_id,
        unit_code,
        address,
        preview,
    ) = row[:13]
    flags = row[13 : 13 + len(ROW_FLAGS)]
    title, unit_name, marked, protected = row[13 + len(ROW_FLAGS) : 17 + len(ROW_FLAGS)]
    if protected and not scope.may(Need.IDENTITY):
        address = None
    return CaseRow(
        id=case_id,
        reference=reference,
        kind=kind,
        status=status,
        channel=channel,
        origin=origin,
        unit_code=unit_code,
        contact_address=address,
        subject=mask_personnummer(subject),
        preview=mask_personnummer(preview or "")[:PREVIEW_LENGTH],
        received_at=received_at,
        due_on=due_on,
        assignee_id=assignee_id,
        flags=tuple(name for name, on in zip(ROW_FLAGS, flags, strict=True) if on),
        registry_title=title or default_title(kind, unit_name),
        secrecy_marked=bool(marked),
        identity_protected=bool(protected),
        unit_name=unit_name,
    )


async def list_cases(
    session: AsyncSession,
    *,
    filters: CaseFilter,
    scope: Scope,
    limit: int = 50,
    cursor: str | None = None,
    now: datetime | None = None,
    candidates: int = SEARCH_CANDIDATES,
    sort: str = "received",
) -> CasePage:
    """A page of cases newest first (`sort="due"`: earliest due date first, those without one
    last), or with `q` by relevance among the newest `candidates`, whatever `sort` says."""
    if sort not in SORTS:
        raise InvalidFilter(f"unknown sort {sort!r}")
    limit = max(1, min(limit, MAX_LIMIT))
    search = parse_query(filters.q)
    first_text = (
        select(col(Message.display_text))
        .where(col(Message.case_id) == Case.id, col(Message.direction) == "inbound")
        .order_by(col(Message.created_at), col(Message.id))
        .limit(1)
        .scalar_subquery()
    )
    # A little more than the preview, so that a personnummer cut at the end is still masked.
    query = (
        select(
            *_ROW_COLUMNS,
            col(Unit.code),
            col(Contact.address),
            func.substr(first_text, 1, PREVIEW_LENGTH + 20),
            *_FLAG_COLUMNS,
            *_REGISTRY_COLUMNS,
        )
        .outerjoin(Unit, col(Unit.id) == Case.unit_id)
        .outerjoin(Contact, col(Contact.id) == Case.contact_id)
    )
    where = _where(filters, scope=scope, now=now, search=search)
    query, score = _searched(query, session, search, where, candidates)
    conditions: list[ColumnElement[bool]] = []
    if score is not None:
        query = query.add_columns(score)
    if sort == "due" and score is None:
        return await _by_due(session, query, scope=scope, limit=limit, cursor=cursor)
    if cursor:
        at, case_id, after_score = decode_cursor(cursor)
        if (after_score is None) != (score is None):
            raise InvalidCursor("the cursor belongs to another search")
        newer = or_(
            col(Case.received_at) < at,
            and_(col(Case.received_at) == at, col(Case.id) < case_id),
        )
        if score is not None:
            newer = or_(score > after_score, and_(score == after_score, newer))
        conditions.append(newer)
    order: list[ColumnElement[Any]] = [col(Case.received_at).desc(), col(Case.id).desc()]
    if score is not None:
        order.insert(0, score.asc())
    rows = (await session.execute(query.where(*conditions).order_by(*order).limit(limit + 1))).all()
    items = [_row(row, scope) for row in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = items[-1]
        next_cursor = encode_cursor(
            last.received_at, last.id, float(rows[limit - 1][-1]) if score is not None else None
        )
    return CasePage(items=items, next_cursor=next_cursor)


async def _by_due(
    session: AsyncSession, query: Any, *, scope: Scope, limit: int, cursor: str | None
) -> CasePage:
    """The list's page in due-date order (the `ix_cases_due` index): dated cases first."""
    due, case_id = col(Case.due_on), col(Case.id)
    if cursor:
        after_due, after_id = decode_due_cursor(cursor)
        if after_due is None:
            query = query.where(due.is_(None), case_id > after_id)
        else:
            query = query.where(
                or_(due > after_due, and_(due == after_due, case_id > after_id), due.is_(None))
            )
    order = [due.is_(None), due.asc(), case_id.asc()]
    rows = (await session.execute(query.order_by(*order).limit(limit + 1))).all()
    items = [_row(row, scope) for row in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        next_cursor = encode_due_cursor(items[-1].due_on, items[-1].id)
    return CasePage(items=items, next_cursor=next_cursor)


async def count_by_status(
    session: AsyncSession,
    *,
    filters: CaseFilter,
    scope: Scope,
    now: datetime | None = None,
    candidates: int = SEARCH_CANDIDATES,
) -> dict[str, int]:
    """How many cases match the filters in each status (the status filter itself ignored); for a
    search, among the newest `candidates` matches, as the list ranks them."""
    search = parse_query(filters.q)
    if _counted(filters, search):
        return await _cached_counts(session, filters=filters, scope=scope)
    conditions = _where(filters, scope=scope, now=now, search=search, with_status=False)
    query, _score = _searched(
        # The same candidates as the list, but a count needs no relevance score.
        select(col(Case.status), func.count()),
        session,
        search,
        conditions,
        candidates,
        False,
    )
    rows = (await session.execute(query.group_by(col(Case.status)))).all()
    counts = {str(status): 0 for status in CaseStatus}
    for row in rows:
        counts[row[0]] = row[1]
    return counts


# Kept per unit (0: none) and status by triggers from migration 0008_list_speed, so that the
# counts of an unfiltered or unit-filtered list read a few rows instead of every case.
# Migration 0013_bounces added `machine` (1 for machine mail) to the key.
_case_counts = table(
    "case_counts", column("unit_key"), column("status"), column("machine"), column("n")
)


def _counted(filters: CaseFilter, search: SearchQuery) -> bool:
    """Whether `case_counts` answers: no filter but status (ignored here), unit and machine."""
    return search.empty and filters == CaseFilter(
        unit=filters.unit, status=filters.status, machine=filters.machine
    )


async def _cached_counts(
    session: AsyncSession, *, filters: CaseFilter, scope: Scope
) -> dict[str, int]:
    check_filter(filters)
    unit_id = func.nullif(_case_counts.c.unit_key, 0)
    query = select(_case_counts.c.status, func.sum(_case_counts.c.n)).where(
        scope.condition(unit_id)
    )
    if filters.unit:
        code = select(col(Unit.id)).where(col(Unit.code) == filters.unit).scalar_subquery()
        query = query.where(unit_id == code)
    if filters.machine is not None:
        query = query.where(_case_counts.c.machine == int(filters.machine))
    rows = (await session.execute(query.group_by(_case_counts.c.status))).all()
    counts = {str(status): 0 for status in CaseStatus}
    for row in rows:
        counts[row[0]] = int(row[1] or 0)
    return counts


class CaseRemoved(LookupError):
    """The case was removed by gallring: every lookup by reference answers 410 with the decision
    (a removed case's reference and decision are registry facts, so any scope may learn them)."""

    def __init__(self, tombstone: CaseTombstone) -> None:
        super().__init__(f"{tombstone.reference} was removed under {tombstone.decision}")
        # Plain values: the handler answers after the session (and the row) is gone.
        self.reference = tombstone.reference
        self.decision = tombstone.decision
        self.removed_at = tombstone.removed_at


async def _unless_removed(session: AsyncSession, reference: str) -> None:
    """Raises `CaseRemoved` when a case that is not found was removed by gallring."""
    tombstone = (
        await session.execute(
            select(CaseTombstone).where(col(CaseTombstone.reference) == reference.upper())
        )
    ).scalar_one_or_none()
    if tombstone is not None:
        raise CaseRemoved(tombstone)


async def find_case(session: AsyncSession, *, reference: str, scope: Scope) -> Case | None:
    """The case with this reference if it is in `scope`; every lookup by reference uses this
    (`CaseRemoved` for one removed by gallring)."""
    case = (
        await session.execute(
            select(Case).where(col(Case.reference) == reference.upper(), scope.condition())
        )
    ).scalar_one_or_none()
    if case is None:
        await _unless_removed(session, reference)
    return case


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


async def get_case(
    session: AsyncSession, *, reference: str, scope: Scope, shown_to: Scope | None = None
) -> CaseDetail | None:
    """The case with `reference` if it is in `scope`, as `shown_to` (default: `scope`) may see it:
    a protected identity stays hidden from whoever may not see it, whatever finds the case."""
    row = (
        await session.execute(
            select(Case, col(Unit.code), col(Unit.name), Contact)
            .outerjoin(Unit, col(Unit.id) == Case.unit_id)
            .outerjoin(Contact, col(Contact.id) == Case.contact_id)
            .where(col(Case.reference) == reference.upper(), scope.condition())
        )
    ).first()
    if row is None:
        await _unless_removed(session, reference)
        return None
    case, unit_code, unit_name = row[0], row[1], row[2]
    contact: Contact | None = row[3]
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
    hidden = hides_identity(case, shown_to or scope)
    if hidden:
        contact, messages = None, [_without_identity(m) for m in messages]
    detail = CaseDetail(
        case=case,
        unit_code=unit_code,
        contact=contact,
        messages=messages,
        unit_name=unit_name,
        identity_hidden=hidden,
    )
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
    if hidden:
        detail.outbox = [
            OutboxItem(
                **{
                    **o.model_dump(),
                    "recipient": "",
                    "payload": {},
                    "last_error": _hid(o.last_error),
                }
            )
            for o in detail.outbox
        ]
    detail.consents = await consents_of(session, case=case)
    detail.requests = await requests_of(session, case=case)
    return detail


# A relay's or the Bot API's error may quote the address it refused.
_HIDDEN_ERROR = "Dolt: avsändarens identitet är skyddad."


def _hid(error: str | None) -> str | None:
    return _HIDDEN_ERROR if error else None


def _without_identity(message: Message) -> Message:
    """A detached copy of `message` without the addresses and name that would identify a
    protected submitter (the stored row is untouched: the copy is never added to the session)."""
    return Message(
        **{
            **message.model_dump(),
            "sender_address": None,
            "sender_name": None,
            "recipient": None,
            "in_reply_to": None,
            "rfc_message_id": None,
            "delivery_error": _hid(message.delivery_error),
        }
    )
