"""Reading the audit trail, limited to what the reader may see.

An event about a case goes with the case's unit; an event about no case (a decision registered,
a retention run) or about a case that is gone is visible only to a principal that sees everything,
so a unit-limited admin never reads another unit's trail.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from inbox.cases.access import Need, Scope
from inbox.core.models import AuditEvent, Case


@dataclass(frozen=True, slots=True)
class AuditPage:
    events: list[AuditEvent]
    next_before: int | None  # pass as `before` for the next (older) page


async def list_events(
    session: AsyncSession,
    *,
    scope: Scope,
    case_reference: str | None = None,
    before: int | None = None,
    limit: int = 50,
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
    events = list((await session.execute(query)).scalars())
    more = len(events) > limit
    events = events[:limit]
    return AuditPage(events=events, next_before=events[-1].id if more and events else None)
