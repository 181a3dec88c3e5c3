"""A backlog of 1,000 messages taken in exactly once by the real `synpunkt imap`, even when the
process is SIGKILLed halfway and started again; and the command's own checks of its settings.

The first run is killed once a few hundred messages are committed: whatever batch was being
fetched, committed or moved at that moment, the second run must leave exactly 1,000 ledger rows,
1,000 cases (after the worker), every message once in the processed folder and INBOX empty.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from pathlib import Path

import pytest
from sqlalchemy import func, select

from inbox.core.models import Case, IntakeRecord
from inbox.intake.receive import IntakePolicy
from inbox.runners.intake_runner import IntakeRunner
from inbox.runners.outbox_runner import OutboxRunner
from inbox.runners.worker import Worker
from mail.parse import parse_email
from tests.conftest import Database
from tests.mail.dovecot import PASSWORD, USER, Dovecot

BACKLOG = 1000
KILL_AFTER = 300  # committed messages before the SIGKILL
PROCESSED = "Synpunkt.Behandlat"


def backlog_message(n: int) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Person {n} <person{n}@example.org>"
    msg["To"] = USER
    msg["Subject"] = f"Synpunkt {n}: väntetider"
    msg["Message-ID"] = f"<backlog.{n}@example.org>"
    msg.set_content(("Jag har väntat länge på ett beslut och ingen hör av sig. " * 20 + "\n") * 3)
    if n % 10 == 0:
        msg.add_attachment(
            bytes(range(256)) * 16, maintype="application", subtype="pdf", filename="intyg.pdf"
        )
    return msg.as_bytes(policy=SMTP_POLICY)


def imap_env(db: Database, server: Dovecot) -> dict[str, str]:
    return {
        **os.environ,
        "SYNPUNKT_DATABASE_URL": db.url,
        "SYNPUNKT_IMAP_URL": f"imap://{USER.replace('@', '%40')}@127.0.0.1:{server.port}/INBOX",
        "SYNPUNKT_IMAP_PASSWORD": PASSWORD,
        "SYNPUNKT_IMAP_REQUIRE_TLS": "false",
        # Small batches, so that the kill lands in the middle of the backlog.
        "SYNPUNKT_IMAP_BATCH_SIZE": "20",
        "SYNPUNKT_LOG_LEVEL": "INFO",
    }


def start(env: dict[str, str], cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "inbox.cli", "imap"],
            env=env,
            cwd=cwd,
            stdout=out,
            stderr=out,
        )


def read(log: Path) -> str:
    return log.read_text(errors="replace")[-6000:]


async def ledger_count(db: Database) -> int:
    async with db.sessions() as session:
        query = select(func.count()).select_from(IntakeRecord)
        return int((await session.execute(query)).scalar_one())


async def wait_for_ledger(
    db: Database, process: subprocess.Popen[bytes], log: Path, at_least: int, seconds: float
) -> int:
    deadline = time.monotonic() + seconds
    while (stored := await ledger_count(db)) < at_least:
        if process.poll() is not None:
            pytest.fail(f"synpunkt imap exited with {process.returncode}:\n{read(log)}")
        if time.monotonic() > deadline:
            pytest.fail(f"only {stored} of {at_least} stored in time:\n{read(log)}")
        await asyncio.sleep(0.02)
    return stored


@pytest.mark.slow
async def test_backlog_is_taken_in_exactly_once_across_a_sigkill(
    db: Database, dovecot: Dovecot, tmp_path: Path
) -> None:
    await asyncio.to_thread(dovecot.append, [backlog_message(n) for n in range(BACKLOG)])
    assert await asyncio.to_thread(dovecot.count) == BACKLOG
    env, log = imap_env(db, dovecot), tmp_path / "imap.log"

    first = start(env, tmp_path, log)
    try:
        await wait_for_ledger(db, first, log, KILL_AFTER, 120)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait(timeout=30)
    assert first.returncode == -signal.SIGKILL
    at_kill = await ledger_count(db)
    left = await asyncio.to_thread(dovecot.count)
    assert KILL_AFTER <= at_kill < BACKLOG and left > 0, (at_kill, left)  # really halfway

    second = start(env, tmp_path, log)
    try:
        await wait_for_ledger(db, second, log, BACKLOG, 180)
        deadline = time.monotonic() + 60
        while await asyncio.to_thread(dovecot.count) > 0:
            assert time.monotonic() < deadline, "INBOX was not emptied"
            await asyncio.sleep(0.1)
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=60) == 0, read(log)
    finally:
        if second.poll() is None:
            second.kill()
            second.wait(timeout=30)

    worker = Worker(
        IntakeRunner(
            db.sessions,
            parsers={"email": parse_email},
            policy=IntakePolicy(),
            clock=lambda: datetime.now(UTC),
            batch_size=100,
        ),
        OutboxRunner(db.sessions, senders={}, clock=lambda: datetime.now(UTC), batch_size=100),
    )
    await worker.drain()
    async with db.sessions() as session:
        ids = list((await session.execute(select(IntakeRecord.external_id))).scalars())
        cases = int((await session.execute(select(func.count()).select_from(Case))).scalar_one())
    assert len(ids) == BACKLOG and set(ids) == {f"backlog.{n}@example.org" for n in range(BACKLOG)}
    assert cases == BACKLOG
    processed = await asyncio.to_thread(dovecot.message_ids, PROCESSED)
    assert len(processed) == BACKLOG and len(set(processed)) == BACKLOG
    assert await asyncio.to_thread(dovecot.count) == 0


def test_imap_command_without_url_exits_with_a_clear_message(tmp_path: Path) -> None:
    env = {**os.environ, "SYNPUNKT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/x.db"}
    env.pop("SYNPUNKT_IMAP_URL", None)
    result = subprocess.run(
        [sys.executable, "-m", "inbox.cli", "imap"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2 and "SYNPUNKT_IMAP_URL is not set" in result.stderr
    env["SYNPUNKT_IMAP_URL"] = "imaps://nobody@mail.example/INBOX"
    result = subprocess.run(
        [sys.executable, "-m", "inbox.cli", "serve"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2 and "no IMAP password" in result.stderr
