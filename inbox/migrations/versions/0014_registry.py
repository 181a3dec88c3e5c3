"""registry: ärendemening, secrecy marking, protected identity, what happened, consents, requests
for documents

`cases` gains the registry title staff may write (none: the neutral default from kind and unit),
the secrecy marking and the protection of the submitter's identity with their reasons, and the
optional facts SOSFS 2011:9 asks for (what happened, when, where, what it led to). `consents`
records a person's consent to information being shared with a närstående; `document_requests`
records a begäran om utlämnande and its menprövning.

Plain ADD COLUMN and CREATE TABLE statements only (no batch copy of `cases`: see 0008_list_speed).

Revision ID: 0014_registry
Revises: 0013_bounces
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import inbox.core.db

revision: str = "0014_registry"
down_revision: str | None = "0013_bounces"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STRING = sqlmodel.sql.sqltypes.AutoString
_TIME = inbox.core.db.UTCDateTime


def upgrade() -> None:
    false = sa.text("false") if op.get_bind().dialect.name == "postgresql" else sa.text("0")
    op.add_column("cases", sa.Column("registry_title", _STRING(length=200), nullable=True))
    op.add_column(
        "cases", sa.Column("secrecy_marked", sa.Boolean(), nullable=False, server_default=false)
    )
    op.add_column("cases", sa.Column("secrecy_reason", _STRING(length=500), nullable=True))
    op.add_column(
        "cases",
        sa.Column("identity_protected", sa.Boolean(), nullable=False, server_default=false),
    )
    op.add_column("cases", sa.Column("identity_reason", _STRING(length=500), nullable=True))
    op.add_column("cases", sa.Column("event_what", _STRING(), nullable=True))
    op.add_column("cases", sa.Column("event_when", _STRING(length=200), nullable=True))
    op.add_column("cases", sa.Column("event_where", _STRING(length=200), nullable=True))
    op.add_column("cases", sa.Column("event_consequence", _STRING(), nullable=True))

    op.create_table(
        "consents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("given_by", _STRING(length=200), nullable=False),
        sa.Column("given_to", _STRING(length=200), nullable=False),
        sa.Column("scope", _STRING(length=1000), nullable=False),
        sa.Column("given_on", sa.Date(), nullable=False),
        sa.Column("form", _STRING(length=16), nullable=False),
        sa.Column("revoked_on", sa.Date(), nullable=True),
        sa.Column("recorded_by", sa.Integer(), nullable=True),
        sa.Column("recorded_at", _TIME(timezone=True), nullable=False),
        sa.Column("revoked_by", sa.Integer(), nullable=True),
        sa.Column("revoked_at", _TIME(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["recorded_by"], ["staff_users.id"]),
        sa.ForeignKeyConstraint(["revoked_by"], ["staff_users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_consents_case_id", "consents", ["case_id"])

    op.create_table(
        "document_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("requested_by", _STRING(length=200), nullable=True),
        sa.Column("requested_on", sa.Date(), nullable=False),
        sa.Column("documents", _STRING(length=2000), nullable=False),
        sa.Column("outcome", _STRING(length=16), nullable=False),
        sa.Column("grounds", _STRING(length=500), nullable=True),
        sa.Column("reasoning", _STRING(length=4000), nullable=True),
        sa.Column("decision_text", _STRING(), nullable=True),
        sa.Column("decided_on", sa.Date(), nullable=False),
        sa.Column("decided_by", sa.Integer(), nullable=True),
        sa.Column("recorded_at", _TIME(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["decided_by"], ["staff_users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_document_requests_case_id", "document_requests", ["case_id"])


def downgrade() -> None:
    op.drop_index("ix_document_requests_case_id", table_name="document_requests")
    op.drop_table("document_requests")
    op.drop_index("ix_consents_case_id", table_name="consents")
    op.drop_table("consents")
    # DROP COLUMN one at a time, never a batch copy of `cases` (see the module's docstring).
    for column in (
        "event_consequence",
        "event_where",
        "event_when",
        "event_what",
        "identity_reason",
        "identity_protected",
        "secrecy_reason",
        "secrecy_marked",
        "registry_title",
    ):
        op.drop_column("cases", column)
