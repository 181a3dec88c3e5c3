"""Case references `PREFIX-YEAR-NNNN`: numbered per year, without gaps or duplicates.

The counter row is created or incremented with one `INSERT … ON CONFLICT DO UPDATE … RETURNING` inside the intake transaction: on
PostgreSQL the row lock serialises concurrent intake until commit, on SQLite the database lock does,
and a rolled-back intake rolls its number back too, so no number is skipped.
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from inbox.core.db import upsert
from inbox.core.models import ReferenceCounter
from inbox.core.time import STOCKHOLM


def format_reference(prefix: str, year: int, number: int) -> str:
    return f"{prefix}-{year}-{number:04d}"


def reference_pattern(prefix: str) -> re.Pattern[str]:
    """Finds `[SP-2026-0042]` (brackets optional, any case) in a subject line."""
    return re.compile(rf"\[?\b({re.escape(prefix)}-\d{{4}}-\d{{4,}})\b\]?", re.IGNORECASE)


async def reserve_references(
    session: AsyncSession, *, prefix: str, now: datetime, count: int
) -> list[str]:
    """The next `count` references of the year, in order, reserved by one counter update.

    They must all be used in this transaction; a rollback returns them, so none is skipped.
    """
    year = now.astimezone(STOCKHOLM).year
    table = ReferenceCounter.__table__  # type: ignore[attr-defined]
    statement = (
        upsert(session, ReferenceCounter)
        .values(prefix=prefix, year=year, last=count)
        .on_conflict_do_update(
            index_elements=["prefix", "year"], set_={"last": table.c.last + count}
        )
        .returning(table.c.last)
    )
    last = (await session.execute(statement)).scalar_one()
    return [format_reference(prefix, year, n) for n in range(last - count + 1, last + 1)]
