"""people: when each staff user last signed in, and the periodic reviews of the audit trail

`staff_users` gains `last_signin_at` (shown to admins, to find accounts nobody uses);
`log_reviews` records a completed loggkontroll: the period read, the reviewer and the findings.

Revision ID: 0017_people
Revises: 0016_due_order
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import inbox.core.db

revision: str = "0017_people"
down_revision: str | None = "0016_due_order"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STRING = sqlmodel.sql.sqltypes.AutoString
_TIME = inbox.core.db.UTCDateTime


def upgrade() -> None:
    op.add_column("staff_users", sa.Column("last_signin_at", _TIME(timezone=True), nullable=True))
    op.create_table(
        "log_reviews",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("period_from", sa.Date(), nullable=False),
        sa.Column("period_to", sa.Date(), nullable=False),
        sa.Column("reviewer", _STRING(length=200), nullable=False),
        sa.Column("findings", _STRING(length=4000), nullable=False),
        sa.Column("recorded_at", _TIME(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["recorded_by"], ["staff_users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("log_reviews")
    op.drop_column("staff_users", "last_signin_at")
