"""Reading the audit trail, limited to what the reader may see and narrowed for a log review.

An event about a case goes with the case's unit; an event about no case (a decision registered,
a retention run) or about a case that is gone is visible only to a principal that sees everything,
so a unit-limited admin never reads another unit's trail.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from inbox.cases.access import Need, Scope
from inbox.core.models import AuditEvent, Case
from inbox.core.time import STOCKHOLM


@dataclass(frozen=True, slots=True)
class AuditPage:
    events: list[AuditEvent]
    next_before: int | None  # pass as `before` for the next (older) page


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """What a log review narrows the trail to; every part is optional."""

    actor: str | None = None  # who did it: `user:<id>`, `token:<id>`, `cli:<name>`, `system`
    action: str | None = None  # an action, or a group of them: `staff` matches `staff.add` too
    unit_id: int | None = None  # events of the unit's cases
    since: date | None = None  # Swedish calendar days, both ends included
    until: date | None = None


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=STOCKHOLM)


def _filtered(query: Any, filters: AuditFilter) -> Any:
    if filters.actor:
        query = query.where(col(AuditEvent.actor) == filters.actor)
    if filters.action:
        query = query.where(
            (col(AuditEvent.action) == filters.action)
            | col(AuditEvent.action).startswith(filters.action + ".")
        )
    if filters.unit_id is not None:
        query = query.where(col(Case.unit_id) == filters.unit_id)
    if filters.since is not None:
        query = query.where(col(AuditEvent.at) >= _day_start(filters.since))
    if filters.until is not None:
        query = query.where(col(AuditEvent.at) < _day_start(filters.until + timedelta(days=1)))
    return query


async def list_events(
    session: AsyncSession,
    *,
    scope: Scope,
    case_reference: str | None = None,
    before: int | None = None,
    limit: int = 50,
    filters: AuditFilter | None = None,
) -> AuditPage:
    """The newest events first; `Forbidden` unless the role may read the trail."""
    scope.require(Need.ADMIN)
    query = (
        select(AuditEvent)
        .outerjoin(Case, col(Case.id) == AuditEvent.case_id)
        .where(scope.linked_condition())
        .order_by(col(AuditEvent.id).desc())
        .limit(limit + 1)
    )
    if case_reference:
        query = query.where(col(AuditEvent.case_reference) == case_reference.strip().upper())
    if before is not None:
        query = query.where(col(AuditEvent.id) < before)
    if filters is not None:
        query = _filtered(query, filters)
    events = list((await session.execute(query)).scalars())
    more = len(events) > limit
    events = events[:limit]
    return AuditPage(events=events, next_before=events[-1].id if more and events else None)
