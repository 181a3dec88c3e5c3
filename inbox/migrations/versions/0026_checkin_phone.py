"""checkin_phone: the number to call, given on the check-in page with a "yes" to contact

A call-back case showed a phone number only when the person happened to write one in their
comment; the page now asks for it (optionally) beside the question whether we may contact them.

Revision ID: 0026_checkin_phone
Revises: 0025_reportperf
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0026_checkin_phone"
down_revision: str | None = "0025_reportperf"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("checkins") as batch_op:
        batch_op.add_column(
            sa.Column("phone", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("checkins") as batch_op:
        batch_op.drop_column("phone")
