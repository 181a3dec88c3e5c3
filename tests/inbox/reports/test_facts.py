"""The per-case facts of reports: what a live case yields, and that the anonymised row
`record_removed` writes before retention removes a case yields exactly the same."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlmodel import col

from inbox.cases.opening import Opening, open_case
from inbox.core.db import unit_of_work
from inbox.core.models import (
    Case,
    CaseReview,
    CaseStatistic,
    CaseTopic,
    Measure,
    Topic,
    Unit,
)
from inbox.core.time import STOCKHOLM
from inbox.reports.facts import (
    Window,
    case_facts,
    measure_facts,
    record_removed,
    review_facts,
    topic_facts,
)
from tests.conftest import Database

TODAY = date(2026, 12, 1)
WINDOW = Window.of_days(date(2025, 1, 1), date(2026, 12, 31))
DAY = timedelta(days=1)


async def _history(db: Database) -> tuple[int, list[int]]:
    """Five cases: answered in time, answered late, closed unanswered, merged, and one received
    late on New Year's Eve (UTC) that is New Year's Day in Stockholm."""
    async with unit_of_work(db.sessions) as session:
        unit = Unit(code="U1", name="Enhet 1", response_days=10)
        session.add(unit)
        await session.flush()
        topics = {t.code: t.id for t in (await session.execute(select(Topic))).scalars() if t.id}
        specs: list[dict[str, Any]] = [
            {"at": datetime(2025, 3, 3, 9, 0, tzinfo=UTC), "answer": 2 * DAY, "kind": "complaint"},
            {"at": datetime(2025, 5, 5, 9, 0, tzinfo=UTC), "answer": 30 * DAY, "kind": "praise"},
            {"at": datetime(2026, 2, 2, 9, 0, tzinfo=UTC), "close": 5 * DAY, "kind": "complaint"},
            {"at": datetime(2026, 2, 3, 9, 0, tzinfo=UTC), "merged": True, "kind": "complaint"},
            {"at": datetime(2025, 12, 31, 23, 30, tzinfo=UTC), "answer": DAY, "kind": "question"},
        ]
        ids = []
        for spec in specs:
            at = spec["at"]
            opening = Opening(
                channel="ivo" if spec["kind"] == "praise" else "email",
                subject="Ärende",
                text="",
                received_at=at,
                response_days=10,
                unit_id=unit.id,
                kind=spec["kind"],
                submitter_role="relative",
            )
            case = await open_case(session, opening, prefix="SP", now=at)
            assert case.id is not None
            ids.append(case.id)
            if "answer" in spec:
                case.first_response_at = at + spec["answer"]
            if "close" in spec:
                case.closed_at = at + spec["close"]
                case.status = "closed"
                case.outcome = "deviation-reported"
                case.flag_lex_sarah = True
            if spec.get("merged"):
                case.merged_into_id = ids[0]
            session.add(CaseTopic(case_id=case.id, topic_id=topics["treatment"]))
            session.add(CaseTopic(case_id=case.id, topic_id=topics["information"]))
            for kind, status in (("apology", "done"), ("apology", "done"), ("training", "planned")):
                session.add(
                    Measure(
                        case_id=case.id,
                        type=kind,
                        status=status,
                        dated_on=at.date(),
                        created_at=at,
                        updated_at=at,
                    )
                )
            session.add(
                CaseReview(
                    case_id=case.id,
                    lex_sarah_assessed=True,
                    lex_sarah_outcome="not-serious",
                    updated_at=at,
                )
            )
    assert unit.id is not None
    return unit.id, ids


async def _figures(db: Database) -> dict[str, Any]:
    async with db.sessions() as session:
        facts = case_facts(db.backend, WINDOW, today=TODAY)
        rows = (await session.execute(select(facts))).all()
        topics = topic_facts(WINDOW)
        measures = measure_facts(WINDOW)
        reviews = review_facts(WINDOW)
        return {
            "facts": sorted(
                (
                    _day(r.received_at),
                    r.kind,
                    r.channel,
                    r.submitter_role,
                    r.unit_id,
                    r.outcome,
                    bool(r.closed),
                    r.response_minutes,
                    None if r.in_time is None else bool(r.in_time),
                    bool(r.flag_lex_sarah),
                    bool(r.flag_decision_not_executed),
                    bool(r.flag_child_at_risk),
                )
                for r in rows
            ),
            "topics": sorted(
                (
                    await session.execute(
                        select(topics.c.topic, func.count()).group_by(topics.c.topic)
                    )
                ).all()
            ),
            "measures": sorted(
                (
                    await session.execute(
                        select(measures.c.type, measures.c.status, func.sum(measures.c.n)).group_by(
                            measures.c.type, measures.c.status
                        )
                    )
                ).all()
            ),
            "reviews": sorted(
                (
                    await session.execute(
                        select(reviews.c.outcome, func.count()).group_by(reviews.c.outcome)
                    )
                ).all()
            ),
        }


def _day(moment: datetime) -> date:
    return moment.astimezone(STOCKHOLM).date()


async def test_live_facts_follow_the_rules(db: Database) -> None:
    unit, _ = await _history(db)
    figures = await _figures(db)
    assert figures["facts"] == [
        # Answered after two days, due ten working days later: in time.
        (date(2025, 3, 3), "complaint", "email", "relative", unit, None, False, 2880, True,
         False, False, False),
        # Answered after thirty days: late.
        (date(2025, 5, 5), "praise", "ivo", "relative", unit, None, False, 43200, False,
         False, False, False),
        # Stockholm's New Year's Day, answered a day later.
        (date(2026, 1, 1), "question", "email", "relative", unit, None, False, 1440, True,
         False, False, False),
        # Closed after five days without an answer: handled then.
        (date(2026, 2, 2), "complaint", "email", "relative", unit, "deviation-reported", True,
         7200, True, True, False, False),
    ]  # fmt: skip
    # The merged case counts in none of them.
    assert figures["topics"] == [("information", 4), ("treatment", 4)]
    assert figures["measures"] == [("apology", "done", 8), ("training", "planned", 4)]
    assert figures["reviews"] == [("not-serious", 4)]


async def test_a_removed_case_counts_as_it_did_while_it_lived(db: Database) -> None:
    _, ids = await _history(db)
    before = await _figures(db)
    async with unit_of_work(db.sessions) as session:
        written = [await record_removed(session, case_id) for case_id in ids]
        await session.execute(delete(Case).where(col(Case.merged_into_id).is_not(None)))
        await session.execute(delete(Case))
    assert [w is None for w in written] == [False, False, False, True, False]
    assert await _figures(db) == before
    async with db.sessions() as session:
        stored = (await session.execute(select(CaseStatistic))).scalars().all()
    # Nothing of the person: the arrival day (at Stockholm's midnight), no reference, no text.
    assert {s.received_at.astimezone(STOCKHOLM).time().isoformat() for s in stored} == {"00:00:00"}
    assert {s.measures for s in stored} == {",apology:done,,apology:done,,training:planned,"}


async def test_nothing_is_recorded_for_a_case_that_does_not_exist(db: Database) -> None:
    async with unit_of_work(db.sessions) as session:
        assert await record_removed(session, 12345) is None
        count = (await session.execute(select(func.count()).select_from(CaseStatistic))).one()
    assert count == (0,)
