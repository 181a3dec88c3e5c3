"""Database engine and sessions: SQLite (WAL, busy timeout) by default, PostgreSQL in production.

Also the one place where datetimes are normalised: SQLite hands back naive values, PostgreSQL aware
ones; `UTCDateTime` stores UTC and always returns aware UTC datetimes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, event
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.types import TypeDecorator

SQLITE_BUSY_TIMEOUT_MS = 30_000
# The execution option that marks a connection's transactions as reads (see `read_sessions`).
READ_ONLY = "synpunkt_read_only"


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; inject an aware clock")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An async engine; for SQLite, WAL mode, a busy timeout and the parent folder created."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        kwargs.setdefault("connect_args", {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        engine = create_async_engine(url, **kwargs)
        _configure_sqlite(engine)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_async_engine(url, **kwargs)


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # pysqlite's own transaction handling defers BEGIN; take the write lock at BEGIN instead
        # (BEGIN IMMEDIATE) so that read-then-write transactions cannot deadlock on upgrade.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        # A read-only transaction never upgrades, so it can begin deferred and read its WAL
        # snapshot while a writer holds the lock, instead of queueing behind every writer.
        if connection.get_execution_options().get(READ_ONLY):
            connection.exec_driver_sql("BEGIN")
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def read_sessions(sessions: async_sessionmaker[AsyncSession]) -> async_sessionmaker[AsyncSession]:
    """Sessions on the same engine (and pool) for work that only reads.

    On SQLite their transactions begin deferred (plain `BEGIN`), so they do not take the write
    lock. They must never write: a deferred transaction that upgrades to a write can fail at once
    with "database is locked" when another connection wrote since its snapshot. PostgreSQL is
    unaffected (its transactions take no lock at BEGIN either way).
    """
    engine = sessions.kw.get("bind")
    if not isinstance(engine, AsyncEngine):
        return sessions  # not bound to one engine: no deferred flavour, reads stay immediate
    return async_sessionmaker(engine.execution_options(**{READ_ONLY: True}), expire_on_commit=False)


@asynccontextmanager
async def unit_of_work(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A session that commits when the block ends normally and rolls back otherwise."""
    async with sessions() as session, session.begin():
        yield session


def dialect_insert(dialect: str, target: Any) -> Any:
    """The dialect's `INSERT` with `ON CONFLICT` support (SQLite or PostgreSQL)."""
    from sqlalchemy.dialects import postgresql, sqlite

    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(target)


def upsert(session: AsyncSession, model: Any) -> Any:
    """`dialect_insert` for the session's dialect."""
    return dialect_insert(session.get_bind().dialect.name, model)


def insert_ignoring_conflicts(session: AsyncSession, model: Any) -> Any:
    """`INSERT … ON CONFLICT DO NOTHING` for the session's dialect (SQLite or PostgreSQL)."""
    return upsert(session, model).on_conflict_do_nothing()


def for_update_skip_locked(session: AsyncSession, statement: Any) -> Any:
    """Row locks that let several workers claim disjoint rows on PostgreSQL.

    SQLite has no row locks; there the transaction (BEGIN IMMEDIATE) serialises claims.
    """
    if session.get_bind().dialect.name == "postgresql":
        return statement.with_for_update(skip_locked=True)
    return statement
