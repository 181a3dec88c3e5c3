"""Bounces close the loop (inbox/intake/bounces.py): a delivery report about a message of ours marks
that message on its case and opens no case; a hard bounce makes the contact unreachable, so no
automatic mail goes there again; a report about nothing of ours stays machine mail."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, update

from inbox.cases.replies import add_reply
from inbox.core.audit import SYSTEM
from inbox.core.db import unit_of_work
from inbox.core.inbound import Automation, DeliveryReport, InboundMessage, ReportedRecipient
from inbox.core.models import (
    AuditEvent,
    Case,
    CheckIn,
    Contact,
    Decision,
    IntakeRecord,
    Message,
    OutboxItem,
    OutboxStatus,
    Unit,
)
from inbox.core.outbox import enqueue
from inbox.intake.receive import Receipt
from tests.conftest import Clock, Database
from tests.factories import mail, make_worker, take, take_batch

HARD = ReportedRecipient(
    "anna@example.se", "failed", "5.1.1", "550 5.1.1 <anna@example.se>: User unknown"
)
SOFT = ReportedRecipient("anna@example.se", "delayed", "4.2.2", "452 4.2.2 Mailbox full")


def bounce(n: int, *about: str, recipient: ReportedRecipient = HARD) -> InboundMessage:
    """The `n`th bounce from a mail system, about the messages with these (bare) Message-IDs."""
    return mail(
        1000 + n,
        sender="MAILER-DAEMON@mx.example.se",
        sender_name="Mail Delivery System",
        subject="Undelivered Mail Returned to Sender",
        text="I'm sorry to have to inform you that your message could not be delivered.",
        automation=Automation.BOUNCE,
        delivery_report=DeliveryReport(
            original_ids=tuple(about), recipients=(recipient,), structured=True
        ),
    )


async def sent_ack(db: Database, clock: Clock, n: int = 1) -> tuple[Receipt, Message]:
    """A case from anna's `n`th mail, and its acknowledgement, sent."""
    receipt = await take(db, mail(n), clock)
    async with unit_of_work(db.sessions) as session:
        await session.execute(
            update(Message)
            .where(Message.case_id == receipt.case_id, Message.direction == "outbound")  # type: ignore[arg-type]
            .values(delivery="sent", delivered_at=clock())
        )
        await session.execute(
            update(OutboxItem)
            .where(OutboxItem.case_id == receipt.case_id)  # type: ignore[arg-type]
            .values(status=OutboxStatus.SENT, sent_at=clock())
        )
    async with db.sessions() as session:
        ack = (
            await session.execute(
                select(Message).where(
                    Message.case_id == receipt.case_id,  # type: ignore[arg-type]
                    Message.direction == "outbound",  # type: ignore[arg-type]
                )
            )
        ).scalar_one()
    assert ack.rfc_message_id is not None
    return receipt, ack


async def anna(db: Database) -> Contact:
    async with db.sessions() as session:
        return (
            await session.execute(select(Contact).where(Contact.address == "anna@example.se"))  # type: ignore[arg-type]
        ).scalar_one()


async def count(db: Database, table: type) -> int:
    async with db.sessions() as session:
        return (await session.execute(select(func.count()).select_from(table))).scalar_one()


async def test_a_hard_bounce_marks_the_acknowledgement_and_the_contact_and_opens_no_case(
    db: Database, clock: Clock
) -> None:
    case, ack = await sent_ack(db, clock)
    clock.advance(minutes=3)
    receipt = await take(db, bounce(1, ack.rfc_message_id or ""), clock)

    assert receipt.case_id == case.case_id and receipt.reference == case.reference
    assert not receipt.new_case and not receipt.acknowledged
    assert await count(db, Case) == 1
    async with db.sessions() as session:
        marked = await session.get(Message, ack.id)
        assert marked is not None
        assert (marked.delivery, marked.bounce_kind) == ("bounced", "hard")
        assert marked.bounce_status == "5.1.1"
        assert marked.bounce_diagnostic == "550 5.1.1 <anna@example.se>: User unknown"
        assert marked.bounced_at == clock() and marked.delivered_at is not None
        # The report itself is on the case, as machine mail, with its original in the ledger.
        report = (
            await session.execute(select(Message).where(Message.id == receipt.message_id))  # type: ignore[arg-type]
        ).scalar_one()
        assert (report.case_id, report.automation) == (case.case_id, "bounce")
        record = await session.get(IntakeRecord, report.intake_id)
        assert record is not None and record.status == "done"
        assert (record.case_id, record.raw) == (case.case_id, b"raw")
        # No contact for the mail system that wrote it.
        daemons = await session.execute(
            select(Contact).where(Contact.address == "mailer-daemon@mx.example.se")  # type: ignore[arg-type]
        )
        assert daemons.scalar_one_or_none() is None
        [event] = (
            await session.execute(
                select(AuditEvent).where(AuditEvent.action == "delivery.bounced")  # type: ignore[arg-type]
            )
        ).scalars()
        assert event.case_id == case.case_id and event.actor == SYSTEM.name
        assert event.detail["kind"] == "hard" and event.detail["status"] == "5.1.1"
        assert event.detail["message_id"] == ack.id and event.detail["contact_unreachable"]
    contact = await anna(db)
    assert contact.unreachable_at == clock()
    assert contact.unreachable_reason is not None and "5.1.1" in contact.unreachable_reason


