"""Case references `PREFIX-YEAR-NNNN`: numbered per year, without gaps or duplicates.

The counter row is incremented with `UPDATE … RETURNING` inside the intake transaction: on
PostgreSQL the row lock serialises concurrent intake until commit, on SQLite the database lock does,
and a rolled-back intake rolls its number back too, so no number is skipped.
"""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from inbox.db import insert_ignoring_conflicts
from inbox.models import ReferenceCounter

STOCKHOLM = ZoneInfo("Europe/Stockholm")


def format_reference(prefix: str, year: int, number: int) -> str:
    return f"{prefix}-{year}-{number:04d}"


def reference_pattern(prefix: str) -> re.Pattern[str]:
    """Finds `[SP-2026-0042]` (brackets optional, any case) in a subject line."""
    return re.compile(rf"\[?\b({re.escape(prefix)}-\d{{4}}-\d{{4,}})\b\]?", re.IGNORECASE)


async def next_reference(session: AsyncSession, *, prefix: str, now: datetime) -> str:
    year = now.astimezone(STOCKHOLM).year
    await session.execute(
        insert_ignoring_conflicts(session, ReferenceCounter).values(
            prefix=prefix, year=year, last=0
        )
    )
    number = (
        await session.execute(
            update(ReferenceCounter)
            .where(col(ReferenceCounter.prefix) == prefix, col(ReferenceCounter.year) == year)
            .values(last=col(ReferenceCounter.last) + 1)
            .returning(col(ReferenceCounter.last))
        )
    ).scalar_one()
    return format_reference(prefix, year, number)
