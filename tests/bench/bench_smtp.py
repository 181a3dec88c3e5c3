"""SMTP intake throughput and memory: a bare aiosmtpd server against our edge and the whole pipeline.

For 1, 8 and 32 concurrent clients, on SQLite (and PostgreSQL when SYNPUNKT_TEST_POSTGRES_URL is
set), measured in one run: (a) a bare aiosmtpd server that only answers 250, (b) `start_smtp_server`
(250 after the ledger commit), (c) delivery to committed case with its acknowledgement queued, with
an in-process `Worker`, and (d) that worker alone draining a ledger filled beforehand, against the
stdlib's compat32 parse of the same messages in the same process (a measure of the machine's speed
at that moment); then (e) the server's peak RSS during bursts of 1,000, 2,500 and 5,000 messages.
The clients run in a separate process, as a sending MTA would, so that the server's event loop
does only server work. Results are printed as Markdown tables.

Shorter runs: BENCH_SMTP_CLIENTS (default "1,8,32"), BENCH_SMTP_BURSTS ("1000,2500,5000"; empty
for none), BENCH_SMTP_RATE_MESSAGES (2000, per rate of (a) and (b)), BENCH_SMTP_E2E_MESSAGES (500)
and BENCH_SMTP_WORKER_MESSAGES (2000, per rate of (d)). The worker parses in processes as
`synpunkt serve` does: SYNPUNKT_PARSE_PROCESSES of them (by default two, at most one per CPU).
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import SMTP as SMTP_POLICY
from email.policy import compat32
from email.utils import format_datetime
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import aiosmtplib
import asyncpg
import psutil
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from inbox.cli.wiring import intake_parsers, intake_policy, parse_pool
from inbox.core.db import create_engine, read_sessions, session_factory, unit_of_work
from inbox.core.migrate import upgrade
from inbox.core.models import Case
from inbox.intake import ledger
from inbox.runners.intake_runner import IntakeRunner
from inbox.runners.outbox_runner import OutboxRunner
from inbox.runners.parse_pool import Parsing
from inbox.runners.worker import Worker
from inbox.settings import Settings
from mail.keys import ledger_key
from mail.parse import parse_email
from mail.smtp import start_smtp_server

INTAKE = "synpunkt@bench.example"
HOSTNAME = "mx.bench.example"
MAX_SIZE = 25 * 1024 * 1024


def _counts(name: str, default: str) -> tuple[int, ...]:
    return tuple(int(n) for n in os.environ.get(name, default).split(",") if n.strip())


CONCURRENCY = _counts("BENCH_SMTP_CLIENTS", "1,8,32")
RATE_MESSAGES = int(os.environ.get("BENCH_SMTP_RATE_MESSAGES", "2000"))  # per rate of (a), (b)
E2E_MESSAGES = int(os.environ.get("BENCH_SMTP_E2E_MESSAGES", "500"))  # per rate of (c)
WORKER_MESSAGES = int(os.environ.get("BENCH_SMTP_WORKER_MESSAGES", "2000"))  # per rate of (d)
BURSTS = _counts("BENCH_SMTP_BURSTS", "1000,2500,5000")
BURST_CLIENTS = 8
LEDGER_GROUP = 100  # messages per ledger transaction when (d) fills the ledger (the edge's most)
WARM_UP_PARSES = 50  # per parse process, before timing: its start, imports, lingua's models (loaded
# at the first message the word count cannot settle, about one in seven)
# Issue 12: (c) ≥ 25 % of (a) with 8 clients on SQLite and ≥ 20 % on PostgreSQL; (d) ≥ 300 a second
# on SQLite. The acceptance goal (issue 4) is for every row.
GOALS = {"accept": 0.50}
END_TO_END_GOALS = {"sqlite": 0.25, "postgresql": 0.20}
END_TO_END_CLIENTS = 8
WORKER_GOAL = 300.0  # messages a second, on SQLite

_SENTENCES = [
    "Jag vill lämna synpunkter på hur min ansökan om ekonomiskt bistånd hanterades.",
    "Handläggaren var vänlig men jag fick vänta länge på beslut och ingen ringde tillbaka.",
    "Min mamma har hemtjänst och personalen kommer ofta sent, ibland inte alls.",
    "Tack till personalen på boendet som tog så väl hand om min bror under sommaren.",
    "Det är svårt att förstå beslutet och jag vet inte hur jag överklagar det.",
    "Kan ni förklara varför besöket ställdes in utan att någon hörde av sig?",
    "Jag föreslår att ni skickar sms-påminnelser inför möten med socialsekreteraren.",
    "Vi har ringt flera gånger men telefontiden är alltid full redan efter tio minuter.",
    "I would like to complain about the interpreter who did not show up at the meeting.",
    "Barnen trivs bra i familjehemmet och kontaktpersonen har varit ett stort stöd.",
]


# Messages and clients (the clients run in a child process) ----------------------------------------


def build_message(run: str, i: int) -> bytes:
    """A realistic message of a few KB; every third has an HTML part, every fifth an attachment."""
    rnd = random.Random(f"{run}:{i}")
    text = "\n\n".join(
        " ".join(rnd.choice(_SENTENCES) for _ in range(rnd.randint(3, 6)))
        for _ in range(rnd.randint(4, 9))
    )
    msg = EmailMessage()
    msg["From"] = f"Person {i} <person{i}.{run}@example.org>"
    msg["To"] = f"Socialtjänsten <{INTAKE}>"
    msg["Subject"] = f"Synpunkt {i}: {rnd.choice(_SENTENCES)[:40]}"
    msg["Date"] = format_datetime(datetime(2026, 3, 10, 9, 0, tzinfo=UTC))
    msg["Message-ID"] = f"<{run}.{i}@sender.example>"
    msg.set_content(f"Hej!\n\n{text}\n\nMed vänliga hälsningar\nPerson {i}\n")
    if i % 3 == 0:
        paragraphs = "".join(f"<p>{p}</p>" for p in text.split("\n\n"))
        msg.add_alternative(f"<html><body><p>Hej!</p>{paragraphs}</body></html>", subtype="html")
    if i % 5 == 0:
        data = rnd.randbytes(rnd.randint(20_000, 60_000))
        msg.add_attachment(
            b"%PDF-1.4\n" + data, maintype="application", subtype="pdf", filename="intyg.pdf"
        )
    return msg.as_bytes(policy=SMTP_POLICY)


@dataclass(frozen=True)
class Sent:
    """One burst as the client saw it. CLOCK_MONOTONIC is system-wide on Linux, so the parent can
    compare `start` and `end` with its own clock."""

    start: float
    end: float
    failures: int
    client_cpu: float  # the client process's CPU use during the burst (1.0 = one core)


def blast(port: int, total: int, clients: int, run: str) -> Sent:
    """In the child: sends `total` messages over `clients` connections (built beforehand)."""
    messages = [build_message(run, i) for i in range(total)]
    return asyncio.run(_blast(port, messages, clients))


async def _blast(port: int, messages: list[bytes], clients: int) -> Sent:
    connections = [
        aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False, timeout=120)
        for _ in range(clients)
    ]
    await asyncio.gather(*(c.connect() for c in connections))
    failures = 0

    async def send(client: aiosmtplib.SMTP, share: list[bytes]) -> None:
        nonlocal failures
        for raw in share:
            try:
                await client.sendmail("sender@example.org", [INTAKE], raw)
            except aiosmtplib.SMTPException:
                failures += 1

    start, cpu = time.monotonic(), time.process_time()
    await asyncio.gather(*(send(c, messages[k::clients]) for k, c in enumerate(connections)))
    end = time.monotonic()
    busy = (time.process_time() - cpu) / (end - start)
    for client in connections:
        client.close()
    return Sent(start, end, failures, busy)


# Databases ------------------------------------------------------------------------------------------


@dataclass
class Backend:
    name: str
    template: str  # a migrated SQLite file, or a PostgreSQL template database's name
    admin_url: str | None = None
    base_url: str | None = None


@asynccontextmanager
async def fresh_database(backend: Backend, workdir: Path) -> AsyncIterator[str]:
    """A new migrated database for one measurement, so earlier runs do not weigh on it."""
    if backend.name == "sqlite":
        path = workdir / f"{uuid.uuid4().hex}.db"
        await asyncio.to_thread(shutil.copyfile, backend.template, path)
        try:
            yield f"sqlite+aiosqlite:///{path}"
        finally:
            await asyncio.to_thread(_remove_sqlite, path)
        return
    assert backend.admin_url and backend.base_url
    name = f"synpunkt_bench_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(backend.admin_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{backend.template}"')
        yield make_url(backend.base_url).set(database=name).render_as_string(hide_password=False)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def _remove_sqlite(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


async def prepare_backends(workdir: Path) -> list[Backend]:
    template = workdir / "template.db"
    await asyncio.to_thread(upgrade, f"sqlite+aiosqlite:///{template}")
    backends = [Backend("sqlite", str(template))]
    pg = os.environ.get("SYNPUNKT_TEST_POSTGRES_URL")
    if pg:
        admin_url = make_url(pg).set(drivername="postgresql").render_as_string(hide_password=False)
        name = f"synpunkt_bench_tpl_{uuid.uuid4().hex[:8]}"
        admin = await asyncpg.connect(admin_url)
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        url = make_url(pg).set(database=name).render_as_string(hide_password=False)
        await asyncio.to_thread(upgrade, url)
        backends.append(Backend("postgresql", name, admin_url, pg))
    return backends


async def drop_templates(backends: list[Backend]) -> None:
    for backend in backends:
        if backend.admin_url:
            admin = await asyncpg.connect(backend.admin_url)
            try:
                await admin.execute(f'DROP DATABASE IF EXISTS "{backend.template}" WITH (FORCE)')
            finally:
                await admin.close()


# The three servers ------------------------------------------------------------------------------


class _Accept:
    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        return "250 OK"


async def bare_server() -> asyncio.Server:
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        lambda: SMTP(
            _Accept(),
            hostname=HOSTNAME,
            enable_SMTPUTF8=True,
            data_size_limit=MAX_SIZE,
            decode_data=False,
            loop=loop,
        ),
        host="127.0.0.1",
        port=0,
    )


def utcnow() -> datetime:
    return datetime.now(UTC)


def bench_settings(url: str) -> Settings:
    """`synpunkt serve`'s settings for the benchmark's database and intake address; the rest are
    the defaults or the environment's (SYNPUNKT_PARSE_PROCESSES, say), never a .env file."""
    return Settings(database_url=url, intake_addresses=[INTAKE], _env_file=None)  # type: ignore[call-arg]


