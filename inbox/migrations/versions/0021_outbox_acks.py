"""outbox_acks: an index for the acknowledgements of the last day to a sender

Each intake batch asks how many acknowledgements went to its senders in the last 24 hours
(`inbox.intake.ack_rules.recent_acks`); without an index on (kind, channel, created_at) that read
the whole outbox, which only grows until gallring.

Revision ID: 0021_outbox_acks
Revises: 0020_webform
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0021_outbox_acks"
down_revision: str | None = "0020_webform"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_outbox_kind_created", "outbox", ["kind", "channel", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_outbox_kind_created", table_name="outbox")