async def test_a_soft_bounce_marks_the_acknowledgement_but_the_contact_stays_reachable(
    db: Database, clock: Clock
) -> None:
    _, ack = await sent_ack(db, clock)
    await take(db, bounce(1, ack.rfc_message_id or "", recipient=SOFT), clock)
    async with db.sessions() as session:
        marked = await session.get(Message, ack.id)
        assert marked is not None
        assert (marked.delivery, marked.bounce_kind, marked.bounce_status) == (
            "bounced",
            "soft",
            "4.2.2",
        )
    assert (await anna(db)).unreachable_at is None


async def test_a_late_delay_warning_never_softens_a_hard_bounce(db: Database, clock: Clock) -> None:
    _, ack = await sent_ack(db, clock)
    await take(db, bounce(1, ack.rfc_message_id or "", recipient=SOFT), clock)
    await take(db, bounce(2, ack.rfc_message_id or ""), clock)
    await take(db, bounce(3, ack.rfc_message_id or "", recipient=SOFT), clock)
    async with db.sessions() as session:
        marked = await session.get(Message, ack.id)
        assert marked is not None and (marked.bounce_kind, marked.bounce_status) == (
            "hard",
            "5.1.1",
        )
        events = await session.execute(
            select(func.count()).where(AuditEvent.action == "delivery.bounced")  # type: ignore[arg-type]
        )
        assert events.scalar_one() == 3
    assert await count(db, Case) == 1


async def test_a_bounce_of_a_staff_reply_is_matched_and_a_new_reply_answers_the_person(
    db: Database, clock: Clock
) -> None:
    case, _ = await sent_ack(db, clock)
    async with unit_of_work(db.sessions) as session:
        found = await session.get(Case, case.case_id)
        assert found is not None
        reply = await add_reply(
            session, case=found, text="Tack!", actor=SYSTEM, now=clock(), mail_domain="x.example"
        )
    await take(db, bounce(1, reply.rfc_message_id or "", recipient=SOFT), clock)
    async with unit_of_work(db.sessions) as session:
        found = await session.get(Case, case.case_id)
        assert found is not None
        again = await add_reply(
            session, case=found, text="Igen.", actor=SYSTEM, now=clock(), mail_domain="x.example"
        )
        marked = await session.get(Message, reply.id)
        assert marked is not None and marked.bounce_kind == "soft"
        item = (
            await session.execute(select(OutboxItem).where(OutboxItem.message_id == again.id))  # type: ignore[arg-type]
        ).scalar_one()
        # Answers the person's own message, never the mail system's report on the case.
        assert item.payload["in_reply_to"] == "<m1@example.se>"


async def test_a_bounce_about_nothing_of_ours_stays_machine_mail(
    db: Database, clock: Clock
) -> None:
    await sent_ack(db, clock)
    receipt = await take(db, bounce(1, "someone-elses@example.org"), clock)
    assert receipt.new_case and not receipt.acknowledged
    assert receipt.no_ack_reason == "machine mail (bounce)"
    async with db.sessions() as session:
        opened = await session.get(Case, receipt.case_id)
        assert opened is not None and opened.flag_automated
        untouched = (
            await session.execute(select(Message).where(Message.delivery == "sent"))  # type: ignore[arg-type]
        ).scalar_one()
        assert untouched.bounce_kind is None
    assert (await anna(db)).unreachable_at is None


async def test_a_message_quoting_our_id_that_is_no_bounce_is_never_a_report(
    db: Database, clock: Clock
) -> None:
    # An auto-reply (or a person) answering our acknowledgement is not a delivery report.
    _, ack = await sent_ack(db, clock)
    auto_reply = mail(
        2,
        automation=Automation.AUTO_REPLY,
        in_reply_to=f"<{ack.rfc_message_id}>",
        references=(f"<{ack.rfc_message_id}>",),
    )
    await take(db, auto_reply, clock)
    async with db.sessions() as session:
        marked = await session.get(Message, ack.id)
        assert marked is not None and marked.delivery == "sent"


