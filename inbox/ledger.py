"""The intake ledger: the raw form of every message received, committed before it is answered.

Adapters record a message here first (the SMTP edge before its `250`), and the worker turns pending
rows into cases. A row is keyed by channel and external id and outlives its case, which makes every
redelivery harmless. A row whose raw form cannot be parsed is marked failed and kept for staff.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from inbox.access import NotFound, Scope
from inbox.db import dialect_insert, for_update_skip_locked
from inbox.models import Case, IntakeRecord, IntakeStatus

LEASE = timedelta(minutes=2)
MAX_ATTEMPTS = 5


async def record(
    session: AsyncSession,
    *,
    channel: str,
    external_id: str,
    raw: bytes,
    now: datetime,
    envelope_sender: str | None = None,
    envelope_recipients: Sequence[str] = (),
    status: IntakeStatus = IntakeStatus.PENDING,
) -> int | None:
    """Adds a ledger row and returns its id, or None when the message was received before."""
    result = await session.execute(
        _insert_statement(session.get_bind().dialect.name),
        {
            "channel": channel,
            "external_id": external_id,
            "raw": raw,
            "raw_size": len(raw),
            "raw_sha256": hashlib.sha256(raw).hexdigest(),
            "envelope_sender": envelope_sender,
            "envelope_recipients": list(envelope_recipients),
            "status": status,
            "attempts": 0,
            "received_at": now,
        },
    )
    return result.scalar_one_or_none()


async def record_many(
    session: AsyncSession,
    *,
    channel: str,
    messages: Sequence[tuple[str, bytes]],
    now: datetime,
) -> int:
    """Adds ledger rows for (external id, raw) pairs in as few statements as the driver allows
    (a batch of an IMAP fetch); returns how many are new, the others having been received before."""
    if not messages:
        return 0
    result = await session.execute(
        _insert_statement(session.get_bind().dialect.name),
        [
            {
                "channel": channel,
                "external_id": external_id,
                "raw": raw,
                "raw_size": len(raw),
                "raw_sha256": hashlib.sha256(raw).hexdigest(),
                "envelope_sender": None,
                "envelope_recipients": [],
                "status": IntakeStatus.PENDING,
                "attempts": 0,
                "received_at": now,
            }
            for external_id, raw in messages
        ],
    )
    return len(result.all())


@cache
def _insert_statement(dialect: str) -> Any:
    """Built once per dialect: the SMTP edge records every message through it, so it is hot."""
    table = IntakeRecord.__table__  # type: ignore[attr-defined]
    return dialect_insert(dialect, table).on_conflict_do_nothing().returning(table.c.id)


async def find(
    session: AsyncSession, *, channel: str, external_id: str, lock: bool = False
) -> IntakeRecord | None:
    """The ledger row of a message; with `lock`, held until commit so no one else ingests it."""
    query = select(IntakeRecord).where(
        col(IntakeRecord.channel) == channel, col(IntakeRecord.external_id) == external_id
    )
    if lock:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def claim_pending(
    session: AsyncSession, *, now: datetime, limit: int = 20, lease: timedelta = LEASE
) -> Sequence[IntakeRecord]:
    """Takes pending rows, oldest first, for one worker until `now + lease`."""
    pending = (
        select(IntakeRecord)
        .where(
            col(IntakeRecord.status) == IntakeStatus.PENDING,
            or_(col(IntakeRecord.lease_until).is_(None), col(IntakeRecord.lease_until) <= now),
        )
        .order_by(col(IntakeRecord.received_at), col(IntakeRecord.id))
        .limit(limit)
    )
    rows = (await session.execute(for_update_skip_locked(session, pending))).scalars().all()
    for row in rows:
        row.lease_until = now + lease
        row.attempts += 1
    await session.flush()
    return rows


def mark_done(
    row: IntakeRecord, *, case_id: int | None, case_reference: str | None, now: datetime
) -> None:
    row.status = IntakeStatus.DONE
    row.case_id = case_id
    row.case_reference = case_reference
    row.processed_at = now
    row.lease_until = None
    row.error = None


def mark_failed(row: IntakeRecord, *, error: str, now: datetime) -> None:
    """Kept raw and shown to staff; never retried again and never blocks the rows after it."""
    row.status = IntakeStatus.FAILED
    row.error = error[:4000]
    row.processed_at = now
    row.lease_until = None


async def count_by_status(session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(
        select(col(IntakeRecord.status), func.count()).group_by(col(IntakeRecord.status))
    )
    return {status: count for status, count in rows.all()}


def _in_scope(scope: Scope) -> Any:
    """Rows whose case is in scope; rows with no case (failed, not yet parsed, or whose case is
    gone) go with the unit-less cases, to registrars and admins."""
    return scope.condition(col(Case.unit_id))


async def list_records(
    session: AsyncSession, *, scope: Scope, status: str, limit: int
) -> list[IntakeRecord]:
    """The newest ledger rows with `status` that `scope` may see."""
    rows = await session.execute(
        select(IntakeRecord)
        .outerjoin(Case, col(Case.id) == IntakeRecord.case_id)
        .where(col(IntakeRecord.status) == status, _in_scope(scope))
        .order_by(col(IntakeRecord.received_at).desc(), col(IntakeRecord.id).desc())
        .limit(limit)
    )
    return list(rows.scalars())


async def get_record(session: AsyncSession, *, scope: Scope, record_id: int) -> IntakeRecord:
    """One ledger row with its raw form, or `NotFound` when missing, removed or out of scope."""
    row = (
        await session.execute(
            select(IntakeRecord)
            .outerjoin(Case, col(Case.id) == IntakeRecord.case_id)
            .where(col(IntakeRecord.id) == record_id, _in_scope(scope))
        )
    ).scalar_one_or_none()
    if row is None or row.raw is None:
        raise NotFound("no such intake record")
    return row
