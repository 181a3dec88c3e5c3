"""What many tests build: an intake policy, a message, a message taken in, a worker, the corpus
e-mails, and `eventually()`.

One place for them, so that a test module never imports another test module for its helpers.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql.expression import Executable

from inbox.core.db import unit_of_work
from inbox.core.inbound import Channel, InboundMessage
from inbox.core.models import IntakeRecord
from inbox.intake import ledger
from inbox.intake.receive import IntakePolicy, Receipt, receive, receive_many
from inbox.runners.delivery import Sender
from inbox.runners.intake_runner import IntakeRunner
from inbox.runners.outbox_runner import OutboxRunner
from inbox.runners.parse_pool import Parser, Parsing
from inbox.runners.worker import Worker
from tests.conftest import CORPORA, Clock, Database

POLICY = IntakePolicy(
    case_prefix="SP",
    mail_domain="synpunkt.example",
    own_addresses=frozenset({"synpunkt@synpunkt.example"}),
)


def make_worker(
    sessions: async_sessionmaker[AsyncSession],
    clock: Callable[[], datetime],
    *,
    parsers: Mapping[str, Parser] | None = None,
    senders: Mapping[str, Sender] | None = None,
    policy: IntakePolicy = POLICY,
    parsing: Parsing | None = None,
    poll_interval: float = 2.0,
) -> Worker:
    """A worker with the runners' default limits; a test that needs other limits builds the
    runners itself."""
    return Worker(
        IntakeRunner(sessions, parsers=parsers or {}, policy=policy, clock=clock, parsing=parsing),
        OutboxRunner(sessions, senders=senders or {}, clock=clock),
        poll_interval=poll_interval,
    )


EMAIL_CORPORA = CORPORA / "email"
# Folders whose files are whole messages. The reply-parser corpora, talon's HTML and signature
# samples and Zammad's signature-detection set are message bodies, not messages.
MESSAGE_GLOBS = (
    "zammad/mail/*.box",
    "cpython-test_email/msg_*.txt",
    "chatwoot/*.eml",
    "flufl.bounce/*.txt",
    "mail-parser/mail_*",
    "talon/standard_replies/*.eml",
    "talon/*.eml",
)
# Not RFC 5322 at all: an Outlook .msg file, and CPython's expected text of a digest (no headers).
UNPARSABLE = {"mail-parser/mail_outlook_1", "cpython-test_email/msg_19.txt"}


def message_files() -> list[Path]:
    """The whole messages of the e-mail corpora, in a fixed order."""
    return sorted({path for pattern in MESSAGE_GLOBS for path in EMAIL_CORPORA.glob(pattern)})


def corpus_id(path: Path) -> str:
    """A corpus file's name for test ids and lists: its path below tests/corpora/email."""
    return path.relative_to(EMAIL_CORPORA).as_posix()


# Only a guard against a test that hangs, never a measurement: a wait normally ends in moments.
GUARD = 60.0


def mail(n: int, sender: str = "anna@example.se", **kwargs: object) -> InboundMessage:
    """The `n`th e-mail from `sender`: Swedish feedback with its own Message-ID."""
    fields: dict[str, object] = {
        "channel": Channel.EMAIL,
        "external_id": f"m{n}@example.se",
        "message_id": f"<m{n}@example.se>",
        "sender_address": sender,
        "sender_name": "Anna",
        "subject": f"Synpunkt {n}",
        "text": "Jag vill lämna en synpunkt på bemötandet.",
        "language": "sv",
        "raw": b"raw",
    }
    fields.update(kwargs)
    return InboundMessage(**fields)  # type: ignore[arg-type]


async def take(db: Database, msg: InboundMessage, clock: Clock) -> Receipt:
    """`msg` taken in by `receive()`, committed."""
    async with unit_of_work(db.sessions) as session:
        return await receive(session, msg, policy=POLICY, now=clock())


