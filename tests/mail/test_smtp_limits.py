"""What a client can make the public SMTP edge hold or tell: command lines, sessions, idle time, and
the greeting, over raw sockets on loopback (a well-behaved client library would not misbehave).

The database is not what these tests are about, so they run on SQLite only.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox.core.db import create_engine, session_factory
from tests.conftest import Clock
from tests.mail.smtp_env import INTAKE, SENDER, ledger_rows, mail, smtp_server

# Guards against a hang when a server does not answer; no test waits for them to pass.
HANG = 30


@pytest.fixture
async def sessions(
    tmp_path: Path, sqlite_template: Path
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    path = tmp_path / "synpunkt.db"
    shutil.copyfile(sqlite_template, path)
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    yield session_factory(engine)
    await engine.dispose()


class Conversation:
    """A raw SMTP connection: send lines, read replies (the last line of a multi-line one)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def reply(self) -> bytes:
        lines = await self.replies()
        return lines[-1]

    async def replies(self) -> list[bytes]:
        """Every line of one reply; `[b""]` when the server closed the connection instead."""
        lines: list[bytes] = []
        while True:
            line = await asyncio.wait_for(self.reader.readline(), HANG)
            lines.append(line.rstrip(b"\r\n"))
            if len(line) < 4 or line[3:4] != b"-":
                return lines

    async def command(self, line: bytes) -> bytes:
        self.writer.write(line + b"\r\n")
        return await self.reply()

    async def closed_by_server(self) -> bool:
        return await asyncio.wait_for(self.reader.read(), HANG) == b""


@asynccontextmanager
async def connect(port: int) -> AsyncIterator[Conversation]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        yield Conversation(reader, writer)
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except ConnectionError:  # the server reset it: that is what some tests are about
            pass


async def test_the_greeting_and_help_name_no_software_or_version(
    sessions: async_sessionmaker[AsyncSession], clock: Clock
) -> None:
    async with smtp_server(sessions, clock) as port, connect(port) as smtp:
        greeting = await smtp.reply()
        smtp.writer.write(b"EHLO client.example.org\r\n")
        ehlo = await smtp.replies()
        help_ = await smtp.command(b"HELP")
    assert greeting == b"220 mx.test.example ESMTP"
    for line in [greeting, *ehlo, help_]:
        assert b"python" not in line.lower() and b"aiosmtpd" not in line.lower(), line


async def test_a_24_mb_command_line_is_refused_and_the_session_closed_before_the_line_ends(
    sessions: async_sessionmaker[AsyncSession], clock: Clock
) -> None:
    # 20 such lines once grew the process by 420 MB: each was buffered whole before the answer.
    async with smtp_server(sessions, clock, max_size=25 * 1024 * 1024) as port:
        async with connect(port) as smtp:
            await smtp.reply()
            smtp.writer.write(b"NOOP " + b"x" * (64 * 1024))  # the first 64 KiB of 24 MB
            await smtp.writer.drain()
            answer = await smtp.reply()
            assert await smtp.closed_by_server()  # it stopped reading: no more of it is taken
        assert answer.startswith(b"500 5.5.2 Line too long")
        async with connect(port) as smtp:  # the listener itself is fine
            await smtp.reply()
            assert await smtp.command(b"NOOP") == b"250 OK"


async def test_after_a_message_with_a_long_bare_lf_line_commands_are_bounded_again(
    sessions: async_sessionmaker[AsyncSession], clock: Clock
) -> None:
    # Inside DATA a line may be as long as the message (clients that send bare LF); after it, a
    # command line is a command line again.
    raw = mail("long@example.org", body="rad\n" * 50_000).replace(b"\r\n", b"\n") + b"\r\n"
    async with smtp_server(sessions, clock, max_size=1024 * 1024) as port, connect(port) as smtp:
        await smtp.reply()
        await smtp.command(b"EHLO script.example.org")
        await smtp.command(f"MAIL FROM:<{SENDER}>".encode())
        await smtp.command(f"RCPT TO:<{INTAKE}>".encode())
        assert (await smtp.command(b"DATA")).startswith(b"354")
        stored = await smtp.command(raw + b".")
        smtp.writer.write(b"NOOP " + b"x" * (64 * 1024))
        answer = await smtp.reply()
        assert await smtp.closed_by_server()
    assert stored == b"250 2.0.0 OK"
    assert [row.raw for row in await ledger_rows(sessions)] == [
        f"Return-Path: <{SENDER}>\n".encode() + raw
    ]
    assert answer.startswith(b"500 5.5.2 Line too long")


async def test_repeated_ehlo_does_not_raise_the_mail_command_limit(
    sessions: async_sessionmaker[AsyncSession], clock: Clock
) -> None:
    # RFC 5321 512 octets, plus 26 for SIZE and 10 for SMTPUTF8: 548 for MAIL, however many
    # EHLOs came first (aiosmtpd added 36 more at each EHLO, for every session at once).
    too_long = f"MAIL FROM:<{'a' * 560}@example.org>".encode()
    async with smtp_server(sessions, clock) as port, connect(port) as smtp:
        await smtp.reply()
        for _ in range(20):
            smtp.writer.write(b"EHLO client.example.org\r\n")
            await smtp.replies()
        refused = await smtp.command(too_long)
        after = await smtp.command(f"MAIL FROM:<{SENDER}> SIZE=100".encode())
    assert refused == b"500 Command line too long"
    assert after == b"250 OK"  # a line over the command limit but not absurd ends nothing


async def test_a_connection_over_the_session_cap_hears_421_and_is_closed(
    sessions: async_sessionmaker[AsyncSession], clock: Clock
) -> None:
    async with smtp_server(sessions, clock, max_sessions=2) as port:
        async with connect(port) as first, connect(port) as second:
            assert (await first.reply()).startswith(b"220")
            assert (await second.reply()).startswith(b"220")
            async with connect(port) as third:
                busy = await third.reply()
                assert await third.closed_by_server()
            assert busy.startswith(b"421 4.3.2")
            # A session that ends frees its place for the next connection.
            assert (await first.command(b"QUIT")).startswith(b"221")
            assert await first.closed_by_server()
            async with connect(port) as fourth:
                assert (await fourth.reply()).startswith(b"220")
                assert await second.command(b"NOOP") == b"250 OK"  # the others go on


async def test_an_idle_session_is_closed_after_the_timeout(
    sessions: async_sessionmaker[AsyncSession], clock: Clock
) -> None:
    async with smtp_server(sessions, clock, idle_timeout=0.2) as port, connect(port) as smtp:
        assert (await smtp.reply()).startswith(b"220")
        assert await smtp.closed_by_server()