async def warm_parse_pool(settings: Settings) -> Parsing:
    """The parse pool `synpunkt serve` starts (`wiring.parse_pool`), every process started and
    warmed up, so neither the starts nor the language models' load are timed."""
    pool = parse_pool(settings)
    count = WARM_UP_PARSES * max(1, settings.parse_processes)
    await asyncio.gather(
        *(pool.parse(parse_email, build_message("warm-up", i)) for i in range(count))
    )
    return pool


class TimedWorker(Worker):
    """The worker, counting the ledger rows its rounds finished and noting when: a round counts
    them once their transaction committed, so a measurement ends there without polling the
    database beside the worker (a poll every few milliseconds is work the worker would share its
    event loop and SQLite's lock with)."""

    def __init__(self, intake: IntakeRunner, outbox: OutboxRunner) -> None:
        super().__init__(intake, outbox)
        self.finished = 0
        self.last = 0.0  # time.monotonic() when the last rows were finished
        self._progress = asyncio.Event()

    async def process_intake(self) -> int:
        finished = await super().process_intake()
        if finished:
            self.finished += finished
            self.last = time.monotonic()
            self._progress.set()
        return finished

    async def until(self, count: int) -> float:
        """When `count` rows were finished."""
        while self.finished < count:
            self._progress.clear()
            await self._progress.wait()
        return self.last


