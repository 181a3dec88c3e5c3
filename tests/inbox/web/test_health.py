"""`/healthz` tells the truth: a burst of failed messages, a parse pool replaced too often, a stuck
claim, an old backlog or send, a part gone stale and mail waiting with no worker each make it
answer 503 with the reason, and it answers at once (503, "database busy") while the database is
locked instead of waiting for the lock; its queries read through indexes. `/livez` answers without
the database, `/readyz` only when the database answers at the migration head.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from inbox.core.db import unit_of_work
from inbox.intake import ledger
from inbox.intake.receive import IntakePolicy
from inbox.runners.health import HealthPolicy
from inbox.runners.heartbeat import Heartbeats, Part
from inbox.runners.intake_runner import IntakeRunner
from inbox.runners.outbox_runner import OutboxRunner
from inbox.runners.parse_pool import ParsePool
from inbox.runners.worker import Worker
from inbox.web.app import create_app
from tests.conftest import CHEAP_PASSWORDS, SECRET_KEY, Clock, Database
from tests.inbox.runners import faulty_parser

DEADLINE = 60.0  # a guard against hanging, never a measurement
POLICY = IntakePolicy(case_prefix="SP", mail_domain="synpunkt.example")


@asynccontextmanager
async def health_client(
    db: Database,
    clock: Clock,
    *,
    channels: Callable[[], Mapping[str, Any]] | None = None,
    health: HealthPolicy | None = None,
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(
        secret_key=SECRET_KEY,
        sessions=db.sessions,
        clock=clock,
        passwords=CHEAP_PASSWORDS,
        channel_status=channels,
        health=health,
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        yield client


async def health(client: httpx.AsyncClient) -> tuple[int, dict[str, Any]]:
    response = await asyncio.wait_for(client.get("/healthz"), DEADLINE)
    return response.status_code, response.json()


def beating(db: Database, clock: Clock, *parts: str, instance: str = "host:1") -> Heartbeats:
    """A process running `parts` (call `beat_once()` for each beat)."""
    heartbeat = Heartbeats(db.sessions, clock=clock, interval=15, instance=instance, version="1")
    for part in parts:
        heartbeat.add(part)
    return heartbeat


async def record(db: Database, clock: Clock, name: str, subject: str = "Hej") -> None:
    raw = f"{name}@example.se|{name}@example.org|{subject}".encode()
    async with unit_of_work(db.sessions) as session:
        await ledger.record(
            session, channel="email", external_id=f"{name}@example.se", raw=raw, now=clock()
        )


async def test_healthz_is_ok_with_a_few_failures_and_fresh_mail(db: Database, clock: Clock) -> None:
    for n in range(3):
        await record(db, clock, f"bad{n}", subject="a|b")  # four fields: cannot be parsed
    await record(db, clock, "good")
    worker = Worker(
        IntakeRunner(
            db.sessions, parsers={"email": faulty_parser.parse}, policy=POLICY, clock=clock
        ),
        OutboxRunner(db.sessions, senders={}, clock=clock),
    )
    await worker.drain()
    await record(db, clock, "fresh")
    async with health_client(db, clock) as client:
        status, body = await health(client)
    assert status == 200 and body["status"] == "ok" and body["problems"] == []
    assert body["intake"] == {"failed": 3, "pending": 1}  # unfinished rows only
    assert body["parts"] == {} and body["backlog"]["intake_seconds"] == 0  # "fresh" waits


async def test_a_burst_of_failed_messages_is_a_503_until_it_is_older_than_the_window(
    db: Database, clock: Clock
) -> None:
    for n in range(11):
        await record(db, clock, f"bad{n}", subject="a|b")
    worker = Worker(
        IntakeRunner(
            db.sessions, parsers={"email": faulty_parser.parse}, policy=POLICY, clock=clock
        ),
        OutboxRunner(db.sessions, senders={}, clock=clock),
    )
    await worker.drain()
    async with health_client(db, clock) as client:
        status, body = await health(client)
        assert status == 503 and body["status"] == "error"
        assert body["problems"] == ["intake failures: 11 messages failed in the last 15 minutes"]
        clock.advance(minutes=16)
        assert (await health(client))[0] == 200


async def test_a_parse_pool_replaced_too_often_is_a_503(db: Database, clock: Clock) -> None:
    pool = ParsePool(processes=1, preload=[faulty_parser.parse], restarts_allowed=1)
    try:
        worker = Worker(
            IntakeRunner(
                db.sessions,
                parsers={"email": faulty_parser.parse},
                policy=POLICY,
                clock=clock,
                parsing=pool,
            ),
            OutboxRunner(db.sessions, senders={}, clock=clock),
        )
        await record(db, clock, "killer", subject="die")
        await record(db, clock, "good")
        await worker.drain()
        async with health_client(db, clock, channels=lambda: {"worker": worker.status()}) as client:
            status, body = await health(client)
    finally:
        pool.close()
    assert status == 503 and body["problems"] == [
        "worker: parse processes replaced 2 times in the last 15 minutes "
        "(last: a parse process died)"
    ]
    assert body["channels"]["worker"]["parsing"]["restarts"] == 2
    assert body["intake"] == {"failed": 1}


async def test_an_old_backlog_is_a_503(db: Database, clock: Clock) -> None:
    await record(db, clock, "waiting")
    worker = beating(db, clock, Part.WORKER)  # running, but never taking the message
    async with health_client(db, clock) as client:
        clock.advance(minutes=14)
        await worker.beat_once()
        status, body = await health(client)
        assert status == 200 and body["backlog"]["intake_seconds"] == 14 * 60
        clock.advance(minutes=2)
        await worker.beat_once()
        status, body = await health(client)
    assert status == 503
    assert body["problems"] == ["backlog: the oldest pending message has waited 16 minutes"]


async def test_a_claim_whose_lease_ran_out_long_ago_is_a_503(db: Database, clock: Clock) -> None:
    await record(db, clock, "claimed")
    async with unit_of_work(db.sessions) as session:
        [row] = await ledger.claim_pending(session, now=clock())  # and its worker hangs
    worker = beating(db, clock, Part.WORKER)
    async with health_client(db, clock) as client:
        clock.advance(minutes=2 + 4)
        await worker.beat_once()
        assert (await health(client))[0] == 200
        clock.advance(minutes=2)
        await worker.beat_once()
        status, body = await health(client)
    assert status == 503 and body["problems"] == [
        f"stuck claim: intake row {row.id}, claimed 1 times, is unfinished and its lease ran out "
        "6 minutes ago"
    ]


async def test_a_claim_at_its_cap_whose_lease_ran_out_is_a_503_at_once(
    db: Database, clock: Clock
) -> None:
    await record(db, clock, "poison")
    for _ in range(3):
        async with unit_of_work(db.sessions) as session:
            [row] = await ledger.claim_pending(session, now=clock())
        clock.advance(seconds=ledger.LEASE.total_seconds() + 10)
    await beating(db, clock, Part.WORKER).beat_once()
    async with health_client(db, clock) as client:
        status, body = await health(client)
    assert status == 503 and body["problems"] == [
        f"stuck claim: intake row {row.id}, claimed 3 times, is unfinished and its lease ran out "
        "10 seconds ago"
    ]


@asynccontextmanager
async def locked(db: Database) -> AsyncIterator[None]:
    """Another connection holds the lock a writer would hold (SQLite) or a table lock that
    blocks even readers (PostgreSQL), until the block ends."""
    async with db.engine.connect() as conn:
        await conn.begin()  # SQLite: BEGIN IMMEDIATE, the database's write lock
        if db.backend == "postgresql":
            await conn.execute(text("LOCK TABLE intake_ledger IN ACCESS EXCLUSIVE MODE"))
        try:
            yield
        finally:
            await conn.rollback()


async def test_healthz_answers_database_busy_at_once_while_the_database_is_locked(
    db: Database, clock: Clock
) -> None:
    async with health_client(db, clock, health=HealthPolicy(timeout=0.2)) as client:
        async with locked(db):
            first = await health(client)
            second = await health(client)  # waits on the same check, opens no new connection
        for status, body in (first, second):
            assert status == 503 and body["database"] == "busy"
            assert body["problems"] == ["database busy: no answer within 0.2 s"]

        async def healthy_again() -> bool:
            return (await health(client))[0] == 200

        loop = asyncio.get_running_loop()
        deadline = loop.time() + DEADLINE
        while not await healthy_again():
            if loop.time() > deadline:
                pytest.fail("healthz did not recover after the lock was released")
            await asyncio.sleep(0.05)