async def test_after_a_hard_bounce_no_acknowledgement_or_check_in_goes_to_the_contact(
    db: Database, clock: Clock
) -> None:
    _, ack = await sent_ack(db, clock)
    await take(db, bounce(1, ack.rfc_message_id or ""), clock)

    # A new mail from the contact opens a case; its acknowledgement is queued and shown on the
    # case, and stopped before it is sent, as is anything else queued for the contact (a
    # check-in, say).
    later = await take(db, mail(2, subject="Ny synpunkt"), clock)
    assert later.new_case
    async with unit_of_work(db.sessions) as session:
        checkin = await enqueue(
            session,
            kind="followup.checkin",
            channel="email",
            recipient="anna@example.se",
            payload={"subject": "Hur gick det?", "text": "Hej!"},
            idempotency_key="checkin-test",
            now=clock(),
        )
        assert checkin is not None
    sent: list[OutboxItem] = []

    class Recording:
        async def send(self, item: OutboxItem) -> None:
            sent.append(item)

    worker = make_worker(db.sessions, clock, senders={"email": Recording()})
    await worker.drain()
    assert sent == []
    async with db.sessions() as session:
        due = await session.execute(
            select(OutboxItem).where(OutboxItem.status != OutboxStatus.SENT)  # type: ignore[arg-type]
        )
        stopped = list(due.scalars())
        assert {item.kind for item in stopped} == {"case.ack", "followup.checkin"}
        for item in stopped:
            assert item.status == OutboxStatus.CANCELLED
            assert item.last_error is not None
            assert item.last_error.startswith("contact unreachable: hard bounce 5.1.1")
        [ack_item] = [item for item in stopped if item.kind == "case.ack"]
        ack = await session.get(Message, ack_item.message_id)
        assert ack is not None and ack.delivery == "cancelled"


async def test_a_bounce_of_a_check_in_mail_marks_the_contact_and_opens_no_case(
    db: Database, clock: Clock
) -> None:
    async with unit_of_work(db.sessions) as session:
        contact = Contact(channel="email", address="anna@example.se", created_at=clock())
        unit = (await session.execute(select(Unit).limit(1))).scalar_one()
        session.add(contact)
        await session.flush()
        assert contact.id is not None and unit.id is not None
        decision = Decision(
            unit_id=unit.id,
            contact_id=contact.id,
            channel="email",
            language="sv",
            decided_on=clock().date(),
            reference="BEV-1",
            registered_at=clock(),
            registered_by="test",
        )
        session.add(decision)
        await session.flush()
        assert decision.id is not None
        session.add(
            CheckIn(
                decision_id=decision.id,
                unit_id=unit.id,
                contact_id=contact.id,
                channel="email",
                language="sv",
                period="2026-03",
                closes_at=clock() + timedelta(days=28),
                ask_rfc_id="ask.1@synpunkt.example",
                created_at=clock(),
            )
        )
    receipt = await take(db, bounce(1, "ask.1@synpunkt.example"), clock)
    assert receipt.case_id is None and not receipt.new_case
    assert receipt.no_ack_reason == "delivery report about a check-in"
    assert await count(db, Case) == 0
    assert (await anna(db)).unreachable_at == clock()
    async with db.sessions() as session:
        [event] = (
            await session.execute(
                select(AuditEvent).where(AuditEvent.action == "delivery.bounced")  # type: ignore[arg-type]
            )
        ).scalars()
        assert event.case_id is None and event.detail["kind"] == "hard"
        record = (await session.execute(select(IntakeRecord))).scalar_one()
        assert record.status == "done" and record.raw == b"raw"


async def test_a_batch_of_bounces_and_mail_each_find_their_way(db: Database, clock: Clock) -> None:
    _, first = await sent_ack(db, clock, 1)
    _, second = await sent_ack(db, clock, 2)
    await take_batch(
        db,
        [
            bounce(1, first.rfc_message_id or "", recipient=SOFT),
            mail(3, sender="bo@example.se"),
            bounce(2, "unknown@example.org"),
            bounce(3, second.rfc_message_id or ""),
        ],
        clock,
    )
    async with db.sessions() as session:
        rows = await session.execute(
            select(Message.id, Message.bounce_kind).where(
                Message.id.in_([first.id, second.id])  # type: ignore[union-attr]
            )
        )
        assert dict(rows.all()) == {first.id: "soft", second.id: "hard"}
    # Two cases of anna's, bo's new one, and one for the bounce about nothing of ours.
    assert await count(db, Case) == 4
