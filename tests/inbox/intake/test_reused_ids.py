"""A reused external id (issue 13): the ledger tells a redelivery from a different message under
the same Message-ID by the content digest the adapter gives it; the different one is stored as a
message of its own, flagged, and threading never joins a case by an id that several cases share.

Channel-agnostic: the digests here are made up; `tests/mail/test_header_edges.py` has the e-mail
edges computing them from real mail.
"""

from __future__ import annotations

from sqlalchemy import select

from inbox.core.db import unit_of_work
from inbox.core.inbound import InboundMessage
from inbox.core.models import AuditEvent, IntakeRecord, Message, OutboxItem
from inbox.intake import ledger
from inbox.intake.receive import Receipt, receive_many
from tests.conftest import Clock, Database
from tests.factories import POLICY, mail

ONE, TWO, THREE = "1" * 64, "2" * 64, "3" * 64


async def record(
    db: Database, clock: Clock, key: str, digest: str | None, raw: bytes = b"raw"
) -> int | None:
    async with unit_of_work(db.sessions) as session:
        return await ledger.record(
            session, channel="email", external_id=key, raw=raw, now=clock(), content_sha256=digest
        )


async def rows(db: Database) -> list[IntakeRecord]:
    async with db.sessions() as session:
        query = select(IntakeRecord).order_by(IntakeRecord.id)  # type: ignore[arg-type]
        return list((await session.execute(query)).scalars())


async def test_the_same_id_and_content_is_a_redelivery(db: Database, clock: Clock) -> None:
    first = await record(db, clock, "a@example.se", ONE)
    assert first is not None
    assert await record(db, clock, "a@example.se", ONE, raw=b"Received: x\nraw") is None
    [row] = await rows(db)
    assert (row.external_id, row.content_sha256, row.reuses_id_of) == ("a@example.se", ONE, None)


async def test_the_same_id_with_other_content_is_a_message_of_its_own(
    db: Database, clock: Clock
) -> None:
    first = await record(db, clock, "a@example.se", ONE)
    second = await record(db, clock, "a@example.se", TWO)
    assert first is not None and second is not None and second != first
    # A redelivery of the second is recognised as one, and a third message is its own again.
    assert await record(db, clock, "a@example.se", TWO) is None
    third = await record(db, clock, "a@example.se", THREE)
    assert third is not None
    assert [(r.external_id, r.reuses_id_of) for r in await rows(db)] == [
        ("a@example.se", None),
        (f"a@example.se sha256:{TWO}", first),
        (f"a@example.se sha256:{THREE}", first),
    ]


async def test_without_a_digest_on_either_side_the_id_alone_decides(
    db: Database, clock: Clock
) -> None:
    # Rows from before digests were kept, and channels whose ids are never reused (Telegram).
    assert await record(db, clock, "old@example.se", None) is not None
    assert await record(db, clock, "old@example.se", TWO) is None
    assert await record(db, clock, "tg-1", ONE) is not None
    assert await record(db, clock, "tg-1", None) is None
    assert len(await rows(db)) == 2


async def test_a_batch_stores_each_message_once_and_each_reuse_apart(
    db: Database, clock: Clock
) -> None:
    batch = [("k@x", b"a", ONE), ("k@x", b"b", TWO), ("k@x", b"a2", ONE), ("j@x", b"c", None)]
    async with unit_of_work(db.sessions) as session:
        assert await ledger.record_many(session, channel="email", messages=batch, now=clock()) == 3
    async with unit_of_work(db.sessions) as session:
        assert await ledger.record_many(session, channel="email", messages=batch, now=clock()) == 0
    stored = await rows(db)
    assert [(r.external_id, r.raw) for r in stored] == [
        ("k@x", b"a"),
        ("j@x", b"c"),
        (f"k@x sha256:{TWO}", b"b"),
    ]
    assert stored[2].reuses_id_of == stored[0].id


def test_the_key_of_a_reuse_fits_the_column_however_long_the_id() -> None:
    key = ledger.reused_key("x" * 990, ONE)
    assert len(key) <= ledger.EXTERNAL_ID_CHARS and key.endswith(f" sha256:{ONE}")
    assert key.startswith("sha256-id:") and key == ledger.reused_key("x" * 990, ONE)


