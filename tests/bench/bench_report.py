"""The annual report at scale: one year's report over the benchmark database, against a bare
`GROUP BY` over the same rows.

Reuses `bench_inbox`'s database (`BENCH_CASES` cases over three years, default 100,000; the
issue's figure is 1,000,000), adding one topic per case and a measure on every tenth case the
first time (idempotent). On SQLite, and on PostgreSQL when SYNPUNKT_TEST_POSTGRES_URL is set:
- *bare GROUP BY*: `SELECT kind, channel, unit_id, count(*) … GROUP BY …` through the driver,
  over the rows the report reads (the year and the two compared with it), and for the year alone;
- *figures*: `inbox.reports.figures.compute` for the year compared with two before it — every
  number of every section (the work that grows with the cases);
- *report, html*: the figures put into words and drawn (ten matplotlib charts) as the HTML file;
- *report, xlsx*: the same as a workbook.
The goal: the whole report under 10 s, and the figures at most 5× the bare GROUP BY over the
same rows.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from typing import Any

import aiosqlite
import asyncpg
from sqlalchemy.engine import make_url

from inbox.cases.access import EVERYTHING
from inbox.core.db import create_engine, session_factory
from inbox.reports.facts import stockholm_midnight
from inbox.reports.figures import Request, compute
from inbox.reports.render import to_html, to_xlsx
from inbox.reports.report import build
from inbox.web.render import LABELS
from tests.bench.bench_inbox import CASES, postgres_url, sqlite_url

ROUNDS = int(os.environ.get("BENCH_REPORT_ROUNDS", "5"))
YEAR = Request(date(2025, 1, 1), date(2025, 12, 31), compare_years=3)
TODAY = date(2026, 3, 10)
GOALS = {"report_s": 10.0, "ratio": 5.0}
BARE = (
    "SELECT kind, channel, unit_id, count(*) FROM cases"
    " WHERE received_at >= {a} AND received_at < {b} GROUP BY kind, channel, unit_id"
)
TOPICS_SQL = "INSERT INTO case_topics (case_id, topic_id) SELECT id, 1 + id % 8 FROM cases"
MEASURES_SQL = (
    "INSERT INTO measures (case_id, type, text, status, dated_on, public, created_at,"
    " updated_at) SELECT id, 'apology', '', 'done', due_on, {false}, received_at, received_at"
    " FROM cases WHERE id % 10 = 0 AND due_on IS NOT NULL"
)


async def _extend_sqlite(path: str) -> None:
    """One topic per case and a measure on every tenth, once."""
    async with aiosqlite.connect(path) as db:
        async with db.execute("SELECT count(*) FROM case_topics") as cursor:
            row = await cursor.fetchone()
        if row and row[0]:
            return
        print("adding topics and measures …", flush=True)
        await db.execute(TOPICS_SQL)
        await db.execute(MEASURES_SQL.format(false=0))
        await db.commit()
        await db.execute("ANALYZE")


async def _extend_postgres(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        if await conn.fetchval("SELECT count(*) FROM case_topics"):
            return
        print("adding topics and measures …", flush=True)
        await conn.execute(TOPICS_SQL)
        await conn.execute(MEASURES_SQL.format(false="false"))
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()


async def timed(call: Callable[[], Awaitable[Any]], rounds: int = ROUNDS) -> float:
    """The median seconds of `rounds` calls, after one to warm up."""
    await call()
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


async def measure(backend: str, url: str) -> list[tuple[str, str, float]]:
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    if backend == "sqlite":
        await _extend_sqlite(str(make_url(url).database))
    else:
        await _extend_postgres(dsn)
    end = stockholm_midnight(date(2026, 1, 1))
    spans = {
        "bare GROUP BY (driver)": stockholm_midnight(YEAR.periods()[-1].first),
        "bare GROUP BY, the year alone": stockholm_midnight(YEAR.first),
    }
    raw_sqlite = raw_pg = None
    if backend == "sqlite":
        raw_sqlite = await aiosqlite.connect(str(make_url(url).database))
    else:
        raw_pg = await asyncpg.connect(dsn)

    def bare(start: datetime) -> Callable[[], Awaitable[Any]]:
        async def run() -> Any:
            if raw_sqlite is not None:
                # As the SQLite driver stores them: naive UTC.
                params = [t.replace(tzinfo=None).isoformat(" ") for t in (start, end)]
                async with raw_sqlite.execute(BARE.format(a="?", b="?"), params) as cursor:
                    return await cursor.fetchall()
            assert raw_pg is not None
            return await raw_pg.fetch(BARE.format(a="$1", b="$2"), start, end)

        return run

    engine = create_engine(url)
    sessions = session_factory(engine)

    async def figures() -> Any:
        async with sessions() as session:
            return await compute(session, YEAR, scope=EVERYTHING, today=TODAY)

    async def report(render: Callable[[Any], Any]) -> Any:
        async with sessions() as session:
            made = await build(session, YEAR, scope=EVERYTHING, today=TODAY, swedish=LABELS)
        return render(made)

    rows = []
    try:
        counted = await figures()
        print(f"{backend}: {counted.total:,} cases in the year", flush=True)
        for what, start in spans.items():
            rows.append((backend, what, await timed(bare(start))))
        base = rows[0][2]
        rows.append((backend, "figures (compute)", await timed(figures)))
        rows.append((backend, "report, html", await timed(lambda: report(to_html))))
        rows.append((backend, "report, xlsx", await timed(lambda: report(to_xlsx))))
        for row in rows:
            print(f"| {row[0]} | {row[1]} | {row[2]:.2f} | {row[2] / base:.1f}× |", flush=True)
    finally:
        if raw_sqlite is not None:
            await raw_sqlite.close()
        if raw_pg is not None:
            await raw_pg.close()
        await engine.dispose()
    return rows


async def _main() -> None:
    print(f"{CASES:,} cases, the median of {ROUNDS} runs (seconds)\n")
    print("| backend | what | s | ÷ bare |")
    print("|---|---|---:|---:|", flush=True)
    rows = await measure("sqlite", await asyncio.to_thread(sqlite_url))
    pg = os.environ.get("SYNPUNKT_TEST_POSTGRES_URL")
    if pg:
        rows += await measure("postgresql", await postgres_url(pg))
    print()
    for backend in sorted({r[0] for r in rows}):
        mine = {what: s for b, what, s in rows if b == backend}
        base = mine["bare GROUP BY (driver)"]
        whole = max(mine["report, html"], mine["report, xlsx"])
        ratio = mine["figures (compute)"] / base
        verdict = "meets" if whole <= GOALS["report_s"] and ratio <= GOALS["ratio"] else "misses"
        print(
            f"{backend}: {verdict} the goal (report {whole:.1f} s ≤ 10 s, figures "
            f"{ratio:.1f}× ≤ 5× the bare GROUP BY)"
        )


def main() -> None:
    asyncio.run(_main())


if __name__ == "__main__":
    main()
