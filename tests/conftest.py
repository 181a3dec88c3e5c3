"""Shared fixtures: a fresh, migrated database per test on SQLite and, when configured, PostgreSQL.

Each backend is migrated once per session into a template (a file for SQLite, a template database
for PostgreSQL) and copied per test, which keeps tests isolated and fast. In CI (`CI` set) a
missing PostgreSQL is a failure, not a skip.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from inbox.core.db import create_engine, session_factory
from inbox.core.migrate import upgrade
from inbox.staff.passwords import Passwords

POSTGRES_URL = os.environ.get("SYNPUNKT_TEST_POSTGRES_URL")
IN_CI = bool(os.environ.get("CI"))
CORPORA = Path(__file__).parent / "corpora"
# A test reports a corpus match rate as a user property of this name: with pytest-xdist only the
# reports reach the controlling process, which prints them at the end.
MATCH_RATE = "corpus match rate"
_match_rates: list[str] = []
# What `create_app` signs sessions with in tests (it refuses a short or published key).
SECRET_KEY = "tests-" + uuid.uuid4().hex + uuid.uuid4().hex
# Argon2 with the least work it allows, so that hashing does not dominate the suite.
CHEAP_PASSWORDS = Passwords.argon2(time_cost=1, memory_cost=8, parallelism=1)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call":
        _match_rates.extend(
            str(value) for name, value in report.user_properties if name == MATCH_RATE
        )


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    """Prints the corpus match rates the parsing tests reported."""
    if _match_rates:
        terminalreporter.section("corpus match rates")
        for line in _match_rates:
            terminalreporter.write_line(line)


def require_component(name: str, available: bool, hint: str) -> None:
    """Skips locally when a real component is missing; fails in CI, where it must be there."""
    if available:
        return
    if IN_CI:
        pytest.fail(f"{name} is required in CI but missing: {hint}")
    pytest.skip(f"{name} not available: {hint}")


@dataclass
class Database:
    url: str
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]

    @property
    def backend(self) -> str:
        return self.engine.dialect.name


class Clock:
    """A settable clock for tests; time is injected everywhere."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 3, 10, 9, 30, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> datetime:
        self.now += timedelta(**kwargs)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


def _pg_admin_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
async def postgres_template() -> AsyncIterator[str | None]:
    if not POSTGRES_URL:
        yield None
        return
    name = f"synpunkt_tpl_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(_pg_admin_dsn(POSTGRES_URL))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
        await _upgrade_in_thread(url)
        yield name
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def _upgrade_in_thread(url: str) -> None:
    import asyncio

    await asyncio.to_thread(upgrade, url)


@asynccontextmanager
async def fresh_database(
    backend: str, path: Path, sqlite_template: Path, postgres_template: str | None
) -> AsyncIterator[Database]:
    """A migrated database of its own on `backend` ("sqlite" or "postgres"), dropped afterwards;
    on SQLite the file `path`."""
    if backend == "sqlite":
        shutil.copyfile(sqlite_template, path)
        url = f"sqlite+aiosqlite:///{path}"
        engine = create_engine(url)
        yield Database(url, engine, session_factory(engine))
        await engine.dispose()
        return
    require_component("PostgreSQL", POSTGRES_URL is not None, "set SYNPUNKT_TEST_POSTGRES_URL")
    assert POSTGRES_URL is not None and postgres_template is not None
    name = f"synpunkt_t_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(_pg_admin_dsn(POSTGRES_URL))
    try:
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{postgres_template}"')
        url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
        engine = create_engine(url)
        yield Database(url, engine, session_factory(engine))
        await engine.dispose()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture(params=["sqlite", "postgres"])
async def db(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    sqlite_template: Path,
    postgres_template: str | None,
) -> AsyncIterator[Database]:
    async with fresh_database(
        request.param, tmp_path / "synpunkt.db", sqlite_template, postgres_template
    ) as one:
        yield one


@pytest.fixture
async def other_db(
    db: Database, tmp_path: Path, sqlite_template: Path, postgres_template: str | None
) -> AsyncIterator[Database]:
    """A second fresh database on `db`'s backend, for comparing two ways of doing one thing."""
    backend = "sqlite" if db.backend == "sqlite" else "postgres"
    async with fresh_database(
        backend, tmp_path / "other.db", sqlite_template, postgres_template
    ) as other:
        yield other


@pytest.fixture
def corpora() -> Iterator[Path]:
    yield CORPORA
