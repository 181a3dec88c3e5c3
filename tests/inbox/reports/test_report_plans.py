"""The report's big statements on PostgreSQL are planned for the groups they really have.

The planner estimates the groups of an expression from the columns in it; `received_at` and the
response times are all but unique, so without help it takes every case for a group of its own,
will not aggregate in parallel workers and sorts the cases. Migration `0027_reportstats` keeps
statistics on exactly the expressions the report groups by (the Stockholm day, the whole hours to
the first answer). These tests read the estimates of the statements `compute` really runs: if
either side's expression drifts, the statistics no longer apply and the estimate jumps to the
number of cases.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
from sqlalchemy import event, text

from inbox.cases.access import EVERYTHING
from inbox.reports.figures import Request, compute
from tests.conftest import Database

pytestmark = pytest.mark.parametrize("db", ["postgres"], indirect=True)

CASES = 4000
DAYS = 20  # the cases arrive over 20 days in January 2025, of two kinds, answered in 2 hours
CASES_SQL = f"""
INSERT INTO cases (reference, kind, status, channel, subject, received_at, first_response_at,
    origin, submitter_role, priority, flag_lex_sarah, flag_child_at_risk,
    flag_decision_not_executed, flag_appeal_intent, flag_personnummer, flag_automated, updated_at)
SELECT 'SP-2025-' || g, (ARRAY['complaint', 'praise'])[1 + g % 2], 'open', 'email', '',
    timestamptz '2025-01-05 08:00+00' + (g % {DAYS}) * interval '1 day' + g * interval '1 second',
    timestamptz '2025-01-05 10:00+00' + (g % {DAYS}) * interval '1 day' + g * interval '1 second',
    'channel', 'unknown', 'normal', false, false, false, false, false, false, now()
FROM generate_series(1, {CASES}) AS g
"""


async def _statements(db: Database) -> list[tuple[str, Any]]:
    """Every SELECT `compute` runs for the year 2025, with its parameters."""
    seen: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, parameters))

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    try:
        async with db.sessions() as session:
            request = Request(date(2025, 1, 1), date(2025, 12, 31), compare_years=3)
            await compute(session, request, scope=EVERYTHING, today=date(2026, 3, 10))
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", record)
    return seen


async def _estimated_groups(db: Database, statement: str, parameters: Any) -> list[float]:
    """The planner's estimated rows of each aggregate node in the statement's plan."""
    async with db.engine.connect() as connection:
        await connection.execute(text("SET plan_cache_mode = force_custom_plan"))
        raw = await connection.exec_driver_sql("EXPLAIN (FORMAT JSON) " + statement, parameters)
        plan = raw.scalar_one()
    found: list[float] = []

    def walk(node: dict[str, Any]) -> None:
        if node["Node Type"] == "Aggregate" and node.get("Relation Name") is None:
            found.append(node["Plan Rows"])
        for child in node.get("Plans", []):
            walk(child)

    walk((json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"])
    return found


async def test_the_trend_and_the_median_are_planned_for_their_few_groups(db: Database) -> None:
    async with db.engine.begin() as connection:
        await connection.execute(text(CASES_SQL))
        await connection.execute(text("ANALYZE cases"))
    statements = await _statements(db)
    trend = [s for s in statements if "timezone('Europe/Stockholm'" in s[0]]
    hours = [s for s in statements if "date_part('epoch'" in s[0]]
    assert len(trend) == 1 and len(hours) == 1, [s[0][:80] for s in statements]
    # 20 days × 2 kinds = 40 groups, and one whole hour (2) for every answer: estimated as a
    # few, where the cases' own columns would say 4,000.
    for statement, parameters in (*trend, *hours):
        estimates = await _estimated_groups(db, statement, parameters)
        assert estimates, statement
        assert max(estimates) <= 200, (estimates, statement)
