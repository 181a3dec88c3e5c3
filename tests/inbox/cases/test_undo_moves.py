"""Undoing a merge or a split for a while (issue 18, item 2): exactly what was there comes back,
the undo is audited, and it is refused after the window, when done already, or once either case
has changed."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from inbox.cases.access import EVERYTHING
from inbox.cases.merging import (
    UNDO_WINDOW,
    UndoRefused,
    find_move,
    merge_cases,
    open_moves,
    split_message,
    undo_move,
)
from inbox.cases.queries import CaseFilter, get_case, list_cases
from inbox.cases.replies import add_note
from inbox.cases.triage import update_case
from inbox.core.audit import Actor
from inbox.core.db import unit_of_work
from inbox.core.models import AuditEvent, Case, CaseMove, Message, OutboxItem
from tests.conftest import Clock, Database
from tests.factories import mail, take

ACTOR = Actor("user:1", user_id=None)
# What a case is, but for when it was last changed (an undo is a change).
COLUMNS = [c.name for c in Case.__table__.columns if c.name != "updated_at"]  # type: ignore[attr-defined]


async def case(session: Any, reference: str) -> Case:
    return (await session.execute(select(Case).where(Case.reference == reference))).scalar_one()


async def state(db: Database) -> dict[str, Any]:
    """Every case's columns, and which case each message and outbox row is on."""
    async with db.sessions() as session:
        cases = (await session.execute(select(Case).order_by(Case.id))).scalars().all()  # type: ignore[arg-type]
        messages = (await session.execute(select(Message.id, Message.case_id))).all()
        outbox = (await session.execute(select(OutboxItem.id, OutboxItem.case_id))).all()
    return {
        "cases": {c.reference: {name: getattr(c, name) for name in COLUMNS} for c in cases},
        "messages": sorted(messages),
        "outbox": sorted(outbox),
    }


async def actions(db: Database, reference: str) -> list[str]:
    async with db.sessions() as session:
        rows = await session.execute(
            select(AuditEvent.action)
            .where(AuditEvent.case_reference == reference)
            .order_by(AuditEvent.id)  # type: ignore[arg-type]
        )
        return list(rows.scalars())


async def two_cases(db: Database, clock: Clock) -> None:
    """SP-2026-0001, open and unanswered; SP-2026-0002 with a personnummer, answered, waiting."""
    await take(db, mail(1, subject="Hemtjänsten", text="Personalen kom sent."), clock)
    clock.advance(minutes=5)
    await take(
        db, mail(2, sender="b@example.se", subject="Igen", text="Tvättstugan 811218-9876"), clock
    )
    clock.advance(minutes=5)
    async with unit_of_work(db.sessions) as session:
        source = await case(session, "SP-2026-0002")
        await update_case(
            session,
            oidc=False,
            case=source,
            changes={"status": "waiting"},
            actor=ACTOR,
            now=clock(),
        )
        source.first_response_at = clock()
    clock.advance(minutes=5)


async def merged(db: Database, clock: Clock) -> int:
    """Merges SP-2026-0002 into SP-2026-0001; the move's id."""
    async with unit_of_work(db.sessions) as session:
        target, source = await case(session, "SP-2026-0001"), await case(session, "SP-2026-0002")
        await merge_cases(session, source=source, target=target, actor=ACTOR, now=clock())
        move = (await session.execute(select(CaseMove))).scalar_one()
        assert move.id is not None
        return move.id


async def undo(db: Database, clock: Clock, reference: str, move_id: int) -> None:
    async with unit_of_work(db.sessions) as session:
        move = await find_move(
            session, case=await case(session, reference), move_id=move_id, scope=EVERYTHING
        )
        await undo_move(session, move=move, actor=ACTOR, now=clock())


async def test_undoing_a_merge_puts_back_exactly_what_was_there(db: Database, clock: Clock) -> None:
    await two_cases(db, clock)
    before = await state(db)
    move_id = await merged(db, clock)
    during = await state(db)
    assert during != before
    assert during["cases"]["SP-2026-0001"]["flag_personnummer"]  # the merge carried it over
    clock.advance(minutes=14)

    await undo(db, clock, "SP-2026-0001", move_id)

    assert await state(db) == before  # messages, outbox rows, status, flags, first answer
    async with db.sessions() as session:
        back = await case(session, "SP-2026-0002")
        found = await list_cases(session, filters=CaseFilter(q="tvättstugan"), scope=EVERYTHING)
        move = await session.get(CaseMove, move_id)
    assert (back.status, back.merged_into_id, back.closed_at) == ("waiting", None, None)
    assert back.updated_at == clock()
    assert [row.reference for row in found.items] == ["SP-2026-0002"]  # the index followed
    assert move is not None and (move.undone_at, move.undone_by) == (clock(), ACTOR.name)
    assert (await actions(db, "SP-2026-0002"))[-2:] == ["case.merged", "case.merge_undone"]
    assert (await actions(db, "SP-2026-0001"))[-2:] == ["case.merged_from", "case.merge_undone"]


