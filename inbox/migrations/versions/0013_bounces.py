"""bounces: what a delivery report said of an outbound message; machine mail counted apart

`messages` gets the bounce's kind (hard, soft), status (RFC 3463), diagnostic and time, for the
delivery state `bounced`. Machine mail (`cases.flag_automated`) is listed apart from the inbox
("Maskinpost"), so the cached counts of 0008_list_speed are kept per unit, status and whether the
case is machine mail (`machine`), and `ix_cases_automated_received` serves that list newest first.

Plain ADD COLUMN and CREATE/DROP statements only (no batch copy: see 0008_list_speed).

Revision ID: 0013_bounces
Revises: 0012_reused_ids
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import inbox.core.db

revision: str = "0013_bounces"
down_revision: str | None = "0012_reused_ids"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# --- the counts per unit, status and machine mail ----------------------------------------------

_MACHINE = "CASE WHEN {row}.flag_automated THEN 1 ELSE 0 END"
_TABLE = (
    "CREATE TABLE case_counts (unit_key INTEGER NOT NULL, status VARCHAR(16) NOT NULL, "
    "machine INTEGER NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (unit_key, status, machine))"
)
_ADD = (
    "INSERT INTO case_counts (unit_key, status, machine, n) VALUES (coalesce({row}.unit_id, 0), "
    f"{{row}}.status, {_MACHINE}, 1) ON CONFLICT (unit_key, status, machine) "
    "DO UPDATE SET n = case_counts.n + 1"
)
_REMOVE = (
    "UPDATE case_counts SET n = n - 1 WHERE unit_key = coalesce({row}.unit_id, 0) "
    f"AND status = {{row}}.status AND machine = {_MACHINE}"
)
_FILL = (
    "INSERT INTO case_counts (unit_key, status, machine, n) "
    f"SELECT coalesce(unit_id, 0), status, {_MACHINE.format(row='cases')}, count(*) FROM cases "
    f"GROUP BY coalesce(unit_id, 0), status, {_MACHINE.format(row='cases')}"
)
_CHANGED = (
    "(new.status IS NOT old.status OR new.unit_id IS NOT old.unit_id "
    "OR new.flag_automated IS NOT old.flag_automated)"
)

SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS case_counts_update",
    "DROP TRIGGER IF EXISTS case_counts_delete",
    "DROP TRIGGER IF EXISTS case_counts_insert",
    "DROP TABLE IF EXISTS case_counts",
]
SQLITE_UP = [
    _TABLE,
    f"CREATE TRIGGER case_counts_insert AFTER INSERT ON cases BEGIN {_ADD.format(row='new')}; END",
    "CREATE TRIGGER case_counts_delete AFTER DELETE ON cases BEGIN "
    f"{_REMOVE.format(row='old')}; END",
    "CREATE TRIGGER case_counts_update AFTER UPDATE OF status, unit_id, flag_automated ON cases "
    f"WHEN {_CHANGED} BEGIN {_REMOVE.format(row='old')}; {_ADD.format(row='new')}; END",
    _FILL,
]

POSTGRES_DROP = [
    "DROP TRIGGER IF EXISTS case_counts_update ON cases",
    "DROP TRIGGER IF EXISTS case_counts_change ON cases",
    "DROP FUNCTION IF EXISTS synpunkt_case_counts_trigger()",
    "DROP TABLE IF EXISTS case_counts",
]
POSTGRES_UP = [
    _TABLE,
    "CREATE FUNCTION synpunkt_case_counts_trigger() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    f"IF TG_OP IN ('UPDATE', 'DELETE') THEN {_REMOVE.format(row='OLD')}; END IF; "
    f"IF TG_OP IN ('INSERT', 'UPDATE') THEN {_ADD.format(row='NEW')}; END IF; "
    "RETURN NULL; END $$",
    "CREATE TRIGGER case_counts_change AFTER INSERT OR DELETE ON cases FOR EACH ROW "
    "EXECUTE FUNCTION synpunkt_case_counts_trigger()",
    "CREATE TRIGGER case_counts_update AFTER UPDATE OF status, unit_id, flag_automated ON cases "
    "FOR EACH ROW WHEN (NEW.status IS DISTINCT FROM OLD.status OR NEW.unit_id IS DISTINCT FROM "
    "OLD.unit_id OR NEW.flag_automated IS DISTINCT FROM OLD.flag_automated) "
    "EXECUTE FUNCTION synpunkt_case_counts_trigger()",
    # CREATE TRIGGER holds a lock on `cases` that keeps writers out until this commits.
    _FILL,
]

# What 0008_list_speed made, for the way down.
_OLD_TABLE = (
    "CREATE TABLE case_counts (unit_key INTEGER NOT NULL, status VARCHAR(16) NOT NULL, "
    "n INTEGER NOT NULL, PRIMARY KEY (unit_key, status))"
)
_OLD_ADD = (
    "INSERT INTO case_counts (unit_key, status, n) VALUES (coalesce({row}.unit_id, 0), "
    "{row}.status, 1) ON CONFLICT (unit_key, status) DO UPDATE SET n = case_counts.n + 1"
)
_OLD_REMOVE = (
    "UPDATE case_counts SET n = n - 1 "
    "WHERE unit_key = coalesce({row}.unit_id, 0) AND status = {row}.status"
)
_OLD_FILL = (
    "INSERT INTO case_counts (unit_key, status, n) "
    "SELECT coalesce(unit_id, 0), status, count(*) FROM cases GROUP BY coalesce(unit_id, 0), status"
)
SQLITE_OLD = [
    _OLD_TABLE,
    "CREATE TRIGGER case_counts_insert AFTER INSERT ON cases BEGIN "
    f"{_OLD_ADD.format(row='new')}; END",
    "CREATE TRIGGER case_counts_delete AFTER DELETE ON cases BEGIN "
    f"{_OLD_REMOVE.format(row='old')}; END",
    "CREATE TRIGGER case_counts_update AFTER UPDATE OF status, unit_id ON cases WHEN "
    "(new.status IS NOT old.status OR new.unit_id IS NOT old.unit_id) "
    f"BEGIN {_OLD_REMOVE.format(row='old')}; {_OLD_ADD.format(row='new')}; END",
    _OLD_FILL,
]
POSTGRES_OLD = [
    _OLD_TABLE,
    "CREATE FUNCTION synpunkt_case_counts_trigger() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    f"IF TG_OP IN ('UPDATE', 'DELETE') THEN {_OLD_REMOVE.format(row='OLD')}; END IF; "
    f"IF TG_OP IN ('INSERT', 'UPDATE') THEN {_OLD_ADD.format(row='NEW')}; END IF; "
    "RETURN NULL; END $$",
    "CREATE TRIGGER case_counts_change AFTER INSERT OR DELETE ON cases FOR EACH ROW "
    "EXECUTE FUNCTION synpunkt_case_counts_trigger()",
    "CREATE TRIGGER case_counts_update AFTER UPDATE OF status, unit_id ON cases FOR EACH ROW "
    "WHEN (NEW.status IS DISTINCT FROM OLD.status OR NEW.unit_id IS DISTINCT FROM OLD.unit_id) "
    "EXECUTE FUNCTION synpunkt_case_counts_trigger()",
    _OLD_FILL,
]

# The list filters machine mail with `flag_automated = 1` on SQLite (no boolean type) and
# `flag_automated` on PostgreSQL: the index's condition must read the same for either to use it.
_AUTOMATED_INDEX = (
    "CREATE INDEX ix_cases_automated_received ON cases (received_at, id) WHERE {condition}"
)


def upgrade() -> None:
    sqlite = op.get_context().dialect.name == "sqlite"
    op.add_column("messages", sa.Column("bounce_kind", sqlmodel.sql.sqltypes.AutoString(length=16)))
    op.add_column(
        "messages", sa.Column("bounce_status", sqlmodel.sql.sqltypes.AutoString(length=16))
    )
    op.add_column("messages", sa.Column("bounce_diagnostic", sqlmodel.sql.sqltypes.AutoString()))
    op.add_column("messages", sa.Column("bounced_at", inbox.core.db.UTCDateTime(timezone=True)))
    condition = "flag_automated = 1" if sqlite else "flag_automated"
    op.execute(_AUTOMATED_INDEX.format(condition=condition))
    for statement in (SQLITE_DROP + SQLITE_UP) if sqlite else (POSTGRES_DROP + POSTGRES_UP):
        op.execute(statement)


def downgrade() -> None:
    sqlite = op.get_context().dialect.name == "sqlite"
    for statement in (SQLITE_DROP + SQLITE_OLD) if sqlite else (POSTGRES_DROP + POSTGRES_OLD):
        op.execute(statement)
    op.execute("DROP INDEX IF EXISTS ix_cases_automated_received")
    # ALTER TABLE … DROP COLUMN (SQLite 3.35+), not a batch copy, which would drop the search
    # triggers on `messages`.
    for column in ("bounced_at", "bounce_diagnostic", "bounce_status", "bounce_kind"):
        op.drop_column("messages", column)
