"""Who has a case open right now, so that two people do not answer the same person at once.

The case page reports its reader when it is shown and every half minute while it stays open
(`inbox/web/static/app.js`); a report older than `FRESH` no longer counts. One row per case and
user, overwritten: the table stays as small as the number of cases people have open, and every web
process sees the same. Rows older than a day are pruned by the next report.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from inbox.core.db import upsert
from inbox.core.models import CasePresence, StaffUser

FRESH = timedelta(seconds=60)
_PRUNE = timedelta(days=1)


async def report(session: AsyncSession, *, case_id: int, user_id: int, now: datetime) -> None:
    """`user_id` has the case open at `now`."""
    await session.execute(
        upsert(session, CasePresence)
        .values(case_id=case_id, user_id=user_id, seen_at=now)
        .on_conflict_do_update(index_elements=["case_id", "user_id"], set_={"seen_at": now})
    )
    await session.execute(delete(CasePresence).where(col(CasePresence.seen_at) < now - _PRUNE))


async def others(session: AsyncSession, *, case_id: int, user_id: int, now: datetime) -> list[str]:
    """The names of the other people who had the case open within `FRESH`, by name."""
    rows = await session.execute(
        select(col(StaffUser.display_name), col(StaffUser.username))
        .join(CasePresence, col(CasePresence.user_id) == col(StaffUser.id))
        .where(
            col(CasePresence.case_id) == case_id,
            col(CasePresence.user_id) != user_id,
            col(CasePresence.seen_at) >= now - FRESH,
        )
    )
    return sorted(display or username for display, username in rows.all())
