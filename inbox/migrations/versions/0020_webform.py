"""webform: the follow-up codes of cases sent through the public web form

`web_followups` keeps, per reserved case reference, the SHA-256 of the code shown once on the
receipt, with which an anonymous sender reads the answers and adds to the case.

Revision ID: 0020_webform
Revises: 0019_records
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import inbox.core.db

revision: str = "0020_webform"
down_revision: str | None = "0019_records"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STRING = sqlmodel.sql.sqltypes.AutoString
_TIME = inbox.core.db.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "web_followups",
        sa.Column("reference", _STRING(length=32), nullable=False),
        sa.Column("code_sha256", _STRING(length=64), nullable=False),
        sa.Column("created_at", _TIME(), nullable=False),
        sa.PrimaryKeyConstraint("reference"),
    )


def downgrade() -> None:
    op.drop_table("web_followups")
