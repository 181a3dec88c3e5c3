"""Periodic reviews of the audit trail (loggkontroll): an admin records that the trail of a period
was read, by whom, and what was found; the audit page lists the reviews.

A review is recorded once and never changed; recording it is itself an audit event.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from inbox.core.audit import Actor, audit
from inbox.core.models import LogReview
from inbox.core.time import STOCKHOLM
from inbox.staff.users import StaffError

MAX_FINDINGS = 4000


async def record_review(
    session: AsyncSession,
    *,
    period_from: date,
    period_to: date,
    reviewer: str,
    findings: str,
    actor: Actor,
    now: datetime,
) -> LogReview:
    """A completed review of the trail from `period_from` to `period_to` (both included)."""
    if period_to < period_from:
        raise StaffError(
            "the period ends before it starts",
            swedish="Periodens slut är före dess början.",
            field="period_to",
        )
    if period_to > now.astimezone(STOCKHOLM).date():
        raise StaffError(
            "the period has not ended yet",
            swedish="En granskning kan bara gälla en period som har passerat.",
            field="period_to",
        )
    if not reviewer.strip():
        raise StaffError(
            "the reviewer is missing", swedish="Skriv vem som granskade.", field="reviewer"
        )
    if not findings.strip() or len(findings) > MAX_FINDINGS:
        raise StaffError(
            "write the findings (at most 4000 characters)",
            swedish=f"Skriv vad granskningen visade (högst {MAX_FINDINGS} tecken), "
            "även om inget avvikande hittades.",
            field="findings",
        )
    review = LogReview(
        period_from=period_from,
        period_to=period_to,
        reviewer=reviewer.strip()[:200],
        findings=findings.strip(),
        recorded_at=now,
        recorded_by=actor.user_id,
    )
    session.add(review)
    await session.flush()
    audit(
        session,
        actor=actor,
        action="logreview.recorded",
        case=None,
        now=now,
        review=review.id,
        period=[period_from.isoformat(), period_to.isoformat()],
        reviewer=review.reviewer,
    )
    await session.flush()
    return review


async def list_reviews(session: AsyncSession, *, limit: int = 50) -> list[LogReview]:
    """The latest reviews first, by the end of the period they covered."""
    rows = await session.execute(
        select(LogReview)
        .order_by(col(LogReview.period_to).desc(), col(LogReview.id).desc())
        .limit(limit)
    )
    return list(rows.scalars())
