"""receive(): dedupe, threading, new cases, acknowledgements and the machine-mail rules."""

from __future__ import annotations

import asyncio

from sqlalchemy import delete, func, select

from inbox.core.db import unit_of_work
from inbox.core.inbound import Automation, InboundAttachment
from inbox.core.models import Attachment, Case, Message, OutboxItem
from tests.conftest import Clock, Database
from tests.factories import mail, take, take_batch


async def ack_items(db: Database) -> list[OutboxItem]:
    async with db.sessions() as session:
        return list((await session.execute(select(OutboxItem))).scalars())


async def test_new_message_opens_case_with_reference_and_queued_ack(
    db: Database, clock: Clock
) -> None:
    receipt = await take(db, mail(1), clock)
    assert receipt.new_case and receipt.acknowledged
    assert receipt.reference == "SP-2026-0001"
    [item] = await ack_items(db)
    assert item.kind == "case.ack" and item.recipient == "anna@example.se"
    assert item.payload["subject"].startswith("[SP-2026-0001]")
    assert item.payload["message_id"].endswith("@synpunkt.example>")
    assert item.payload["in_reply_to"] == "<m1@example.se>"
    async with db.sessions() as session:
        outbound = (
            await session.execute(select(Message).where(Message.direction == "outbound"))
        ).scalar_one()
        assert outbound.delivery == "queued" and item.message_id == outbound.id
        case = await session.get(Case, receipt.case_id)
        assert case is not None and case.due_on is not None and case.received_at == clock()


async def test_same_message_twice_is_stored_once(db: Database, clock: Clock) -> None:
    first = await take(db, mail(1), clock)
    again = await take(db, mail(1), clock)
    assert again.duplicate and again.reference == first.reference
    async with db.sessions() as session:
        assert (await session.execute(select(func.count()).select_from(Message))).scalar_one() == 2


async def test_redelivery_after_case_removed_is_not_ingested_again(
    db: Database, clock: Clock
) -> None:
    await take(db, mail(1), clock)
    async with unit_of_work(db.sessions) as session:
        await session.execute(delete(Case))
    again = await take(db, mail(1), clock)
    assert again.duplicate
    async with db.sessions() as session:
        assert (await session.execute(select(func.count()).select_from(Case))).scalar_one() == 0


async def test_reply_to_acknowledgement_joins_case_without_second_ack(
    db: Database, clock: Clock
) -> None:
    first = await take(db, mail(1), clock)
    [ack] = await ack_items(db)
    reply = mail(2, in_reply_to=ack.payload["message_id"], references=(ack.payload["message_id"],))
    second = await take(db, reply, clock)
    assert second.case_id == first.case_id and not second.new_case and not second.acknowledged
    assert len(await ack_items(db)) == 1


async def test_reply_from_a_stranger_opens_its_own_case(db: Database, clock: Clock) -> None:
    first = await take(db, mail(1), clock)
    stranger = mail(2, sender="eve@example.org", in_reply_to="<m1@example.se>")
    second = await take(db, stranger, clock)
    assert second.new_case and second.case_id != first.case_id


async def test_case_reference_in_subject_threads_only_for_the_same_sender(
    db: Database, clock: Clock
) -> None:
    first = await take(db, mail(1), clock)
    same = await take(db, mail(2, subject=f"Sv: [{first.reference}] tillägg"), clock)
    assert same.case_id == first.case_id
    upper = await take(
        db, mail(3, sender="ANNA@Example.SE", subject=f"{first.reference.lower()}"), clock
    )
    assert upper.case_id == first.case_id
    other = await take(db, mail(4, sender="eve@example.org", subject=f"[{first.reference}]"), clock)
    assert other.new_case


async def test_machine_mail_is_stored_but_never_acknowledged(db: Database, clock: Clock) -> None:
    for n, kind in enumerate([Automation.AUTO_REPLY, Automation.LIST, Automation.BOUNCE], start=1):
        receipt = await take(db, mail(n, sender=f"robot{n}@example.org", automation=kind), clock)
        assert receipt.new_case and not receipt.acknowledged
    own = await take(db, mail(9, sender="Synpunkt@synpunkt.example"), clock)
    assert own.no_ack_reason == "our own address"
    nobody = await take(db, mail(10, sender_address=None), clock)
    assert nobody.new_case and not nobody.acknowledged
    assert await ack_items(db) == []