async def test_an_undo_is_refused_after_the_window_and_when_done_already(
    db: Database, clock: Clock
) -> None:
    await two_cases(db, clock)
    move_id = await merged(db, clock)
    clock.advance(seconds=UNDO_WINDOW.total_seconds())
    with pytest.raises(UndoRefused, match="bara under 15 minuter"):
        await undo(db, clock, "SP-2026-0002", move_id)
    async with db.sessions() as session:
        assert (await case(session, "SP-2026-0002")).merged_into_id is not None
        assert (
            await open_moves(session, case=await case(session, "SP-2026-0001"), now=clock()) == []
        )

    clock.advance(minutes=-1)
    await undo(db, clock, "SP-2026-0002", move_id)
    with pytest.raises(UndoRefused, match="redan ångrad"):
        await undo(db, clock, "SP-2026-0002", move_id)


async def _note(session: Any, clock: Clock) -> None:
    await add_note(
        session, case=await case(session, "SP-2026-0001"), text="Ringt.", actor=ACTOR, now=clock()
    )


async def _priority(session: Any, clock: Clock) -> None:
    target = await case(session, "SP-2026-0001")
    await update_case(
        session, oidc=False, case=target, changes={"priority": "high"}, actor=ACTOR, now=clock()
    )


async def _reopen(session: Any, clock: Clock) -> None:
    source = await case(session, "SP-2026-0002")
    source.status = "open"


@pytest.mark.parametrize("change", [_note, _priority, _reopen], ids=["note", "triage", "reopen"])
async def test_an_undo_is_refused_once_either_case_changed(
    db: Database, clock: Clock, change: Any
) -> None:
    await two_cases(db, clock)
    move_id = await merged(db, clock)
    async with unit_of_work(db.sessions) as session:
        await change(session, clock)  # at the very same instant: no clock is needed to see it
    changed = await state(db)
    with pytest.raises(UndoRefused, match="ärendena har ändrats sedan dess"):
        await undo(db, clock, "SP-2026-0001", move_id)
    assert await state(db) == changed
    async with db.sessions() as session:
        assert (
            await open_moves(session, case=await case(session, "SP-2026-0001"), now=clock()) == []
        )


async def split_off(db: Database, clock: Clock) -> tuple[int, int]:
    """SP-2026-0001 with two inbound messages; the second split off into SP-2026-0002."""
    await take(db, mail(1, subject="Hemtjänsten", text="Första saken."), clock)
    clock.advance(hours=1)
    second = await take(
        db, mail(2, subject="Re: [SP-2026-0001] Ny fråga", text="Annan sak: färdtjänsten."), clock
    )
    assert second.message_id is not None
    clock.advance(hours=1)
    async with unit_of_work(db.sessions) as session:
        original = await case(session, "SP-2026-0001")
        await split_message(
            session,
            case=original,
            message_id=second.message_id,
            actor=ACTOR,
            now=clock(),
            prefix="SP",
            response_days=10,
        )
        move = (await session.execute(select(CaseMove))).scalar_one()
        assert move.id is not None
    return move.id, second.message_id


async def test_undoing_a_split_brings_the_message_back_and_removes_the_new_case(
    db: Database, clock: Clock
) -> None:
    move_id, message_id = await split_off(db, clock)
    async with db.sessions() as session:
        assert (await session.get(Message, message_id)).case_id == (  # type: ignore[union-attr]
            await case(session, "SP-2026-0002")
        ).id
    clock.advance(minutes=3)

    await undo(db, clock, "SP-2026-0002", move_id)

    async with db.sessions() as session:
        original = await get_case(session, reference="SP-2026-0001", scope=EVERYTHING)
        gone = await get_case(session, reference="SP-2026-0002", scope=EVERYTHING)
        found = await list_cases(session, filters=CaseFilter(q="färdtjänsten"), scope=EVERYTHING)
    assert gone is None and original is not None
    assert message_id in [m.id for m in original.messages]
    assert [row.reference for row in found.items] == ["SP-2026-0001"]
    assert (await actions(db, "SP-2026-0001"))[-1] == "message.split_undone"
    # The trail of the removed case stays, and its reference is not given out again.
    assert await actions(db, "SP-2026-0002") == ["case.created", "case.split_undone"]
    await take(db, mail(3, sender="ny@example.se"), clock)
    async with db.sessions() as session:
        newest = (await session.execute(select(Case).order_by(Case.id.desc()))).scalars().first()  # type: ignore[attr-defined]
    assert newest is not None and newest.reference == "SP-2026-0003"


async def test_a_split_is_not_undone_once_its_new_case_was_handled(
    db: Database, clock: Clock
) -> None:
    move_id, _message_id = await split_off(db, clock)
    async with unit_of_work(db.sessions) as session:
        new = await case(session, "SP-2026-0002")
        await update_case(
            session, oidc=False, case=new, changes={"unit": "vuxen"}, actor=ACTOR, now=clock()
        )
    with pytest.raises(UndoRefused, match="Delningen kan inte ångras"):
        await undo(db, clock, "SP-2026-0002", move_id)
    async with db.sessions() as session:
        assert (await case(session, "SP-2026-0002")).unit_id is not None
