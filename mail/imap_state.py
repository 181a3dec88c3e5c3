"""The IMAP poller's database side: its position in a mailbox, stored with the messages, and the
lock that lets only one process poll a mailbox.

Every batch of fetched messages is written to the intake ledger (channel `email`, the same key as
the SMTP edge) in one transaction together with the mailbox's UIDVALIDITY and last UID. After a
crash the poller therefore resumes exactly after the last committed message; a message that is
in the ledger already (delivered over SMTP too, or read again after a UIDVALIDITY change) is
recognised by its key and not stored twice.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from sqlalchemy import select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker
from sqlmodel import col

from inbox.core.db import dialect_insert, unit_of_work
from inbox.core.inbound import Channel
from inbox.core.models import ImapMailbox, IntakeRecord, IntakeStatus
from inbox.intake import ledger
from mail.keys import content_digest

log = logging.getLogger(__name__)

CHANNEL = Channel.EMAIL


@dataclass(frozen=True, slots=True)
class Fetched:
    """One message as fetched: its UID, ledger key and raw bytes (or only its header, with
    `error` set, when it was too large to take in)."""

    uid: int
    key: str
    raw: bytes
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Position:
    uidvalidity: int | None
    last_uid: int


async def load_position(sessions: async_sessionmaker[AsyncSession], key: str) -> Position:
    async with sessions() as session:
        row = (
            await session.execute(
                select(col(ImapMailbox.uidvalidity), col(ImapMailbox.last_uid)).where(
                    col(ImapMailbox.mailbox_key) == key
                )
            )
        ).first()
    if row is None:
        return Position(None, 0)
    return Position(row[0], int(row[1]))


async def store_batch(
    sessions: async_sessionmaker[AsyncSession],
    *,
    key: str,
    uidvalidity: int,
    last_uid: int,
    messages: Sequence[Fetched],
    now: datetime,
) -> int:
    """Commits the messages to the ledger and the mailbox's new position in one transaction;
    returns how many ledger rows are new (the others were received before)."""
    async with unit_of_work(sessions) as session:
        new = await ledger.record_many(
            session,
            channel=CHANNEL,
            messages=[(m.key, m.raw, content_digest(m.raw)) for m in messages if m.error is None],
            now=now,
        )
        for message in messages:
            if message.error is None:
                continue
            row_id = await ledger.record(
                session,
                channel=CHANNEL,
                external_id=message.key,
                raw=message.raw,
                now=now,
                status=IntakeStatus.FAILED,
            )
            if row_id is not None:
                new += 1
                await session.execute(
                    update(IntakeRecord)
                    .where(col(IntakeRecord.id) == row_id)
                    .values(error=message.error[:4000], processed_at=now)
                )
        await _save(session, key=key, uidvalidity=uidvalidity, last_uid=last_uid, now=now)
    return new


async def mark_polled(
    sessions: async_sessionmaker[AsyncSession],
    *,
    key: str,
    uidvalidity: int,
    last_uid: int,
    now: datetime,
) -> None:
    """A poll that found nothing new: the position (a changed UIDVALIDITY resets it) and time."""
    async with unit_of_work(sessions) as session:
        await _save(session, key=key, uidvalidity=uidvalidity, last_uid=last_uid, now=now)


async def record_error(
    sessions: async_sessionmaker[AsyncSession], *, key: str, error: str, now: datetime
) -> None:
    async with unit_of_work(sessions) as session:
        statement = dialect_insert(session.get_bind().dialect.name, _table()).values(
            mailbox_key=key,
            uidvalidity=None,
            last_uid=0,
            last_error=error[:2000],
            last_error_at=now,
            updated_at=now,
        )
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=["mailbox_key"],
                set_={
                    "last_error": statement.excluded.last_error,
                    "last_error_at": statement.excluded.last_error_at,
                    "updated_at": statement.excluded.updated_at,
                },
            )
        )


async def _save(
    session: AsyncSession, *, key: str, uidvalidity: int, last_uid: int, now: datetime
) -> None:
    statement = dialect_insert(session.get_bind().dialect.name, _table()).values(
        mailbox_key=key,
        uidvalidity=uidvalidity,
        last_uid=last_uid,
        last_poll_at=now,
        updated_at=now,
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["mailbox_key"],
            set_={
                "uidvalidity": statement.excluded.uidvalidity,
                "last_uid": statement.excluded.last_uid,
                "last_poll_at": statement.excluded.last_poll_at,
                "updated_at": statement.excluded.updated_at,
            },
        )
    )


def _table() -> object:
    return ImapMailbox.__table__  # type: ignore[attr-defined]


# One poller per mailbox --------------------------------------------------------------------------


class MailboxLock(Protocol):
    """Held for as long as a process polls the mailbox."""

    async def acquire(self) -> bool:
        """Tries once; True when this process now holds the lock."""

    async def alive(self) -> bool:
        """Still held (a lost database connection loses a PostgreSQL advisory lock)."""

    async def release(self) -> None: ...


def lock_id(key: str) -> int:
    """A signed 64-bit number for `pg_try_advisory_lock`, from the mailbox key."""
    digest = hashlib.sha256(f"synpunkt-imap:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class PostgresAdvisoryLock:
    """`pg_try_advisory_lock` on a connection of its own, held while the poller runs.

    The connection never goes back to the pool: released or lost, it is closed, so the session
    lock cannot linger on a pooled connection.
    """

    def __init__(self, engine: AsyncEngine, key: str) -> None:
        self._engine = engine
        self._id = lock_id(key)
        self._connection: AsyncConnection | None = None

    async def acquire(self) -> bool:
        if self._connection is None:
            self._connection = await self._engine.connect()
        try:
            got = (
                await self._connection.execute(
                    text("SELECT pg_try_advisory_lock(:id)"), {"id": self._id}
                )
            ).scalar_one()
            await self._connection.commit()  # not idle in a transaction while holding the lock
        except Exception:
            await self._drop()
            raise
        return bool(got)

    async def alive(self) -> bool:
        if self._connection is None:
            return False
        try:
            await self._connection.execute(text("SELECT 1"))
            await self._connection.commit()
        except Exception:
            log.warning("IMAP: lost the database connection that holds the mailbox lock")
            await self._drop()
            return False
        return True

    async def release(self) -> None:
        if self._connection is None:
            return
        with contextlib.suppress(Exception):
            await self._connection.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": self._id})
            await self._connection.commit()
        await self._drop()

    async def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.invalidate()  # closes it for real, never back to the pool
            with contextlib.suppress(Exception):
                await connection.close()


class FileLock:
    """On SQLite, an exclusive `flock` on a file beside the database: one poller per mailbox
    among the processes of one machine (SQLite serves only one machine anyway). The kernel
    releases it when the process dies, even by SIGKILL."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._fd: int | None = None

    async def acquire(self) -> bool:
        if self._fd is not None:
            return True
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    async def alive(self) -> bool:
        return self._fd is not None

    async def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


