"""`/healthz` tells the truth: a burst of failed messages, a parse pool replaced too often, a stuck
claim, an old backlog or send, a part gone stale and mail waiting with no worker each make it
answer 503 with the reason, and it answers at once (503, "database busy") while the database is
locked instead of waiting for the lock; its queries read through indexes. `/livez` answers without
the database, `/readyz` only when the database answers at the migration head.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from inbox.core import outbox
from inbox.core.db import create_engine, session_factory, unit_of_work
from inbox.core.metrics import MetricsAccess
from inbox.core.migrate import head
from inbox.intake import ledger
from inbox.intake.receive import IntakePolicy
from inbox.runners.health import HealthPolicy, statements
from inbox.runners.heartbeat import Heartbeats, Part
from inbox.runners.intake_runner import IntakeRunner
from inbox.runners.outbox_runner import OutboxRunner
from inbox.runners.parse_pool import ParsePool
from inbox.runners.worker import Worker
from inbox.web.app import create_app
from tests.conftest import CHEAP_PASSWORDS, SECRET_KEY, Clock, Database
from tests.factories import query_plans
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
    metrics: MetricsAccess | None = None,
    address: str = "127.0.0.1",
    headers: Mapping[str, str] | None = None,
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the app, from `address` (the host itself unless told)."""
    app = create_app(
        secret_key=SECRET_KEY,
        sessions=db.sessions,
        clock=clock,
        passwords=CHEAP_PASSWORDS,
        channel_status=channels,
        health=health,
        metrics=metrics,
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=(address, 5000)),
        base_url="http://test",
        headers=headers,
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


# Heartbeats ---------------------------------------------------------------------------------------


async def test_each_part_shows_its_last_heartbeat_and_goes_stale_after_three_intervals(
    db: Database, clock: Clock
) -> None:
    smtp = beating(db, clock, Part.SMTP, Part.WEB)
    await smtp.beat_once()
    async with health_client(db, clock) as client:
        clock.advance(seconds=45)  # three intervals of 15 seconds: still live
        status, body = await health(client)
        assert status == 200, body["problems"]
        assert set(body["parts"]) == {"smtp", "web"}
        part = body["parts"]["smtp"]
        assert part["status"] == "live" and part["age_seconds"] == 45
        assert part["instances"] == [
            {
                "instance": "host:1",
                "version": "1",
                "started_at": "2026-03-10T09:30:00Z",
                "beat_at": "2026-03-10T09:30:00Z",
                "age_seconds": 45.0,
                "state": "live",
            }
        ]
        clock.advance(seconds=1)
        status, body = await health(client)
        assert status == 503 and body["parts"]["smtp"]["status"] == "stale"
        assert body["problems"] == [
            "smtp: no heartbeat for 46 seconds (last from host:1)",
            "web: no heartbeat for 46 seconds (last from host:1)",
        ]
        await smtp.beat_once()  # it beats again: live
        assert (await health(client))[0] == 200


async def test_a_part_is_live_while_one_of_its_processes_beats(db: Database, clock: Clock) -> None:
    crashed = beating(db, clock, Part.WORKER, instance="a:7")
    await crashed.beat_once()
    clock.advance(minutes=5)
    other = beating(db, clock, Part.WORKER, instance="b:7")
    await other.beat_once()
    async with health_client(db, clock) as client:
        status, body = await health(client)
    assert status == 200, body["problems"]
    worker = body["parts"]["worker"]
    assert worker["status"] == "live"
    assert [(i["instance"], i["state"]) for i in worker["instances"]] == [
        ("b:7", "live"),
        ("a:7", "stale"),
    ]


async def test_a_part_stopped_cleanly_is_not_stale_and_a_day_old_one_is_forgotten(
    db: Database, clock: Clock
) -> None:
    web = beating(db, clock, Part.WEB)
    await web.beat_once()
    await web.stopped()
    imap = beating(db, clock, Part.IMAP, instance="other:2")
    await imap.beat_once()  # and then it died
    async with health_client(db, clock) as client:
        clock.advance(hours=1)
        status, body = await health(client)
        assert status == 503 and body["problems"] == [
            "imap: no heartbeat for 60 minutes (last from other:2)"
        ]
        assert body["parts"]["web"]["status"] == "stopped"
        clock.advance(hours=23, seconds=1)
        status, body = await health(client)
    assert status == 200 and body["parts"] == {}


async def test_mail_waiting_with_no_worker_is_a_503_after_two_intervals(
    db: Database, clock: Clock
) -> None:
    await record(db, clock, "waiting")
    async with health_client(db, clock) as client:
        clock.advance(seconds=30)
        assert (await health(client))[0] == 200
        clock.advance(seconds=1)
        status, body = await health(client)
        assert status == 503 and body["problems"] == [
            "worker: none is running and mail has waited 31 seconds (start `synpunkt worker`)"
        ]
        worker = beating(db, clock, Part.WORKER)
        await worker.beat_once()
        assert (await health(client))[0] == 200
        await worker.stopped()  # a worker stopped cleanly is not running either
        status, body = await health(client)
    assert status == 503 and body["problems"][0].startswith("worker: none is running")


async def enqueue(db: Database, clock: Clock, key: str, *, in_minutes: float = 0) -> None:
    async with unit_of_work(db.sessions) as session:
        await outbox.enqueue(
            session,
            kind="case.ack",
            channel="email",
            recipient="anna@example.se",
            payload={},
            idempotency_key=key,
            now=clock(),
            run_at=clock() + timedelta(minutes=in_minutes),
        )


