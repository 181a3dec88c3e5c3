"""The intake ledger: the raw form of every message received, committed before it is answered.

Adapters record a message here first (the SMTP edge before its `250`), and the worker turns pending
rows into cases. A row is keyed by channel and external id and outlives its case, which makes every
redelivery harmless. A row whose raw form cannot be parsed is marked failed and kept for staff, and
so is a row claimed `MAX_ATTEMPTS` times without finishing: no message holds the queue forever.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import case, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer
from sqlmodel import col

from inbox.cases.access import NotFound, Scope
from inbox.core.db import dialect_insert, for_update_skip_locked
from inbox.core.logs import event
from inbox.core.metrics import METRICS
from inbox.core.models import Case, IntakeRecord, IntakeStatus

LEASE = timedelta(minutes=2)
MAX_ATTEMPTS = 3  # claims of one row before it is given up (SYNPUNKT_INTAKE_MAX_ATTEMPTS)
BATCH_BYTES = 32 * 1024 * 1024  # raw bytes claimed at once (SYNPUNKT_INTAKE_BATCH_MB)
EXTERNAL_ID_CHARS = 998  # the width of IntakeRecord.external_id


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
    content_sha256: str | None = None,
) -> int | None:
    """Adds a ledger row and returns its id, or None when the message was received before.

    With `content_sha256`, a digest of what the message says (without what relays add on the
    way), the ledger tells a redelivery from another message under the same external id: some
    mail clients and gateways reuse Message-IDs. That one is no redelivery and gets a row of its
    own (see `_reused`).
    """
    values = _row(
        channel=channel,
        external_id=external_id,
        raw=raw,
        now=now,
        envelope_sender=envelope_sender,
        envelope_recipients=envelope_recipients,
        status=status,
        content_sha256=content_sha256,
    )
    added = (
        await session.execute(_insert_statement(session.get_bind().dialect.name), values)
    ).first()
    row_id = int(added.id) if added is not None else await _reused(session, values)
    _received(channel, [row_id] if row_id is not None else [])
    return row_id


async def record_many(
    session: AsyncSession,
    *,
    channel: str,
    messages: Sequence[tuple[str, bytes, str | None]],
    now: datetime,
) -> int:
    """Adds ledger rows for (external id, raw, content digest or None) triples in as few
    statements as the driver allows (a batch of an IMAP fetch); returns how many are new, the
    others having been received before."""
    if not messages:
        return 0
    rows = [
        _row(channel=channel, external_id=external_id, raw=raw, now=now, content_sha256=digest)
        for external_id, raw, digest in messages
    ]
    result = (await session.execute(_insert_statement(session.get_bind().dialect.name), rows)).all()
    inserted = {row.external_id for row in result}
    ids = [int(row.id) for row in result]
    for values in rows:
        # The first row under an id in the batch is the one inserted; every other one under a
        # taken id may be a different message reusing it.
        if values["external_id"] in inserted:
            inserted.discard(values["external_id"])
        elif (reused := await _reused(session, values)) is not None:
            ids.append(reused)
    _received(channel, ids)
    return len(ids)


def _received(channel: str, ids: Sequence[int]) -> None:
    """Counts and logs the new ledger rows of received messages (redeliveries are not new)."""
    METRICS.received.labels(channel).inc(len(ids))
    for row_id in ids:
        event(__name__, "message_received", channel=channel, intake_id=row_id)


def reused_key(external_id: str, content_sha256: str) -> str:
    """The external id of a message that reuses `external_id`: the id and the message's digest,
    so that a redelivery of it finds its row. A hash of the id stands for one too long to fit."""
    suffix = f" sha256:{content_sha256}"
    if len(external_id) + len(suffix) > EXTERNAL_ID_CHARS:
        external_id = (
            "sha256-id:" + hashlib.sha256(external_id.encode("utf-8", "replace")).hexdigest()
        )
    return external_id + suffix


async def _reused(session: AsyncSession, values: dict[str, Any]) -> int | None:
    """The row of a message whose external id is taken, when it is not the message that took it:
    stored under `reused_key` and pointing at the row that holds the id (`reuses_id_of`); None
    for a redelivery (the same digest, or no digest to compare on either side: rows from before
    digests were kept count as the same message, as they always did)."""
    digest = values["content_sha256"]
    if digest is None:
        return None
    table = IntakeRecord.__table__  # type: ignore[attr-defined]
    holder = (
        await session.execute(
            select(table.c.id, table.c.content_sha256).where(
                table.c.channel == values["channel"],
                table.c.external_id == values["external_id"],
            )
        )
    ).first()
    if holder is None or holder.content_sha256 in (None, digest):
        return None
    again = {
        **values,
        "external_id": reused_key(values["external_id"], digest),
        "reuses_id_of": holder.id,
    }
    added = (
        await session.execute(_insert_statement(session.get_bind().dialect.name), again)
    ).first()
    return int(added.id) if added is not None else None


def reuse_notes(row: IntakeRecord) -> list[str]:
    """A note for the message of a row that reuses another message's external id, for staff: the
    two are different messages, and a reply quoting that id could mean either."""
    if not row.reuses_id_of:
        return []
    return [
        f"its Message-ID was used before by a different message (intake record"
        f" {row.reuses_id_of}): stored as a message of its own, not as a redelivery"
    ]


def _row(
    *,
    channel: str,
    external_id: str,
    raw: bytes,
    now: datetime,
    envelope_sender: str | None = None,
    envelope_recipients: Sequence[str] = (),
    status: IntakeStatus = IntakeStatus.PENDING,
    content_sha256: str | None = None,
) -> dict[str, Any]:
    """The values of a new ledger row (`record` adds one, `record_many` many)."""
    return {
        "channel": channel,
        "external_id": external_id,
        "raw": raw,
        "raw_size": len(raw),
        "raw_sha256": hashlib.sha256(raw).hexdigest(),
        "content_sha256": content_sha256,
        "reuses_id_of": None,
        "envelope_sender": envelope_sender,
        "envelope_recipients": list(envelope_recipients),
        "status": status,
        "attempts": 0,
        "received_at": now,
    }


@cache
def _insert_statement(dialect: str) -> Any:
    """Built once per dialect: the SMTP edge records every message through it, so it is hot."""
    table = IntakeRecord.__table__  # type: ignore[attr-defined]
    return (
        dialect_insert(dialect, table)
        .on_conflict_do_nothing()
        .returning(table.c.id, table.c.external_id)
    )


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


async def known(session: AsyncSession, *, channel: str, external_ids: Sequence[str]) -> set[str]:
    """Which of `external_ids` the ledger already holds: one query for a whole batch (a Telegram
    `getUpdates` answer) instead of a `find` per message."""
    if not external_ids:
        return set()
    rows = await session.execute(
        select(col(IntakeRecord.external_id)).where(
            col(IntakeRecord.channel) == channel,
            col(IntakeRecord.external_id).in_(list(external_ids)),
        )
    )
    return set(rows.scalars())


async def record_each(
    session: AsyncSession,
    *,
    channel: str,
    messages: Sequence[tuple[str, bytes, IntakeStatus, str | None]],
    now: datetime,
) -> set[str]:
    """Adds ledger rows for (external id, raw, status, error) in as few statements as the driver
    allows, each with its own status (a Telegram batch: feedback pending, commands done, unreadable
    updates failed with their error, as `mark_failed` keeps them); returns the external ids that
    are new, the others having been received before."""
    if not messages:
        return set()
    table = IntakeRecord.__table__  # type: ignore[attr-defined]
    rows = []
    for external_id, raw, status, error in messages:
        row = _row(channel=channel, external_id=external_id, raw=raw, now=now, status=status)
        failed = status == IntakeStatus.FAILED
        row["error"] = error[:4000] if failed and error else None
        row["processed_at"] = now if failed else None
        rows.append(row)
    statement = (
        dialect_insert(session.get_bind().dialect.name, table)
        .on_conflict_do_nothing()
        .returning(table.c.id, table.c.external_id, table.c.status)
    )
    added = (await session.execute(statement, rows)).all()
    _received(channel, [int(row.id) for row in added])
    METRICS.intake_failed.labels(channel).inc(
        sum(row.status == IntakeStatus.FAILED for row in added)
    )
    return {row.external_id for row in added}


async def claim_pending(
    session: AsyncSession,
    *,
    now: datetime,
    limit: int = 20,
    max_bytes: int = BATCH_BYTES,
    max_attempts: int = MAX_ATTEMPTS,
    lease: timedelta = LEASE,
) -> Sequence[IntakeRecord]:
    """Takes pending rows, oldest first, for one worker until `now + lease`.

    A batch holds up to `limit` rows and `max_bytes` of raw message, whichever comes first, and
    always at least one row. A row claimed before that did not finish (its worker died, or gave it
    back) is taken alone: whatever killed the worker then counts against that message only. A row
    already claimed `max_attempts` times is failed ("gave up after N attempts") instead, so one
    message can never hold the queue across restarts.
    """
    table = IntakeRecord.__table__  # type: ignore[attr-defined]
    candidates = (
        await session.execute(
            for_update_skip_locked(
                session,
                select(
                    table.c.id, table.c.channel, table.c.raw_size, table.c.attempts, table.c.error
                )
                .where(
                    table.c.status == IntakeStatus.PENDING,
                    or_(table.c.lease_until.is_(None), table.c.lease_until <= now),
                )
                .order_by(table.c.received_at, table.c.id)
                .limit(limit),
            )
        )
    ).all()
    chosen: list[int] = []
    size = 0
    for candidate in candidates:
        if candidate.attempts >= max_attempts:
            reason = f"gave up after {candidate.attempts} attempts"
            if candidate.error:
                reason += f"; last: {candidate.error}"
            await session.execute(
                update(table)
                .where(table.c.id == candidate.id)
                .values(
                    status=IntakeStatus.FAILED,
                    error=reason[:4000],
                    processed_at=now,
                    lease_until=None,
                )
            )
            METRICS.intake_failed.labels(candidate.channel).inc()
            continue
        suspect = candidate.attempts > 0
        if chosen and (suspect or size + candidate.raw_size > max_bytes):
            break
        chosen.append(candidate.id)
        size += candidate.raw_size
        if suspect:
            break
    if not chosen:
        await session.flush()
        return []
    rows = (
        (
            await session.execute(
                select(IntakeRecord)
                .where(col(IntakeRecord.id).in_(chosen))
                .order_by(col(IntakeRecord.received_at), col(IntakeRecord.id))
                .execution_options(populate_existing=True)
            )
        )
        .scalars()
        .all()
    )
    for row in rows:
        row.lease_until = now + lease
        row.attempts += 1
    await session.flush()
    return rows


async def renew_leases(
    session: AsyncSession, ids: Sequence[int], *, now: datetime, lease: timedelta = LEASE
) -> None:
    """Extends the claim on rows still being worked on (a parse queued behind slow ones)."""
    if ids:
        await session.execute(
            update(IntakeRecord)
            .where(col(IntakeRecord.id).in_(ids), col(IntakeRecord.status) == IntakeStatus.PENDING)
            .values(lease_until=now + lease)
        )


async def release(session: AsyncSession, ids: Sequence[int]) -> None:
    """Gives claimed rows back untouched, for a reason that is not theirs (the worker is stopping,
    the parse pool cannot start): the claim does not count, and they are batched again at once."""
    if ids:
        await session.execute(
            update(IntakeRecord)
            .where(col(IntakeRecord.id).in_(ids), col(IntakeRecord.status) == IntakeStatus.PENDING)
            .values(
                lease_until=None,
                attempts=case(
                    (col(IntakeRecord.attempts) > 0, col(IntakeRecord.attempts) - 1), else_=0
                ),
            )
        )


async def note_error(session: AsyncSession, row_id: int, *, error: str) -> None:
    """Keeps why a still-pending row did not finish, for the reason shown if it is given up."""
    await session.execute(
        update(IntakeRecord)
        .where(col(IntakeRecord.id) == row_id, col(IntakeRecord.status) == IntakeStatus.PENDING)
        .values(error=error[:4000])
    )


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
    METRICS.intake_failed.labels(row.channel).inc()


async def count_by_status(session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(
        select(col(IntakeRecord.status), func.count()).group_by(col(IntakeRecord.status))
    )
    return {status: count for status, count in rows.all()}


def _in_scope(scope: Scope) -> Any:
    """Rows whose case is in scope; rows with no case (failed, not yet parsed, or whose case is
    gone) go with the unit-less cases, to registrars and admins."""
    return scope.condition(col(Case.unit_id))


@dataclass(frozen=True, slots=True)
class RecordPage:
    records: list[IntakeRecord]  # without their raw form (`get_record` has it)
    next_before: int | None  # pass as `before` for the next (older) page


async def list_records(
    session: AsyncSession, *, scope: Scope, status: str, limit: int, before: int | None = None
) -> RecordPage:
    """The newest ledger rows with `status` that `scope` may see, older than the id `before`."""
    query = (
        select(IntakeRecord)
        .outerjoin(Case, col(Case.id) == IntakeRecord.case_id)
        .where(col(IntakeRecord.status) == status, _in_scope(scope))
        .options(defer(IntakeRecord.raw, raiseload=True))  # type: ignore[arg-type]
        .order_by(col(IntakeRecord.id).desc())
        .limit(limit + 1)
    )
    if before is not None:
        query = query.where(col(IntakeRecord.id) < before)
    rows = list((await session.execute(query)).scalars())
    more = len(rows) > limit
    rows = rows[:limit]
    return RecordPage(records=rows, next_before=rows[-1].id if more and rows else None)


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
