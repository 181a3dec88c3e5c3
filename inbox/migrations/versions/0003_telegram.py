"""telegram: conversation state per chat (aiogram FSM) and the case's wants-reply answer

Revision ID: 0003_telegram
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import inbox.core.db

revision: str = "0003_telegram"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "telegram_fsm",
        sa.Column("bot_id", sa.BigInteger(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("thread_id", sa.BigInteger(), nullable=False),
        sa.Column("destiny", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("updated_at", inbox.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("bot_id", "chat_id", "user_id", "thread_id", "destiny"),
    )
    # Plain ADD COLUMN: a batch copy of `cases` on SQLite would cascade-delete its messages.
    op.add_column("cases", sa.Column("wants_reply", sa.Boolean(), nullable=True))


def downgrade() -> None:
    op.execute("ALTER TABLE cases DROP COLUMN wants_reply")
    op.drop_table("telegram_fsm")
