"""notify: staff notifications by e-mail and who has a case open

`staff_users.email` is where a user's notifications go; `notification_settings` holds which kinds
they want and the day their last daily digest went out; `notification_events` are the events
(a new case, an assignment, a reply) written where they happen, for the worker to turn into mail
through the outbox; `case_presence` says who had which case open when.

Revision ID: 0022_notify
Revises: 0021_outbox_acks
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import inbox.core.db

revision: str = "0022_notify"
down_revision: str | None = "0021_outbox_acks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STRING = sqlmodel.sql.sqltypes.AutoString
_TIME = inbox.core.db.UTCDateTime


def upgrade() -> None:
    op.add_column("staff_users", sa.Column("email", _STRING(length=320), nullable=True))
    op.create_table(
        "notification_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", _STRING(length=16), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("actor_user_id", sa.Integer(), nullable=True),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.Column("created_at", _TIME(timezone=True), nullable=False),
        sa.Column("done_at", _TIME(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_notification_events_pending", "notification_events", ["done_at", "id"])
    op.create_table(
        "notification_settings",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("new_case", sa.Boolean(), nullable=False),
        sa.Column("assigned", sa.Boolean(), nullable=False),
        sa.Column("reply", sa.Boolean(), nullable=False),
        sa.Column("digest", sa.Boolean(), nullable=False),
        sa.Column("digest_sent_on", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["staff_users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id"),
    )
    op.create_table(
        "case_presence",
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("seen_at", _TIME(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["staff_users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("case_id", "user_id"),
    )
    op.create_index("ix_case_presence_seen", "case_presence", ["seen_at"])


def downgrade() -> None:
    op.drop_index("ix_case_presence_seen", table_name="case_presence")
    op.drop_table("case_presence")
    op.drop_table("notification_settings")
    op.drop_index("ix_notification_events_pending", table_name="notification_events")
    op.drop_table("notification_events")
    op.drop_column("staff_users", "email")
