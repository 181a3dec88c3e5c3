"""Crash safety of the SMTP edge: a `250` is a promise that survives SIGKILL.

The real `synpunkt smtp` command runs as a subprocess; several clients deliver a burst while the
process is killed mid-way, and every message that was answered `250` must be in the ledger with
its exact bytes. A message that got no answer may or may not be there: its sender retries.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from pathlib import Path

import aiosmtplib
import pytest
from sqlalchemy import select

from inbox.core.models import IntakeRecord
from tests.conftest import Database

INTAKE = "intake@test.example"
CLIENTS = 6
KILL_AFTER = 120  # acknowledged messages before the kill; the clients keep sending meanwhile
STARTUP_TIMEOUT = 60.0


def burst_message(client: int, n: int) -> tuple[str, bytes]:
    """A few-KB message, every third with a small attachment; returns (Message-ID, raw)."""
    message_id = f"crash-{client}-{n}@test.example"
    msg = EmailMessage()
    msg["From"] = f"Avsändare {client} <sender{client}@example.org>"
    msg["To"] = INTAKE
    msg["Subject"] = f"Synpunkt {n} om hemtjänsten"
    msg["Message-ID"] = f"<{message_id}>"
    msg.set_content(("Hej! Jag vill lämna en synpunkt på bemötandet. " * 40 + "\n") * 2)
    if n % 3 == 0:
        msg.add_attachment(
            bytes(range(256)) * 8,
            maintype="application",
            subtype="octet-stream",
            filename="bilaga.bin",
        )
    return message_id, msg.as_bytes(policy=SMTP_POLICY)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cli(args: list[str], *, env: dict[str, str], cwd: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "inbox.cli", *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


async def wait_until_listening(process: subprocess.Popen[bytes], port: int) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STARTUP_TIMEOUT
    while loop.time() < deadline:
        if process.poll() is not None:
            stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
            pytest.fail(f"synpunkt smtp exited with {process.returncode}: {stderr}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.1)
            continue
        writer.close()
        await writer.wait_closed()
        return
    pytest.fail("synpunkt smtp did not start listening")


@pytest.mark.slow
async def test_every_250_survives_a_sigkill_in_the_middle_of_a_burst(
    db: Database, tmp_path: Path
) -> None:
    port = free_port()
    env = {
        **os.environ,
        "SYNPUNKT_DATABASE_URL": db.url,
        "SYNPUNKT_SMTP_LISTEN": f"127.0.0.1:{port}",
        "SYNPUNKT_INTAKE_ADDRESSES": INTAKE,
        "SYNPUNKT_LOG_LEVEL": "WARNING",
    }
    # The `db` fixture hands over a migrated database; upgrading again must be a no-op.
    upgrade = cli(["db", "upgrade"], env=env, cwd=tmp_path)
    assert upgrade.wait(timeout=120) == 0, upgrade.stderr.read() if upgrade.stderr else ""

    process = cli(["smtp"], env=env, cwd=tmp_path)
    acknowledged: dict[str, bytes] = {}
    enough = asyncio.Event()
    interrupted: list[BaseException] = []

    async def deliver(client: int) -> None:
        smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False, timeout=30)
        try:
            await smtp.connect()
            for n in range(100_000):
                message_id, raw = burst_message(client, n)
                await smtp.sendmail(f"sender{client}@example.org", [INTAKE], raw)
                # Only after the 250; stored under the envelope sender's Return-Path.
                stamp = f"Return-Path: <sender{client}@example.org>\r\n".encode()
                acknowledged[message_id] = stamp + raw
                if len(acknowledged) >= KILL_AFTER:
                    enough.set()
        except (aiosmtplib.SMTPException, OSError) as exc:
            interrupted.append(exc)
        finally:
            smtp.close()

    try:
        await wait_until_listening(process, port)
        clients = [asyncio.create_task(deliver(c)) for c in range(CLIENTS)]
        await asyncio.wait_for(enough.wait(), timeout=120)
        os.kill(process.pid, signal.SIGKILL)
        await asyncio.wait_for(asyncio.gather(*clients), timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)
        if process.stderr:
            process.stderr.close()

    assert process.returncode == -signal.SIGKILL
    assert len(interrupted) == CLIENTS  # every client was cut off mid-burst
    async with db.sessions() as session:
        rows = (
            await session.execute(
                select(IntakeRecord.external_id, IntakeRecord.raw).where(
                    IntakeRecord.external_id.in_(list(acknowledged))  # type: ignore[attr-defined]
                )
            )
        ).all()
    stored = {external_id: raw for external_id, raw in rows}
    missing = sorted(set(acknowledged) - set(stored))
    assert missing == [], f"{len(missing)} acknowledged messages lost"
    assert all(stored[mid] == raw for mid, raw in acknowledged.items())
