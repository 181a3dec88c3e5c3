"""tasks: what the law requires someone to do about a case, with its deadline and who acts

One row per duty (a possible appeal's rättidsprövning, a lex Sarah report, an orosanmälan, a report
to IVO of a decision not executed); open while `done_at` is null, at most one open row of a kind per
case. A new table only: no existing table is copied.

Revision ID: 0011_tasks
Revises: 0010_checkin_other_handler
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import inbox.core.db

revision: str = "0011_tasks"
down_revision: str | None = "0010_checkin_other_handler"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OPEN = sa.text("done_at IS NULL")


def upgrade() -> None:
    op.create_table(
        "tasks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("created_at", inbox.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("done_at", inbox.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("done_by", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_tasks_case_id", "tasks", ["case_id"], unique=False)
    op.create_index(
        "ux_tasks_open_case_kind",
        "tasks",
        ["case_id", "kind"],
        unique=True,
        sqlite_where=_OPEN,
        postgresql_where=_OPEN,
    )
    op.create_index(
        "ix_tasks_open_due",
        "tasks",
        ["due_on", "id"],
        unique=False,
        sqlite_where=_OPEN,
        postgresql_where=_OPEN,
    )


def downgrade() -> None:
    op.drop_index("ix_tasks_open_due", table_name="tasks")
    op.drop_index("ux_tasks_open_case_kind", table_name="tasks")
    op.drop_index("ix_tasks_case_id", table_name="tasks")
    op.drop_table("tasks")
