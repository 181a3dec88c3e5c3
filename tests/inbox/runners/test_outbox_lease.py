"""Outbox leases: a send keeps its row while it runs, ends within the send timeout, and never holds
up intake; a slow relay gets every message once, however many workers share the database.

Times are scaled down (a lease of seconds, not minutes). The slow relay is a real aiosmtpd server
on loopback that takes longer than the lease to answer DATA.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from pydantic import ValidationError
from sqlalchemy import select
from sqlmodel import col

from inbox.core import outbox
from inbox.core.db import create_engine, session_factory, unit_of_work
from inbox.core.inbound import Channel, InboundMessage
from inbox.core.models import Case, OutboxItem
from inbox.intake import ledger
from inbox.intake.receive import IntakePolicy
from inbox.runners.delivery import TemporaryFailure
from inbox.runners.intake_runner import IntakeRunner
from inbox.runners.outbox_runner import OutboxRunner
from inbox.runners.worker import Worker
from inbox.settings import Settings
from mail.sender import EmailSender
from tests.conftest import Clock, Database
from tests.factories import eventually, synpunkt

POLICY = IntakePolicy(case_prefix="SP", mail_domain="synpunkt.example")
MAIL_FROM = "Socialtjänsten <synpunkt@synpunkt.example>"
GUARD = 60.0  # seconds; only against hanging, never a measurement


def real_clock() -> datetime:
    return datetime.now(UTC)


def holds(condition: Callable[[], bool]) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return condition()

    return check


async def enqueue_replies(db: Database, count: int, *, now: datetime) -> list[str]:
    """`count` replies to different people, due at `now`; returns their Message-IDs."""
    message_ids = []
    async with unit_of_work(db.sessions) as session:
        for n in range(count):
            message_id = f"<reply-{n}@synpunkt.example>"
            await outbox.enqueue(
                session,
                kind="case.reply",
                channel="email",
                recipient=f"person{n}@example.se",
                payload={"subject": f"Svar {n}", "text": "Hej!", "message_id": message_id},
                idempotency_key=f"case.reply:SP-2026-{n:04d}:1",
                now=now,
            )
            message_ids.append(message_id)
    return message_ids


async def items(db: Database) -> list[OutboxItem]:
    async with db.sessions() as session:
        return list(
            (await session.execute(select(OutboxItem).order_by(col(OutboxItem.id)))).scalars()
        )


class HeldSender:
    """Sends only once released; records what it was handed and whether it was cut short."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.started: list[OutboxItem] = []
        self.sent: list[OutboxItem] = []
        self.cancelled = 0

    async def send(self, item: OutboxItem) -> None:
        self.started.append(item)
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        self.sent.append(item)


# Renewing a lease -------------------------------------------------------------------------------


async def test_renewal_extends_only_the_leases_this_claim_still_holds(
    db: Database, clock: Clock
) -> None:
    await enqueue_replies(db, 4, now=clock())
    async with unit_of_work(db.sessions) as session:
        taken, running, sent, retried = await outbox.claim_due(session, now=clock())
        await outbox.mark_sent(session, sent, now=clock())
        await outbox.mark_retry(
            session,
            retried,
            error="451",
            now=clock(),
            max_attempts=8,
            retry_after=timedelta(hours=1),
        )
    mine = {item.id: item.attempts for item in (taken, running, sent, retried)}
    assert set(mine.values()) == {1}

    # Both leases run out; another worker takes the first row (one attempt more) before the
    # heartbeat comes round. The second is expired but nobody has taken it: it is still ours.
    clock.advance(seconds=outbox.LEASE.total_seconds())
    async with unit_of_work(db.sessions) as session:
        [other] = await outbox.claim_due(session, now=clock(), limit=1)
    assert other.id == taken.id and other.attempts == 2
    async with unit_of_work(db.sessions) as session:
        renewed = await outbox.renew_leases(session, mine, now=clock(), lease=timedelta(minutes=1))
    assert renewed == {running.id}

    by_id = {item.id: item for item in await items(db)}
    assert by_id[taken.id].lease_until == clock() + outbox.LEASE  # the other worker's claim
    assert by_id[running.id].lease_until == clock() + timedelta(minutes=1)
    assert by_id[sent.id].status == "sent" and by_id[sent.id].lease_until is None
    assert by_id[retried.id].lease_until is None and by_id[retried.id].run_at > clock()
    async with unit_of_work(db.sessions) as session:
        assert await outbox.claim_due(session, now=clock()) == []


# The slow relay ---------------------------------------------------------------------------------


