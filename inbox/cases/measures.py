"""What staff record of a case for the reports: its topics (ämnen), the measures (åtgärder) taken
because of it, the lex Sarah assessment, and whether it is an example for the annual report.

Each change is audited in the caller's transaction and needs a role that may act on the case
(`Need.WRITE`). The lex Sarah assessment and the report example are one `CaseReview` row per case:
they are conclusions about the case as a whole, not things done, so they are not measures. A
measure marked public, and a report example, carry a summary written to leave the inbox: it may
not hold a personnummer, and an example needs a closed case (the handling is known then).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from inbox.cases.access import Need, Scope
from inbox.core.audit import Actor, audit
from inbox.core.models import (
    Case,
    CaseReview,
    CaseStatus,
    CaseTopic,
    LexSarahOutcome,
    Measure,
    MeasureStatus,
    MeasureType,
    StaffUser,
    Topic,
)
from inbox.core.personnummer import contains_personnummer

MAX_TEXT = 2000
MAX_SUMMARY = 1000

MEASURE_TYPES: dict[str, str] = {
    MeasureType.APOLOGY: "Ursäkt",
    MeasureType.CORRECTION: "Rättelse",
    MeasureType.DECISION_EXPLAINED: "Förklaring av beslut",
    MeasureType.NEW_SERVICE: "Ny insats",
    MeasureType.CHANGED_ROUTINE: "Ändrad rutin",
    MeasureType.TRAINING: "Utbildning",
    MeasureType.NO_ACTION: "Ingen åtgärd",
    MeasureType.OTHER: "Annan åtgärd",
}
MEASURE_STATUSES: dict[str, str] = {
    MeasureStatus.PLANNED: "Planerad",
    MeasureStatus.ONGOING: "Pågår",
    MeasureStatus.DONE: "Genomförd",
}
LEX_SARAH_OUTCOMES: dict[str, str] = {
    LexSarahOutcome.SERIOUS: "Allvarligt missförhållande",
    LexSarahOutcome.RISK_SERIOUS: "Påtaglig risk för allvarligt missförhållande",
    LexSarahOutcome.NOT_SERIOUS: "Missförhållande, inte allvarligt",
    LexSarahOutcome.NONE: "Inget missförhållande",
}


class MeasureError(ValueError):
    """A change that cannot be made; the message says why (Swedish, for staff)."""


async def list_topics(session: AsyncSession, *, active_only: bool = True) -> Sequence[Topic]:
    query = select(Topic).order_by(col(Topic.position), col(Topic.id))
    if active_only:
        query = query.where(col(Topic.active).is_(True))
    return (await session.execute(query)).scalars().all()


async def add_topic(
    session: AsyncSession, *, code: str, label_sv: str, label_en: str, actor: Actor, now: datetime
) -> Topic:
    """Adds a topic to the organisation's list, last in it."""
    code, label_sv, label_en = code.strip(), " ".join(label_sv.split()), " ".join(label_en.split())
    if not code or not label_sv or not label_en:
        raise MeasureError("A topic needs a code, a Swedish and an English label.")
    topics = await list_topics(session, active_only=False)
    if any(t.code == code for t in topics):
        raise MeasureError(f"there is already a topic {code}")
    topic = Topic(
        code=code,
        label_sv=label_sv,
        label_en=label_en,
        position=max((t.position for t in topics), default=0) + 1,
    )
    session.add(topic)
    await session.flush()
    audit(session, actor=actor, action="topic.added", case=None, now=now, code=code)
    return topic


async def set_topic_active(
    session: AsyncSession, *, code: str, active: bool, actor: Actor, now: datetime
) -> bool:
    """Takes a topic out of the forms (inactive) or back; cases and statistics keep naming it.
    Returns whether anything changed."""
    topic = next((t for t in await list_topics(session, active_only=False) if t.code == code), None)
    if topic is None:
        raise MeasureError(f"no such topic: {code}")
    if topic.active == active:
        return False
    topic.active = active
    audit(
        session,
        actor=actor,
        action="topic.activated" if active else "topic.deactivated",
        case=None,
        now=now,
        code=code,
    )
    await session.flush()
    return True


