"""reused ids: the ledger tells a redelivery from another message under the same Message-ID

`content_sha256` is a digest of what a message says without what relays add on the way (for
e-mail: without its trace header fields), written by the adapters that know what that is. A
message whose external id a different message already holds is stored under the id and its digest
and `reuses_id_of` names the row that held the id first. Rows from before this revision have no
digest: a message under their id counts as a redelivery, as it did.

Plain ADD COLUMN statements only (no batch copy: see 0008_list_speed).

Revision ID: 0012_reused_ids
Revises: 0011_tasks
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0012_reused_ids"
down_revision: str | None = "0011_tasks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "intake_ledger",
        sa.Column("content_sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    )
    op.add_column("intake_ledger", sa.Column("reuses_id_of", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("intake_ledger") as batch:
        batch.drop_column("reuses_id_of")
        batch.drop_column("content_sha256")
