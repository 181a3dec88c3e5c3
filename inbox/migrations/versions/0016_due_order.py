"""due_order: the inbox list sorted by due date reads an index, not every case

Revision ID: 0016_due_order
Revises: 0015_reports
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0016_due_order"
down_revision: str | None = "0015_reports"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_cases_due", "cases", ["due_on", "id"])


def downgrade() -> None:
    op.drop_index("ix_cases_due", table_name="cases")