@dataclass(frozen=True, slots=True)
class Reporting:
    """What the case page shows of a case's reporting: topic ids, measures, the review."""

    topic_ids: frozenset[int]
    measures: Sequence[Measure]
    review: CaseReview | None


async def case_reporting(session: AsyncSession, *, case_id: int) -> Reporting:
    topic_ids = (
        await session.execute(
            select(col(CaseTopic.topic_id)).where(col(CaseTopic.case_id) == case_id)
        )
    ).scalars()
    measures = (
        (
            await session.execute(
                select(Measure).where(col(Measure.case_id) == case_id).order_by(col(Measure.id))
            )
        )
        .scalars()
        .all()
    )
    return Reporting(frozenset(topic_ids), measures, await session.get(CaseReview, case_id))


async def set_topics(
    session: AsyncSession,
    *,
    case: Case,
    topic_ids: Sequence[int],
    scope: Scope,
    actor: Actor,
    now: datetime,
) -> bool:
    """Makes the case's topics exactly `topic_ids` (active topics; an inactive one the case
    already has may stay). Returns whether anything changed."""
    scope.require(Need.WRITE)
    case_id = case.id or 0
    current = (await case_reporting(session, case_id=case_id)).topic_ids
    wanted = frozenset(topic_ids)
    if wanted == current:
        return False
    known = {t.id: t for t in await list_topics(session, active_only=False)}
    for topic_id in wanted - current:
        topic = known.get(topic_id)
        if topic is None or not topic.active:
            raise MeasureError("Välj ämnen ur listan.")
    await session.execute(
        delete(CaseTopic).where(
            col(CaseTopic.case_id) == case_id, col(CaseTopic.topic_id).in_(sorted(current - wanted))
        )
    )
    for topic_id in sorted(wanted - current):
        session.add(CaseTopic(case_id=case_id, topic_id=topic_id))
    audit(
        session,
        actor=actor,
        action="case.topics.set",
        case=case,
        now=now,
        before=sorted(known[i].code for i in current if i in known),
        after=sorted(known[i].code for i in wanted),
    )
    case.updated_at = now
    await session.flush()
    return True


@dataclass(frozen=True, slots=True)
class MeasureInput:
    """A measure as a form or the API gives it, unchecked."""

    type: str
    text: str
    status: str
    dated_on: date
    owner_id: int | None = None
    public: bool = False
    public_summary: str = ""


def _clean_text(value: str, limit: int, what: str) -> str:
    text = value.replace("\r\n", "\n").strip()
    if len(text) > limit:
        raise MeasureError(f"{what} får vara högst {limit} tecken.")
    return text


def _public_text(value: str, limit: int, what: str) -> str:
    """A text that leaves the inbox: required, bounded, and without a personnummer."""
    text = _clean_text(value, limit, what)
    if not text:
        raise MeasureError(f"Skriv {what.lower()}.")
    if contains_personnummer(text):
        raise MeasureError(f"{what} blir offentlig och får inte innehålla personnummer.")
    return text


async def _checked(session: AsyncSession, data: MeasureInput) -> dict[str, Any]:
    if data.type not in MEASURE_TYPES:
        raise MeasureError("Välj vad som gjordes ur listan.")
    if data.status not in MEASURE_STATUSES:
        raise MeasureError("Välj status ur listan.")
    if data.owner_id is not None:
        owner = await session.get(StaffUser, data.owner_id)
        if owner is None or not owner.active:
            raise MeasureError("Välj en ansvarig ur listan.")
    summary = (
        _public_text(data.public_summary, MAX_SUMMARY, "Den offentliga sammanfattningen")
        if data.public
        else None
    )
    return {
        "type": data.type,
        "text": _clean_text(data.text, MAX_TEXT, "Beskrivningen"),
        "status": data.status,
        "dated_on": data.dated_on,
        "owner_id": data.owner_id,
        "public": data.public,
        "public_summary": summary,
    }


