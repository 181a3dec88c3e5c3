"""Merging two cases and splitting a message off: what moves, what closes, what is audited."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from inbox.cases.access import EVERYTHING
from inbox.cases.merging import MergeError, merge_cases, split_message
from inbox.cases.queries import CaseFilter, get_case, list_cases
from inbox.core.audit import Actor
from inbox.core.db import unit_of_work
from inbox.core.models import AuditEvent, Case, OutboxItem
from tests.conftest import Clock, Database
from tests.factories import mail, take

ACTOR = Actor("user:1", user_id=None)


async def case(session, reference: str) -> Case:  # type: ignore[no-untyped-def]
    return (await session.execute(select(Case).where(Case.reference == reference))).scalar_one()


async def actions(db: Database, reference: str) -> list[str]:
    async with db.sessions() as session:
        rows = await session.execute(
            select(AuditEvent.action)
            .where(AuditEvent.case_reference == reference)
            .order_by(AuditEvent.id)
        )
        return list(rows.scalars())


async def test_merge_moves_messages_and_outbox_and_closes_the_source(
    db: Database, clock: Clock
) -> None:
    await take(db, mail(1, subject="Hemtjänsten", text="Personalen kom sent."), clock)
    clock.advance(minutes=5)
    await take(
        db, mail(2, sender="b@example.se", subject="Igen", text="Tvättstugan 811218-9876"), clock
    )
    clock.advance(minutes=5)
    async with unit_of_work(db.sessions) as session:
        target, source = await case(session, "SP-2026-0001"), await case(session, "SP-2026-0002")
        moved = await merge_cases(session, source=source, target=target, actor=ACTOR, now=clock())
    assert moved == 2  # the inbound message and its acknowledgement
    async with db.sessions() as session:
        merged = await get_case(session, reference="SP-2026-0001", scope=EVERYTHING)
        closed = await case(session, "SP-2026-0002")
        outbox = (await session.execute(select(OutboxItem))).scalars().all()
        found = await list_cases(session, filters=CaseFilter(q="tvättstugan"), scope=EVERYTHING)
    assert merged is not None and len(merged.messages) == 4
    assert merged.case.flag_personnummer  # flags of the source carry over
    assert {o.case_id for o in outbox} == {merged.case.id}
    assert closed.status == "closed" and closed.merged_into_id == merged.case.id
    assert closed.closed_at == clock()
    assert [row.reference for row in found.items] == ["SP-2026-0001"]
    assert (await actions(db, "SP-2026-0002"))[-1] == "case.merged"
    assert (await actions(db, "SP-2026-0001"))[-1] == "case.merged_from"


async def test_merge_refuses_itself_closed_and_merged_cases(db: Database, clock: Clock) -> None:
    for n in (1, 2, 3):
        await take(db, mail(n, sender=f"p{n}@example.se"), clock)
    async with unit_of_work(db.sessions) as session:
        one, two, three = [await case(session, f"SP-2026-000{n}") for n in (1, 2, 3)]
        with pytest.raises(MergeError, match="sig självt"):
            await merge_cases(session, source=one, target=one, actor=ACTOR, now=clock())
        three.status = "closed"
        with pytest.raises(MergeError, match="avslutat"):
            await merge_cases(session, source=one, target=three, actor=ACTOR, now=clock())
        await merge_cases(session, source=two, target=one, actor=ACTOR, now=clock())
        with pytest.raises(MergeError, match="redan sammanslaget"):
            await merge_cases(session, source=two, target=one, actor=ACTOR, now=clock())
        with pytest.raises(MergeError, match="sammanslaget"):
            await merge_cases(session, source=one, target=two, actor=ACTOR, now=clock())


async def test_split_moves_one_inbound_message_to_a_new_case(db: Database, clock: Clock) -> None:
    await take(db, mail(1, subject="Hemtjänsten", text="Första saken."), clock)
    clock.advance(days=2)
    arrived = clock()
    second = await take(
        db,
        mail(2, subject="Re: [SP-2026-0001] Ny fråga", text="Helt annan sak: färdtjänsten."),
        clock,
    )
    assert second.reference == "SP-2026-0001" and second.message_id is not None
    clock.advance(days=1)
    async with unit_of_work(db.sessions) as session:
        original = await case(session, "SP-2026-0001")
        new = await split_message(
            session,
            case=original,
            message_id=second.message_id,
            actor=ACTOR,
            now=clock(),
            prefix="SP",
            response_days=10,
        )
        assert new.reference == "SP-2026-0002"
    async with db.sessions() as session:
        split = await get_case(session, reference="SP-2026-0002", scope=EVERYTHING)
        left = await get_case(session, reference="SP-2026-0001", scope=EVERYTHING)
        found = await list_cases(session, filters=CaseFilter(q="färdtjänsten"), scope=EVERYTHING)
    assert split is not None and left is not None
    assert [m.text for m in split.messages] == ["Helt annan sak: färdtjänsten."]
    assert split.case.contact_id == left.case.contact_id and split.case.received_at == arrived
    assert split.case.due_on is not None and left.case.due_on is not None
    assert split.case.due_on > left.case.due_on
    assert all(m.id != second.message_id for m in left.messages)
    assert [row.reference for row in found.items] == ["SP-2026-0002"]
    assert "message.split" in await actions(db, "SP-2026-0001")
    assert await actions(db, "SP-2026-0002") == ["case.created"]


async def test_split_refuses_the_only_message_and_outbound_ones(db: Database, clock: Clock) -> None:
    receipt = await take(db, mail(1), clock)
    assert receipt.message_id is not None
    async with unit_of_work(db.sessions) as session:
        original = await case(session, "SP-2026-0001")
        kwargs = {"actor": ACTOR, "now": clock(), "prefix": "SP", "response_days": 10}
        with pytest.raises(MergeError, match="enda"):
            await split_message(session, case=original, message_id=receipt.message_id, **kwargs)  # type: ignore[arg-type]
        with pytest.raises(MergeError, match="Bara inkomna"):
            await split_message(session, case=original, message_id=receipt.message_id + 1, **kwargs)  # type: ignore[arg-type]
        with pytest.raises(MergeError, match="finns inte"):
            await split_message(session, case=original, message_id=9999, **kwargs)  # type: ignore[arg-type]