def serve_worker(settings: Settings, sessions: Any, parsing: Parsing) -> TimedWorker:
    """The worker as `wiring.build_worker` builds it for `synpunkt serve` (the same parsers,
    policy, batch limits and parse pool), but with no senders: a measurement ends once every
    acknowledgement is queued, and sending them would only take the event loop from intake."""
    return TimedWorker(
        IntakeRunner(
            sessions,
            parsers=intake_parsers(settings),
            policy=intake_policy(settings),
            clock=utcnow,
            parsing=parsing,
            batch_bytes=settings.intake_batch_mb * 1024 * 1024,
            max_attempts=settings.intake_max_attempts,
        ),
        OutboxRunner(sessions, senders={}, clock=utcnow),
    )


async def count_cases(sessions: Any) -> int:
    """The committed cases: the check, after a measurement, that every message became one."""
    async with read_sessions(sessions)() as session:
        return int((await session.execute(select(func.count()).select_from(Case))).scalar_one())


@asynccontextmanager
async def pipeline(url: str, *, worker: bool) -> AsyncIterator[tuple[int, Any, TimedWorker | None]]:
    """Our SMTP edge on `url` (and the worker, if asked); yields the port, the sessions and the
    worker."""
    settings = bench_settings(url)
    engine = create_engine(url)
    sessions = session_factory(engine)
    stop = asyncio.Event()
    task = None
    wake = None
    pool = None
    the_worker = None
    if worker:
        pool = await warm_parse_pool(settings)
        the_worker = serve_worker(settings, sessions, pool)
        wake = the_worker.wake
        task = asyncio.create_task(the_worker.run(stop))
    server = await start_smtp_server(
        sessions=sessions,
        intake_addresses=[INTAKE],
        hostname=HOSTNAME,
        host="127.0.0.1",
        port=0,
        max_size=MAX_SIZE,
        clock=utcnow,
        on_commit=wake,
    )
    try:
        yield server.sockets[0].getsockname()[1], sessions, the_worker
    finally:
        server.close()
        await server.wait_closed()
        stop.set()
        if task is not None:
            await task
        if pool is not None:
            pool.close()
        await engine.dispose()


