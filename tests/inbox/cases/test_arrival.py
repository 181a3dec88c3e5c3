"""A case's received time, reference year and due date come from when the matter arrived (the
intake ledger's row, or the time staff wrote down), and no case promises a date already passed."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select
from sqlmodel import col

from inbox.cases.access import EVERYTHING
from inbox.cases.opening import due_date
from inbox.core.audit import Actor
from inbox.core.db import unit_of_work
from inbox.core.inbound import Channel, InboundMessage
from inbox.core.models import Case, IntakeRecord, Message
from inbox.core.time import STOCKHOLM
from inbox.intake import ledger
from inbox.intake.receive import receive_many
from inbox.intake.registration import Registration, register_case
from tests.conftest import Clock, Database
from tests.factories import POLICY, mail

REGISTRAR = Actor(name="user:1")


async def _record(db: Database, n: int, *, at: datetime) -> None:
    """The SMTP edge's part: the raw message committed to the ledger at `at`."""
    msg = mail(n)
    async with unit_of_work(db.sessions) as session:
        await ledger.record(
            session, channel=msg.channel, external_id=msg.external_id, raw=msg.raw, now=at
        )


async def _process(db: Database, numbers: list[int], *, at: datetime) -> list[Case]:
    """The worker's part, at `at`: the pending rows made into cases."""
    async with unit_of_work(db.sessions) as session:
        items = []
        for n in numbers:
            msg = mail(n)
            row = await ledger.find(session, channel=msg.channel, external_id=msg.external_id)
            assert row is not None
            items.append((msg, row))
        receipts = await receive_many(session, items, policy=POLICY, now=at)
    async with db.sessions() as session:
        return [
            (await session.execute(select(Case).where(col(Case.id) == r.case_id))).scalar_one()
            for r in receipts
        ]


async def test_a_row_processed_a_day_later_keeps_its_arrival_time_and_due_date(
    db: Database,
) -> None:
    arrived = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)  # a Tuesday
    await _record(db, 1, at=arrived)
    [case] = await _process(db, [1], at=arrived + timedelta(days=1, hours=2))
    assert case.received_at == arrived
    # Ten working days from Tuesday 10 March, not from Wednesday 11 March.
    assert case.due_on == date(2026, 3, 24)
    async with db.sessions() as session:
        message = (
            await session.execute(
                select(Message).where(
                    col(Message.case_id) == case.id, col(Message.direction) == "inbound"
                )
            )
        ).scalar_one()
        record = (
            await session.execute(select(IntakeRecord).where(col(IntakeRecord.case_id) == case.id))
        ).scalar_one()
    assert message.created_at == arrived
    assert record.received_at == arrived and record.processed_at != arrived


async def test_the_reference_year_is_the_year_of_arrival_across_new_year(db: Database) -> None:
    # 23:50 on New Year's Eve in Stockholm, processed ten minutes into the new year, in one batch
    # with a message that arrived after midnight.
    old_year = datetime(2025, 12, 31, 23, 50, tzinfo=STOCKHOLM)
    new_year = datetime(2026, 1, 1, 0, 5, tzinfo=STOCKHOLM)
    await _record(db, 1, at=old_year)
    await _record(db, 2, at=new_year)
    first, second = await _process(db, [1, 2], at=new_year + timedelta(minutes=5))
    assert first.reference == "SP-2025-0001"
    assert first.received_at == old_year
    assert second.reference == "SP-2026-0001"
    # The next case of 2026 continues its year's series.
    await _record(db, 3, at=new_year + timedelta(hours=1))
    [third] = await _process(db, [3], at=new_year + timedelta(hours=1))
    assert third.reference == "SP-2026-0002"


async def test_a_case_registered_with_a_past_date_promises_no_passed_date(
    db: Database, clock: Clock
) -> None:
    # A letter that came a month ago is written down today (Tuesday 10 March 2026).
    letter = datetime(2026, 2, 9, 10, 0, tzinfo=STOCKHOLM)
    async with unit_of_work(db.sessions) as session:
        case = await register_case(
            session,
            registration=Registration(
                channel="letter",
                subject="Brev om hemtjänsten",
                text="Hemtjänsten kommer för sent.",
                unit="aldreomsorg",
                received_at=letter,
            ),
            scope=EVERYTHING,
            actor=REGISTRAR,
            policy=POLICY,
            now=clock(),
        )
    today = clock().astimezone(STOCKHOLM).date()
    assert case.received_at == letter
    assert case.reference.startswith("SP-2026-")
    assert case.due_on is not None and case.due_on > today
    # The response time counts from the day it is registered, since its own day had passed.
    assert case.due_on == date(2026, 3, 24)


async def test_a_recent_past_date_keeps_its_own_due_date(db: Database, clock: Clock) -> None:
    called = datetime(2026, 3, 9, 16, 0, tzinfo=STOCKHOLM)  # yesterday
    async with unit_of_work(db.sessions) as session:
        case = await register_case(
            session,
            registration=Registration(
                channel="phone",
                subject="Samtal",
                text="Ringde om väntetiden.",
                unit="vuxen",
                received_at=called,
            ),
            scope=EVERYTHING,
            actor=REGISTRAR,
            policy=POLICY,
            now=clock(),
        )
    assert case.due_on == date(2026, 3, 23)  # ten working days from Monday 9 March


def test_due_date_never_lies_before_the_day_it_is_computed() -> None:
    now = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
    for days_ago in range(0, 60):
        arrived = now - timedelta(days=days_ago)
        for response_days in (1, 5, 10, 20):
            assert due_date(arrived, response_days, now=now) >= now.astimezone(STOCKHOLM).date()


async def test_a_telegram_message_counts_from_when_telegram_took_it_as_its_acknowledgement_says(
    db: Database,
) -> None:
    # Written at 23:58 on New Year's Eve; the bot stored it at 00:03, the worker took it at 00:10.
    sent = datetime(2025, 12, 31, 23, 58, tzinfo=STOCKHOLM)
    stored = datetime(2026, 1, 1, 0, 3, tzinfo=STOCKHOLM)
    msg = InboundMessage(
        channel=Channel.TELEGRAM,
        external_id="tg1",
        sender_address="4711",
        text="Hej, jag vill lämna en synpunkt.",
        chat_id="4711",
        raw=b"{}",
        sent_at=sent,
    )
    async with unit_of_work(db.sessions) as session:
        await ledger.record(
            session, channel=msg.channel, external_id=msg.external_id, raw=msg.raw, now=stored
        )
    async with unit_of_work(db.sessions) as session:
        row = await ledger.find(session, channel=msg.channel, external_id=msg.external_id)
        assert row is not None
        [receipt] = await receive_many(
            session, [(msg, row)], policy=POLICY, now=stored + timedelta(minutes=7)
        )
    async with db.sessions() as session:
        case = (
            await session.execute(select(Case).where(col(Case.id) == receipt.case_id))
        ).scalar_one()
    assert case.received_at == sent and case.reference == "SP-2025-0001"
