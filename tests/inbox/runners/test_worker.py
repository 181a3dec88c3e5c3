"""The worker: outbox delivery, retries, dead and cancelled rows, leases, two workers at once, intake.

Everything goes through the public functions (`receive`, `outbox.enqueue`, `ledger.record`,
`Worker.run_once`/`drain`) with a recording in-memory sender and the settable test clock.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from sqlalchemy import event, select
from sqlmodel import col

from inbox.cases.contacts import find_contact
from inbox.core import outbox
from inbox.core.db import create_engine, session_factory, unit_of_work
from inbox.core.inbound import Channel, InboundMessage, UnparsableMessage
from inbox.core.models import Case, IntakeRecord, Message, OutboxItem
from inbox.intake import ledger
from inbox.intake.receive import IntakePolicy, Receipt, receive
from inbox.runners.delivery import PermanentFailure, TemporaryFailure
from inbox.runners.intake_runner import IntakeRunner
from inbox.runners.outbox_runner import OutboxRunner
from inbox.runners.parse_pool import Parser
from inbox.runners.worker import Worker
from tests.conftest import Clock, Database

POLICY = IntakePolicy(case_prefix="SP", mail_domain="synpunkt.example")


class RecordingSender:
    """Records every item it is handed; raises the queued failures first, one per send."""

    def __init__(self, failures: Iterable[Exception] = (), *, delay: float = 0.0) -> None:
        self.attempts: list[OutboxItem] = []
        self.sent: list[OutboxItem] = []
        self.sent_one = asyncio.Event()
        self._failures = list(failures)
        self._delay = delay

    async def send(self, item: OutboxItem) -> None:
        self.attempts.append(item)
        if self._delay:
            await asyncio.sleep(self._delay)  # lets other deliveries and workers interleave
        if self._failures:
            raise self._failures.pop(0)
        self.sent.append(item)
        self.sent_one.set()

    @property
    def sent_keys(self) -> list[str]:
        return [item.idempotency_key for item in self.sent]


def make_worker(
    db: Database,
    clock: Clock,
    sender: RecordingSender,
    *,
    parsers: dict[str, Parser] | None = None,
    max_attempts: int = 8,
) -> Worker:
    return Worker(
        IntakeRunner(db.sessions, parsers=parsers or {}, policy=POLICY, clock=clock),
        OutboxRunner(
            db.sessions, senders={"email": sender}, clock=clock, max_attempts=max_attempts
        ),
    )


def mail(n: int, sender: str = "anna@example.se") -> InboundMessage:
    return InboundMessage(
        channel=Channel.EMAIL,
        external_id=f"m{n}@example.se",
        message_id=f"<m{n}@example.se>",
        sender_address=sender,
        subject=f"Synpunkt {n}",
        text="Jag vill lämna en synpunkt på bemötandet.",
        language="sv",
        raw=f"raw {n}".encode(),
    )


async def take(db: Database, msg: InboundMessage, clock: Clock) -> Receipt:
    async with unit_of_work(db.sessions) as session:
        return await receive(session, msg, policy=POLICY, now=clock())


async def only_item(db: Database) -> OutboxItem:
    async with db.sessions() as session:
        return (await session.execute(select(OutboxItem))).scalar_one()


async def outbound_message(db: Database, item: OutboxItem) -> Message:
    async with db.sessions() as session:
        message = await session.get(Message, item.message_id)
        assert message is not None
        return message


# Outbox -----------------------------------------------------------------------------------------


async def test_queued_ack_is_sent_once_and_shows_as_sent_on_the_case(
    db: Database, clock: Clock
) -> None:
    receipt = await take(db, mail(1), clock)
    sender = RecordingSender()
    worker = make_worker(db, clock, sender)
    await worker.drain()
    await worker.drain()
    assert sender.sent_keys == [f"case.ack:{receipt.reference}"]
    item = await only_item(db)
    assert item.status == "sent" and item.sent_at == clock() and item.attempts == 1
    message = await outbound_message(db, item)
    assert message.case_id == receipt.case_id
    assert message.delivery == "sent" and message.delivered_at == clock()


async def test_temporary_failure_backs_off_and_retries_when_due(db: Database, clock: Clock) -> None:
    await take(db, mail(1), clock)
    sender = RecordingSender([TemporaryFailure("451 greylisted")])
    worker = make_worker(db, clock, sender)
    failed_at = clock()
    assert await worker.run_once() == 1
    item = await only_item(db)
    assert item.status == "pending" and item.attempts == 1
    assert item.run_at == failed_at + outbox.BACKOFF_BASE
    assert item.last_error == "451 greylisted"
    assert (await outbound_message(db, item)).delivery == "queued"

    assert await worker.run_once() == 0  # not due yet
    clock.advance(seconds=outbox.BACKOFF_BASE.total_seconds())
    await worker.drain()
    item = await only_item(db)
    assert item.status == "sent" and item.attempts == 2 and item.last_error is None
    assert len(sender.attempts) == 2 and len(sender.sent) == 1


async def test_retry_after_from_the_sender_is_honoured(db: Database, clock: Clock) -> None:
    await take(db, mail(1), clock)
    sender = RecordingSender([TemporaryFailure("429", retry_after=timedelta(minutes=7))])
    worker = make_worker(db, clock, sender)
    failed_at = clock()
    await worker.run_once()
    assert (await only_item(db)).run_at == failed_at + timedelta(minutes=7)
    clock.advance(minutes=6, seconds=59)
    assert await worker.run_once() == 0
    clock.advance(seconds=1)
    await worker.drain()
    assert len(sender.sent) == 1


async def test_after_max_attempts_the_row_is_dead_and_the_case_shows_why(
    db: Database, clock: Clock
) -> None:
    await take(db, mail(1), clock)
    sender = RecordingSender([TemporaryFailure("421 relay busy")] * 10)
    worker = make_worker(db, clock, sender, max_attempts=3)
    for _ in range(5):
        await worker.drain()
        clock.advance(hours=7)  # past the longest backoff
    item = await only_item(db)
    assert item.status == "dead" and item.attempts == 3
    assert len(sender.attempts) == 3 and sender.sent == []
    message = await outbound_message(db, item)
    assert message.delivery == "dead"
    assert message.delivery_error == "gave up after 3 attempts: 421 relay busy"


async def test_unreachable_contact_is_marked_and_later_mail_to_it_is_cancelled(
    db: Database, clock: Clock
) -> None:
    await take(db, mail(1), clock)
    sender = RecordingSender([PermanentFailure("550 no such user", unreachable=True)])
    worker = make_worker(db, clock, sender)
    await worker.drain()
    first = await only_item(db)
    assert first.status == "dead"
    assert (await outbound_message(db, first)).delivery_error == "550 no such user"
    async with db.sessions() as session:
        contact = await find_contact(session, channel="email", address="anna@example.se")
        assert contact is not None and contact.unreachable_at == clock()

    clock.advance(hours=1)
    second_case = await take(db, mail(2), clock)
    await worker.drain()
    assert len(sender.attempts) == 1  # the re-check stopped it before the sender
    async with db.sessions() as session:
        second = (
            await session.execute(
                select(OutboxItem).where(col(OutboxItem.case_id) == second_case.case_id)
            )
        ).scalar_one()
    assert second.status == "cancelled"
    assert second.last_error == "contact unreachable: 550 no such user"
    assert (await outbound_message(db, second)).delivery == "cancelled"


async def test_permanent_failure_without_unreachable_keeps_the_contact(
    db: Database, clock: Clock
) -> None:
    await take(db, mail(1), clock)
    sender = RecordingSender([PermanentFailure("554 content rejected")])
    await make_worker(db, clock, sender).drain()
    assert (await only_item(db)).status == "dead"
    async with db.sessions() as session:
        contact = await find_contact(session, channel="email", address="anna@example.se")
        assert contact is not None and contact.unreachable_at is None


async def test_repeated_enqueue_with_the_same_idempotency_key_is_a_no_op(
    db: Database, clock: Clock
) -> None:
    for expected_new in (True, False):
        async with unit_of_work(db.sessions) as session:
            item = await outbox.enqueue(
                session,
                kind="case.reply",
                channel="email",
                recipient="anna@example.se",
                payload={"text": "Hej"},
                idempotency_key="case.reply:SP-2026-0001:1",
                now=clock(),
            )
            assert (item is not None) is expected_new
    sender = RecordingSender()
    await make_worker(db, clock, sender).drain()
    assert sender.sent_keys == ["case.reply:SP-2026-0001:1"]


async def test_expired_lease_of_a_crashed_worker_is_claimed_again(
    db: Database, clock: Clock
) -> None:
    await take(db, mail(1), clock)
    async with unit_of_work(db.sessions) as session:  # a worker that claims, then dies
        assert len(await outbox.claim_due(session, now=clock())) == 1
    sender = RecordingSender()
    worker = make_worker(db, clock, sender)
    assert await worker.run_once() == 0  # still leased
    clock.advance(seconds=outbox.LEASE.total_seconds())
    await worker.drain()
    item = await only_item(db)
    assert item.status == "sent" and item.attempts == 2
    assert len(sender.sent) == 1


async def test_late_failure_from_a_worker_whose_lease_expired_does_not_undo_a_send(
    db: Database, clock: Clock
) -> None:
    await take(db, mail(1), clock)
    prompt = RecordingSender()
    prompt_worker = make_worker(db, clock, prompt)

    class StalledSender(RecordingSender):
        async def send(self, item: OutboxItem) -> None:
            # Stuck past the lease; meanwhile the other worker takes the row and sends it.
            clock.advance(seconds=outbox.LEASE.total_seconds())
            await prompt_worker.drain()
            raise PermanentFailure("554 too late")

    await make_worker(db, clock, StalledSender()).run_once()
    item = await only_item(db)
    assert len(prompt.sent) == 1
    assert item.status == "sent" and item.last_error is None
    assert (await outbound_message(db, item)).delivery == "sent"


async def test_two_workers_send_each_outbox_row_exactly_once(db: Database, clock: Clock) -> None:
    keys = [f"test.bulk:{n}" for n in range(300)]
    async with unit_of_work(db.sessions) as session:
        for n, key in enumerate(keys):
            await outbox.enqueue(
                session,
                kind="test.bulk",
                channel="email",
                recipient=f"person{n}@example.se",
                payload={"n": n},
                idempotency_key=key,
                now=clock(),
            )
    sender = RecordingSender(delay=0.001)
    engines = [create_engine(db.url), create_engine(db.url)]
    try:
        workers = [
            Worker(
                IntakeRunner(
                    session_factory(engine), parsers={}, policy=POLICY, clock=clock, batch_size=20
                ),
                OutboxRunner(
                    session_factory(engine), senders={"email": sender}, clock=clock, batch_size=20
                ),
            )
            for engine in engines
        ]
        await asyncio.gather(*(worker.drain() for worker in workers))
    finally:
        for engine in engines:
            await engine.dispose()
    counts = Counter(sender.sent_keys)
    assert set(counts) == set(keys)
    assert [key for key, count in counts.items() if count != 1] == []
    async with db.sessions() as session:
        statuses = Counter((await session.execute(select(col(OutboxItem.status)))).scalars())
    assert statuses == {"sent": 300}


async def test_wake_during_an_idle_round_starts_another_round(db: Database, clock: Clock) -> None:
    # The row becomes due, and wake() arrives, right after the round's outbox claim found nothing:
    # the worker must go round again at once rather than sleep through its (hour-long) interval.
    async with unit_of_work(db.sessions) as session:
        await outbox.enqueue(
            session,
            kind="case.reply",
            channel="email",
            recipient="anna@example.se",
            payload={"text": "Hej"},
            idempotency_key="case.reply:SP-2026-0001:1",
            now=clock(),
            run_at=clock() + timedelta(seconds=1),
        )
    sender = RecordingSender()
    worker = Worker(
        IntakeRunner(db.sessions, parsers={}, policy=POLICY, clock=clock),
        OutboxRunner(db.sessions, senders={"email": sender}, clock=clock),
        poll_interval=3600,
    )

    def after_outbox_claim(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "FROM outbox" in statement and "lease_until" in statement and not sender.attempts:
            event.remove(db.engine.sync_engine, "after_cursor_execute", after_outbox_claim)
            clock.advance(seconds=1)
            worker.wake()

    event.listen(db.engine.sync_engine, "after_cursor_execute", after_outbox_claim)
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    try:
        await asyncio.wait_for(sender.sent_one.wait(), timeout=60)  # a guard against hanging
    finally:
        stop.set()
        await running
    assert sender.sent_keys == ["case.reply:SP-2026-0001:1"]


# Intake -----------------------------------------------------------------------------------------


def parse_test_mail(raw: bytes) -> InboundMessage:
    """A stand-in for the mail parser: `external-id|sender|subject`, anything else is unparsable."""
    try:
        external_id, sender, subject = raw.decode().split("|")
    except ValueError as exc:
        raise UnparsableMessage(f"not a test mail: {raw[:20]!r}") from exc
    return InboundMessage(
        channel=Channel.EMAIL,
        external_id=external_id,
        message_id=f"<{external_id}>",
        sender_address=sender,
        subject=subject,
        text="Hej! Jag har en synpunkt.",
        language="sv",
        raw=raw,
    )


async def record_raw(db: Database, clock: Clock, external_id: str, raw: bytes) -> int:
    async with unit_of_work(db.sessions) as session:
        row_id = await ledger.record(
            session, channel="email", external_id=external_id, raw=raw, now=clock()
        )
    assert row_id is not None
    return row_id


async def test_pending_ledger_row_is_parsed_into_a_case_and_acknowledged(
    db: Database, clock: Clock
) -> None:
    row_id = await record_raw(db, clock, "a1@example.se", b"a1@example.se|anna@example.se|Hej")
    sender = RecordingSender()
    worker = make_worker(db, clock, sender, parsers={"email": parse_test_mail})
    await worker.drain()
    async with db.sessions() as session:
        row = await session.get(IntakeRecord, row_id)
        assert row is not None and row.status == "done" and row.processed_at == clock()
        case = (await session.execute(select(Case))).scalar_one()
        assert row.case_id == case.id and row.case_reference == case.reference == "SP-2026-0001"
        inbound = (
            await session.execute(select(Message).where(col(Message.direction) == "inbound"))
        ).scalar_one()
        assert inbound.intake_id == row_id and inbound.subject == "Hej"
    assert sender.sent_keys == ["case.ack:SP-2026-0001"]


async def test_poison_mail_is_kept_as_failed_and_the_next_row_is_still_processed(
    db: Database, clock: Clock
) -> None:
    poison = b"\x00\xff this is not a mail at all"
    bad_id = await record_raw(db, clock, "bad@example.se", poison)
    good_id = await record_raw(db, clock, "b1@example.se", b"b1@example.se|bo@example.se|Tack")
    worker = make_worker(db, clock, RecordingSender(), parsers={"email": parse_test_mail})
    await worker.drain()
    async with db.sessions() as session:
        bad = await session.get(IntakeRecord, bad_id)
        good = await session.get(IntakeRecord, good_id)
    assert bad is not None and good is not None
    assert bad.status == "failed" and bad.raw == poison and bad.case_id is None
    assert bad.error is not None and bad.error.startswith("cannot parse: UnparsableMessage")
    assert good.status == "done" and good.case_reference == "SP-2026-0001"
