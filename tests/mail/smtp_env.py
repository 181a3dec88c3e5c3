"""The SMTP edge for tests: our listener on an ephemeral loopback port, a client, a message."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiosmtplib
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox.core.models import IntakeRecord
from mail.smtp import start_smtp_server
from tests.conftest import Clock

INTAKE = "intake@test.example"
SENDER = "anna@example.org"


def mail(
    message_id: str | None = "m1@example.org", *, body: str = "Hej!\r\n", extra: str = ""
) -> bytes:
    """A small CRLF message as a sending MTA would transmit it."""
    headers = [
        f"From: Anna <{SENDER}>",
        f"To: {INTAKE}",
        "Subject: Synpunkt",
        "Date: Tue, 10 Mar 2026 09:00:00 +0100",
    ]
    if message_id is not None:
        headers.append(f"Message-ID: <{message_id}>")
    return ("\r\n".join(headers) + "\r\n" + extra + "\r\n" + body).encode()


@asynccontextmanager
async def smtp_server(
    sessions: async_sessionmaker[AsyncSession],
    clock: Clock,
    *,
    max_size: int = 64 * 1024,
    on_commit: Callable[[], None] | None = None,
    **options: Any,
) -> AsyncIterator[int]:
    """The listener on an ephemeral loopback port; `options` go to `start_smtp_server`."""
    server = await start_smtp_server(
        sessions=sessions,
        intake_addresses=[INTAKE, "Second@Test.Example"],
        hostname="mx.test.example",
        host="127.0.0.1",
        port=0,
        max_size=max_size,
        clock=clock,
        on_commit=on_commit,
        **options,
    )
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


@asynccontextmanager
async def client(port: int) -> AsyncIterator[aiosmtplib.SMTP]:
    smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False, timeout=30)
    await smtp.connect()
    try:
        yield smtp
    finally:
        smtp.close()


async def ledger_rows(sessions: async_sessionmaker[AsyncSession]) -> list[IntakeRecord]:
    async with sessions() as session:
        return list((await session.execute(select(IntakeRecord))).scalars().all())