async def fill_ledger(sessions: Any, messages: list[bytes]) -> None:
    """The ledger as the SMTP edge leaves it after accepting `messages`: the same key, envelope
    and insert (`ledger.record`), committed in groups as its writer commits them."""
    for start in range(0, len(messages), LEDGER_GROUP):
        async with unit_of_work(sessions) as session:
            for raw in messages[start : start + LEDGER_GROUP]:
                await ledger.record(
                    session,
                    channel="email",
                    external_id=ledger_key(raw),
                    raw=raw,
                    now=utcnow(),
                    envelope_sender="sender@example.org",
                    envelope_recipients=[INTAKE],
                )


def compat32_rate(messages: list[bytes]) -> float:
    """Messages a second the stdlib's compat32 parser reads (the MIME tree only), in this process:
    the machine's speed at the moment, for the ratio of (d)."""
    parser = BytesParser(policy=compat32)
    start = time.perf_counter()
    for raw in messages:
        parser.parsebytes(raw)
    return len(messages) / (time.perf_counter() - start)


# Measurements -----------------------------------------------------------------------------------


@dataclass
class Row:
    backend: str
    clients: int
    bare: float = 0.0
    accept: float = 0.0
    end_to_end: float = 0.0
    worker: float = 0.0  # (d): the worker alone
    compat32: float = 0.0  # the stdlib's parse of the same messages, measured just before (d)
    client_cpu: float = 0.0  # during the bare run: shows whether the client was the limit
    failures: int = 0


@dataclass
class MemoryRow:
    backend: str
    burst: int
    before_mb: float
    peak_mb: float
    rate: float
    failures: int


