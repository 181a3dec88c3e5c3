"""The rules on a case's reporting (`inbox.cases.measures`): what may be set, by whom, and what is
refused; each change audited."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import select
from sqlmodel import col

from inbox.cases.access import EVERYTHING, Forbidden, granted
from inbox.cases.measures import (
    MeasureError,
    MeasureInput,
    add_measure,
    add_topic,
    case_reporting,
    set_example,
    set_lex_sarah,
    set_topic_active,
    set_topics,
    update_measure,
)
from inbox.cases.opening import Opening, open_case
from inbox.core.audit import Actor
from inbox.core.db import unit_of_work
from inbox.core.models import AuditEvent, Case, Topic
from tests.conftest import Database

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
ACTOR = Actor("user:1")
VIEWER = granted(role="viewer", all_units=True, unit_ids=set())
APOLOGY = MeasureInput(type="apology", text="", status="planned", dated_on=date(2026, 3, 10))


async def _case(session: Any) -> Case:
    opening = Opening(
        channel="email", subject="Synpunkt", text="", received_at=NOW, response_days=10
    )
    return await open_case(session, opening, prefix="SP", now=NOW)


async def _topic(session: Any, code: str) -> int:
    topic = (await session.execute(select(Topic).where(col(Topic.code) == code))).scalar_one()
    return int(topic.id)


async def test_what_is_refused(db: Database) -> None:
    async with unit_of_work(db.sessions) as session:
        case = await _case(session)
        other = await _case(session)
        with pytest.raises(Forbidden):
            await add_measure(session, case=case, data=APOLOGY, scope=VIEWER, actor=ACTOR, now=NOW)
        for bad, message in (
            (MeasureInput("bribe", "", "planned", date(2026, 3, 10)), "Välj vad som gjordes"),
            (MeasureInput("apology", "", "maybe", date(2026, 3, 10)), "Välj status"),
            (
                MeasureInput(
                    "apology", "", "done", date(2026, 3, 10), public=True,
                    public_summary="Gäller 19811218-9876",
                ),
                "personnummer",
            ),
            (MeasureInput("apology", "", "done", date(2026, 3, 10), owner_id=999), "ansvarig"),
        ):  # fmt: skip
            with pytest.raises(MeasureError, match=message):
                await add_measure(
                    session, case=case, data=bad, scope=EVERYTHING, actor=ACTOR, now=NOW
                )
        measure = await add_measure(
            session, case=other, data=APOLOGY, scope=EVERYTHING, actor=ACTOR, now=NOW
        )
        with pytest.raises(MeasureError, match="finns inte på ärendet"):
            await update_measure(
                session,
                case=case,
                measure_id=measure.id or 0,
                data=APOLOGY,
                scope=EVERYTHING,
                actor=ACTOR,
                now=NOW,
            )
        with pytest.raises(MeasureError, match="förutsätter"):
            await set_lex_sarah(
                session, case=case, assessed=False, outcome="none", scope=EVERYTHING,
                actor=ACTOR, now=NOW,
            )  # fmt: skip
        with pytest.raises(MeasureError, match="avslutat"):
            await set_example(
                session, case=case, example=True, summary="S", handling="H", scope=EVERYTHING,
                actor=ACTOR, now=NOW,
            )  # fmt: skip
        await set_topic_active(session, code="other", active=False, actor=ACTOR, now=NOW)
        with pytest.raises(MeasureError, match="ur listan"):
            await set_topics(
                session, case=case, topic_ids=[await _topic(session, "other")],
                scope=EVERYTHING, actor=ACTOR, now=NOW,
            )  # fmt: skip
        with pytest.raises(MeasureError, match="already"):
            await add_topic(session, code="other", label_sv="A", label_en="B", actor=ACTOR, now=NOW)


async def test_changes_are_recorded_and_audited(db: Database) -> None:
    async with unit_of_work(db.sessions) as session:
        case = await _case(session)
        treatment = await _topic(session, "treatment")
        info = await _topic(session, "information")
        assert await set_topics(
            session, case=case, topic_ids=[treatment, info], scope=EVERYTHING, actor=ACTOR,
            now=NOW,
        )  # fmt: skip
        assert not await set_topics(
            session, case=case, topic_ids=[info, treatment], scope=EVERYTHING, actor=ACTOR,
            now=NOW,
        )  # fmt: skip
        assert await set_topics(
            session, case=case, topic_ids=[info], scope=EVERYTHING, actor=ACTOR, now=NOW
        )
        measure = await add_measure(
            session, case=case, data=APOLOGY, scope=EVERYTHING, actor=ACTOR, now=NOW
        )
        done = MeasureInput("apology", "", "done", date(2026, 3, 12))
        assert await update_measure(
            session, case=case, measure_id=measure.id or 0, data=done, scope=EVERYTHING,
            actor=ACTOR, now=NOW,
        )  # fmt: skip
        assert await set_lex_sarah(
            session, case=case, assessed=True, outcome=None, scope=EVERYTHING, actor=ACTOR,
            now=NOW,
        )  # fmt: skip
        case.status = "closed"
        assert await set_example(
            session, case=case, example=True, summary=" Ett exempel. ", handling="Så.",
            scope=EVERYTHING, actor=ACTOR, now=NOW,
        )  # fmt: skip
        reporting = await case_reporting(session, case_id=case.id or 0)
        events = (
            (
                await session.execute(
                    select(AuditEvent)
                    .where(col(AuditEvent.case_id) == case.id)
                    .order_by(col(AuditEvent.id))
                )
            )
            .scalars()
            .all()
        )
    assert reporting.topic_ids == {info}
    assert [(m.status, m.dated_on) for m in reporting.measures] == [("done", date(2026, 3, 12))]
    assert reporting.review is not None
    assert (reporting.review.lex_sarah_assessed, reporting.review.lex_sarah_outcome) == (
        True,
        None,
    )
    assert reporting.review.example_summary == "Ett exempel."
    assert [(e.action, e.detail) for e in events] == [
        ("case.topics.set", {"before": [], "after": ["information", "treatment"]}),
        ("case.topics.set", {"before": ["information", "treatment"], "after": ["information"]}),
        (
            "case.measure.added",
            {"measure_id": measure.id, "type": "apology", "status": "planned", "public": False},
        ),
        (
            "case.measure.changed",
            {
                "measure_id": measure.id,
                "before": {"status": "planned", "dated_on": "2026-03-10"},
                "after": {"status": "done", "dated_on": "2026-03-12"},
            },
        ),
        ("case.lex_sarah.assessed", {"assessed": True, "outcome": None}),
        ("case.example.set", {"example": True}),
    ]
