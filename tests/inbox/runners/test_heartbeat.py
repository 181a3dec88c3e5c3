"""Heartbeats: a process writes one row per living part each interval and marks them stopped on a
clean shutdown; a beat that fails is logged once and stops nothing. And the whole story as an
operator meets it: `synpunkt worker` started and stopped, mail arriving, `/healthz` answering 503
that no worker runs, then 200 once one runs and has taken the mail in.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text

from inbox.core.db import create_engine, session_factory, unit_of_work
from inbox.core.models import Heartbeat
from inbox.intake import ledger
from inbox.runners.heartbeat import Heartbeats, Part, package_version
from inbox.web.app import create_app
from tests.conftest import SECRET_KEY, Clock, Database
from tests.factories import GUARD, cli_env, eventually


async def rows(db: Database) -> dict[tuple[str, str], Heartbeat]:
    async with db.sessions() as session:
        found = (await session.execute(select(Heartbeat))).scalars().all()
    return {(row.part, row.instance): row for row in found}


async def test_a_beat_writes_each_living_part_and_the_next_one_moves_it_on(
    db: Database, clock: Clock
) -> None:
    started = clock()
    smtp_serving = True
    heartbeat = Heartbeats(db.sessions, clock=clock, interval=15, instance="mx:42")
    heartbeat.add(Part.WORKER)
    heartbeat.add(Part.SMTP, lambda: smtp_serving)
    assert await heartbeat.beat_once()
    clock.advance(seconds=15)
    smtp_serving = False  # its server closed: it beats no more
    assert await heartbeat.beat_once()
    found = await rows(db)
    assert set(found) == {("worker", "mx:42"), ("smtp", "mx:42")}
    worker, smtp = found[("worker", "mx:42")], found[("smtp", "mx:42")]
    assert (worker.started_at, worker.beat_at, worker.stopped_at) == (started, clock(), None)
    assert (smtp.started_at, smtp.beat_at) == (started, started)
    assert worker.version == package_version() != ""

    clock.advance(seconds=3)
    await heartbeat.stopped()
    found = await rows(db)
    assert {key: row.stopped_at for key, row in found.items()} == {
        ("worker", "mx:42"): clock(),
        ("smtp", "mx:42"): clock(),
    }
    restarted = Heartbeats(db.sessions, clock=clock, interval=15, instance="mx:42")
    restarted.add(Part.WORKER)  # the same host and process id again, after a restart
    assert await restarted.beat_once()
    worker = (await rows(db))[("worker", "mx:42")]
    assert (worker.started_at, worker.stopped_at) == (clock(), None)


async def test_run_beats_until_stopped_and_prunes_rows_a_day_old(
    db: Database, clock: Clock
) -> None:
    old = Heartbeats(db.sessions, clock=clock, interval=15, instance="gone:1")
    old.add(Part.WEB)
    await old.beat_once()
    clock.advance(days=1, seconds=1)
    heartbeat = Heartbeats(db.sessions, clock=clock, interval=0.01, instance="here:2")
    heartbeat.add(Part.WEB)
    stop = asyncio.Event()
    running = asyncio.create_task(heartbeat.run(stop))

    async def beat_written() -> bool:
        return set(await rows(db)) == {("web", "here:2")}

    await eventually(beat_written, "the first beat is written and the old row pruned")
    stop.set()
    await asyncio.wait_for(running, GUARD)


async def test_a_failing_beat_is_logged_once_and_stops_nothing(
    tmp_path: Path, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/never-migrated.db")
    heartbeat = Heartbeats(session_factory(engine), clock=clock, interval=0.01)
    heartbeat.add(Part.WORKER)
    stop = asyncio.Event()
    try:
        with caplog.at_level(logging.WARNING, logger="inbox.runners.heartbeat"):
            running = asyncio.create_task(heartbeat.run(stop))
            assert not await heartbeat.beat_once()
            assert not await heartbeat.beat_once()
            stop.set()
            await asyncio.wait_for(running, GUARD)  # returns: it raised nothing
            await heartbeat.stopped()
    finally:
        await engine.dispose()
    warnings = [record.getMessage() for record in caplog.records]
    assert len(warnings) == 1 and " failed: OperationalError: " in warnings[0]
    assert "no such table: heartbeats" in warnings[0]


@pytest.mark.parametrize("db", ["postgres"], indirect=True)  # SQLite: its busy timeout bounds it
async def test_a_beat_that_hangs_is_given_up_after_its_timeout(
    db: Database, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    heartbeat = Heartbeats(db.sessions, clock=clock, interval=15, timeout=0.2)
    heartbeat.add(Part.WORKER)
    async with db.engine.connect() as locker:
        await locker.begin()
        await locker.execute(text("LOCK TABLE heartbeats IN ACCESS EXCLUSIVE MODE"))
        with caplog.at_level(logging.WARNING, logger="inbox.runners.heartbeat"):
            assert not await asyncio.wait_for(heartbeat.beat_once(), GUARD)
        await locker.rollback()
    assert [record.getMessage() for record in caplog.records] == ["heartbeat failed: TimeoutError"]
    assert await heartbeat.beat_once()


# `synpunkt worker` stopped while mail waits -------------------------------------------------------


@asynccontextmanager
async def synpunkt_worker(
    db: Database, tmp_path: Path
) -> AsyncIterator[asyncio.subprocess.Process]:
    """`synpunkt worker` on `db`, as an operator runs it; stopped with SIGTERM at the end."""
    env = cli_env(tmp_path, SYNPUNKT_DATABASE_URL=db.url, SYNPUNKT_PARSE_PROCESSES="0")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "inbox.cli", "worker", env=env, cwd=tmp_path
    )
    try:
        yield process
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(process.wait(), GUARD)


def utcnow() -> datetime:
    return datetime.now(UTC)


async def test_healthz_names_the_stopped_worker_while_mail_waits_until_a_worker_takes_it(
    db: Database, tmp_path: Path
) -> None:
    app = create_app(secret_key=SECRET_KEY, sessions=db.sessions, clock=utcnow)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:

        async def health() -> tuple[int, dict[str, Any]]:
            response = await client.get("/healthz")
            return response.status_code, response.json()

        async def worker_is(state: str) -> bool:
            worker = (await health())[1]["parts"].get("worker")
            return worker is not None and worker["status"] == state

        async with synpunkt_worker(db, tmp_path) as process:
            await eventually(lambda: worker_is("live"), "the worker beats")
            process.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(process.wait(), GUARD) == 0
        assert await worker_is("stopped"), await health()
        assert (await health())[0] == 200  # stopped cleanly, and nothing waits

        async with unit_of_work(db.sessions) as session:  # mail arrives a minute later
            await ledger.record(
                session,
                channel="email",
                external_id="<waiting@example.se>",
                raw=b"From: Anna <anna@example.se>\r\nTo: synpunkt@synpunkt.example\r\n"
                b"Subject: Hej\r\nMessage-ID: <waiting@example.se>\r\n\r\nBra bemotande.\r\n",
                now=utcnow() - timedelta(minutes=1),
            )
        status, body = await health()
        assert status == 503
        assert [p for p in body["problems"] if p.startswith("worker: none is running")], body

        async with synpunkt_worker(db, tmp_path):

            async def healthy_and_taken_in() -> bool:
                status, body = await health()
                worker = body["parts"]["worker"]["status"]
                return status == 200 and body["intake"] == {} and worker == "live"

            # Its first beat may come after it took the mail in: both, before long.
            await eventually(healthy_and_taken_in, "a running worker beats and took the mail in")
