"""records: legal hold and archive marking on cases, tombstones of removed cases, rights requests

`cases` gains the legal hold (reason, who, when) that keeps a case whatever the retention rules
say, and `archived_at`, when it was first written to an archive export. `case_tombstones` keeps the
reference of a case removed by gallring with the decision it was removed under.
`rights_requests` records a data subject's request for rectification, restriction or erasure on a
case and the answer. The audit trail stays append-only, except that gallring may now delete events
while a row of `audit_deletion_permits` exists in its own transaction (updates are still refused).

Plain ADD COLUMN and CREATE TABLE statements only (no batch copy of `cases`: see 0008_list_speed).

Revision ID: 0019_records
Revises: 0018_heartbeats
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import inbox.core.db

revision: str = "0019_records"
down_revision: str | None = "0018_heartbeats"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STRING = sqlmodel.sql.sqltypes.AutoString
_TIME = inbox.core.db.UTCDateTime


def upgrade() -> None:
    op.add_column("cases", sa.Column("hold_reason", _STRING(length=500), nullable=True))
    op.add_column("cases", sa.Column("hold_by", _STRING(length=100), nullable=True))
    op.add_column("cases", sa.Column("hold_at", _TIME(timezone=True), nullable=True))
    op.add_column("cases", sa.Column("archived_at", _TIME(timezone=True), nullable=True))

    op.create_table(
        "case_tombstones",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference", _STRING(length=32), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("removed_at", _TIME(timezone=True), nullable=False),
        sa.Column("rule", _STRING(length=32), nullable=False),
        sa.Column("decision", _STRING(length=1000), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("reference"),
    )

    op.create_table(
        "rights_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("kind", _STRING(length=16), nullable=False),
        sa.Column("requested_by", _STRING(length=200), nullable=False),
        sa.Column("requested_on", sa.Date(), nullable=False),
        sa.Column("request", _STRING(length=4000), nullable=False),
        sa.Column("response", _STRING(length=8000), nullable=False),
        sa.Column("recorded_by", _STRING(length=100), nullable=False),
        sa.Column("recorded_at", _TIME(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_rights_requests_case_id", "rights_requests", ["case_id"])

    op.create_table(
        "audit_deletion_permits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("granted_at", _TIME(timezone=True), nullable=False),
        sa.Column("decision", _STRING(length=1000), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    _audit_trail(deletable_with_permit=True)


def _audit_trail(*, deletable_with_permit: bool) -> None:
    """The DELETE guard of `audit_events` (0001_initial_schema), with or without the permit."""
    if op.get_bind().dialect.name == "postgresql":
        permit = (
            "IF TG_OP = 'DELETE' AND EXISTS (SELECT 1 FROM audit_deletion_permits) "
            "THEN RETURN OLD; END IF; "
            if deletable_with_permit
            else ""
        )
        op.execute(
            "CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger AS $$ "
            f"BEGIN {permit}RAISE EXCEPTION 'audit events are append-only'; END; $$ "
            "LANGUAGE plpgsql"
        )
        return
    op.execute("DROP TRIGGER audit_events_no_delete")
    when = "WHEN NOT EXISTS (SELECT 1 FROM audit_deletion_permits) " if deletable_with_permit else ""
    op.execute(
        f"CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events {when}"
        "BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END"
    )


def downgrade() -> None:
    _audit_trail(deletable_with_permit=False)
    op.drop_table("audit_deletion_permits")
    op.drop_index("ix_rights_requests_case_id", table_name="rights_requests")
    op.drop_table("rights_requests")
    op.drop_table("case_tombstones")
    # DROP COLUMN one at a time, never a batch copy of `cases` (see the module's docstring).
    for column in ("archived_at", "hold_at", "hold_by", "hold_reason"):
        op.drop_column("cases", column)
