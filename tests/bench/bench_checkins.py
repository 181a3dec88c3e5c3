"""Check-ins: decisions registered per second through the CSV import and the API, against a bare
`INSERT` of the same decision rows in the same run; and Telegram check-ins dispatched by the worker
and `TelegramSender` through a fake Bot API that enforces 30 messages a second, ÷ that limit.

`BENCH_DECISIONS` (default 10,000; 100,000 for the full figure) for the CSV import and the bare
insert; `BENCH_API_DECISIONS` (default 1,000) for the API, one HTTP request each in process through
httpx's ASGI transport; `BENCH_DISPATCH` (default 600, twenty seconds at the limit) check-ins sent.
SQLite, and PostgreSQL too when SYNPUNKT_TEST_POSTGRES_URL is set (registration only).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import asyncpg
import httpx
from sqlalchemy import func, insert, select
from sqlalchemy.engine import make_url
from sqlmodel import col

from bot.app import make_bot
from bot.sender import Pacer, TelegramSender
from inbox.checkins.csv_import import import_decisions
from inbox.checkins.plan import CheckinPolicy
from inbox.core.db import create_engine, session_factory, unit_of_work
from inbox.core.migrate import upgrade
from inbox.core.models import CheckIn, Contact, Decision
from inbox.intake.receive import IntakePolicy
from inbox.runners.intake_runner import IntakeRunner
from inbox.runners.outbox_runner import OutboxRunner
from inbox.runners.worker import Worker
from inbox.staff.tokens import create_token
from inbox.web.app import create_app
from tests.bot.fake_bot_api import TOKEN, FakeBotApi
from tests.conftest import SECRET_KEY

ROWS = int(os.environ.get("BENCH_DECISIONS", "10000"))
API_ROWS = int(os.environ.get("BENCH_API_DECISIONS", "1000"))
DISPATCH = int(os.environ.get("BENCH_DISPATCH", "600"))
NOW = datetime(2026, 3, 12, 14, 0, tzinfo=UTC)
POLICY = CheckinPolicy(secret_key="bench", public_url="https://bench.example")
UNITS = ("mottagning", "ekonomiskt-bistand", "barn-och-familj", "vuxen")


def csv_text(rows: int, prefix: str) -> str:
    lines = ["unit,channel,address,language,decided_on,reference"]
    for n in range(rows):
        channel, address = (
            ("telegram", str(100000 + n)) if n % 3 == 0 else ("email", f"k{n}@example.se")
        )
        lines.append(f"{UNITS[n % 4]},{channel},{address},sv,2026-03-{1 + n % 12:02d},{prefix}-{n}")
    return "\n".join(lines) + "\n"


async def bare_insert(url: str, rows: int) -> float:
    engine = create_engine(url)
    sessions = session_factory(engine)
    start = time.perf_counter()
    async with unit_of_work(sessions) as session:
        await session.execute(
            insert(Contact).values(
                channel="email",
                address="bare@example.se",
                opted_out=False,
                blocked=False,
                created_at=NOW,
            )
        )
        contact_id = 1
        for chunk in range(0, rows, 5000):
            await session.execute(
                insert(Decision),
                [
                    dict(
                        unit_id=1 + n % 4,
                        contact_id=contact_id,
                        channel="email",
                        language="sv",
                        decided_on=date(2026, 3, 2),
                        reference=f"BARE-{n}",
                        status="registered",
                        registered_at=NOW,
                        registered_by="bench",
                    )
                    for n in range(chunk, min(rows, chunk + 5000))
                ],
            )
    elapsed = time.perf_counter() - start
    await engine.dispose()
    return rows / elapsed


async def csv_import(url: str, rows: int) -> float:
    engine = create_engine(url)
    text = csv_text(rows, "CSV")
    start = time.perf_counter()
    async with unit_of_work(session_factory(engine)) as session:
        report = await import_decisions(
            session, text=text, policy=POLICY, registered_by="bench", now=NOW
        )
    elapsed = time.perf_counter() - start
    assert report.ok and report.imported == rows, report.lines()[:5]
    await engine.dispose()
    return rows / elapsed


async def api(url: str, rows: int) -> float:
    engine = create_engine(url)
    sessions = session_factory(engine)
    async with unit_of_work(sessions) as session:
        _row, token = await create_token(session, name="bench", now=NOW, all_units=True)
    app = create_app(secret_key=SECRET_KEY, sessions=sessions, clock=lambda: NOW, checkins=POLICY)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://bench",
        headers={"Authorization": f"Bearer {token}"},
    ) as client:
        start = time.perf_counter()
        for n in range(rows):
            body = {
                "unit": UNITS[n % 4],
                "channel": "email",
                "address": f"api{n}@example.se",
                "language": "sv",
                "decided_on": "2026-03-10",
                "reference": f"API-{n}",
            }
            response = await client.post("/api/decisions", json=body)
            assert response.status_code == 201, response.text
        elapsed = time.perf_counter() - start
    await engine.dispose()
    return rows / elapsed


async def fresh_postgres(base: str) -> tuple[str, str]:
    name = f"synpunkt_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(
        make_url(base).set(drivername="postgresql").render_as_string(hide_password=False)
    )
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    return make_url(base).set(database=name).render_as_string(hide_password=False), name


async def drop_postgres(base: str, name: str) -> None:
    admin = await asyncpg.connect(
        make_url(base).set(drivername="postgresql").render_as_string(hide_password=False)
    )
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.close()


def measure(backend: str, folder: Path) -> dict[str, float]:
    results: dict[str, float] = {}
    for label, work, rows in (
        ("bare INSERT", bare_insert, ROWS),
        ("CSV import", csv_import, ROWS),
        ("API", api, API_ROWS),
    ):
        if backend == "sqlite":
            url = f"sqlite+aiosqlite:///{folder}/{label.replace(' ', '_')}.db"
            upgrade(url)
            results[label] = asyncio.run(work(url, rows))
        else:
            base = os.environ["SYNPUNKT_TEST_POSTGRES_URL"]
            url, name = asyncio.run(fresh_postgres(base))
            try:
                upgrade(url)
                results[label] = asyncio.run(work(url, rows))
            finally:
                asyncio.run(drop_postgres(base, name))
    return results


async def dispatch(url: str, count: int) -> tuple[float, int]:
    """Telegram check-ins to `count` chats, all due: sends a second, and the fake's 429s."""
    engine = create_engine(url)
    sessions = session_factory(engine)
    lines = ["unit,channel,address,language,decided_on,reference"] + [
        f"vuxen,telegram,{300000 + n},sv,2026-03-10,TG-{n}" for n in range(count)
    ]
    async with unit_of_work(sessions) as session:
        report = await import_decisions(
            session, text="\n".join(lines) + "\n", policy=POLICY, registered_by="bench", now=NOW
        )
        assert report.ok and report.scheduled == count, report.lines()
        due = (await session.execute(select(func.max(col(CheckIn.ask_at))))).scalar_one()
    fake = FakeBotApi(enforce_limits=True)
    await fake.start()
    sending = make_bot(TOKEN, fake.url)
    worker = Worker(
        IntakeRunner(sessions, parsers={}, policy=IntakePolicy(), clock=lambda: due),
        OutboxRunner(
            sessions,
            senders={"telegram": TelegramSender(sending, pacer=Pacer())},
            clock=lambda: due,
        ),
        poll_interval=0.05,
    )
    try:
        stop = asyncio.Event()
        start = time.perf_counter()
        task = asyncio.create_task(worker.run(stop))
        while len(fake.sent()) < count:  # noqa: ASYNC110 (the fake has no event for this)
            await asyncio.sleep(0.02)
        elapsed = time.perf_counter() - start
        stop.set()
        await task
        assert all(s.get("reply_markup") for s in fake.sent())  # the question's buttons went along
        return (count - 1) / elapsed, fake.rate_limited
    finally:
        await sending.session.close()
        await fake.stop()
        await engine.dispose()


def main() -> None:
    backends = ["sqlite"] + (["postgresql"] if os.environ.get("SYNPUNKT_TEST_POSTGRES_URL") else [])
    print(f"Decisions registered: {ROWS:,} (bare INSERT, CSV import), {API_ROWS:,} (API)\n")
    print("| backend | path | rows/s | ÷ bare INSERT |")
    print("|---|---|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for backend in backends:
            results = measure(backend, Path(tmp))
            base = results["bare INSERT"]
            for label, rate in results.items():
                print(f"| {backend} | {label} | {rate:,.0f} | {rate / base:.3f} |", flush=True)
        url = f"sqlite+aiosqlite:///{tmp}/dispatch.db"
        upgrade(url)
        sent, limited = asyncio.run(dispatch(url, DISPATCH))
    print(
        f"\nTelegram check-ins dispatched to {DISPATCH} chats, the fake enforcing 30/s and 1/s/chat:"
    )
    print(f"{sent:.1f} sends/s = {sent / 30:.0%} of the limit; 429s from the fake: {limited}")
