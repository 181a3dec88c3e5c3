"""reportstats: PostgreSQL learns how many Stockholm days and kinds the cases fall into

The report's trend groups the cases of the compared years by the Stockholm day they arrived and
their kind (`inbox.reports.figures`). The planner estimates the groups of an expression from the
columns in it, and `received_at` is all but unique, so it took every case for a group of its
own: it would not aggregate in parallel workers, and sorted the rows instead of hashing them.
A statistics object on exactly that expression (and the kind) tells it the truth (a few
thousand groups at 1,000,000 cases): a parallel partial hash aggregate. The same for removed
cases' statistics, which retention makes grow, and for the whole hours to the first answer that
the median counts. SQLite has no such statistics; nothing changes there.

Revision ID: 0027_reportstats
Revises: 0026_checkin_phone
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0027_reportstats"
down_revision: str | None = "0026_checkin_phone"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As `inbox.reports.figures` writes them; the planner uses statistics only for the very same
# expression (tests/inbox/reports/test_report_plans.py checks that it does).
DAY = "(CAST(timezone('Europe/Stockholm', received_at) AS DATE))"
HOURS = (
    "(CAST(round(date_part('epoch', coalesce(first_response_at, closed_at) - received_at) / 60)"
    " AS INTEGER) / 60)"
)
STATISTICS = {
    "st_cases_report_day": f"(ndistinct) ON {DAY}, kind FROM cases",
    "st_case_statistics_report_day": f"(ndistinct) ON {DAY}, kind FROM case_statistics",
    "st_cases_report_hours": f"ON {HOURS} FROM cases",
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, definition in STATISTICS.items():
        op.execute(f"CREATE STATISTICS {name} {definition}")
    op.execute("ANALYZE cases")
    op.execute("ANALYZE case_statistics")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name in STATISTICS:
        op.execute(f"DROP STATISTICS IF EXISTS {name}")
