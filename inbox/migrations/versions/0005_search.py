"""search: full-text index per case, list indexes, merged cases

On SQLite an FTS5 table `case_fts` (rowid = case id; columns subject and body) and on PostgreSQL a
table `case_search` (case id, a `tsvector` in the Swedish configuration, GIN-indexed) hold one
document per case: its subject, weighted higher, and the text of its inbound messages and internal
notes. Triggers on `cases` and `messages` keep the document in step, so every writer (intake,
replies, merge, split, registration) is covered without remembering to. Existing rows are indexed
here. Also: `cases.merged_into_id` and the indexes the inbox list's common filters need.

Revision ID: 0005_search
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_search"
down_revision: str | None = "0004_inbox"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The messages whose text is searchable: what people sent, and staff's internal notes.
_SEARCHED = "('inbound', 'note')"

_SQLITE_BODY = (
    "coalesce((SELECT group_concat(m.text, ' ') FROM messages m WHERE m.case_id = {case}"
    f" AND m.direction IN {_SEARCHED}), '')"
)

SQLITE_UP = [
    "CREATE VIRTUAL TABLE case_fts USING fts5("
    "subject, body, tokenize = 'unicode61 remove_diacritics 0')",
    "CREATE TRIGGER case_fts_case_insert AFTER INSERT ON cases BEGIN "
    "INSERT INTO case_fts(rowid, subject, body) VALUES "
    f"(new.id, new.subject, {_SQLITE_BODY.format(case='new.id')}); END",
    "CREATE TRIGGER case_fts_case_subject AFTER UPDATE OF subject ON cases "
    "WHEN new.subject IS NOT old.subject BEGIN "
    "UPDATE case_fts SET subject = new.subject WHERE rowid = new.id; END",
    "CREATE TRIGGER case_fts_case_delete AFTER DELETE ON cases BEGIN "
    "DELETE FROM case_fts WHERE rowid = old.id; END",
    f"CREATE TRIGGER case_fts_message_insert AFTER INSERT ON messages "
    f"WHEN new.direction IN {_SEARCHED} BEGIN "
    f"UPDATE case_fts SET body = {_SQLITE_BODY.format(case='new.case_id')} "
    "WHERE rowid = new.case_id; END",
    "CREATE TRIGGER case_fts_message_update AFTER UPDATE OF case_id, text, direction ON messages "
    f"WHEN old.direction IN {_SEARCHED} OR new.direction IN {_SEARCHED} BEGIN "
    f"UPDATE case_fts SET body = {_SQLITE_BODY.format(case='old.case_id')} "
    "WHERE rowid = old.case_id; "
    f"UPDATE case_fts SET body = {_SQLITE_BODY.format(case='new.case_id')} "
    "WHERE rowid = new.case_id AND new.case_id IS NOT old.case_id; END",
    f"CREATE TRIGGER case_fts_message_delete AFTER DELETE ON messages "
    f"WHEN old.direction IN {_SEARCHED} BEGIN "
    f"UPDATE case_fts SET body = {_SQLITE_BODY.format(case='old.case_id')} "
    "WHERE rowid = old.case_id; END",
    "INSERT INTO case_fts(rowid, subject, body) SELECT c.id, c.subject, "
    f"{_SQLITE_BODY.format(case='c.id')} FROM cases c",
]

SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS case_fts_message_delete",
    "DROP TRIGGER IF EXISTS case_fts_message_update",
    "DROP TRIGGER IF EXISTS case_fts_message_insert",
    "DROP TRIGGER IF EXISTS case_fts_case_delete",
    "DROP TRIGGER IF EXISTS case_fts_case_subject",
    "DROP TRIGGER IF EXISTS case_fts_case_insert",
    "DROP TABLE IF EXISTS case_fts",
]

POSTGRES_UP = [
    "CREATE TABLE case_search ("
    "case_id integer PRIMARY KEY REFERENCES cases(id) ON DELETE CASCADE, "
    "document tsvector NOT NULL)",
    "CREATE INDEX ix_case_search_document ON case_search USING gin (document)",
    # One function computes a case's document; the triggers only decide which case to recompute.
    "CREATE FUNCTION synpunkt_case_document(case_id integer, subject text) RETURNS tsvector "
    "LANGUAGE sql STABLE AS $$ SELECT "
    "setweight(to_tsvector('swedish', coalesce(subject, '')), 'A') || "
    "setweight(to_tsvector('swedish', coalesce((SELECT string_agg(m.text, ' ' ORDER BY m.id) "
    f"FROM messages m WHERE m.case_id = $1 AND m.direction IN {_SEARCHED}), '')), 'B') $$",
    "CREATE FUNCTION synpunkt_case_search_refresh(target integer) RETURNS void "
    "LANGUAGE sql AS $$ "
    "INSERT INTO case_search (case_id, document) "
    "SELECT c.id, synpunkt_case_document(c.id, c.subject) FROM cases c WHERE c.id = target "
    "ON CONFLICT (case_id) DO UPDATE SET document = excluded.document $$",
    "CREATE FUNCTION synpunkt_cases_search_trigger() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN PERFORM synpunkt_case_search_refresh(NEW.id); RETURN NULL; END $$",
    "CREATE TRIGGER case_search_case_insert AFTER INSERT ON cases FOR EACH ROW "
    "EXECUTE FUNCTION synpunkt_cases_search_trigger()",
    "CREATE TRIGGER case_search_case_subject AFTER UPDATE OF subject ON cases FOR EACH ROW "
    "WHEN (NEW.subject IS DISTINCT FROM OLD.subject) "
    "EXECUTE FUNCTION synpunkt_cases_search_trigger()",
    "CREATE FUNCTION synpunkt_messages_search_trigger() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN "
    f"IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.direction IN {_SEARCHED} THEN "
    "PERFORM synpunkt_case_search_refresh(OLD.case_id); END IF; "
    f"IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.direction IN {_SEARCHED} "
    "AND (TG_OP = 'INSERT' OR NEW.case_id IS DISTINCT FROM OLD.case_id "
    "OR NEW.text IS DISTINCT FROM OLD.text OR OLD.direction NOT IN ('inbound', 'note')) THEN "
    "PERFORM synpunkt_case_search_refresh(NEW.case_id); END IF; "
    "RETURN NULL; END $$",
    "CREATE TRIGGER case_search_message_change AFTER INSERT OR DELETE "
    "OR UPDATE OF case_id, text, direction ON messages FOR EACH ROW "
    "EXECUTE FUNCTION synpunkt_messages_search_trigger()",
    "INSERT INTO case_search (case_id, document) "
    "SELECT c.id, synpunkt_case_document(c.id, c.subject) FROM cases c",
]

POSTGRES_DOWN = [
    "DROP TRIGGER IF EXISTS case_search_message_change ON messages",
    "DROP TRIGGER IF EXISTS case_search_case_subject ON cases",
    "DROP TRIGGER IF EXISTS case_search_case_insert ON cases",
    "DROP FUNCTION IF EXISTS synpunkt_messages_search_trigger()",
    "DROP FUNCTION IF EXISTS synpunkt_cases_search_trigger()",
    "DROP FUNCTION IF EXISTS synpunkt_case_search_refresh(integer)",
    "DROP FUNCTION IF EXISTS synpunkt_case_document(integer, text)",
    "DROP TABLE IF EXISTS case_search",
]

# Each serves the newest-first list under one equality filter without a sort.
LIST_INDEXES = {
    "ix_cases_status_received": ["status", "received_at", "id"],
    "ix_cases_unit_received": ["unit_id", "received_at", "id"],
    "ix_cases_assignee_received": ["assignee_id", "received_at", "id"],
    "ix_cases_kind_received": ["kind", "received_at", "id"],
}


def upgrade() -> None:
    sqlite = op.get_context().dialect.name == "sqlite"
    if sqlite:
        # A plain ADD COLUMN (without REFERENCES, so that it can be dropped again): a batch "move
        # and copy" of `cases` would drop its triggers and, with foreign keys on, cascade-delete
        # the messages of the table it replaces.
        op.execute("ALTER TABLE cases ADD COLUMN merged_into_id INTEGER")
    else:
        op.add_column("cases", sa.Column("merged_into_id", sa.Integer(), nullable=True))
        op.create_foreign_key(
            "fk_cases_merged_into_id_cases", "cases", "cases", ["merged_into_id"], ["id"]
        )
    for name, columns in LIST_INDEXES.items():
        op.create_index(name, "cases", columns, unique=False)
    for statement in SQLITE_UP if sqlite else POSTGRES_UP:
        op.execute(statement)


def downgrade() -> None:
    sqlite = op.get_context().dialect.name == "sqlite"
    for statement in SQLITE_DOWN if sqlite else POSTGRES_DOWN:
        op.execute(statement)
    for name in LIST_INDEXES:
        op.drop_index(name, table_name="cases")
    if sqlite:
        op.execute("ALTER TABLE cases DROP COLUMN merged_into_id")
    else:
        op.drop_constraint("fk_cases_merged_into_id_cases", "cases", type_="foreignkey")
        op.drop_column("cases", "merged_into_id")
