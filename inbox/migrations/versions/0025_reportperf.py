"""reportperf: the annual report reads one covering index instead of the cases' rows

`ix_cases_report` starts with `received_at` and holds every column the report's figures read
of a case (the dimensions, the dates of the response-time rules, the flags, and what tells a
counted case), so that the report's one pass over the compared years, the median and the joins
to topics and measures read the index alone (SQLite: a covering index; PostgreSQL: an
index-only scan once the table is vacuumed).

Revision ID: 0025_reportperf
Revises: 0024_casepage
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0025_reportperf"
down_revision: str | None = "0024_casepage"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REPORT_COLUMNS = [
    "received_at",
    "kind",
    "channel",
    "unit_id",
    "submitter_role",
    "outcome",
    "merged_into_id",
    "flag_automated",
    "flag_lex_sarah",
    "flag_decision_not_executed",
    "due_on",
    "first_response_at",
    "closed_at",
    "id",
]


def upgrade() -> None:
    op.create_index("ix_cases_report", "cases", REPORT_COLUMNS)


def downgrade() -> None:
    op.drop_index("ix_cases_report", table_name="cases")
