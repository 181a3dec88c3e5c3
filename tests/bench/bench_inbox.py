"""The inbox list and search at scale: `list_cases` and `GET /api/cases` against the bare query.

With `BENCH_CASES` generated cases (default 100,000; the issue's figure is 1,000,000), on SQLite
(and PostgreSQL when SYNPUNKT_TEST_POSTGRES_URL is set), in one run: the exact SQL `list_cases`
emits, replayed bare through aiosqlite/asyncpg; `list_cases` itself (the core the page and the API
share); `GET /api/cases` and the staff list page `GET /` (signed in through the real form, counts
per status included) through `httpx.ASGITransport` — each unfiltered, filtered (status + unit, and
overdue) and as a ranked full-text search, reported as p50/p95 and as ratios to the bare query. The generated database is built once per size and backend and cached (`var/bench/` for
SQLite, database `synpunkt_bench_<size>` on PostgreSQL), so re-runs measure at once.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import sqlite3
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiosqlite
import asyncpg
import httpx
from sqlalchemy import event, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col

from inbox.cases.access import EVERYTHING
from inbox.cases.queries import CaseFilter, list_cases
from inbox.core.db import create_engine, session_factory, unit_of_work
from inbox.core.migrate import upgrade
from inbox.core.models import StaffUser
from inbox.staff.tokens import create_token
from inbox.staff.users import add_user
from inbox.web.app import create_app
from tests.conftest import SECRET_KEY

CASES = int(os.environ.get("BENCH_CASES", "100000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "200"))
CACHE = Path("var/bench")
NOW = datetime(2026, 3, 10, 9, 30, tzinfo=UTC)
PASSWORD = "mätnings-lösenord-123"
GOALS = {"list_p95_ms": 15.0, "search_p95_ms": 150.0, "ratio": 3.0}
STATUSES = (("new", 10), ("open", 25), ("waiting", 5), ("closed", 60))
KINDS = ("complaint", "praise", "suggestion", "question", "other")
CHANNELS = ("email", "email", "email", "telegram", "phone", "letter")

_STEMS = (
    "hemtjänst bemötande handläggare beslut ansökan bistånd boende personal väntetid telefontid "
    "socialsekreterare besök möte kontakt familjehem kontaktperson färdtjänst tolk avgift faktura "
    "vård omsorg anhörig brukare insats ekonomi hyra skuld barn förälder skola placering utredning "
    "överklagande dom klagomål beröm förslag fråga svar brev mejl samtal kö plats trygghet nattpatrull "
    "larm matlåda städning dusch promenad medicin sjuksköterska läkare demens korttidsboende "
    "dagverksamhet ledsagning boendestöd missbruk behandling stödboende försörjningsstöd bostad "
    "arbetsmarknad praktik språk information webbplats blankett handling sekretess journal"
).split()
_ENDINGS = ("", "en", "et", "er", "erna", "ar", "arna", "s", "ens", "ande", "ning", "ningen")
_FILLER = "och att det är som en på för med var jag inte har om vi de till men så när".split()


def vocabulary() -> tuple[list[str], list[float]]:
    """Inflected forms of social-services words, Zipf-weighted, plus common function words."""
    words = [stem + ending for stem in _STEMS for ending in _ENDINGS]
    random.Random(7).shuffle(words)
    weights = [1.0 / (rank + 10) for rank in range(len(words))]
    return words + _FILLER, weights + [0.05] * len(_FILLER)


def generate(n: int) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    rnd = random.Random(n)
    words, weights = vocabulary()
    statuses = [s for s, _ in STATUSES]
    status_weights = [w for _, w in STATUSES]
    start = NOW - timedelta(days=3 * 365)
    step = (NOW - start) / n
    cases, messages = [], []
    for i in range(1, n + 1):
        at = start + step * i
        status = rnd.choices(statuses, status_weights)[0]
        subject = " ".join(rnd.choices(words, weights, k=rnd.randint(2, 6))).capitalize()
        text = " ".join(rnd.choices(words, weights, k=rnd.randint(20, 70))).capitalize() + "."
        naive = at.replace(tzinfo=None)
        due = (at + timedelta(days=14)).date()
        cases.append(
            (
                i,
                f"SP-{at.year}-{i:07d}",
                rnd.choice(KINDS),
                status,
                rnd.choice(CHANNELS),
                rnd.randint(1, 6),
                subject,
                naive,
                due,
                naive if status == "closed" else None,
            )
        )
        messages.append((i, i, subject, text, naive))
    return cases, messages


_CASE_SQL = (
    "INSERT INTO cases (id, reference, kind, status, channel, unit_id, subject, received_at,"
    " due_on, closed_at, origin, submitter_role, priority, flag_lex_sarah, flag_child_at_risk,"
    " flag_decision_not_executed, flag_appeal_intent, flag_personnummer, flag_automated,"
    " updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,'channel','unknown','normal',0,0,0,0,0,0,?)"
)
_MESSAGE_SQL = (
    "INSERT INTO messages (id, case_id, direction, channel, subject, text, display_text,"
    " automation, defects, created_at) VALUES (?,?,'inbound','email',?,?,?,'none','[]',?)"
)


def _stored(at: datetime | None) -> str | None:
    """As SQLAlchemy stores a datetime in SQLite: always with microseconds, so that the text
    compares as the instant does (sqlite3's own adapter drops `.000000`, and `…23:00:00` then
    sorts before `…23:00:00.000000`)."""
    return None if at is None else at.isoformat(" ", timespec="microseconds")


def build_sqlite(path: Path) -> None:
    """Bulk-loads the schema of revision 0001, then migrates: 0005 indexes the loaded rows."""
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    upgrade(f"sqlite+aiosqlite:///{tmp}", "0001")
    cases, messages = generate(CASES)
    db = sqlite3.connect(tmp)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=OFF")
    with db:
        db.executemany(
            _CASE_SQL,
            [(*c[:7], _stored(c[7]), c[8], _stored(c[9]), _stored(c[7])) for c in cases],
        )
        db.executemany(
            _MESSAGE_SQL, [(m[0], m[1], m[2], m[3], m[3], _stored(m[4])) for m in messages]
        )
    db.close()
    upgrade(f"sqlite+aiosqlite:///{tmp}")
    db = sqlite3.connect(tmp)
    db.execute("ANALYZE")
    db.close()
    tmp.rename(path)


async def build_postgres(url: str) -> None:
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    await asyncio.to_thread(upgrade, url, "0001")
    cases, messages = generate(CASES)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.copy_records_to_table(
            "cases",
            columns=[
                "id",
                "reference",
                "kind",
                "status",
                "channel",
                "unit_id",
                "subject",
                "received_at",
                "due_on",
                "closed_at",
                "origin",
                "submitter_role",
                "priority",
                "flag_lex_sarah",
                "flag_child_at_risk",
                "flag_decision_not_executed",
                "flag_appeal_intent",
                "flag_personnummer",
                "flag_automated",
                "updated_at",
            ],
            records=[
                (
                    *c[:7],
                    c[7].replace(tzinfo=UTC),
                    c[8],
                    c[9].replace(tzinfo=UTC) if c[9] else None,
                    "channel",
                    "unknown",
                    "normal",
                    False,
                    False,
                    False,
                    False,
                    False,
                    False,
                    c[7].replace(tzinfo=UTC),
                )
                for c in cases
            ],
        )
        await conn.copy_records_to_table(
            "messages",
            columns=[
                "id",
                "case_id",
                "direction",
                "channel",
                "subject",
                "text",
                "display_text",
                "automation",
                "defects",
                "created_at",
            ],
            records=[
                (
                    m[0],
                    m[1],
                    "inbound",
                    "email",
                    m[2],
                    m[3],
                    m[3],
                    "none",
                    "[]",
                    m[4].replace(tzinfo=UTC),
                )
                for m in messages
            ],
        )
        for table in ("cases", "messages"):
            await conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {CASES})")
    finally:
        await conn.close()
    await asyncio.to_thread(upgrade, url)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()


def sqlite_url() -> str:
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"inbox-{CASES}.db"
    if not path.exists():
        print(f"building {path} ({CASES:,} cases) …", flush=True)
        build_sqlite(path)
    url = f"sqlite+aiosqlite:///{path}"
    upgrade(url)  # a cached database gets migrations added since it was built
    return url


async def postgres_url(base: str) -> str:
    name = f"synpunkt_bench_{CASES}"
    admin = make_url(base).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(admin)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        ready = f"{name}_ready"
        if exists and not await conn.fetchval(
            "SELECT 1 FROM pg_database WHERE datname = $1", ready
        ):
            await conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')  # an interrupted build
            exists = None
        if not exists:
            print(f"building PostgreSQL database {name} ({CASES:,} cases) …", flush=True)
            await conn.execute(f'CREATE DATABASE "{name}"')
            url = make_url(base).set(database=name).render_as_string(hide_password=False)
            await build_postgres(url)
            await conn.execute(f'CREATE DATABASE "{ready}"')  # a marker: the build finished
    finally:
        await conn.close()
    url = make_url(base).set(database=name).render_as_string(hide_password=False)
    await asyncio.to_thread(upgrade, url)  # migrations added since the build
    return url


async def drop_cached_postgres(base: str) -> None:
    """Drops this size's cached PostgreSQL database and its marker (`python -m tests.bench` does
    when it ends, unless BENCH_KEEP_DB=1). Without FORCE: a database someone is still connected
    to (another run of the same size) stays, and is said to."""
    admin = make_url(base).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(admin)
    try:
        for name in (f"synpunkt_bench_{CASES}_ready", f"synpunkt_bench_{CASES}"):
            try:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            except asyncpg.ObjectInUseError:
                print(f"{name} is in use: not dropped", flush=True)
                return
    finally:
        await conn.close()


# Measuring ----------------------------------------------------------------------------------


@dataclass
class Row:
    backend: str
    query: str
    layer: str
    p50: float
    p95: float
    ratio: float | None = None


async def timed(call: Callable[[int], Awaitable[Any]], rounds: int = ROUNDS) -> tuple[float, float]:
    for i in range(5):  # warm-up: plans, caches, connections
        await call(i)
    samples = []
    for i in range(rounds):
        started = time.perf_counter()
        await call(i)
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


def search_terms() -> list[str]:
    """Realistic searches: one or two words of middling and rare frequency, some as typed."""
    words, _weights = vocabulary()
    rnd = random.Random(3)
    single = [words[rank] for rank in rnd.sample(range(20, 600), 30)]
    pairs = [
        f"{words[a]} {words[b]}"
        for a, b in zip(rnd.sample(range(0, 200), 10), rnd.sample(range(0, 600), 10), strict=True)
    ]
    return single + pairs


def scenarios() -> dict[str, Callable[[int], CaseFilter]]:
    terms = search_terms()
    return {
        "unfiltered": lambda i: CaseFilter(),
        "status + unit": lambda i: CaseFilter(status="open", unit="vuxen"),
        "overdue": lambda i: CaseFilter(overdue=True),
        "search": lambda i: CaseFilter(q=terms[i % len(terms)]),
    }


async def page_client(app: Any, sessions: Any) -> httpx.AsyncClient:
    """A client signed in as an admin through the real sign-in form (CSRF token included)."""
    async with unit_of_work(sessions) as session:
        known = await session.scalar(select(StaffUser).where(col(StaffUser.username) == "bench"))
        if known is None:
            await add_user(
                session, username="bench", role="admin", password=PASSWORD, now=NOW, all_units=True
            )
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench")
    form = await client.get("/signin")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert csrf is not None, form.text
    response = await client.post(
        "/signin", data={"username": "bench", "password": PASSWORD, "csrf_token": csrf.group(1)}
    )
    assert response.status_code == 303, response.text
    return client


def _api_params(f: CaseFilter) -> dict[str, str]:
    params = {"status": f.status, "unit": f.unit, "q": f.q}
    if f.overdue:
        params["overdue"] = "true"
    return {k: v for k, v in params.items() if v}


class Recorder:
    """Keeps the last statement the engine sent, so the bare run replays exactly that SQL."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.statements: list[tuple[str, Any]] = []
        event.listen(engine.sync_engine, "before_cursor_execute", self._record)

    def _record(self, _conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        self.statements.append((statement, params))


async def measure(backend: str, url: str) -> list[Row]:
    engine = create_engine(url, pool_size=2) if backend == "postgresql" else create_engine(url)
    sessions = session_factory(engine)
    recorder = Recorder(engine)
    rows: list[Row] = []
    async with unit_of_work(sessions) as session:
        _token_row, token = await create_token(session, name="bench", now=NOW, all_units=True)
    app = create_app(secret_key=SECRET_KEY, sessions=sessions, clock=lambda: NOW)
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://bench",
        headers={"Authorization": f"Bearer {token}"},
    )
    browser = await page_client(app, sessions)
    raw_sqlite = await aiosqlite.connect(make_url(url).database) if backend == "sqlite" else None
    raw_pg = None
    if backend == "postgresql":
        dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        raw_pg = await asyncpg.connect(dsn)
    try:
        for name, make in scenarios().items():
            # The bare query: record what list_cases sends for each filter, replay it bare.
            statements: list[tuple[str, Any]] = []
            for i in range(len(search_terms())):
                recorder.statements.clear()
                async with sessions() as session:
                    await list_cases(session, filters=make(i), limit=50, now=NOW, scope=EVERYTHING)
                statements.append(recorder.statements[-1])

            async def bare(i: int, statements: list[tuple[str, Any]] = statements) -> Any:
                sql, params = statements[i % len(statements)]
                if raw_sqlite is not None:
                    async with raw_sqlite.execute(sql, params) as cursor:
                        return await cursor.fetchall()
                assert raw_pg is not None
                return await raw_pg.fetch(sql, *params)

            async def core(i: int, make: Callable[[int], CaseFilter] = make) -> Any:
                async with sessions() as session:
                    return await list_cases(
                        session, filters=make(i), limit=50, now=NOW, scope=EVERYTHING
                    )

            async def api(i: int, make: Callable[[int], CaseFilter] = make) -> Any:
                response = await client.get("/api/cases", params=_api_params(make(i)))
                assert response.status_code == 200, response.text
                return response

            async def html(i: int, make: Callable[[int], CaseFilter] = make) -> Any:
                response = await browser.get("/", params=_api_params(make(i)))
                assert response.status_code == 200, response.text
                return response

            base50, base95 = await timed(bare)
            rows.append(Row(backend, name, "bare SQL (driver)", base50, base95))
            layers = (("list_cases (core)", core), ("GET /api/cases", api), ("GET / (page)", html))
            for layer, call in layers:
                p50, p95 = await timed(call)
                rows.append(Row(backend, name, layer, p50, p95, p95 / base95))
            print(*(_line(row) for row in rows[-4:]), sep="\n", flush=True)
    finally:
        await client.aclose()
        await browser.aclose()
        if raw_sqlite is not None:
            await raw_sqlite.close()
        if raw_pg is not None:
            await raw_pg.close()
        await engine.dispose()
    return rows


