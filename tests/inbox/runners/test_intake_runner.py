"""Intake that nothing can stall: a killed, overrunning or memory-hungry parse fails at most its own
message, the mail beside and behind it becomes cases, and a message that kills its worker is given
up after a few claims, across restarts.

Real parse processes (`ParsePool`) run `tests.inbox.runners.faulty_parser`, which misbehaves on command;
the worker runs as `synpunkt worker` runs it (`Worker.run`) or a round at a time.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update
from sqlmodel import col

from inbox.core.db import unit_of_work
from inbox.core.inbound import InboundMessage
from inbox.core.models import Case, IntakeRecord, IntakeStatus
from inbox.intake import ledger
from inbox.intake.receive import IntakePolicy
from inbox.runners.intake_runner import RENEW_AFTER, IntakeRunner
from inbox.runners.outbox_runner import OutboxRunner
from inbox.runners.parse_pool import ParsePool
from inbox.runners.worker import Worker
from tests.conftest import Clock, Database
from tests.factories import eventually
from tests.inbox.runners import faulty_parser, parent_only

POLICY = IntakePolicy(case_prefix="SP", mail_domain="synpunkt.example")
DEADLINE = 90.0  # a guard against hanging, never a measurement
ROOT = Path(__file__).resolve().parents[3]  # the repository


async def record(db: Database, clock: Clock, name: str, subject: str = "Hej") -> int:
    raw = f"{name}@example.se|{name}@example.org|{subject}".encode()
    async with unit_of_work(db.sessions) as session:
        row_id = await ledger.record(
            session, channel="email", external_id=f"{name}@example.se", raw=raw, now=clock()
        )
    assert row_id is not None
    return row_id


async def rows(db: Database) -> dict[int, IntakeRecord]:
    async with db.sessions() as session:
        found = (await session.execute(select(IntakeRecord))).scalars()
        return {row.id: row for row in found if row.id is not None}


async def statuses(db: Database, ids: list[int]) -> list[str]:
    found = await rows(db)
    return [found[i].status for i in ids]


async def case_count(db: Database) -> int:
    async with db.sessions() as session:
        return int((await session.execute(select(func.count()).select_from(Case))).scalar_one())


async def rounds_until(worker: Worker, check: Callable[[], Awaitable[bool]]) -> None:
    async def one_round() -> bool:
        await worker.run_once()
        return await check()

    await eventually(one_round, "the rows are stored")


def worker_busy(worker: Worker) -> bool:
    return bool(worker.status()["parses_running"])


def all_done(db: Database, ids: list[int]) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return await statuses(db, ids) == ["done"] * len(ids)

    return check


@pytest.fixture
async def pool() -> AsyncIterator[ParsePool]:
    the_pool = ParsePool(processes=2, timeout=60.0, memory_mb=512, preload=[faulty_parser.parse])
    yield the_pool
    the_pool.close()


def worker_with(db: Database, clock: Clock, pool: ParsePool) -> Worker:
    return Worker(
        IntakeRunner(
            db.sessions,
            parsers={"email": faulty_parser.parse},
            policy=POLICY,
            clock=clock,
            parsing=pool,
        ),
        OutboxRunner(db.sessions, senders={}, clock=clock),
        poll_interval=0.2,
    )


@pytest.fixture
async def running(
    db: Database, clock: Clock, pool: ParsePool
) -> AsyncIterator[Callable[[], Worker]]:
    """Starts a worker in the background (as `synpunkt worker` runs it) when asked."""
    stop = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []

    def start() -> Worker:
        worker = worker_with(db, clock, pool)
        tasks.append(asyncio.create_task(worker.run(stop)))
        return worker

    yield start
    stop.set()
    await asyncio.gather(*tasks)


def runner_of(db: Database, clock: Clock, *, batch_size: int) -> IntakeRunner:
    """A runner that parses in threads (no pool), for rounds run one at a time."""
    return IntakeRunner(
        db.sessions,
        parsers={"email": faulty_parser.parse},
        policy=POLICY,
        clock=clock,
        batch_size=batch_size,
    )


async def test_the_next_batch_is_claimed_and_parses_while_a_batch_is_stored(
    db: Database, clock: Clock
) -> None:
    ids = [await record(db, clock, f"a{n}") for n in range(5)]
    runner = runner_of(db, clock, batch_size=2)
    try:
        assert await runner.run_once() == 2
        found = await rows(db)
        claimed = [i for i in ids if found[i].status == "pending" and found[i].attempts == 1]
        # One batch stored; the next claimed (its lease taken, its claim counted) and parsing.
        assert [found[i].status for i in ids].count("done") == 2
        assert len(claimed) == 2 and all(found[i].lease_until is not None for i in claimed)
        assert runner.busy
        while await runner.run_once() or runner.busy:
            pass
        assert await statuses(db, ids) == ["done"] * 5
        assert [row.attempts for row in (await rows(db)).values()] == [1] * 5
    finally:
        await runner.close()


async def test_a_row_claimed_before_is_claimed_alone_not_beside_parses_in_flight(
    db: Database, clock: Clock
) -> None:
    first = [await record(db, clock, f"a{n}") for n in range(3)]
    suspect = await record(db, clock, "suspect")
    async with unit_of_work(db.sessions) as session:  # its worker died: the claim counted
        await session.execute(
            update(IntakeRecord).where(col(IntakeRecord.id) == suspect).values(attempts=1)
        )
    runner = runner_of(db, clock, batch_size=2)
    try:
        assert await runner.run_once() == 2  # the three before it claimed, two of them stored
        assert await runner.run_once() == 1  # the third stored; the suspect claimed and given back
        given_back = (await rows(db))[suspect]
        assert given_back.status == "pending" and given_back.attempts == 1
        assert given_back.lease_until is None
        assert await runner.run_once() == 1  # alone now
        assert await statuses(db, [*first, suspect]) == ["done"] * 4
        assert (await rows(db))[suspect].attempts == 2
    finally:
        await runner.close()


async def test_the_lease_of_a_slow_parse_is_renewed_once_a_quarter_of_it_has_passed(
    db: Database, clock: Clock
) -> None:
    release = threading.Event()

    def slow(raw: bytes) -> InboundMessage:
        release.wait(DEADLINE)
        return faulty_parser.parse(raw)

    row_id = await record(db, clock, "slow")
    runner = IntakeRunner(
        db.sessions, parsers={"email": slow}, policy=POLICY, clock=clock, settle=0.05
    )
    try:
        claimed_at = clock()
        assert await runner.run_once() == 0  # claimed, still parsing
        lease = (await rows(db))[row_id].lease_until
        assert lease == claimed_at + ledger.LEASE
        clock.advance(seconds=RENEW_AFTER.total_seconds() - 1)
        assert await runner.run_once() == 0
        assert (await rows(db))[row_id].lease_until == lease  # not yet
        clock.advance(seconds=2)
        assert await runner.run_once() == 0
        assert (await rows(db))[row_id].lease_until == clock() + ledger.LEASE
        release.set()
        while await runner.run_once() or runner.busy:
            pass
        assert await statuses(db, [row_id]) == ["done"]
    finally:
        release.set()
        await runner.close()


async def test_sigkill_of_a_parse_process_mid_batch_fails_no_message_and_later_mail_flows(
    db: Database, clock: Clock, tmp_path: Path, running: Callable[[], Worker]
) -> None:
    marker = tmp_path / "pid"
    before = [await record(db, clock, f"a{n}") for n in range(4)]
    victim = await record(db, clock, "victim", subject=f"hang:{marker}")
    after = [await record(db, clock, f"b{n}") for n in range(4)]
    worker = running()
    await eventually(lambda: asyncio.to_thread(marker.exists), "the victim's parse is running")
    # While that parse hangs, the rest of its batch and mail that arrives later become cases.
    await eventually(all_done(db, before + after), "the rest of the batch is stored")
    later = [await record(db, clock, f"c{n}") for n in range(5)]
    worker.wake()
    await eventually(all_done(db, later), "later mail is stored")
    assert await statuses(db, [victim]) == ["pending"]

    os.kill(int(marker.read_text()), signal.SIGKILL)  # as the OOM killer would
    # Tried once more, alone in a fresh process, where it parses: no message failed at all.
    await eventually(all_done(db, [victim]), "the victim is retried and stored")
    assert await case_count(db) == 14
    parsing = worker.status()["parsing"]
    assert parsing["restarts"] == 1 and parsing["last_restart"] == "a parse process died"
    assert int(marker.read_text()) not in parsing["pids"]


async def test_a_message_that_kills_its_parse_process_each_time_is_the_only_one_failed(
    db: Database, clock: Clock, running: Callable[[], Worker]
) -> None:
    before = [await record(db, clock, f"a{n}") for n in range(3)]
    killer = await record(db, clock, "killer", subject="die")
    after = [await record(db, clock, f"b{n}") for n in range(3)]
    worker = running()
    await eventually(all_done(db, before + after), "the rest of the batch is stored")
    later = [await record(db, clock, f"c{n}") for n in range(3)]
    worker.wake()
    await eventually(all_done(db, later), "later mail is stored")

    async def killer_failed() -> bool:
        return await statuses(db, [killer]) == ["failed"]

    await eventually(killer_failed, "the killer message is failed")
    failed = (await rows(db))[killer]
    assert failed.error == (
        "cannot parse: ParseProcessDied: the parse process died (killed, or over its memory "
        "budget); tried twice"
    )
    assert failed.raw is not None and failed.raw.endswith(b"|die") and failed.case_id is None
    assert await case_count(db) == 9
    assert worker.status()["parsing"]["restarts"] == 2


async def test_a_parse_past_its_time_is_failed_while_the_mail_beside_and_behind_it_flows(
    db: Database, clock: Clock
) -> None:
    pool = ParsePool(processes=2, timeout=3.0, preload=[faulty_parser.parse])
    try:
        worker = worker_with(db, clock, pool)
        slow = await record(db, clock, "slow", subject="sleep")
        beside = [await record(db, clock, f"a{n}") for n in range(3)]
        # A round stores what has parsed and leaves the slow parse running.
        await rounds_until(worker, all_done(db, beside))
        assert await statuses(db, [slow]) == ["pending"]
        behind = [await record(db, clock, f"b{n}") for n in range(3)]
        await rounds_until(worker, all_done(db, behind))
        await worker.drain()
        failed = (await rows(db))[slow]
        assert failed.status == "failed" and failed.error == (
            "cannot parse: ParseTimedOut: stopped after 3 s (the parse time budget)"
        )
        assert failed.attempts == 1 and await case_count(db) == 6
    finally:
        pool.close()


async def test_a_message_over_the_memory_budget_is_failed_and_the_rest_become_cases(
    db: Database, clock: Clock, pool: ParsePool
) -> None:
    hog = await record(db, clock, "hog", subject="hog")
    others = [await record(db, clock, f"a{n}") for n in range(3)]
    await worker_with(db, clock, pool).drain()
    assert await statuses(db, others) == ["done"] * 3
    failed = (await rows(db))[hog]
    assert failed.status == "failed" and failed.error == (
        "cannot parse: ParseOutOfMemory: out of memory (the parse budget is 512 MB); tried twice"
    )


async def test_a_pool_that_cannot_start_fails_no_message_and_the_worker_says_so(
    db: Database, clock: Clock
) -> None:
    broken = ParsePool(processes=1, preload=[parent_only.parse])
    try:
        worker = Worker(
            IntakeRunner(
                db.sessions,
                parsers={"email": parent_only.parse},
                policy=POLICY,
                clock=clock,
                parsing=broken,
            ),
            OutboxRunner(db.sessions, senders={}, clock=clock),
        )
        waiting = await record(db, clock, "waiting")

        async def given_back() -> bool:
            row = (await rows(db))[waiting]
            return row.attempts == 0 and row.lease_until is None and not worker_busy(worker)

        await rounds_until(worker, given_back)  # claimed, the pool fails to start, given back
        assert await statuses(db, [waiting]) == ["pending"]
        problem = worker.status()["problem"]
        assert problem is not None and problem.startswith("parse pool broken: cannot start")
    finally:
        broken.close()


async def test_a_stopping_worker_gives_back_the_rows_it_was_still_parsing(
    db: Database, clock: Clock, tmp_path: Path, pool: ParsePool
) -> None:
    marker = tmp_path / "pid"
    stuck = await record(db, clock, "stuck", subject=f"hang:{marker}")
    worker = worker_with(db, clock, pool)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    await eventually(lambda: asyncio.to_thread(marker.exists), "the parse is running")
    stop.set()
    worker.wake()
    await task
    row = (await rows(db))[stuck]
    assert row.status == "pending" and row.attempts == 0 and row.lease_until is None


def run_crashing_worker(db: Database, clock: Clock) -> int:
    result = subprocess.run(
        [sys.executable, "-m", "tests.inbox.runners.crashing_worker", db.url, clock().isoformat()],
        cwd=ROOT,
        capture_output=True,
        timeout=DEADLINE,
    )
    return result.returncode


async def test_a_message_that_kills_its_worker_is_given_up_after_three_claims_across_restarts(
    db: Database, clock: Clock
) -> None:
    first = await record(db, clock, "first")
    poison = await record(db, clock, "poison", subject="die")
    others = [await record(db, clock, f"a{n}") for n in range(3)]
    exits = []
    for _ in range(6):  # a supervisor restarts the worker each time it dies
        exits.append(await asyncio.to_thread(run_crashing_worker, db, clock))
        if exits[-1] == 0:
            break
        clock.advance(seconds=(ledger.LEASE + timedelta(seconds=1)).total_seconds())
    assert exits == [-signal.SIGKILL] * 3 + [0]
    found = await rows(db)
    assert found[poison].status == IntakeStatus.FAILED
    assert found[poison].error == "gave up after 3 attempts"
    # The rows that were in its batch when it died were tried alone, never failed with it.
    assert [found[i].status for i in [first, *others]] == ["done"] * 4
    assert await case_count(db) == 4