async def add_measure(
    session: AsyncSession,
    *,
    case: Case,
    data: MeasureInput,
    scope: Scope,
    actor: Actor,
    now: datetime,
) -> Measure:
    """Records a measure on the case."""
    scope.require(Need.WRITE)
    values = await _checked(session, data)
    measure = Measure(case_id=case.id or 0, created_at=now, updated_at=now, **values)
    session.add(measure)
    await session.flush()
    audit(
        session,
        actor=actor,
        action="case.measure.added",
        case=case,
        now=now,
        measure_id=measure.id,
        type=measure.type,
        status=measure.status,
        public=measure.public,
    )
    case.updated_at = now
    await session.flush()
    return measure


async def update_measure(
    session: AsyncSession,
    *,
    case: Case,
    measure_id: int,
    data: MeasureInput,
    scope: Scope,
    actor: Actor,
    now: datetime,
) -> bool:
    """Changes a measure of the case (its status as it is carried out, most often). Returns
    whether anything changed."""
    scope.require(Need.WRITE)
    measure = await session.get(Measure, measure_id)
    if measure is None or measure.case_id != case.id:
        raise MeasureError("Åtgärden finns inte på ärendet.")
    values = await _checked(session, data)
    changed = {k: v for k, v in values.items() if getattr(measure, k) != v}
    if not changed:
        return False
    before = {k: _plain(getattr(measure, k)) for k in changed}
    for key, value in changed.items():
        setattr(measure, key, value)
    measure.updated_at = now
    audit(
        session,
        actor=actor,
        action="case.measure.changed",
        case=case,
        now=now,
        measure_id=measure.id,
        before=before,
        after={k: _plain(v) for k, v in changed.items()},
    )
    case.updated_at = now
    await session.flush()
    return True


def _plain(value: object) -> object:
    """A value as the audit trail's JSON holds it; public texts are not copied into it."""
    return value.isoformat() if isinstance(value, date) else value


async def _review(session: AsyncSession, case: Case, now: datetime) -> CaseReview:
    review = await session.get(CaseReview, case.id)
    if review is None:
        review = CaseReview(case_id=case.id or 0, updated_at=now)
        session.add(review)
    return review


async def set_lex_sarah(
    session: AsyncSession,
    *,
    case: Case,
    assessed: bool,
    outcome: str | None,
    scope: Scope,
    actor: Actor,
    now: datetime,
) -> bool:
    """Records whether a lex Sarah assessment (utredning, SoL 14 kap.) was made and what it
    concluded (None while it is under way). Returns whether anything changed."""
    scope.require(Need.WRITE)
    outcome = outcome or None
    if outcome is not None and outcome not in LEX_SARAH_OUTCOMES:
        raise MeasureError("Välj bedömningens utfall ur listan.")
    if outcome is not None and not assessed:
        raise MeasureError("Ett utfall förutsätter att en bedömning gjorts.")
    review = await _review(session, case, now)
    if review.lex_sarah_assessed == assessed and review.lex_sarah_outcome == outcome:
        return False
    review.lex_sarah_assessed, review.lex_sarah_outcome = assessed, outcome
    review.updated_at = now
    audit(
        session,
        actor=actor,
        action="case.lex_sarah.assessed",
        case=case,
        now=now,
        assessed=assessed,
        outcome=outcome,
    )
    await session.flush()
    return True


async def set_example(
    session: AsyncSession,
    *,
    case: Case,
    example: bool,
    summary: str,
    handling: str,
    scope: Scope,
    actor: Actor,
    now: datetime,
) -> bool:
    """Marks a closed case as an example for the report with an anonymised summary and how it
    was handled, or unmarks it (the texts go with it). Returns whether anything changed."""
    scope.require(Need.WRITE)
    review = await _review(session, case, now)
    texts: tuple[str | None, str | None] = (None, None)
    if example:
        if case.status != CaseStatus.CLOSED:
            raise MeasureError("Bara ett avslutat ärende kan bli ett exempel i rapporten.")
        texts = (
            _public_text(summary, MAX_TEXT, "Sammanfattningen"),
            _public_text(handling, MAX_TEXT, "Hanteringen"),
        )
    if (review.example, review.example_summary, review.example_handling) == (example, *texts):
        return False
    review.example = example
    review.example_summary, review.example_handling = texts
    review.updated_at = now
    audit(session, actor=actor, action="case.example.set", case=case, now=now, example=example)
    await session.flush()
    return True