def _line(row: Row) -> str:
    ratio = f"{row.ratio:.1f}×" if row.ratio is not None else "1×"
    return (
        f"| {row.backend} | {row.query} | {row.layer} | {row.p50:.2f} | {row.p95:.2f} | {ratio} |"
    )


async def _main() -> None:
    print(f"{CASES:,} cases, {ROUNDS} requests per measurement (ms)\n")
    print("| backend | query | layer | p50 ms | p95 ms | p95 ÷ bare |")
    print("|---|---|---|---:|---:|---:|", flush=True)
    rows = await measure("sqlite", await asyncio.to_thread(sqlite_url))
    pg = os.environ.get("SYNPUNKT_TEST_POSTGRES_URL")
    if pg:
        rows += await measure("postgresql", await postgres_url(pg))
    print()
    for row in rows:
        if row.layer == "bare SQL (driver)":
            continue
        goal = GOALS["search_p95_ms"] if row.query == "search" else GOALS["list_p95_ms"]
        verdict = "meets" if row.p95 <= goal and (row.ratio or 0) <= GOALS["ratio"] else "misses"
        print(
            f"{row.backend} {row.query} {row.layer}: {verdict} the goal (p95 ≤ {goal:g} ms, ≤ 3×)"
        )


def main() -> None:
    asyncio.run(_main())


if __name__ == "__main__":
    main()
