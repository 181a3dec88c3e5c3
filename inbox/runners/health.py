"""What `/healthz` judges from the intake ledger: a burst of failed messages, a claim that no worker
finishes, and mail that has waited too long. Each is a problem that makes health answer 503.

They are read from the database, so any web process sees them, wherever the workers run; what only
a worker knows (its parse pool) comes through its channel status instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from inbox.core.models import IntakeRecord, IntakeStatus
from inbox.intake import ledger


@dataclass(frozen=True)
class HealthPolicy:
    failed_burst: int = 10  # more failed messages than this within `window` is a burst
    window: timedelta = timedelta(minutes=15)
    backlog: timedelta = timedelta(minutes=15)  # the oldest pending message may wait this long
    stuck: timedelta = timedelta(minutes=5)  # a claim whose lease ran out this long ago
    max_attempts: int = ledger.MAX_ATTEMPTS
    timeout: float = 2.0  # seconds the database has to answer before health says "busy"


def _minutes(delta: timedelta) -> str:
    seconds = delta.total_seconds()
    return f"{seconds:.0f} seconds" if seconds < 120 else f"{seconds / 60:.0f} minutes"


async def intake_problems(
    session: AsyncSession, *, policy: HealthPolicy, now: datetime
) -> list[str]:
    problems: list[str] = []
    failed = (
        await session.execute(
            select(func.count())
            .select_from(IntakeRecord)
            .where(
                col(IntakeRecord.status) == IntakeStatus.FAILED,
                col(IntakeRecord.processed_at) >= now - policy.window,
            )
        )
    ).scalar_one()
    if failed > policy.failed_burst:
        problems.append(
            f"intake failures: {failed} messages failed in the last {_minutes(policy.window)}"
        )
    oldest = (
        await session.execute(
            select(func.min(col(IntakeRecord.received_at))).where(
                col(IntakeRecord.status) == IntakeStatus.PENDING
            )
        )
    ).scalar_one()
    if oldest is not None and now - oldest > policy.backlog:
        problems.append(f"backlog: the oldest pending message has waited {_minutes(now - oldest)}")
    lease = col(IntakeRecord.lease_until)
    stuck = (
        await session.execute(
            select(col(IntakeRecord.id), col(IntakeRecord.attempts), lease)
            .where(
                col(IntakeRecord.status) == IntakeStatus.PENDING,
                or_(
                    lease <= now - policy.stuck,
                    and_(col(IntakeRecord.attempts) >= policy.max_attempts, lease <= now),
                ),
            )
            .order_by(lease)
            .limit(1)
        )
    ).first()
    if stuck is not None:
        row_id, attempts, lease_until = stuck
        assert lease_until is not None  # the query compared it
        problems.append(
            f"stuck claim: intake row {row_id}, claimed {attempts} times, is unfinished and its "
            f"lease ran out {_minutes(now - lease_until)} ago"
        )
    return problems
