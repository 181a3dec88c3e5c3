"""IMAP intake against a real Dovecot on loopback: IDLE, moving after commit, reconnects,
UIDVALIDITY changes, unreadable and oversize mail, TLS, one poller per mailbox, `/healthz`.

Every wait is a deadline loop on the database or the server, never a fixed sleep.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from inbox.core.db import unit_of_work
from inbox.core.models import Case, ImapMailbox, IntakeRecord, IntakeStatus
from inbox.intake.receive import IntakePolicy
from inbox.runners.intake_runner import IntakeRunner
from inbox.runners.outbox_runner import OutboxRunner
from inbox.runners.worker import Worker
from inbox.staff.tokens import create_token
from inbox.web.app import create_app
from mail import imap_state
from mail.imap import ImapConfig, ImapPoller, config_from_url
from mail.keys import ledger_key
from mail.parse import parse_email
from tests.conftest import SECRET_KEY, Database, require_component
from tests.factories import eventually
from tests.mail.dovecot import PASSWORD, USER, Dovecot, available, config_for, free_port

PROCESSED = "Synpunkt.Behandlat"  # "Synpunkt/Behandlat" with Dovecot's maildir separator


def utcnow() -> datetime:
    return datetime.now(UTC)


def letter(n: int, *, run: str = "t", message_id: bool = True, size: int = 0) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Invånare {n} <person{n}.{run}@example.org>"
    msg["To"] = USER
    msg["Subject"] = f"Synpunkt {n} om hemtjänsten"
    if message_id:
        msg["Message-ID"] = f"<{run}.{n}@example.org>"
    msg.set_content("Hej! Personalen kommer ofta sent och ingen ringer.\n" + "x" * size)
    return msg.as_bytes(policy=SMTP_POLICY)


@asynccontextmanager
async def running(
    db: Database, config: ImapConfig, *, worker: bool = True
) -> AsyncIterator[ImapPoller]:
    """The poller (and a worker, woken by it, as in `synpunkt serve`) until the block ends."""
    stop = asyncio.Event()
    tasks = []
    wake = None
    if worker:
        the_worker = Worker(
            IntakeRunner(
                db.sessions, parsers={"email": parse_email}, policy=IntakePolicy(), clock=utcnow
            ),
            OutboxRunner(db.sessions, senders={}, clock=utcnow),
            poll_interval=0.2,
        )
        wake = the_worker.wake
        tasks.append(asyncio.create_task(the_worker.run(stop)))
    poller = ImapPoller(
        config, engine=db.engine, sessions=db.sessions, clock=utcnow, on_commit=wake
    )
    tasks.append(asyncio.create_task(poller.run(stop)))
    try:
        yield poller
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=60)


async def count(db: Database, model: Any, *where: Any) -> int:
    async with db.sessions() as session:
        query = select(func.count()).select_from(model)
        for condition in where:
            query = query.where(condition)
        return int((await session.execute(query)).scalar_one())


async def ledger(db: Database) -> list[IntakeRecord]:
    async with db.sessions() as session:
        return list((await session.execute(select(IntakeRecord))).scalars())


async def position(db: Database, config: ImapConfig) -> ImapMailbox | None:
    async with db.sessions() as session:
        return (
            await session.execute(
                select(ImapMailbox).where(ImapMailbox.mailbox_key == config.key)  # type: ignore[arg-type]
            )
        ).scalar_one_or_none()


def cases_are(db: Database, n: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return await count(db, Case) == n

    return check


def state_is(poller: ImapPoller, state: str) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return poller.status.state == state

    return check


async def server_count(server: Dovecot, folder: str = "INBOX") -> int:
    return await asyncio.to_thread(server.count, folder)


async def test_a_batch_stores_each_key_once_with_its_position(db: Database) -> None:
    raws = [letter(1), letter(2), letter(1), letter(3, message_id=False)]
    fetched = [imap_state.Fetched(n, ledger_key(raw), raw) for n, raw in enumerate(raws, 1)]
    store = imap_state.store_batch
    assert (
        await store(db.sessions, key="k", uidvalidity=7, last_uid=4, messages=fetched, now=utcnow())
        == 3
    )
    assert (
        await store(db.sessions, key="k", uidvalidity=7, last_uid=9, messages=fetched, now=utcnow())
        == 0
    )
    assert await imap_state.load_position(db.sessions, "k") == imap_state.Position(7, 9)
    rows = await ledger(db)
    assert len(rows) == 3 and {r.raw for r in rows} == set(raws)
    assert all(r.status == IntakeStatus.PENDING and r.channel == "email" for r in rows)


# Settings ---------------------------------------------------------------------------------------


def test_url_gives_host_port_mailbox_and_tls_mode() -> None:
    config = config_from_url("imaps://synpunkt%40kommun.se:p%40ss@mail.kommun.se/Synpunkter")
    assert (config.host, config.port, config.user, config.password) == (
        "mail.kommun.se",
        993,
        "synpunkt@kommun.se",
        "p@ss",
    )
    assert config.mailbox == "Synpunkter" and config.tls == "imaps"
    plain = config_from_url("imap://u@mail.kommun.se", password="from-env")
    assert (plain.port, plain.tls, plain.mailbox, plain.password) == (
        143,
        "starttls",
        "INBOX",
        "from-env",
    )
    assert "from-env" not in repr(plain)
    assert config_from_url("imap://u:url@h:1143/INBOX", password="env").password == "env"
    for bad in ("http://u:p@h/INBOX", "imaps://h/INBOX", "imaps://u@h/INBOX", "imaps://u:p@/x"):
        with pytest.raises(ValueError):
            config_from_url(bad)


# Intake -----------------------------------------------------------------------------------------


async def test_message_appended_while_idle_becomes_a_case_and_is_moved(
    db: Database, dovecot: Dovecot
) -> None:
    config = config_for(dovecot)
    async with running(db, config) as poller:
        await eventually(state_is(poller, "idle"), "the poller idles")
        assert poller.status.idle is True
        await asyncio.to_thread(dovecot.append, [letter(1)])
        await eventually(cases_are(db, 1), "the message is a case")

        async def moved() -> bool:
            return await server_count(dovecot) == 0 and await server_count(dovecot, PROCESSED) == 1

        await eventually(moved, "the message is in the processed folder")
        app = create_app(
            secret_key=SECRET_KEY,
            sessions=db.sessions,
            clock=utcnow,
            channel_status=lambda: {"imap": poller.status.as_dict()},
        )
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            health = (await client.get("/healthz")).json()
    imap = health["channels"]["imap"]
    assert imap["mailbox"] == config.key and imap["ok"] is True and imap["last_error"] is None
    assert imap["last_poll_at"] is not None and imap["ingested"] == 1
    assert health["intake"] == {}  # nothing pending or failed
    [row] = await ledger(db)
    assert row.external_id == "t.1@example.org" and row.raw == letter(1)
    stored = await position(db, config)
    assert stored is not None and stored.last_uid == 1 and stored.uidvalidity
    assert stored.last_poll_at is not None
    assert await asyncio.to_thread(dovecot.message_ids, PROCESSED) == ["t.1@example.org"]


async def test_server_dropping_the_connection_loses_and_doubles_nothing(
    db: Database, dovecot: Dovecot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="mail.imap")
    config = config_for(dovecot)
    async with running(db, config, worker=False) as poller:
        await asyncio.to_thread(dovecot.append, [letter(n) for n in range(1, 6)])

        def ledger_has(n: int) -> Callable[[], Awaitable[bool]]:
            async def check() -> bool:
                return await count(db, IntakeRecord) == n and await server_count(dovecot) == 0

            return check

        await eventually(ledger_has(5), "the first five are stored")
        await eventually(state_is(poller, "idle"), "the poller idles")

        # The server hangs up on the session (doveadm kick), then mail arrives.
        await asyncio.to_thread(dovecot.kick)
        await asyncio.to_thread(dovecot.append, [letter(n) for n in range(6, 11)])
        await eventually(ledger_has(10), "the poller reconnected and stored five more")

        # The server goes away for a while, and comes back on the same port.
        await asyncio.to_thread(dovecot.stop)

        async def failing() -> bool:
            return poller.status.state == "reconnecting"

        await eventually(failing, "the poller notices")

        async def retried() -> bool:
            return poller.status.failed_attempts >= 3

        await eventually(retried, "several reconnect attempts have failed")
        await asyncio.to_thread(dovecot.start)
        await asyncio.to_thread(dovecot.append, [letter(n) for n in range(11, 16)])
        await eventually(ledger_has(15), "the poller is back and stored five more")
    rows = await ledger(db)
    assert sorted(r.external_id for r in rows) == sorted(f"t.{n}@example.org" for n in range(1, 16))
    assert await server_count(dovecot, PROCESSED) == 15
    outages = [r for r in caplog.records if "reconnecting with backoff" in r.getMessage()]
    recoveries = [r for r in caplog.records if "working again" in r.getMessage()]
    # Logged once per outage (the kick, the stop), not once per failed attempt.
    assert len(outages) == 2, [r.getMessage() for r in outages]
    assert len(recoveries) == 2
    assert poller.status.last_error is not None and poller.status.as_dict()["ok"] is True


async def test_unreachable_server_is_retried_with_growing_delays_and_logged_once(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="mail.imap")
    nobody = ImapConfig(
        host="127.0.0.1",
        port=free_port(),  # nothing listens there
        user=USER,
        password=PASSWORD,
        tls="starttls",
        require_tls=False,
        backoff_initial=0.1,
        backoff_max=0.8,
    )
    async with running(db, nobody, worker=False) as poller:

        async def retried() -> bool:
            return poller.status.failed_attempts >= 5  # delays 0.1, 0.2, 0.4, 0.8, 0.8

        await eventually(retried, "five attempts have failed")
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "ConnectionRefusedError" in warnings[0].getMessage()
    assert poller.status.as_dict()["ok"] is False
    stored = await position(db, nobody)
    assert stored is not None and stored.last_error and "ConnectionRefused" in stored.last_error


async def test_changed_uidvalidity_reads_everything_again_without_duplicates(
    db: Database, dovecot: Dovecot
) -> None:
    config = config_for(dovecot)
    first = [letter(n) for n in range(1, 6)] + [letter(6, message_id=False)]
    await asyncio.to_thread(dovecot.append, first)
    async with running(db, config):
        await eventually(cases_are(db, 6), "six cases")
    before = await position(db, config)
    assert before is not None and before.last_uid == 6

    # The mailbox is restored: three old messages (one without Message-ID) come back, one new one
    # arrives, and the server numbers the mailbox afresh (new UIDVALIDITY, UIDs from 1).
    def restore() -> None:
        with dovecot.client() as client:
            client.select_folder(PROCESSED)
            uids = sorted(client.search(["ALL"]))
            client.copy([uids[0], uids[1], uids[5]], "INBOX")
        dovecot.append([letter(7)])
        dovecot.new_uidvalidity()

    await asyncio.to_thread(restore)
    async with running(db, config):

        async def settled() -> bool:
            return await count(db, Case) == 7 and await server_count(dovecot) == 0

        await eventually(settled, "the new message is a case and INBOX is empty")
    after = await position(db, config)
    assert after is not None and after.uidvalidity != before.uidvalidity and after.last_uid == 4
    rows = await ledger(db)
    assert len(rows) == 7 and len({r.external_id for r in rows}) == 7
    assert all(r.status == IntakeStatus.DONE for r in rows)


async def test_unparsable_message_is_kept_failed_moved_and_not_fetched_again(
    db: Database, dovecot: Dovecot
) -> None:
    config = config_for(dovecot)
    garbage = b"This is not an e-mail at all, just a line of text.\r\n\r\nNo headers.\r\n"
    async with running(db, config) as poller:
        await asyncio.to_thread(dovecot.append, [garbage])

        async def failed() -> bool:
            return await count(db, IntakeRecord, IntakeRecord.status == IntakeStatus.FAILED) == 1

        await eventually(failed, "the message is marked failed")
        await asyncio.to_thread(dovecot.append, [letter(1)])
        await eventually(cases_are(db, 1), "the next message is a case")
        await eventually(lambda: poller.status.ingested == 2, "the poller counts both")
    # Staff see it, with its raw bytes, as they see SMTP mail that could not be read.
    async with unit_of_work(db.sessions) as session:
        _row, token = await create_token(session, name="staff", now=utcnow(), all_units=True)
    app = create_app(secret_key=SECRET_KEY, sessions=db.sessions, clock=utcnow)
    headers = {"Authorization": f"Bearer {token}"}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://t", headers=headers
    ) as client:
        health = (await client.get("/healthz")).json()
        failed = (await client.get("/api/intake", params={"status": "failed"})).json()["items"]
        raw = (await client.get(failed[0]["raw_url"])).content
    assert health["intake"] == {"failed": 1}
    assert len(failed) == 1 and "cannot parse" in failed[0]["error"] and raw == garbage
    rows = {r.status: r for r in await ledger(db)}
    bad = rows[IntakeStatus.FAILED]
    assert bad.raw == garbage and bad.error is not None and "cannot parse" in bad.error
    assert bad.attempts == 1  # tried once, never again
    stored = await position(db, config)
    assert stored is not None and stored.last_uid == 2
    assert await server_count(dovecot) == 0 and await server_count(dovecot, PROCESSED) == 2
    # A restart reads nothing again: the position is past both.
    async with running(db, config) as poller:
        await eventually(state_is(poller, "idle"), "the poller idles again")
        assert poller.status.ingested == 0
    assert len(await ledger(db)) == 2


async def test_oversize_message_keeps_its_header_marked_failed(
    db: Database, dovecot: Dovecot
) -> None:
    config = config_for(dovecot, max_message_size=4000)
    await asyncio.to_thread(dovecot.append, [letter(1, size=10_000), letter(2)])
    async with running(db, config):
        await eventually(cases_are(db, 1), "the small message is a case")

        async def both() -> bool:
            return await count(db, IntakeRecord) == 2 and await server_count(dovecot) == 0

        await eventually(both, "both are stored and moved")
    big = next(r for r in await ledger(db) if r.status == IntakeStatus.FAILED)
    assert big.external_id == "t.1@example.org" and big.error and "too large" in big.error
    assert big.raw is not None and b"Subject: Synpunkt 1" in big.raw and b"xxxx" not in big.raw
    assert await server_count(dovecot, PROCESSED) == 2


async def test_commit_without_move_is_moved_at_start_and_not_stored_again(
    db: Database, dovecot: Dovecot
) -> None:
    """The process died after committing a batch and before moving it."""
    config = config_for(dovecot)
    raws = [letter(n) for n in range(1, 4)]
    await asyncio.to_thread(dovecot.append, raws)

    def uidvalidity() -> int:
        with dovecot.client() as client:
            return int(client.select_folder("INBOX")[b"UIDVALIDITY"])

    await imap_state.store_batch(
        db.sessions,
        key=config.key,
        uidvalidity=await asyncio.to_thread(uidvalidity),
        last_uid=3,
        messages=[imap_state.Fetched(n, ledger_key(raw), raw) for n, raw in enumerate(raws, 1)],
        now=utcnow(),
    )
    async with running(db, config, worker=False) as poller:

        async def moved() -> bool:
            return await server_count(dovecot, PROCESSED) == 3 and await server_count(dovecot) == 0

        await eventually(moved, "the committed messages are moved")
        await eventually(state_is(poller, "idle"), "the poller idles")
        assert poller.status.ingested == 0
    assert await count(db, IntakeRecord) == 3


async def test_without_processed_folder_messages_are_flagged_and_left(
    db: Database, dovecot: Dovecot
) -> None:
    config = config_for(dovecot, processed_folder=None)
    await asyncio.to_thread(dovecot.append, [letter(n) for n in range(1, 4)])
    async with running(db, config):
        await eventually(cases_are(db, 3), "three cases")

    def flags() -> list[tuple[bytes, ...]]:
        with dovecot.client() as client:
            client.select_folder("INBOX", readonly=True)
            return [d[b"FLAGS"] for d in client.fetch(client.search(["ALL"]), ["FLAGS"]).values()]

    # Flagged right after each commit, before the poller stopped.
    flagged = await asyncio.to_thread(flags)
    assert len(flagged) == 3 and all(b"$Synpunkt" in f and b"\\Seen" in f for f in flagged)
    assert await server_count(dovecot) == 3 and PROCESSED not in dovecot.folders()
    await asyncio.to_thread(dovecot.append, [letter(4)])
    async with running(db, config):
        await eventually(cases_are(db, 4), "the fourth is a case")
    assert await count(db, IntakeRecord) == 4


@pytest.mark.parametrize(
    "capabilities",
    ["IMAP4rev1 LITERAL+ NAMESPACE UIDPLUS", "IMAP4rev1 LITERAL+ NAMESPACE"],
    ids=["uidplus", "plain-expunge"],
)
async def test_server_without_idle_and_move_is_polled_and_copied(
    db: Database, capabilities: str
) -> None:
    require_component("Dovecot", available(), "apt-get install dovecot-imapd")
    server = Dovecot(capabilities=capabilities)
    try:
        await asyncio.to_thread(server.start)
        await asyncio.to_thread(server.append, [letter(1), letter(2)])
        async with running(db, config_for(server), worker=False) as poller:

            async def moved(n: int) -> bool:
                return (
                    await count(db, IntakeRecord) == n
                    and await server_count(server) == 0
                    and await server_count(server, PROCESSED) == n
                )

            await eventually(lambda: moved(2), "the backlog is stored and moved")
            assert poller.status.idle is False
            await eventually(state_is(poller, "polling"), "the poller polls")
            await asyncio.to_thread(server.append, [letter(3)])
            await eventually(lambda: moved(3), "a new message is found by polling")
        ids = await asyncio.to_thread(server.message_ids, PROCESSED)
        assert ids == [f"t.{n}@example.org" for n in (1, 2, 3)]
    finally:
        await asyncio.to_thread(server.close)


async def test_status_stored_for_other_processes_turns_stale(db: Database) -> None:
    raws = [letter(1)]
    now = utcnow()
    await imap_state.store_batch(
        db.sessions,
        key="k",
        uidvalidity=3,
        last_uid=1,
        messages=[imap_state.Fetched(1, ledger_key(raws[0]), raws[0])],
        now=now,
    )
    fresh = await imap_state.stored_status(db.sessions, key="k", now=now, stale_after=60)
    assert fresh["ok"] is True and fresh["last_uid"] == 1 and fresh["last_error"] is None
    later = now + timedelta(minutes=5)
    stale = await imap_state.stored_status(db.sessions, key="k", now=later, stale_after=60)
    assert stale["ok"] is False
    await imap_state.record_error(db.sessions, key="k", error="OSError: refused", now=later)
    failing = await imap_state.stored_status(db.sessions, key="k", now=later, stale_after=600)
    assert failing["ok"] is False and failing["last_error"] == "OSError: refused"
    never = await imap_state.stored_status(db.sessions, key="other", now=now, stale_after=60)
    assert never["ok"] is False and never["state"] == "never polled"


# TLS --------------------------------------------------------------------------------------------


async def test_imaps_and_starttls_with_tls_required(db: Database, dovecot_tls: Dovecot) -> None:
    context = dovecot_tls.ssl_context()
    implicit = config_for(
        dovecot_tls, tls="imaps", port=dovecot_tls.tls_port, require_tls=True, ssl_context=context
    )
    await asyncio.to_thread(dovecot_tls.append, [letter(1)])
    async with running(db, implicit, worker=False):

        async def stored(n: int) -> bool:
            return await count(db, IntakeRecord) == n

        await eventually(lambda: stored(1), "stored over imaps")
    starttls = config_for(
        dovecot_tls, host="localhost", require_tls=True, ssl_context=context, mailbox="INBOX"
    )
    await asyncio.to_thread(dovecot_tls.append, [letter(2)])
    async with running(db, starttls, worker=False):
        await eventually(lambda: stored(2), "stored over STARTTLS")


async def test_tls_required_but_not_offered_refuses_to_log_in(
    db: Database, dovecot: Dovecot
) -> None:
    await asyncio.to_thread(dovecot.append, [letter(1)])
    logins_before = dovecot.log_text().count("Login: user")
    async with running(db, config_for(dovecot, require_tls=True), worker=False) as poller:

        async def refused() -> bool:
            return poller.status.last_error is not None

        await eventually(refused, "the poller reports the missing STARTTLS")
    assert "STARTTLS" in (poller.status.last_error or "")
    assert await count(db, IntakeRecord) == 0
    assert dovecot.log_text().count("Login: user") == logins_before  # no password in clear
    stored = await position(db, config_for(dovecot))
    assert stored is not None and stored.last_error and "STARTTLS" in stored.last_error


# One poller per mailbox -------------------------------------------------------------------------


async def test_second_poller_waits_for_the_lock_and_takes_over_when_the_first_stops(
    db: Database, dovecot: Dovecot
) -> None:
    """A PostgreSQL advisory lock; on SQLite a lock file beside the database."""
    config = config_for(dovecot)
    stop_first = asyncio.Event()
    first = ImapPoller(config, engine=db.engine, sessions=db.sessions, clock=utcnow)
    first_task = asyncio.create_task(first.run(stop_first))
    try:
        await eventually(state_is(first, "idle"), "the first poller idles")
        async with running(db, config, worker=False) as second:
            await eventually(state_is(second, "waiting-for-lock"), "the second one waits")
            await asyncio.to_thread(dovecot.append, [letter(1)])

            async def one() -> bool:
                # The poller counts a message once its commit has returned: the row is seen first.
                stored = await count(db, IntakeRecord) == 1 and await server_count(dovecot) == 0
                return stored and first.status.ingested == 1

            await eventually(one, "the first poller stores the message")
            assert (first.status.ingested, second.status.ingested) == (1, 0)
            assert second.status.state == "waiting-for-lock"
            stop_first.set()
            await asyncio.wait_for(first_task, timeout=30)
            await eventually(state_is(second, "idle"), "the second one takes over")
            await asyncio.to_thread(dovecot.append, [letter(2)])

            async def two() -> bool:
                return await count(db, IntakeRecord) == 2 and second.status.ingested == 1

            await eventually(two, "the second poller stores the next message")
            assert second.status.ingested == 1
    finally:
        stop_first.set()
        await asyncio.wait_for(first_task, timeout=30)