@dataclass
class Bench:
    pool: ProcessPoolExecutor
    workdir: Path
    rows: list[Row] = field(default_factory=list)
    memory: list[MemoryRow] = field(default_factory=list)

    async def send(self, port: int, total: int, clients: int) -> Sent:
        run = uuid.uuid4().hex[:8]
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.pool, blast, port, total, clients, run)

    async def bare(self, clients: int) -> tuple[float, Sent]:
        server = await bare_server()
        try:
            sent = await self.send(_port(server), RATE_MESSAGES, clients)
        finally:
            server.close()
            await server.wait_closed()
        return RATE_MESSAGES / (sent.end - sent.start), sent

    async def accept(self, backend: Backend, clients: int) -> tuple[float, Sent]:
        async with fresh_database(backend, self.workdir) as url:
            async with pipeline(url, worker=False) as (port, _, _):
                sent = await self.send(port, RATE_MESSAGES, clients)
        return RATE_MESSAGES / (sent.end - sent.start), sent

    async def end_to_end(self, backend: Backend, clients: int) -> tuple[float, Sent]:
        """From the first delivery until every message is a committed case (ack queued)."""
        async with fresh_database(backend, self.workdir) as url:
            async with pipeline(url, worker=True) as (port, sessions, worker):
                assert worker is not None
                sent = await self.send(port, E2E_MESSAGES, clients)
                expected = E2E_MESSAGES - sent.failures
                done = await worker.until(expected)
                _check_cases(await count_cases(sessions), expected)
        return expected / (done - sent.start), sent

    async def worker_alone(self, backend: Backend) -> tuple[float, float]:
        """(d): from the worker's start until the filled ledger's every message is a committed
        case (ack queued); and the compat32 parse rate of the same messages just before."""
        run = uuid.uuid4().hex[:8]
        messages = [build_message(run, i) for i in range(WORKER_MESSAGES)]
        async with fresh_database(backend, self.workdir) as url:
            settings = bench_settings(url)
            engine = create_engine(url)
            sessions = session_factory(engine)
            pool = await warm_parse_pool(settings)
            stop = asyncio.Event()
            try:
                await fill_ledger(sessions, messages)
                baseline = compat32_rate(messages)
                the_worker = serve_worker(settings, sessions, pool)
                start = time.monotonic()
                task = asyncio.create_task(the_worker.run(stop))
                done = await the_worker.until(len(messages))
                stop.set()
                await task
                _check_cases(await count_cases(sessions), len(messages))
            finally:
                pool.close()
                await engine.dispose()
        return len(messages) / (done - start), baseline

    async def burst(self, backend: Backend, total: int) -> MemoryRow:
        """Peak RSS while the edge accepts a burst, with the worker running as in `serve`."""
        async with fresh_database(backend, self.workdir) as url:
            async with pipeline(url, worker=True) as (port, _, _):
                # The client process is not the server's memory; the parse process is.
                sampler = RssSampler(exclude=set(self.pool._processes or {}))  # type: ignore[attr-defined]
                sent = await self.send(port, total, BURST_CLIENTS)
                before, peak = sampler.stop()
        rate = (total - sent.failures) / (sent.end - sent.start)
        return MemoryRow(backend.name, total, before, peak, rate, sent.failures)

    async def run(self, backends: list[Backend]) -> None:
        for clients in CONCURRENCY:  # warm-up: imports, the child process, the first connections
            await self.bare(clients)
        for backend in backends:
            for clients in CONCURRENCY:
                row = Row(backend.name, clients)
                row.bare, bare = await self.bare(clients)
                row.accept, accepted = await self.accept(backend, clients)
                row.end_to_end, e2e = await self.end_to_end(backend, clients)
                row.worker, row.compat32 = await self.worker_alone(backend)
                row.client_cpu = bare.client_cpu
                row.failures = bare.failures + accepted.failures + e2e.failures
                self.rows.append(row)
                print(_row_line(row), flush=True)
        for backend in backends:
            for total in BURSTS:
                self.memory.append(await self.burst(backend, total))
                print(_memory_line(self.memory[-1]), flush=True)


class RssSampler:
    """The server's resident set size, sampled every 10 ms from a thread: this process plus its
    parse processes (its children other than the benchmark's own client process)."""

    def __init__(self, *, exclude: set[int]) -> None:
        self._process = psutil.Process()
        self._exclude = exclude
        self.before = self._rss()
        self.peak = self.before
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, self._rss())

    def _rss(self) -> int:
        total = self._process.memory_info().rss
        for child in self._process.children(recursive=True):
            if child.pid not in self._exclude:
                try:
                    total += child.memory_info().rss
                except psutil.NoSuchProcess:
                    pass
        return total

    def stop(self) -> tuple[float, float]:
        self._stop.set()
        self._thread.join()
        return self.before / 2**20, self.peak / 2**20


def _check_cases(cases: int, expected: int) -> None:
    if cases != expected:
        raise RuntimeError(
            f"{expected} messages finished but {cases} cases: not a valid measurement"
        )


def _port(server: asyncio.Server) -> int:
    return int(server.sockets[0].getsockname()[1])


# Report -----------------------------------------------------------------------------------------

