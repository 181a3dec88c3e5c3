"""Search and filters of the case list: full text (stemming, prefixes, ranking), every filter,
pagination through searched results, counts per status, scope, and masking in the list."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import delete, func, select, update
from sqlmodel import col

from inbox.cases.access import EVERYTHING, Scope
from inbox.cases.queries import (
    CaseFilter,
    InvalidCursor,
    InvalidFilter,
    count_by_status,
    list_cases,
)
from inbox.cases.replies import add_note
from inbox.cases.search import fts5_match, parse_query, tsquery_text
from inbox.core.audit import Actor
from inbox.core.db import unit_of_work
from inbox.core.models import Case, Message, Unit
from inbox.core.personnummer import mask_personnummer
from inbox.staff.users import add_user
from tests.conftest import Clock, Database
from tests.factories import mail, take


async def refs(db: Database, clock: Clock, filters: CaseFilter, **kwargs: object) -> list[str]:
    async with db.sessions() as session:
        kwargs.setdefault("scope", EVERYTHING)
        page = await list_cases(session, filters=filters, now=clock(), **kwargs)  # type: ignore[arg-type]
        return [row.reference for row in page.items]


async def add(db: Database, clock: Clock, n: int, subject: str, text: str) -> str:
    clock.advance(minutes=1)
    receipt = await take(db, mail(n, sender=f"p{n}@example.se", subject=subject, text=text), clock)
    assert receipt.reference is not None
    return receipt.reference


async def change(db: Database, reference: str, **values: object) -> None:
    async with unit_of_work(db.sessions) as session:
        await session.execute(update(Case).where(Case.reference == reference).values(**values))


def test_query_parsing_keeps_only_words_so_no_syntax_gets_through() -> None:
    query = parse_query('bemötande" OR NEAR(x) * -"; DROP')
    assert query.terms == ("bemötande", "or", "near", "x", "drop")
    assert fts5_match(query.terms) == '"bemötande"* "or"* "near"* "x"* "drop"*'
    assert tsquery_text(("åsa", "vård")) == "'åsa' & 'vård':*"
    assert parse_query(" [sp-2026-0042] ").reference == "SP-2026-0042"
    assert parse_query("?!").empty


async def test_search_finds_inflected_forms_and_keeps_a_o_distinct(
    db: Database, clock: Clock
) -> None:
    treated = await add(db, clock, 1, "Synpunkt", "Bemötandet i receptionen var otrevligt.")
    applied = await add(db, clock, 2, "Synpunkt", "Min ansökan om bistånd tog lång väntan.")
    tid = await add(db, clock, 3, "Synpunkt", "Jag fick vänta en tid på beslut.")
    await add(db, clock, 4, "Synpunkt", "Det var tåg och tåget var sent.")
    assert await refs(db, clock, CaseFilter(q="bemötande")) == [treated]
    assert await refs(db, clock, CaseFilter(q="BEMÖTANDET")) == [treated]
    # å is not a: "tid" must not find "tåg", and "tag" finds nothing at all
    assert await refs(db, clock, CaseFilter(q="tid")) == [tid]
    assert await refs(db, clock, CaseFilter(q="tag")) == []
    assert await refs(db, clock, CaseFilter(q="ansökan bistånd")) == [applied]
    assert await refs(db, clock, CaseFilter(q="ansökan receptionen")) == []
    # Only PostgreSQL stems: "besluten" is "beslut" there; SQLite has prefixes, not stems.
    stemmed = await refs(db, clock, CaseFilter(q="besluten"))
    assert stemmed == ([tid] if db.backend == "postgresql" else [])


async def test_search_ranks_subject_hits_first_then_newest(db: Database, clock: Clock) -> None:
    in_text_old = await add(db, clock, 1, "Fråga", "Hemtjänsten kom inte i tisdags.")
    in_subject = await add(db, clock, 2, "Hemtjänsten kommer sent", "Personalen är stressad.")
    in_text_new = await add(db, clock, 3, "Fråga", "Hemtjänsten kom inte i onsdags.")
    await add(db, clock, 4, "Beröm", "Tack för hjälpen.")
    found = await refs(db, clock, CaseFilter(q="hemtjänsten"))
    assert found == [in_subject, in_text_new, in_text_old]


async def test_searched_results_page_through_every_match_once(db: Database, clock: Clock) -> None:
    expected = set()
    for n in range(1, 12):
        text = "hemtjänst " * (n % 4 + 1) + f"ärende {n}"
        expected.add(await add(db, clock, n, "Synpunkt", text))
    await add(db, clock, 99, "Annat", "Inget om det.")
    seen: list[str] = []
    cursor = None
    async with db.sessions() as session:
        while True:
            page = await list_cases(
                session, filters=CaseFilter(q="hemtjänst"), limit=4, cursor=cursor, scope=EVERYTHING
            )
            seen += [row.reference for row in page.items]
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        assert cursor is not None
        with pytest.raises(InvalidCursor):  # a search cursor does not continue a plain list
            await list_cases(session, filters=CaseFilter(), cursor=cursor, scope=EVERYTHING)
    assert len(seen) == len(expected) and set(seen) == expected


async def test_search_ranks_among_the_newest_candidates_after_the_filters(
    db: Database, clock: Clock
) -> None:
    best_but_old = await add(db, clock, 1, "Hemtjänst", "Hemtjänst hemtjänst hemtjänst.")
    closed = await add(db, clock, 2, "Fråga", "Hemtjänsten kom inte.")
    weak = await add(db, clock, 3, "Fråga", "Om hemtjänst och annat och mer och mycket mer text.")
    strong = await add(db, clock, 4, "Hemtjänsten", "Hemtjänsten igen.")
    await change(db, closed, status="closed")
    # With two candidates only the two newest matches are ranked; the oldest, best match is left.
    assert await refs(db, clock, CaseFilter(q="hemtjänst"), candidates=2) == [strong, weak]
    # The filters choose the candidates: the newest two *closed* matches, not the closed of the
    # newest two (of which there are none).
    filtered = await refs(db, clock, CaseFilter(q="hemtjänst", status="new"), candidates=2)
    assert filtered == [strong, weak]
    older = await refs(db, clock, CaseFilter(q="hemtjänst", status="closed"), candidates=2)
    assert older == [closed]
    async with db.sessions() as session:
        counts = await count_by_status(
            session, filters=CaseFilter(q="hemtjänst"), scope=EVERYTHING, candidates=3
        )
    assert counts == {"new": 2, "open": 0, "waiting": 0, "closed": 1}
    assert best_but_old in await refs(db, clock, CaseFilter(q="hemtjänst"))


async def test_search_follows_notes_and_subject_and_text_changes(
    db: Database, clock: Clock
) -> None:
    ref = await add(db, clock, 1, "Synpunkt", "Om väntetiden.")
    assert await refs(db, clock, CaseFilter(q="kvittens")) == []
    async with unit_of_work(db.sessions) as session:
        case = (await session.execute(select(Case).where(Case.reference == ref))).scalar_one()
        await add_note(session, case=case, text="Ringde om kvittens", actor=Actor("t"), now=clock())
        case.subject = "Parkeringen"
    assert await refs(db, clock, CaseFilter(q="kvittens")) == [ref]
    assert await refs(db, clock, CaseFilter(q="parkeringen")) == [ref]
    assert await refs(db, clock, CaseFilter(q="synpunkt")) == []
    async with unit_of_work(db.sessions) as session:
        await session.execute(
            update(Message).where(Message.direction == "inbound").values(text="Nytt innehåll")
        )
    assert await refs(db, clock, CaseFilter(q="väntetiden")) == []
    assert await refs(db, clock, CaseFilter(q="innehåll")) == [ref]


async def test_each_filter_narrows_the_list(db: Database, clock: Clock) -> None:
    a = await add(db, clock, 1, "A", "text")
    b = await add(db, clock, 2, "B", "text")
    c = await add(db, clock, 3, "C", "text")
    async with unit_of_work(db.sessions) as session:
        user = await add_user(
            session, username="karin", role="caseworker", all_units=True, now=clock()
        )
        vuxen = (await session.execute(select(Unit).where(Unit.code == "vuxen"))).scalar_one()
    today = clock().date()
    await change(
        db,
        a,
        status="open",
        kind="complaint",
        unit_id=vuxen.id,
        assignee_id=user.id,
        flag_lex_sarah=True,
        flag_child_at_risk=True,
        due_on=today - timedelta(days=1),
    )
    await change(
        db,
        b,
        status="closed",
        kind="praise",
        channel="telegram",
        flag_lex_sarah=True,
        due_on=today - timedelta(days=1),
    )
    await change(db, c, due_on=today)
    assert await refs(db, clock, CaseFilter(status="open")) == [a]
    assert await refs(db, clock, CaseFilter(kind="praise")) == [b]
    assert await refs(db, clock, CaseFilter(channel="email")) == [c, a]
    assert await refs(db, clock, CaseFilter(unit="vuxen")) == [a]
    assert await refs(db, clock, CaseFilter(unit="finns-inte")) == []
    assert await refs(db, clock, CaseFilter(assignee=user.id)) == [a]
    assert await refs(db, clock, CaseFilter(assignee="karin")) == [a]
    assert await refs(db, clock, CaseFilter(assignee="unassigned")) == [c, b]
    assert await refs(db, clock, CaseFilter(overdue=True)) == [a]  # b is closed, c due today
    assert await refs(db, clock, CaseFilter(flags=("lex_sarah",))) == [b, a]
    assert await refs(db, clock, CaseFilter(flags=("lex_sarah", "child_at_risk"))) == [a]
    assert await refs(db, clock, CaseFilter(status="open", q="text")) == [a]
    assert await refs(db, clock, CaseFilter(q=b.lower())) == [b]
    for bad in (CaseFilter(status="öppen"), CaseFilter(kind="x"), CaseFilter(flags=("vip",))):
        with pytest.raises(InvalidFilter):
            await refs(db, clock, bad)


async def test_overdue_uses_the_date_in_stockholm(db: Database, clock: Clock) -> None:
    ref = await add(db, clock, 1, "A", "text")
    await change(db, ref, due_on=date(2026, 3, 10))
    clock.now = clock.now.replace(hour=22, minute=30)  # 23:30 in Stockholm: still the 10th
    assert await refs(db, clock, CaseFilter(overdue=True)) == []
    clock.advance(hours=1)  # 00:30 on the 11th in Stockholm, still the 10th in UTC
    assert await refs(db, clock, CaseFilter(overdue=True)) == [ref]


async def test_counts_per_status_follow_filters_search_and_scope(
    db: Database, clock: Clock
) -> None:
    refs_ = [await add(db, clock, n, "Synpunkt", f"hemtjänst {n}") for n in range(1, 5)]
    await add(db, clock, 9, "Annat", "inget")
    async with unit_of_work(db.sessions) as session:
        units = {u.code: u.id for u in (await session.execute(select(Unit))).scalars()}
    await change(db, refs_[0], status="open", unit_id=units["vuxen"])
    await change(db, refs_[1], status="closed", unit_id=units["vuxen"])
    await change(db, refs_[2], unit_id=units["mottagning"])
    vuxen = units["vuxen"]
    assert vuxen is not None
    async with db.sessions() as session:
        everything = await count_by_status(session, filters=CaseFilter(), scope=EVERYTHING)
        searched = await count_by_status(
            session, filters=CaseFilter(q="hemtjänst"), scope=EVERYTHING
        )
        scoped = await count_by_status(
            session,
            filters=CaseFilter(status="closed"),
            scope=Scope(role="caseworker", unit_ids=frozenset({vuxen}), sees_unassigned=False),
        )
        with_unassigned = await count_by_status(
            session,
            filters=CaseFilter(),
            scope=Scope(role="registrar", unit_ids=frozenset({vuxen}), sees_unassigned=True),
        )
    assert everything == {"new": 3, "open": 1, "waiting": 0, "closed": 1}
    assert searched == {"new": 2, "open": 1, "waiting": 0, "closed": 1}
    assert scoped == {"new": 0, "open": 1, "waiting": 0, "closed": 1}  # status filter ignored
    assert with_unassigned == {"new": 2, "open": 1, "waiting": 0, "closed": 1}


async def test_cached_counts_follow_inserts_moves_and_deletes(db: Database, clock: Clock) -> None:
    refs_ = [await add(db, clock, n, "Synpunkt", f"text {n}") for n in range(1, 6)]
    async with unit_of_work(db.sessions) as session:
        units = {u.code: u.id for u in (await session.execute(select(Unit))).scalars()}
    await change(db, refs_[0], status="open", unit_id=units["vuxen"])
    await change(db, refs_[1], unit_id=units["vuxen"])
    await change(db, refs_[1], unit_id=units["mottagning"])
    await change(db, refs_[2], status="closed")
    await change(db, refs_[2], status="closed")  # no change, no count
    async with unit_of_work(db.sessions) as session:
        await session.execute(
            delete(Message).where(
                col(Message.case_id).in_(
                    select(col(Case.id)).where(col(Case.reference) == refs_[3])
                )
            )
        )
        await session.execute(delete(Case).where(col(Case.reference) == refs_[3]))
    async with db.sessions() as session:
        live = dict(
            (await session.execute(select(Case.status, func.count()).group_by(Case.status))).all()
        )
        cached = await count_by_status(session, filters=CaseFilter(), scope=EVERYTHING)
        vuxen = await count_by_status(session, filters=CaseFilter(unit="vuxen"), scope=EVERYTHING)
        by_query = await count_by_status(  # a filter the cache does not cover: counted live
            session, filters=CaseFilter(unit="vuxen", kind="complaint"), scope=EVERYTHING
        )
    assert cached == {"new": 0, "open": 0, "waiting": 0, "closed": 0, **live}
    assert sum(cached.values()) == 4
    assert vuxen == {"new": 0, "open": 1, "waiting": 0, "closed": 0}
    assert sum(by_query.values()) <= 1


async def test_scope_hides_other_units_cases(db: Database, clock: Clock) -> None:
    mine = await add(db, clock, 1, "A", "text")
    await add(db, clock, 2, "B", "text")
    async with unit_of_work(db.sessions) as session:
        vuxen = (await session.execute(select(Unit).where(Unit.code == "vuxen"))).scalar_one()
    await change(db, mine, unit_id=vuxen.id)
    assert vuxen.id is not None
    assert await refs(
        db,
        clock,
        CaseFilter(),
        scope=Scope(role="caseworker", unit_ids=frozenset({vuxen.id}), sees_unassigned=False),
    ) == [mine]
    assert (
        await refs(
            db,
            clock,
            CaseFilter(q="text"),
            scope=Scope(role="caseworker", unit_ids=frozenset(), sees_unassigned=False),
        )
        == []
    )


@pytest.mark.parametrize(
    "number",
    ["19811218-9876", "811218-9876", "198112189876", "8112189876", "811218+9876"],
)
async def test_list_masks_personnummer_in_every_form(
    db: Database, clock: Clock, number: str
) -> None:
    # The preview's 300-character edge falls between the third and the last check digit.
    text = ("Lång bakgrund. " * 20)[: 300 - len(number) + 2] + number + " slut"
    await add(db, clock, 1, f"Gäller {number}", text)
    async with db.sessions() as session:
        [row] = (await list_cases(session, filters=CaseFilter(), scope=EVERYTHING)).items
    assert "9876" not in row.subject and "****" in row.subject
    assert row.preview == mask_personnummer(text)[:300] != text[:300]
    assert row.preview.endswith("*")
    assert "personnummer" in row.flags