@dataclass
class SlowRelay:
    """An aiosmtpd handler that takes `delay` seconds to answer DATA, then accepts the message."""

    delay: float
    message_ids: list[str] = field(default_factory=list)
    in_data: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.in_data.set()
        await asyncio.sleep(self.delay)  # the relay being slow, not the test waiting
        assert isinstance(envelope.content, bytes)
        message = message_from_bytes(envelope.content, policy=policy.default)
        self.message_ids.append(str(message["Message-ID"]))
        return "250 OK"


@asynccontextmanager
async def relay_on_loopback(relay: SlowRelay) -> AsyncIterator[int]:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(relay, hostname="relay.test.local"), "127.0.0.1", 0
    )
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


async def test_a_relay_slower_than_the_lease_gets_every_message_once(db: Database) -> None:
    # Scaled down from 55-second answers and a 5-minute lease: each answer takes longer than the
    # whole lease, and more messages are due than one worker can send at once. Only the renewals
    # keep the rows (the send timeout is longer than the lease here, as the settings would not
    # allow), and a worker takes no row it cannot send at once.
    lease = timedelta(seconds=2)
    relay = SlowRelay(delay=2.5)
    message_ids = await enqueue_replies(db, 6, now=real_clock())
    engines = [create_engine(db.url), create_engine(db.url)]
    stop = asyncio.Event()
    runs: list[asyncio.Task[None]] = []
    try:
        async with relay_on_loopback(relay) as port:
            sender = EmailSender(
                mail_from=MAIL_FROM, transport=f"smtp://127.0.0.1:{port}", clock=real_clock
            )
            workers = [
                Worker(
                    IntakeRunner(
                        session_factory(engine), parsers={}, policy=POLICY, clock=real_clock
                    ),
                    OutboxRunner(
                        session_factory(engine),
                        senders={"email": sender},
                        clock=real_clock,
                        concurrency=2,
                        lease=lease,
                        send_timeout=timedelta(seconds=30),
                    ),
                    poll_interval=0.05,
                )
                for engine in engines
            ]
            runs.append(asyncio.create_task(workers[0].run(stop)))
            # The second worker comes looking while the first one's sends are under way.
            await asyncio.wait_for(relay.in_data.wait(), timeout=GUARD)
            runs.append(asyncio.create_task(workers[1].run(stop)))
            await eventually(
                holds(lambda: len(relay.message_ids) >= len(message_ids)),
                "the relay has as many messages as were due",
            )
            stop.set()
            await asyncio.gather(*runs)
            runs.clear()
    finally:
        stop.set()
        await asyncio.gather(*runs, return_exceptions=True)
        for engine in engines:
            await engine.dispose()
    assert Counter(relay.message_ids) == Counter(message_ids)  # each exactly once
    rows = await items(db)
    assert [(row.status, row.attempts) for row in rows] == [("sent", 1)] * len(message_ids)


# Intake beside sending --------------------------------------------------------------------------


def parse_test_mail(raw: bytes) -> InboundMessage:
    external_id, sender = raw.decode().split("|")
    return InboundMessage(
        channel=Channel.EMAIL,
        external_id=external_id,
        message_id=f"<{external_id}>",
        sender_address=sender,
        subject="Synpunkt",
        text="Hej! Jag har en synpunkt.",
        language="sv",
        raw=raw,
    )


async def cases(db: Database) -> list[Case]:
    async with db.sessions() as session:
        return list((await session.execute(select(Case))).scalars())


async def test_new_mail_becomes_a_case_while_a_slow_send_is_in_flight(
    db: Database, clock: Clock
) -> None:
    await enqueue_replies(db, 1, now=clock())
    sender = HeldSender()
    worker = Worker(
        IntakeRunner(db.sessions, parsers={"email": parse_test_mail}, policy=POLICY, clock=clock),
        OutboxRunner(db.sessions, senders={"email": sender}, clock=clock),
        poll_interval=3600,
    )
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    try:
        await eventually(holds(lambda: len(sender.started) == 1), "the send has started")
        async with unit_of_work(db.sessions) as session:
            await ledger.record(
                session,
                channel="email",
                external_id="m1@example.se",
                raw=b"m1@example.se|anna@example.se",
                now=clock(),
            )
        worker.wake()

        async def a_case() -> bool:
            return len(await cases(db)) == 1

        await eventually(a_case, "the new mail is a case")
        assert sender.sent == [] and worker.sending >= 1  # the reply is still being sent
        sender.release.set()
        # The reply, and the new case's acknowledgement.
        await eventually(holds(lambda: len(sender.sent) == 2), "both are sent")
    finally:
        sender.release.set()
        stop.set()
        await asyncio.wait_for(running, timeout=GUARD)
    assert [row.status for row in await items(db)] == ["sent", "sent"]


