"""check-in questions of issue 14: knows where to give feedback, someone other than the handläggare

`checkins.knows_feedback` is the second half of what used to be one question ("how to appeal and
where to give feedback"); answers given before keep their place in `knows_appeal`.
`checkins.other_handler` is the answer to "would you rather talk to someone else", and
`cases.flag_other_handler` marks the call-back case so that it is not given back to the
handläggare who registered the decision.

Plain ADD COLUMN statements only (no batch copy of `cases`: see 0006_checkin and 0008_list_speed).

Revision ID: 0010_checkin_other_handler
Revises: 0009_access
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0010_checkin_other_handler"
down_revision: str | None = "0009_access"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "checkins",
        sa.Column("knows_feedback", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True),
    )
    op.add_column(
        "checkins",
        sa.Column("other_handler", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True),
    )
    op.add_column(
        "cases",
        sa.Column("flag_other_handler", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    # SQLite 3.35+ drops a column in place; a batch copy of `cases` would lose data (see 0006).
    op.execute("ALTER TABLE cases DROP COLUMN flag_other_handler")
    op.execute("ALTER TABLE checkins DROP COLUMN other_handler")
    op.execute("ALTER TABLE checkins DROP COLUMN knows_feedback")