async def test_at_most_three_acknowledgements_per_sender_per_day(
    db: Database, clock: Clock
) -> None:
    receipts = [await take(db, mail(n), clock) for n in range(1, 6)]
    assert [r.acknowledged for r in receipts] == [True, True, True, False, False]
    clock.advance(hours=25)
    assert (await take(db, mail(6), clock)).acknowledged


SPELLINGS = [
    "Anna+x@Example.se",
    "anna+y@example.se",
    "ANNA@example.se",
    "anna@EXAMPLE.se",
    "anna+z+w@example.se",
]


async def test_spellings_of_one_mailbox_share_one_acknowledgement_limit(
    db: Database, clock: Clock
) -> None:
    receipts = [
        await take(db, mail(n, sender=sender), clock) for n, sender in enumerate(SPELLINGS, 1)
    ]
    assert [r.acknowledged for r in receipts] == [True, True, True, False, False]
    assert receipts[3].no_ack_reason == "over 3 acknowledgements in 24 hours"


async def test_spellings_of_one_mailbox_in_one_worker_batch_share_one_limit(
    db: Database, clock: Clock
) -> None:
    others = [mail(10 + n, sender=f"person{n}@example.se") for n in range(3)]
    await take_batch(db, [mail(n, sender=s) for n, s in enumerate(SPELLINGS, 1)] + others, clock)
    recipients = sorted(item.recipient for item in await ack_items(db))
    assert len(recipients) == 6
    assert sorted(r for r in recipients if r.startswith("person")) == [
        "person0@example.se",
        "person1@example.se",
        "person2@example.se",
    ]


async def test_a_new_spelling_in_a_later_batch_counts_what_the_mailbox_already_got(
    db: Database, clock: Clock
) -> None:
    for n in range(1, 4):
        await take(db, mail(n, sender="anna@example.se"), clock)
    await take_batch(db, [mail(4, sender="Anna+ny@example.se")], clock)
    assert len(await ack_items(db)) == 3
    clock.advance(hours=25)
    await take_batch(db, [mail(5, sender="anna+nyare@example.se")], clock)
    assert len(await ack_items(db)) == 4


async def test_other_mailboxes_that_look_alike_have_their_own_limit(
    db: Database, clock: Clock
) -> None:
    for n in range(1, 4):
        await take(db, mail(n, sender="anna@example.se"), clock)
    lookalikes = ["anna@example.org", "annab@example.se", "anna_b@example.se", "a%na@example.se"]
    receipts = [await take(db, mail(10 + n, sender=s), clock) for n, s in enumerate(lookalikes)]
    assert all(r.acknowledged for r in receipts)


async def test_a_tagged_spelling_of_our_own_address_is_never_acknowledged(
    db: Database, clock: Clock
) -> None:
    receipt = await take(db, mail(1, sender="Synpunkt+loop@Synpunkt.example"), clock)
    assert receipt.no_ack_reason == "our own address"
    await take_batch(db, [mail(2, sender="synpunkt+batch@synpunkt.example")], clock)
    assert await ack_items(db) == []


async def test_attachments_are_stored_with_size_and_hash(db: Database, clock: Clock) -> None:
    part = InboundAttachment(filename="brev.pdf", content_type="application/pdf", data=b"%PDF-1.4")
    receipt = await take(db, mail(1, attachments=(part,)), clock)
    async with db.sessions() as session:
        stored = (await session.execute(select(Attachment))).scalar_one()
    assert receipt.message_id == stored.message_id
    assert (stored.size, stored.sha256) == (8, part.sha256)


async def test_personnummer_in_text_flags_the_case(db: Database, clock: Clock) -> None:
    receipt = await take(db, mail(1, text="Mitt personnummer är 811218-9876."), clock)
    async with db.sessions() as session:
        case = await session.get(Case, receipt.case_id)
    assert case is not None and case.flag_personnummer


async def test_concurrent_intake_gives_gap_free_references(db: Database, clock: Clock) -> None:
    receipts = await asyncio.gather(
        *(take(db, mail(n, sender=f"p{n}@example.se"), clock) for n in range(1, 21))
    )
    numbers = sorted(int(r.reference.rsplit("-", 1)[1]) for r in receipts if r.reference)
    assert numbers == list(range(1, 21))
