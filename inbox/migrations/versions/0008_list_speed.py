"""list speed: cached case counts per unit and status, and an index for the overdue list

`case_counts` holds how many cases each unit (0: none) has in each status, kept by triggers on
`cases`, so the list page's counts per status cost a read of a few rows instead of a scan of every
case (100 ms at 1M). `ix_cases_not_closed_received` serves the overdue list newest first without
walking past the thousands of closed and not-yet-due cases.

Plain CREATE/DROP statements only: a batch copy of `cases` would drop the search triggers of
0005_search and, with foreign keys on, cascade-delete messages.

Revision ID: 0008_list_speed
Revises: 0007_imap
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008_list_speed"
down_revision: str | None = "0007_imap"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLE = (
    "CREATE TABLE case_counts (unit_key INTEGER NOT NULL, status VARCHAR(16) NOT NULL, "
    "n INTEGER NOT NULL, PRIMARY KEY (unit_key, status))"
)
_ADD = (
    "INSERT INTO case_counts (unit_key, status, n) VALUES (coalesce({row}.unit_id, 0), "
    "{row}.status, 1) ON CONFLICT (unit_key, status) DO UPDATE SET n = case_counts.n + 1"
)
_REMOVE = (
    "UPDATE case_counts SET n = n - 1 "
    "WHERE unit_key = coalesce({row}.unit_id, 0) AND status = {row}.status"
)
_FILL = (
    "INSERT INTO case_counts (unit_key, status, n) "
    "SELECT coalesce(unit_id, 0), status, count(*) FROM cases GROUP BY coalesce(unit_id, 0), status"
)
_CHANGED = "(new.status IS NOT old.status OR new.unit_id IS NOT old.unit_id)"

SQLITE_UP = [
    _TABLE,
    "CREATE TRIGGER case_counts_insert AFTER INSERT ON cases BEGIN "
    f"{_ADD.format(row='new')}; END",
    "CREATE TRIGGER case_counts_delete AFTER DELETE ON cases BEGIN "
    f"{_REMOVE.format(row='old')}; END",
    f"CREATE TRIGGER case_counts_update AFTER UPDATE OF status, unit_id ON cases WHEN {_CHANGED} "
    f"BEGIN {_REMOVE.format(row='old')}; {_ADD.format(row='new')}; END",
    _FILL,
]

SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS case_counts_update",
    "DROP TRIGGER IF EXISTS case_counts_delete",
    "DROP TRIGGER IF EXISTS case_counts_insert",
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
    "CREATE TRIGGER case_counts_update AFTER UPDATE OF status, unit_id ON cases FOR EACH ROW "
    "WHEN (NEW.status IS DISTINCT FROM OLD.status OR NEW.unit_id IS DISTINCT FROM OLD.unit_id) "
    "EXECUTE FUNCTION synpunkt_case_counts_trigger()",
    # CREATE TRIGGER holds a lock on `cases` that keeps writers out until this commits.
    _FILL,
]

POSTGRES_DOWN = [
    "DROP TRIGGER IF EXISTS case_counts_update ON cases",
    "DROP TRIGGER IF EXISTS case_counts_change ON cases",
    "DROP FUNCTION IF EXISTS synpunkt_case_counts_trigger()",
    "DROP TABLE IF EXISTS case_counts",
]

# The list's overdue filter is `due_on < today AND status <> 'closed'`, newest first; `due_on` in
# the index lets the scan skip the not-yet-due cases without reading the table.
_OVERDUE_INDEX = (
    "CREATE INDEX ix_cases_not_closed_received ON cases (received_at, id, due_on) "
    "WHERE status <> 'closed'"
)


def upgrade() -> None:
    sqlite = op.get_context().dialect.name == "sqlite"
    op.execute(_OVERDUE_INDEX)
    for statement in SQLITE_UP if sqlite else POSTGRES_UP:
        op.execute(statement)


def downgrade() -> None:
    sqlite = op.get_context().dialect.name == "sqlite"
    for statement in SQLITE_DOWN if sqlite else POSTGRES_DOWN:
        op.execute(statement)
    op.execute("DROP INDEX IF EXISTS ix_cases_not_closed_received")