async def test_the_oldest_due_send_is_shown_and_a_503_when_it_waited_too_long(
    db: Database, clock: Clock
) -> None:
    await enqueue(db, clock, "later", in_minutes=60)  # a retry after backoff: not due yet
    worker = beating(db, clock, Part.WORKER)
    async with health_client(db, clock) as client:
        await worker.beat_once()
        status, body = await health(client)
        assert status == 200 and body["backlog"] == {"intake_seconds": None, "outbox_seconds": None}
        assert body["outbox"] == {"pending": 1}
        await enqueue(db, clock, "now")
        clock.advance(minutes=15)
        await worker.beat_once()
        status, body = await health(client)
        assert status == 200 and body["backlog"]["outbox_seconds"] == 15 * 60
        clock.advance(seconds=1)
        await worker.beat_once()
        status, body = await health(client)
        assert status == 503 and body["problems"] == [
            "outbox backlog: the oldest due message has waited 15 minutes to be sent"
        ]
        await worker.stopped()
        status, body = await health(client)
    assert body["problems"][1:] == [  # a send waits for a worker as a message does
        "worker: none is running and mail has waited 15 minutes (start `synpunkt worker`)"
    ]


async def test_every_health_query_reads_through_an_index(db: Database, clock: Clock) -> None:
    plans = await query_plans(db, statements(HealthPolicy(), clock()))
    scans = {
        name: plan
        for name, plan in plans.items()
        if "Seq Scan" in plan or any(step.startswith("SCAN ") for step in plan.split(" / "))
    }
    assert scans == {}
    assert all("ix_" in plan for plan in plans.values()), plans


# Liveness and readiness ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_livez_answers_without_the_database(clock: Clock) -> None:
    engine = create_engine(f"postgresql+asyncpg://nobody@127.0.0.1:{free_port()}/none")
    app = create_app(secret_key=SECRET_KEY, sessions=session_factory(engine), clock=clock)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        live = await client.get("/livez")
        ready = await client.get("/readyz")
    await engine.dispose()
    assert live.status_code == 200 and live.json() == {"status": "ok"}
    assert ready.status_code == 503
    assert ready.json()["problems"] == ["database error: ConnectionRefusedError"]


async def test_readyz_wants_the_database_at_the_migration_head(db: Database, clock: Clock) -> None:
    async with health_client(db, clock) as client:
        ready = await client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json() == {
            "status": "ok",
            "database": "ok",
            "schema_revision": head(),
            "head": head(),
            "problems": [],
        }
        async with unit_of_work(db.sessions) as session:  # as if the upgrade had not run yet
            await session.execute(text("UPDATE alembic_version SET version_num = '0013_bounces'"))
        ready = await client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["problems"] == [
            f"schema: the database is at 0013_bounces, this version needs {head()} "
            "(`synpunkt db upgrade`)"
        ]
        async with unit_of_work(db.sessions) as session:  # a database nothing migrated
            await session.execute(text("DELETE FROM alembic_version"))
        ready = await client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["schema_revision"] is None
        assert ready.json()["problems"][0].startswith("schema: the database is at no migration")
        schema = (await client.get("/openapi.json")).json()
    assert {"/healthz", "/livez", "/readyz"} <= set(schema["paths"])
    assert "503" in schema["paths"]["/readyz"]["get"]["responses"]


@pytest.mark.parametrize(
    ("client", "access", "authorization", "detail"),
    [
        ("127.0.0.1", MetricsAccess(), None, True),  # the host itself (a health check in it)
        ("10.3.0.7", MetricsAccess(), None, True),  # the municipality's monitoring
        ("fd00::7", MetricsAccess(), None, True),
        ("81.232.14.9", MetricsAccess(), None, False),  # the internet
        ("81.232.14.9", MetricsAccess(token="t" * 32), None, False),
        ("81.232.14.9", MetricsAccess(token="t" * 32), "Bearer " + "t" * 32, True),
        (
            "81.232.14.9",
            MetricsAccess(networks=(ipaddress.ip_network("81.232.14.0/24"),)),
            None,
            True,
        ),
    ],
)
async def test_what_health_found_is_shown_to_monitoring_and_the_internet_sees_ok_or_not(
    db: Database,
    clock: Clock,
    client: str,
    access: MetricsAccess,
    authorization: str | None,
    detail: bool,
) -> None:
    """The parts' hosts, processes and versions, the counts and the problems help monitoring and
    an attacker alike: whoever `/metrics` lets in, and a loopback or private address, sees them;
    anyone else only whether it is well, which the status code says too."""
    await beating(db, clock, Part.WORKER, instance="intern-vm-17:4242").beat_once()
    clock.advance(minutes=5)  # a stale worker, on a host the internet should not learn of
    headers = {"Authorization": authorization} if authorization else {}
    async with health_client(db, clock, metrics=access, address=client, headers=headers) as http:
        healthz = await http.get("/healthz")
        readyz = await http.get("/readyz")
    assert healthz.status_code == 503 and readyz.status_code == 200
    if detail:
        assert healthz.json()["parts"]["worker"]["instances"][0]["instance"] == "intern-vm-17:4242"
        assert healthz.json()["problems"] == [
            "worker: no heartbeat for 5 minutes (last from intern-vm-17:4242)"
        ]
        assert readyz.json()["head"] == head()
    else:
        assert healthz.json() == {"status": "error"}
        assert readyz.json() == {"status": "ok"}
