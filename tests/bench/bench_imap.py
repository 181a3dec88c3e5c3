"""IMAP backlog intake against imapclient alone, on one Dovecot, in one run.

A Dovecot on loopback (tests/mail/dovecot.py; Debian's dovecot-imapd, run as root) holds a backlog
of N realistic messages (the same generator as bench_smtp). For each database backend (SQLite, and
PostgreSQL when SYNPUNKT_TEST_POSTGRES_URL is set), with the same messages:

- (a) bare fetch: imapclient alone logs in, selects INBOX and fetches every message with
  `UID FETCH … (BODY.PEEK[])` in batches of the poller's size; nothing is stored.
- (b) committed to the ledger: `mail.imap.ImapPoller` from start until every message is a
  committed ledger row (the position committed with it; each batch moved afterwards).
- (c) committed cases: a fresh backlog, the poller and an in-process `Worker` (parsing in one
  process of its own, as `synpunkt serve` does), until every message is a committed case with
  its acknowledgement queued.

Prints Markdown tables; `python -m tests.bench imap` (N from SYNPUNKT_BENCH_IMAP_MESSAGES).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from imapclient import IMAPClient
from sqlalchemy import func, select

from inbox.core.db import create_engine, session_factory
from inbox.core.models import Case, IntakeRecord
from inbox.intake.receive import IntakePolicy
from inbox.runners.intake_runner import IntakeRunner
from inbox.runners.outbox_runner import OutboxRunner
from inbox.runners.parse_pool import ParsePool
from inbox.runners.worker import Worker
from mail.imap import ImapConfig, ImapPoller
from mail.parse import parse_email
from tests.bench.bench_smtp import (
    Backend,
    build_message,
    drop_templates,
    fresh_database,
    prepare_backends,
)
from tests.mail.dovecot import PASSWORD, USER, Dovecot, available

MESSAGES = int(os.environ.get("SYNPUNKT_BENCH_IMAP_MESSAGES", "1500"))
BATCH = 200  # the poller's default batch size, used for (a) too
GOAL = 0.50


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Row:
    backend: str
    bare: float
    ledger: float
    cases: float
    megabytes: float


def bare_fetch(server: Dovecot) -> float:
    """(a): seconds for imapclient alone to fetch the whole mailbox."""
    start = time.monotonic()
    with IMAPClient("127.0.0.1", port=server.port, ssl=False, timeout=60) as client:
        client.login(USER, PASSWORD)
        client.select_folder("INBOX")
        uids = sorted(client.search(["ALL"]))
        fetched = 0
        for i in range(0, len(uids), BATCH):
            batch = uids[i : i + BATCH]
            fetched += len(client.fetch(batch, [b"BODY.PEEK[]"]))
    elapsed = time.monotonic() - start
    assert fetched == len(uids) == MESSAGES, (fetched, len(uids))
    return elapsed


def fill(server: Dovecot) -> float:
    """A fresh backlog of MESSAGES distinct messages; returns its size in MB."""
    run = uuid.uuid4().hex[:8]
    messages = [build_message(run, i) for i in range(MESSAGES)]
    server.append(messages)
    assert server.count() == MESSAGES
    return sum(map(len, messages)) / 2**20


def config(server: Dovecot) -> ImapConfig:
    return ImapConfig(
        host="127.0.0.1",
        port=server.port,
        user=USER,
        password=PASSWORD,
        tls="starttls",
        require_tls=False,
        batch_size=BATCH,
    )


async def ingest(server: Dovecot, url: str, *, pool: ParsePool | None) -> float:
    """(b) without a pool (until committed to the ledger), (c) with one (until cases)."""
    engine = create_engine(url)
    sessions = session_factory(engine)
    stop = asyncio.Event()
    tasks = []
    wake: Callable[[], None] | None = None
    target = IntakeRecord if pool is None else Case
    if pool is not None:
        worker = Worker(
            IntakeRunner(
                sessions,
                parsers={"email": parse_email},
                policy=IntakePolicy(),
                clock=utcnow,
                parsing=pool,
            ),
            OutboxRunner(sessions, senders={}, clock=utcnow),
        )
        wake = worker.wake
        tasks.append(asyncio.create_task(worker.run(stop)))
    poller = ImapPoller(
        config(server), engine=engine, sessions=sessions, clock=utcnow, on_commit=wake
    )

    async def committed() -> int:
        async with sessions() as session:
            query = select(func.count()).select_from(target)
            return int((await session.execute(query)).scalar_one())

    start = time.monotonic()
    tasks.append(asyncio.create_task(poller.run(stop)))
    try:
        # Polling the database is the measurement: a message counts once it is committed.
        while await committed() < MESSAGES:
            if time.monotonic() - start > 900:
                raise RuntimeError(f"stuck at {await committed()} of {MESSAGES}")
            await asyncio.sleep(0.01)
        elapsed = time.monotonic() - start
    finally:
        stop.set()
        await asyncio.gather(*tasks)
        await engine.dispose()
    return elapsed


async def measure(server: Dovecot, backend: Backend, workdir: Path, pool: ParsePool) -> Row:
    megabytes = await asyncio.to_thread(fill, server)
    bare = await asyncio.to_thread(bare_fetch, server)
    async with fresh_database(backend, workdir) as url:
        ledger = await ingest(server, url, pool=None)
    await asyncio.to_thread(fill, server)
    async with fresh_database(backend, workdir) as url:
        cases = await ingest(server, url, pool=pool)
    return Row(backend.name, MESSAGES / bare, MESSAGES / ledger, MESSAGES / cases, megabytes)


HEADER = (
    "| backend | messages (MB) | (a) bare imapclient fetch | (b) committed to the ledger "
    "| (b) ÷ (a) | (c) committed cases, ack queued | (c) ÷ (a) |\n"
    "|---|---:|---:|---:|---:|---:|---:|"
)


def line(row: Row) -> str:
    return (
        f"| {row.backend} | {MESSAGES:,} ({row.megabytes:.1f}) | {row.bare:,.0f} "
        f"| {row.ledger:,.0f} | {row.ledger / row.bare:.0%} | {row.cases:,.0f} "
        f"| {row.cases / row.bare:.0%} |"
    )


async def _main() -> None:
    if not available():
        print("Dovecot is not installed (apt-get install dovecot-imapd) or not root: skipped")
        return
    server = Dovecot()
    server.start()
    pool = ParsePool(processes=1, preload=[parse_email])
    # Warm-up: the parse process and its language models are not timed.
    await pool.parse(parse_email, build_message("warm-up", 0))
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="synpunkt-bench-") as tmp:
        workdir = Path(tmp)
        backends = await prepare_backends(workdir)
        try:
            print(f"{os.cpu_count()} CPUs; {MESSAGES:,} messages per measurement\n")
            print(HEADER, flush=True)
            for backend in backends:
                rows.append(await measure(server, backend, workdir, pool))
                print(line(rows[-1]), flush=True)
        finally:
            pool.close()
            server.close()
            await drop_templates(backends)
    print()
    for row in rows:
        for name, rate in (("ledger", row.ledger), ("cases", row.cases)):
            met = "met" if rate / row.bare >= GOAL else "NOT met"
            print(
                f"- {row.backend}, {name}: {rate / row.bare:.0%} of bare (goal {GOAL:.0%}): {met}"
            )


def main() -> None:
    asyncio.run(_main())


if __name__ == "__main__":
    main()