async def test_stopping_the_worker_waits_for_the_sends_in_flight(
    db: Database, clock: Clock
) -> None:
    await enqueue_replies(db, 1, now=clock())
    sender = HeldSender()
    worker = Worker(
        IntakeRunner(db.sessions, parsers={}, policy=POLICY, clock=clock),
        OutboxRunner(db.sessions, senders={"email": sender}, clock=clock),
    )
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    await eventually(holds(lambda: len(sender.started) == 1), "the send has started")
    stop.set()
    sender.release.set()
    await asyncio.wait_for(running, timeout=GUARD)
    assert worker.sending == 0 and len(sender.sent) == 1
    assert [row.status for row in await items(db)] == ["sent"]


# The send timeout -------------------------------------------------------------------------------


async def test_a_send_past_the_send_timeout_is_retried_later_instead_of_hanging(
    db: Database, clock: Clock
) -> None:
    await enqueue_replies(db, 1, now=clock())
    sender = HeldSender()  # a relay that never answers
    worker = Worker(
        IntakeRunner(db.sessions, parsers={}, policy=POLICY, clock=clock),
        OutboxRunner(
            db.sessions, senders={"email": sender}, clock=clock, send_timeout=timedelta(seconds=0.2)
        ),
    )
    await asyncio.wait_for(worker.drain(), timeout=GUARD)
    assert sender.cancelled == 1 and sender.sent == []
    [row] = await items(db)
    assert row.status == "pending" and row.attempts == 1 and row.lease_until is None
    assert row.last_error == "send timed out after 0.2 s"
    assert row.run_at == clock() + outbox.BACKOFF_BASE

    sender.release.set()  # the relay is back
    clock.advance(seconds=outbox.BACKOFF_BASE.total_seconds())
    await asyncio.wait_for(worker.drain(), timeout=GUARD)
    [row] = await items(db)
    assert row.status == "sent" and row.attempts == 2 and len(sender.sent) == 1


# A late failure ---------------------------------------------------------------------------------


async def test_a_late_failure_leaves_the_row_to_the_worker_now_sending_it(
    db: Database, clock: Clock
) -> None:
    await enqueue_replies(db, 1, now=clock())
    prompt = HeldSender()
    prompt_worker = Worker(
        IntakeRunner(db.sessions, parsers={}, policy=POLICY, clock=clock),
        OutboxRunner(db.sessions, senders={"email": prompt}, clock=clock),
    )

    class StalledSender:
        async def send(self, item: OutboxItem) -> None:
            # Stuck past the lease (its renewals did not get through); the other worker takes
            # the row and is still sending it when this one gives up.
            clock.advance(seconds=outbox.LEASE.total_seconds())
            assert await prompt_worker.process_outbox() == 1
            raise TemporaryFailure("421 too late")

    stalled = Worker(
        IntakeRunner(db.sessions, parsers={}, policy=POLICY, clock=clock),
        OutboxRunner(db.sessions, senders={"email": StalledSender()}, clock=clock),
    )
    await stalled.run_once()
    [row] = await items(db)
    # Not released for a retry that a third worker could send while the second still does.
    assert row.status == "pending" and row.attempts == 2 and row.last_error is None
    assert row.lease_until == clock() + outbox.LEASE

    prompt.release.set()
    await asyncio.wait_for(prompt_worker.wait_for_sends(), timeout=GUARD)
    [row] = await items(db)
    assert row.status == "sent" and len(prompt.sent) == 1


# Settings ---------------------------------------------------------------------------------------


def test_the_send_timeout_must_be_at_most_half_the_lease() -> None:
    settings = Settings(_env_file=None)
    assert (settings.outbox_lease_seconds, settings.outbox_send_timeout_seconds) == (300, 120)
    Settings(_env_file=None, outbox_lease_seconds=60, outbox_send_timeout_seconds=30)
    with pytest.raises(ValidationError, match=r"SYNPUNKT_OUTBOX_SEND_TIMEOUT_SECONDS \(31\)"):
        Settings(_env_file=None, outbox_lease_seconds=60, outbox_send_timeout_seconds=31)


def test_a_send_timeout_too_close_to_the_lease_stops_the_worker_command(tmp_path: Path) -> None:
    result = synpunkt(
        tmp_path,
        "worker",
        SYNPUNKT_OUTBOX_LEASE_SECONDS="100",
        SYNPUNKT_OUTBOX_SEND_TIMEOUT_SECONDS="90",
    )
    assert result.returncode == 78, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("synpunkt: SYNPUNKT_OUTBOX_SEND_TIMEOUT_SECONDS (90) must be at most")