RATE_HEADER = (
    "| backend | clients | (a) bare aiosmtpd | (b) accepted: 250 after commit | (b) ÷ (a) "
    "| (c) end-to-end: case + ack queued | (c) ÷ (a) | (d) worker alone | compat32 parse "
    "| (d) ÷ compat32 | client CPU in (a) |\n"
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
)
MEMORY_HEADER = (
    "| backend | burst (messages, 8 clients) | RSS before (MB) | peak RSS (MB) | growth (MB) "
    "| accepted (msg/s) |\n|---|---:|---:|---:|---:|---:|"
)


def _row_line(row: Row) -> str:
    note = f" ({row.failures} failed)" if row.failures else ""
    return (
        f"| {row.backend} | {row.clients} | {row.bare:,.0f} | {row.accept:,.0f} "
        f"| {row.accept / row.bare:.0%} | {row.end_to_end:,.0f}{note} "
        f"| {row.end_to_end / row.bare:.0%} | {row.worker:,.0f} | {row.compat32:,.0f} "
        f"| {row.worker / row.compat32:.1%} | {row.client_cpu:.0%} |"
    )


def _memory_line(row: MemoryRow) -> str:
    note = f" ({row.failures} failed)" if row.failures else ""
    return (
        f"| {row.backend} | {row.burst:,} | {row.before_mb:.0f} | {row.peak_mb:.0f} "
        f"| {row.peak_mb - row.before_mb:+.0f} | {row.rate:,.0f}{note} |"
    )


def report(bench: Bench) -> str:
    lines = ["## Rates (messages per second)", "", RATE_HEADER, *map(_row_line, bench.rows), ""]
    if bench.memory:
        lines += ["## Memory", "", MEMORY_HEADER, *map(_memory_line, bench.memory), ""]
    lines += ["## Goals", ""]
    worst = min(r.accept / r.bare for r in bench.rows)
    met = "met" if worst >= GOALS["accept"] else "NOT met"
    lines.append(f"- acceptance ≥ {GOALS['accept']:.0%} of bare: worst {worst:.0%} — {met}")
    for r in bench.rows:
        goal = END_TO_END_GOALS.get(r.backend)
        if r.clients == END_TO_END_CLIENTS and goal is not None:
            met = "met" if r.end_to_end / r.bare >= goal else "NOT met"
            lines.append(
                f"- end-to-end on {r.backend} with {r.clients} clients ≥ {goal:.0%} of bare: "
                f"{r.end_to_end / r.bare:.0%} — {met}"
            )
    for backend in dict.fromkeys(r.backend for r in bench.rows):
        rates = [r.worker for r in bench.rows if r.backend == backend]
        note = ""
        if backend == "sqlite":
            met = "met" if min(rates) >= WORKER_GOAL else "NOT met"
            note = f" (≥ {WORKER_GOAL:,.0f} on SQLite: {met})"
        lines.append(
            f"- the worker alone on {backend}: {', '.join(f'{x:,.0f}' for x in rates)} "
            f"messages a second{note}"
        )
    for backend in dict.fromkeys(m.backend for m in bench.memory):
        growth = [m.peak_mb - m.before_mb for m in bench.memory if m.backend == backend]
        lines.append(
            f"- memory on {backend}: growth {', '.join(f'{g:+.0f}' for g in growth)} MB "
            f"for bursts of {', '.join(f'{b:,}' for b in BURSTS)}"
        )
    return "\n".join(lines)


async def _main() -> None:
    with tempfile.TemporaryDirectory(prefix="synpunkt-bench-") as tmp:
        workdir = Path(tmp)
        backends = await prepare_backends(workdir)
        pool = ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn"))
        bench = Bench(pool, workdir)
        try:
            print(
                f"{os.cpu_count()} CPUs; {RATE_MESSAGES:,} messages per rate of (a) and (b), "
                f"{E2E_MESSAGES:,} per rate of (c), {WORKER_MESSAGES:,} per rate of (d); "
                f"{bench_settings('sqlite+aiosqlite://').parse_processes} parse process(es)\n",
                flush=True,
            )
            print(RATE_HEADER, flush=True)
            await bench.run(backends)
        finally:
            pool.shutdown()
            await drop_templates(backends)
        print("\n" + report(bench))


def main() -> None:
    asyncio.run(_main())


if __name__ == "__main__":
    main()
