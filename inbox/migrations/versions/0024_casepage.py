"""casepage: merges and splits recorded so that they can be undone for a while

`case_moves` keeps, per merge or split, what moved and what the cases looked like right after,
so that "Ångra" on the case page puts back exactly what was there, or refuses once either case
has changed.

Revision ID: 0024_casepage
Revises: 0023_bulk
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import inbox.core.db

revision: str = "0024_casepage"
down_revision: str | None = "0023_bulk"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STRING = sqlmodel.sql.sqltypes.AutoString
_TIME = inbox.core.db.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "case_moves",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", _STRING(length=8), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("other_case_id", sa.Integer(), nullable=False),
        sa.Column("actor", _STRING(length=100), nullable=False),
        sa.Column("done_at", _TIME(), nullable=False),
        sa.Column("undo_until", _TIME(), nullable=False),
        sa.Column("before", sa.JSON(), nullable=False),
        sa.Column("after", sa.JSON(), nullable=False),
        sa.Column("undone_at", _TIME(), nullable=True),
        sa.Column("undone_by", _STRING(length=100), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_case_moves_case_id", "case_moves", ["case_id"])
    op.create_index("ix_case_moves_other_case_id", "case_moves", ["other_case_id"])


def downgrade() -> None:
    op.drop_index("ix_case_moves_other_case_id", table_name="case_moves")
    op.drop_index("ix_case_moves_case_id", table_name="case_moves")
    op.drop_table("case_moves")
