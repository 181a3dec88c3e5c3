"""Schema migrations (Alembic) run from code: `synpunkt db upgrade`, `db current`, `db history`,
`db downgrade`, and `serve` at start.

An upgrade never goes backwards: naming a revision older than the database's is refused (with the
downgrade that would do it), so that a typo cannot look like success while changing nothing.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy.engine import Connection

from inbox.core.db import create_engine

MIGRATIONS = Path(__file__).parent.parent / "migrations"  # inbox/migrations


class MigrationError(Exception):
    """A migration command that cannot do what was asked (an unknown or backward revision)."""


@dataclass(frozen=True)
class Revision:
    id: str
    down: str | None
    doc: str


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config("sqlite://"))


def history() -> list[Revision]:
    """Every revision, oldest first."""
    revisions = [
        Revision(
            id=script.revision,
            down=script.down_revision if isinstance(script.down_revision, str) else None,
            doc=(script.doc or "").strip().splitlines()[0] if script.doc else "",
        )
        for script in _scripts().walk_revisions()
    ]
    return revisions[::-1]


def head() -> str:
    found = _scripts().get_current_head()
    assert found is not None, "no migrations"
    return found


def current(url: str) -> str | None:
    """The database's revision; None for a database no migration has touched."""

    def read(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async def run() -> str | None:
        engine = create_engine(url)
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(read)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _resolve(revision: str) -> str:
    """A revision id (or `head`, or a unique prefix) as its full id; MigrationError if unknown."""
    if revision == "head":
        return head()
    try:
        script = _scripts().get_revision(revision)
    except CommandError as exc:
        raise MigrationError(f"unknown revision {revision!r}: {exc}") from None
    if script is None:
        raise MigrationError(f"unknown revision {revision!r}")
    return script.revision


def _order(revision: str) -> int:
    return [one.id for one in history()].index(revision)


def upgrade(url: str, revision: str = "head") -> str:
    """Brings the database at `url` up to `revision` (blocking; runs its own event loop) and
    returns the revision it is at; a revision older than the database's is refused."""
    target = _resolve(revision)
    now = current(url)
    if now is not None and _order(target) < _order(now):
        raise MigrationError(
            f"the database is at {now}, which is newer than {target}; an upgrade never goes "
            f"back (`synpunkt db downgrade {target}` does, and drops what came after)"
        )
    command.upgrade(alembic_config(url), target)
    return target


def downgrade(url: str, revision: str) -> str:
    """Takes the database at `url` back to `revision` (or `base`: empty); refuses to go forward."""
    target = None if revision == "base" else _resolve(revision)
    now = current(url)
    if now is None:
        raise MigrationError("the database has no migrations applied: nothing to go back from")
    if target is not None and _order(target) > _order(now):
        raise MigrationError(
            f"the database is at {now}, which is older than {target}: use `synpunkt db upgrade`"
        )
    command.downgrade(alembic_config(url), target or "base")
    return target or "base"


async def upgrade_async(url: str, revision: str = "head") -> None:
    await asyncio.to_thread(upgrade, url, revision)
