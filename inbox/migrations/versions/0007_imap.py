"""IMAP intake: the poller's position in each mailbox

Revision ID: 0007_imap
Revises: 0006_checkin
Create Date: 2026-11-23 11:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import inbox.core.db

revision: str = "0007_imap"
down_revision: str | None = "0006_checkin"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "imap_mailboxes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("mailbox_key", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("uidvalidity", sa.BigInteger(), nullable=True),
        sa.Column("last_uid", sa.BigInteger(), nullable=False),
        sa.Column("last_poll_at", inbox.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("last_error_at", inbox.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", inbox.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("mailbox_key"),
    )


def downgrade() -> None:
    op.drop_table("imap_mailboxes")
