"""heartbeats: each long-running part's sign of life, for /healthz

One row per part (web, worker, smtp, imap, bot) and process, written every few seconds; indexed by
the time of the last beat, which `/healthz` reads the last day of.

Revision ID: 0018_heartbeats
Revises: 0017_people
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import inbox.core.db

revision: str = "0018_heartbeats"
down_revision: str | None = "0017_people"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STRING = sqlmodel.sql.sqltypes.AutoString
_TIME = inbox.core.db.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "heartbeats",
        sa.Column("part", _STRING(length=16), nullable=False),
        sa.Column("instance", _STRING(length=200), nullable=False),
        sa.Column("version", _STRING(length=32), nullable=False),
        sa.Column("started_at", _TIME(timezone=True), nullable=False),
        sa.Column("beat_at", _TIME(timezone=True), nullable=False),
        sa.Column("stopped_at", _TIME(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("part", "instance"),
    )
    op.create_index("ix_heartbeats_beat", "heartbeats", ["beat_at"])


def downgrade() -> None:
    op.drop_index("ix_heartbeats_beat", table_name="heartbeats")
    op.drop_table("heartbeats")