class NoLock:
    """An in-memory SQLite database: one process by definition."""

    async def acquire(self) -> bool:
        return True

    async def alive(self) -> bool:
        return True

    async def release(self) -> None:
        return None


def mailbox_lock(engine: AsyncEngine, key: str) -> MailboxLock:
    """The right lock for the engine's database."""
    url = make_url(str(engine.url))
    if url.get_backend_name() == "postgresql":
        return PostgresAdvisoryLock(engine, key)
    database = url.database
    if url.get_backend_name() == "sqlite" and database and database != ":memory:":
        suffix = hashlib.sha256(key.encode()).hexdigest()[:12]
        return FileLock(Path(f"{database}.imap-{suffix}.lock"))
    return NoLock()


async def stored_status(
    sessions: async_sessionmaker[AsyncSession], *, key: str, now: datetime, stale_after: float
) -> dict[str, object]:
    """The mailbox's status as the poller last stored it, for `/healthz` in a process that does
    not poll it itself: healthy while the last poll is recent and no error came after it."""
    async with sessions() as session:
        row = (
            await session.execute(select(ImapMailbox).where(col(ImapMailbox.mailbox_key) == key))
        ).scalar_one_or_none()
    if row is None:
        return {"mailbox": key, "state": "never polled", "ok": False, "source": "database"}
    fresh = (
        row.last_poll_at is not None
        and (now - row.last_poll_at).total_seconds() <= stale_after
        and (row.last_error_at is None or row.last_poll_at >= row.last_error_at)
    )
    return {
        "mailbox": key,
        "state": "polled elsewhere",
        "ok": fresh,
        "last_poll_at": row.last_poll_at.isoformat() if row.last_poll_at else None,
        "last_error": row.last_error,
        "last_error_at": row.last_error_at.isoformat() if row.last_error_at else None,
        "uidvalidity": row.uidvalidity,
        "last_uid": row.last_uid,
        "source": "database",
    }
