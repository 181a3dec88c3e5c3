"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import inbox.core.models  # noqa: F401  (registers every table on SQLModel.metadata)
from inbox.core.migrate import upgrade
from tests.conftest import Database

# Kept by raw SQL and maintained by triggers, not by models: the SQLite FTS5 index (and its shadow
# tables) and the PostgreSQL tsvector table (0005), the cached counts per unit and status (0008).
SEARCH_TABLES = ("case_fts", "case_search", "case_counts")


def _include(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    table = name if type_ == "table" else getattr(getattr(obj, "table", None), "name", "")
    return not (table or "").startswith(SEARCH_TABLES)


async def test_the_migrated_schema_matches_the_models(db: Database) -> None:
    def diff(connection: Any) -> list[Any]:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_object": _include}
        )
        return list(compare_metadata(context, SQLModel.metadata))

    async with db.engine.connect() as connection:
        differences = await connection.run_sync(diff)
    if db.backend == "sqlite":
        # SQLite cannot add a foreign key to an existing table without copying it (which would drop
        # the search triggers and cascade-delete messages), so `cases.merged_into_id` has none there.
        differences = [d for d in differences if not (isinstance(d, tuple) and d[0] == "add_fk")]
    assert differences == []


def test_upgrading_a_database_with_cases_keeps_every_message_and_indexes_it(
    tmp_path: Path,
) -> None:
    # Later migrations add columns to `cases`; on SQLite a batch copy of the table would drop
    # its triggers and, with foreign keys on, cascade-delete the messages. They must not.
    path = tmp_path / "old.db"
    url = f"sqlite+aiosqlite:///{path}"
    upgrade(url, "0001")
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO cases (reference, kind, status, channel, origin, submitter_role,"
            " priority, subject, received_at, flag_lex_sarah, flag_child_at_risk,"
            " flag_decision_not_executed, flag_appeal_intent, flag_personnummer,"
            " flag_automated, updated_at) VALUES ('SP-2026-0001', 'other', 'new', 'email',"
            " 'channel', 'unknown', 'normal', 'Trappstädning', '2026-03-10 09:00:00',"
            " 0, 0, 0, 0, 0, 0, '2026-03-10 09:00:00')"
        )
        conn.execute(
            "INSERT INTO messages (case_id, direction, channel, subject, text, display_text,"
            " automation, defects, created_at) VALUES (1, 'inbound', 'email', 'Trappstädning',"
            " 'Trapphuset städas aldrig', 'Trapphuset städas aldrig', 'none', '[]',"
            " '2026-03-10 09:00:00')"
        )
    upgrade(url)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM messages").fetchone() == (1,)
        triggers = {
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        }
        assert {"case_fts_case_insert", "case_fts_message_insert"} <= triggers
        found = conn.execute("SELECT rowid FROM case_fts WHERE case_fts MATCH 'trapphuset'")
        assert found.fetchall() == [(1,)]
