"""reports: topics, measures, case reviews (lex Sarah assessment, report examples), statistics of
removed cases

`topics` is the organisation's list of what cases concern, seeded with the default list such
reports use; `case_topics` links cases to topics, several per case. `measures` records what was
done because of a case; `case_reviews` the lex Sarah assessment and the report example of a case.
`case_statistics` keeps one anonymised row per case removed by retention, so that reports of past
years still count it.

Revision ID: 0015_reports
Revises: 0014_registry
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import inbox.core.db

revision: str = "0015_reports"
down_revision: str | None = "0014_registry"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STRING = sqlmodel.sql.sqltypes.AutoString
_TIME = inbox.core.db.UTCDateTime

# The default topics (code, Swedish label, English label), in the order forms show them.
TOPICS = [
    ("investigation", "Utredning", "Investigation"),
    ("assessment-decision", "Bedömning och beslut", "Assessment and decision"),
    ("treatment", "Bemötande", "How one was treated"),
    ("accessibility", "Tillgänglighet och kontakt", "Accessibility and contact"),
    ("information", "Information", "Information"),
    ("execution", "Verkställighet", "Carrying out decisions"),
    ("cooperation", "Samverkan", "Cooperation"),
    ("other", "Annat", "Other"),
]


def upgrade() -> None:
    topics = op.create_table(
        "topics",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", _STRING(length=64), nullable=False),
        sa.Column("label_sv", _STRING(length=200), nullable=False),
        sa.Column("label_en", _STRING(length=200), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    op.bulk_insert(
        topics,
        [
            {"code": c, "label_sv": sv, "label_en": en, "position": i, "active": True}
            for i, (c, sv, en) in enumerate(TOPICS, start=1)
        ],
    )
    op.create_table(
        "case_topics",
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("topic_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["topic_id"], ["topics.id"]),
        sa.PrimaryKeyConstraint("case_id", "topic_id"),
    )
    op.create_index("ix_case_topics_topic_id", "case_topics", ["topic_id"])
    op.create_table(
        "measures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("type", _STRING(length=32), nullable=False),
        sa.Column("text", _STRING(length=2000), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("status", _STRING(length=16), nullable=False),
        sa.Column("dated_on", sa.Date(), nullable=False),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.Column("public_summary", _STRING(length=1000), nullable=True),
        sa.Column("created_at", _TIME(timezone=True), nullable=False),
        sa.Column("updated_at", _TIME(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["owner_id"], ["staff_users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_measures_case_id", "measures", ["case_id"])
    op.create_table(
        "case_reviews",
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("lex_sarah_assessed", sa.Boolean(), nullable=False),
        sa.Column("lex_sarah_outcome", _STRING(length=16), nullable=True),
        sa.Column("example", sa.Boolean(), nullable=False),
        sa.Column("example_summary", _STRING(length=2000), nullable=True),
        sa.Column("example_handling", _STRING(length=2000), nullable=True),
        sa.Column("updated_at", _TIME(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("case_id"),
    )
    op.create_table(
        "case_statistics",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("received_at", _TIME(timezone=True), nullable=False),
        sa.Column("kind", _STRING(length=16), nullable=False),
        sa.Column("channel", _STRING(length=16), nullable=False),
        sa.Column("submitter_role", _STRING(length=16), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=True),
        sa.Column("outcome", _STRING(length=32), nullable=True),
        sa.Column("closed", sa.Boolean(), nullable=False),
        sa.Column("response_minutes", sa.Integer(), nullable=True),
        sa.Column("in_time", sa.Boolean(), nullable=True),
        sa.Column("flag_lex_sarah", sa.Boolean(), nullable=False),
        sa.Column("flag_decision_not_executed", sa.Boolean(), nullable=False),
        sa.Column("flag_child_at_risk", sa.Boolean(), nullable=False),
        sa.Column("lex_sarah_assessed", sa.Boolean(), nullable=False),
        sa.Column("lex_sarah_outcome", _STRING(length=16), nullable=True),
        sa.Column("topics", _STRING(length=2000), nullable=False),
        sa.Column("measures", _STRING(length=2000), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_case_statistics_received", "case_statistics", ["received_at"])


def downgrade() -> None:
    op.drop_index("ix_case_statistics_received", table_name="case_statistics")
    op.drop_table("case_statistics")
    op.drop_table("case_reviews")
    op.drop_index("ix_measures_case_id", table_name="measures")
    op.drop_table("measures")
    op.drop_index("ix_case_topics_topic_id", table_name="case_topics")
    op.drop_table("case_topics")
    op.drop_table("topics")