# --- What intake makes of a reuse ------------------------------------------------------------


async def take_in(
    db: Database, clock: Clock, msg: InboundMessage, digest: str | None
) -> Receipt | None:
    """`msg` as the worker takes it in: a ledger row under its digest first, then receive_many
    with that row; None when the ledger had it already."""
    async with unit_of_work(db.sessions) as session:
        row_id = await ledger.record(
            session,
            channel=msg.channel,
            external_id=msg.external_id,
            raw=msg.raw,
            now=clock(),
            content_sha256=digest,
        )
        if row_id is None:
            return None
        row = await session.get(IntakeRecord, row_id)
        assert row is not None
        [receipt] = await receive_many(session, [(msg, row)], policy=POLICY, now=clock())
    clock.advance(minutes=1)
    return receipt


async def test_a_reuse_opens_its_own_case_and_its_message_says_why(
    db: Database, clock: Clock
) -> None:
    first = await take_in(db, clock, mail(1), ONE)
    # The reuse even claims to answer its own id: a message cannot continue itself.
    reuse = mail(
        1,
        subject="Ny synpunkt",
        text="Något helt annat.",
        in_reply_to="<m1@example.se>",
        raw=b"raw 2",
    )
    second = await take_in(db, clock, reuse, TWO)
    assert first is not None and second is not None
    assert second.new_case and second.case_id != first.case_id and second.acknowledged
    async with db.sessions() as session:
        stored = (
            await session.execute(
                select(Message).where(Message.direction == "inbound").order_by(Message.id)  # type: ignore[arg-type]
            )
        ).scalars()
        notes = [m.defects for m in stored]
        audit = (
            (
                await session.execute(
                    select(AuditEvent)
                    .where(AuditEvent.case_id == second.case_id)  # type: ignore[arg-type]
                    .order_by(AuditEvent.id)  # type: ignore[arg-type]
                )
            )
            .scalars()
            .first()
        )
    first_row = (await rows(db))[0]
    assert notes == [
        [],
        [
            f"its Message-ID was used before by a different message (intake record {first_row.id}):"
            " stored as a message of its own, not as a redelivery"
        ],
    ]
    assert audit is not None and audit.detail["reuses_id_of"] == first_row.id


async def test_a_reply_to_a_reused_id_follows_the_other_ids_not_the_reused_one(
    db: Database, clock: Clock
) -> None:
    first = await take_in(db, clock, mail(1), ONE)
    second = await take_in(db, clock, mail(1, text="Annat.", raw=b"raw 2"), TWO)
    assert first is not None and second is not None and first.case_id != second.case_id
    async with db.sessions() as session:
        acks = (await session.execute(select(OutboxItem).order_by(OutboxItem.id))).scalars()  # type: ignore[arg-type]
        second_ack = [a.payload["message_id"] for a in acks][1]
    # The reply quotes the reused id first (it is In-Reply-To), then our acknowledgement of the
    # second case: the reused id is on both cases and decides nothing, the acknowledgement does.
    reply = mail(3, in_reply_to="<m1@example.se>", references=(second_ack, "<m1@example.se>"))
    threaded = await take_in(db, clock, reply, THREE)
    assert threaded is not None and threaded.case_id == second.case_id and not threaded.new_case
    # Quoting only the reused id continues neither: it opens a case of its own.
    alone = await take_in(db, clock, mail(4, in_reply_to="<m1@example.se>"), "4" * 64)
    assert alone is not None and alone.new_case
    assert alone.case_id not in (first.case_id, second.case_id)


async def test_a_reply_to_an_id_on_one_case_only_still_continues_it(
    db: Database, clock: Clock
) -> None:
    first = await take_in(db, clock, mail(1), ONE)
    clock.advance(hours=1)
    reply = await take_in(db, clock, mail(2, in_reply_to="<m1@example.se>"), TWO)
    assert first is not None and reply is not None
    assert reply.case_id == first.case_id and not reply.new_case
