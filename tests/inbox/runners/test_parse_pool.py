"""The parse budget: real pool processes that are killed (SIGKILL), run out of time or memory, and
are replaced; and parsing in threads when there is no pool.

The misbehaving parser is `tests.inbox.runners.faulty_parser`, imported by the spawned processes.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import psutil
import pytest

from inbox.core.inbound import InboundMessage, UnparsableMessage
from inbox.runners.parse_pool import (
    InlineParsing,
    ParseOutOfMemory,
    ParsePool,
    ParseProcessDied,
    ParseTimedOut,
    PoolUnavailable,
)
from tests.factories import eventually
from tests.inbox.runners import faulty_parser, parent_only

DEADLINE = 60.0  # a guard against hanging, never a measurement


def mail(subject: str, n: int = 1) -> bytes:
    return f"m{n}@example.se|anna@example.se|{subject}".encode()


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.fixture
async def pool() -> AsyncIterator[ParsePool]:
    the_pool = ParsePool(processes=2, timeout=3.0, memory_mb=512, preload=[faulty_parser.parse])
    yield the_pool
    the_pool.close()


@pytest.fixture
async def one() -> AsyncIterator[ParsePool]:
    """A pool of one process, whose replacement is then plain to see."""
    the_pool = ParsePool(processes=1, timeout=3.0, memory_mb=512, preload=[faulty_parser.parse])
    yield the_pool
    the_pool.close()


async def pid_of_a_parse(pool: ParsePool) -> int:
    return int((await pool.parse(faulty_parser.parse, mail("pid"))).text)


async def test_a_message_is_parsed_in_a_pool_process_and_its_own_errors_come_back(
    pool: ParsePool,
) -> None:
    msg = await pool.parse(faulty_parser.parse, mail("Hej", 7))
    assert isinstance(msg, InboundMessage) and msg.external_id == "m7@example.se"
    assert await pid_of_a_parse(pool) in pool.pids and os.getpid() not in pool.pids
    with pytest.raises(UnparsableMessage):
        await pool.parse(faulty_parser.parse, b"no separators at all")
    assert pool.status()["restarts"] == 0 and pool.status()["problem"] is None


async def test_a_parse_past_its_time_is_stopped_by_killing_its_process_which_is_replaced(
    one: ParsePool,
) -> None:
    pool = one
    await pid_of_a_parse(pool)
    before = set(pool.pids)
    with pytest.raises(ParseTimedOut, match="stopped after 3 s"):
        await pool.parse(faulty_parser.parse, mail("sleep"))
    [killed] = before - set(pool.pids)
    await eventually(lambda: gone(killed), "the overrunning process is gone")
    assert (await pool.parse(faulty_parser.parse, mail("Hej"))).subject == "Hej"
    status = pool.status()
    assert status["restarts"] == 1 and status["last_restart"] == "a parse ran out of time"


async def test_sigkill_of_a_busy_parse_process_fails_only_its_message_and_is_replaced(
    pool: ParsePool, tmp_path: Path
) -> None:
    marker = tmp_path / "pid"
    hanging = asyncio.create_task(pool.parse(faulty_parser.parse, mail(f"hang:{marker}")))
    await eventually(marker.exists, "the hanging parse wrote its process id")
    # The other process goes on parsing while one hangs.
    others = [await pool.parse(faulty_parser.parse, mail("Hej", n)) for n in range(5)]
    assert len(others) == 5 and not hanging.done()
    os.kill(int(marker.read_text()), signal.SIGKILL)
    with pytest.raises(ParseProcessDied):
        await hanging
    # Tried again (the marker now exists, so this time it parses), in a fresh process.
    assert (await pool.parse(faulty_parser.parse, mail(f"hang:{marker}"))).external_id
    assert int(marker.read_text()) not in pool.pids and pool.status()["restarts"] == 1


async def test_a_message_that_kills_its_process_fails_and_the_next_is_parsed(
    pool: ParsePool,
) -> None:
    with pytest.raises(ParseProcessDied):
        await pool.parse(faulty_parser.parse, mail("die"))
    results = await asyncio.gather(
        *(pool.parse(faulty_parser.parse, mail("ok", n)) for n in range(4))
    )
    assert [msg.external_id for msg in results] == [f"m{n}@example.se" for n in range(4)]


async def test_a_parse_over_its_memory_budget_runs_out_of_memory_in_its_process_only(
    one: ParsePool,
) -> None:
    pool = one
    await pid_of_a_parse(pool)
    before = set(pool.pids)
    with pytest.raises(ParseOutOfMemory, match="512 MB"):
        await pool.parse(faulty_parser.parse, mail("hog"))
    assert len(before - set(pool.pids)) == 1  # that process is replaced, however it recovered
    assert (await pool.parse(faulty_parser.parse, mail("Hej"))).subject == "Hej"
    assert psutil.Process().memory_info().rss < 1024 * 1024 * 1024  # never in this process


async def test_processes_replaced_too_often_make_the_pool_report_a_problem() -> None:
    pool = ParsePool(processes=1, timeout=3.0, preload=[faulty_parser.parse], restarts_allowed=1)
    try:
        for _ in range(2):
            with pytest.raises(ParseProcessDied):
                await pool.parse(faulty_parser.parse, mail("die"))
        problem = pool.status()["problem"]
        assert problem == (
            "parse processes replaced 2 times in the last 15 minutes (last: a parse process died)"
        )
    finally:
        pool.close()


async def test_a_pool_that_cannot_start_a_process_is_unavailable_and_says_so() -> None:
    pool = ParsePool(processes=1, preload=[parent_only.parse])
    try:
        with pytest.raises(PoolUnavailable):
            await pool.parse(parent_only.parse, mail("Hej"))
        problem = pool.status()["problem"]
        assert problem is not None and problem.startswith("parse pool broken: cannot start")
    finally:
        pool.close()


async def test_without_a_pool_a_parse_past_its_time_fails_but_its_thread_runs_on_and_shows() -> (
    None
):
    release = threading.Event()

    def stuck(raw: bytes) -> InboundMessage:
        release.wait(DEADLINE)
        return faulty_parser.parse(raw)

    parsing = InlineParsing(timeout=0.2)
    try:
        with pytest.raises(ParseTimedOut, match="cannot be stopped"):
            await parsing.parse(stuck, mail("Hej"))
        assert (await parsing.parse(faulty_parser.parse, mail("Hej"))).subject == "Hej"
        problem = parsing.status()["problem"]
        assert problem is not None and "1 parse thread(s) ran past the time budget" in problem
        release.set()
        await eventually(lambda: parsing.status()["problem"] is None, "the thread ended")
    finally:
        release.set()
        parsing.close()