async def take_batch(db: Database, msgs: list[InboundMessage], clock: Clock) -> None:
    """The worker's way in: ledger rows first, then one `receive_many()` for all of them."""
    async with unit_of_work(db.sessions) as session:
        items = []
        for msg in msgs:
            row_id = await ledger.record(
                session, channel=msg.channel, external_id=msg.external_id, raw=msg.raw, now=clock()
            )
            row = await session.get(IntakeRecord, row_id)
            assert row is not None
            items.append((msg, row))
        await receive_many(session, items, policy=POLICY, now=clock())


async def eventually(
    check: Callable[[], bool | Awaitable[bool]], what: str, *, seconds: float = GUARD
) -> None:
    """Polls `check` (plain or async) until it holds; fails the test after `seconds`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if loop.time() > deadline:
            pytest.fail(f"timed out waiting until {what}")
        await asyncio.sleep(0.02)


def cli_env(tmp_path: Path, **settings: str) -> dict[str, str]:
    """The environment of a `synpunkt` command on a SQLite database in `tmp_path`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNPUNKT_")}
    return {**env, "SYNPUNKT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/cli.db", **settings}


def synpunkt(
    tmp_path: Path, *args: str, stdin: str = "", **settings: str
) -> subprocess.CompletedProcess[str]:
    """Runs `synpunkt ARGS` as a subprocess, as an operator would (`python -m inbox.cli`)."""
    env = cli_env(tmp_path, **settings)
    return subprocess.run(
        [sys.executable, "-m", "inbox.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=False,
        timeout=120,
    )


def bounce_of(
    original: bytes,
    *,
    recipient: str,
    status: str = "5.1.1",
    action: str = "failed",
    diagnostic: str = "smtp; 550 5.1.1 <{recipient}>: Recipient address rejected: User unknown",
    quoted: str = "text/rfc822-headers",
    sender: str = "MAILER-DAEMON@mx.example.se",
    message_id: str = "bounce.1@mx.example.se",
) -> bytes:
    """A delivery status notification (RFC 3464, as Postfix writes one) about `original`: a
    multipart/report with the human text, the delivery-status fields, and `original`'s headers
    (`text/rfc822-headers`) or all of it (`message/rfc822`)."""
    original = original.replace(b"\r\n", b"\n")
    head, _, _ = original.partition(b"\n\n")
    copy = (head + b"\n" if quoted == "text/rfc822-headers" else original).decode("utf-8")
    diagnostic = diagnostic.format(recipient=recipient)
    text = f"""From: Mail Delivery System <{sender}>
To: synpunkt@synpunkt.example
Subject: Undelivered Mail Returned to Sender
Date: Tue, 10 Mar 2026 12:05:00 +0100
Message-ID: <{message_id}>
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B0UND"

This is a MIME-encapsulated message.

--B0UND
Content-Description: Notification
Content-Type: text/plain; charset=utf-8

This is the mail system at host mx.example.se.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients.

<{recipient}>: {diagnostic}

--B0UND
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.se
Arrival-Date: Tue, 10 Mar 2026 12:04:58 +0100

Final-Recipient: rfc822; {recipient}
Original-Recipient: rfc822;{recipient}
Action: {action}
Status: {status}
Remote-MTA: dns; mail.example.se
Diagnostic-Code: {diagnostic}

--B0UND
Content-Description: Undelivered Message Headers
Content-Type: {quoted}

{copy}
--B0UND--
"""
    return text.replace("\n", "\r\n").encode("utf-8")


async def query_plans(db: Database, statements: Mapping[str, Executable]) -> dict[str, str]:
    """Each statement's plan on the test database, its steps joined by " / ". PostgreSQL is told
    not to scan tables sequentially: the test tables are tiny, and a scan would be its right
    choice there; what is asked is whether an index can answer."""
    plans = {}
    async with db.engine.connect() as connection:
        if db.backend == "postgresql":
            await connection.execute(text("SET enable_seqscan = off"))
        explain = "EXPLAIN QUERY PLAN " if db.backend == "sqlite" else "EXPLAIN "
        for name, statement in statements.items():
            sql = statement.compile(
                dialect=db.engine.dialect, compile_kwargs={"literal_binds": True}
            )
            rows = (await connection.execute(text(explain + str(sql)))).all()
            plans[name] = " / ".join(str(row[-1]) for row in rows)
    return plans
