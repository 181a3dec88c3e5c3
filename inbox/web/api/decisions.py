"""The check-in part of the JSON API: register, read and withdraw decisions; check-in statistics.

Thin endpoints over `inbox.checkins.decisions`, `inbox.checkins.reports`; same bearer tokens as the rest.
Every decision and statistic is limited to the token's units by the core functions.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, HTTPException, Query, status
from pydantic import BaseModel, Field

from inbox.cases.access import Scope
from inbox.checkins.decisions import (
    DecisionError,
    DuplicateDecision,
    check_input,
    find_decision,
    register_decision,
    withdraw_decision,
)
from inbox.checkins.reports import MIN_GROUP, checkin_stats, decision_view
from inbox.core.audit import audit
from inbox.web.api.problems import EVERY_OPERATION, problems
from inbox.web.deps import ApiReader, ApiWriter, Session
from inbox.web.inputs import Id
from inbox.web.state import Checkins, Clock, WakeWorker

router = APIRouter(prefix="/api", tags=["check-ins"], responses=EVERY_OPERATION)
_MONTH = r"^[0-9]{4}-(0[1-9]|1[0-2])$"


class DecisionIn(BaseModel):
    unit: str = Field(description="unit code, e.g. ekonomiskt-bistand")
    channel: str = Field(description="email or telegram")
    address: str = Field(description="email address or Telegram chat id")
    language: str = Field(
        default="sv",
        description="the code of an offered language: sv, sv-easy, en, fi, ar, prs, fa",
    )
    decided_on: str = Field(description="YYYY-MM-DD")
    reference: str = Field(description="the case-management system's id (no personal data)")


class AnswersOut(BaseModel):
    rating: int | None = Field(description="1-5")
    understood: str | None = Field(description="yes, partly or no")
    knows_appeal: str | None = Field(description="yes or no")
    knows_feedback: str | None = Field(description="yes or no")
    wants_contact: str | None = Field(description="yes or no")
    other_handler: str | None = Field(description="yes or no")
    comment: str | None


class CheckinOut(BaseModel):
    id: int
    state: str = Field(description="Where the check-in is: scheduled, asked, answered, …")
    skip_reason: str | None
    opted_out: bool = Field(description="The contact wants no check-ins")
    ask_at: datetime | None
    ask_status: str | None = Field(description="The ask's outbox status")
    asked_at: datetime | None
    reminder_at: datetime | None
    reminder_status: str | None
    closes_at: datetime
    answers: AnswersOut
    answered_at: datetime | None
    answered_via: str | None = Field(description="web, telegram or email-reply")
    case: str | None = Field(description="The case opened from the answers (a contact wish)")


class DecisionOut(BaseModel):
    id: int
    unit: str
    channel: str
    address: str
    language: str
    decided_on: date
    reference: str
    status: str
    registered_at: datetime
    withdrawn_at: datetime | None
    checkin: CheckinOut | None


class ShareOut(BaseModel):
    answers: int
    yes: float | None = Field(description="The share answering yes (0-1); null without answers")


class UnderstoodOut(ShareOut):
    partly: float | None
    no: float | None


class StatsGroup(BaseModel):
    """One unit's month; the answers are null when fewer than `min_group_size` answered."""

    unit: str
    month: str = Field(description="YYYY-MM")
    asked: int
    suppressed: bool
    answered: int | None
    response_rate: float | None
    understood: UnderstoodOut | None
    knows_appeal: ShareOut | None
    knows_feedback: ShareOut | None
    ratings: dict[str, int] | None = Field(description="Answers per rating, `1` to `5`")
    contact_wishes: int | None
    contact_answers: int | None
    other_handler_wishes: int | None


class StatsOut(BaseModel):
    min_group_size: int
    groups: list[StatsGroup]


async def _view(session: Session, scope: Scope, decision_id: int, now: datetime) -> DecisionOut:
    view = await decision_view(session, scope=scope, decision_id=decision_id, now=now)
    return DecisionOut.model_validate(view)


@router.post(
    "/decisions",
    status_code=status.HTTP_201_CREATED,
    summary="Register a decision; its check-in is scheduled",
    response_model=DecisionOut,
    responses=problems(409),
)
async def decision_create(
    body: DecisionIn,
    clock: Clock,
    checkins: Checkins,
    wake_worker: WakeWorker,
    session: Session,
    caller: ApiWriter,
    background: BackgroundTasks,
) -> DecisionOut:
    now = clock()
    try:
        data = check_input(body.model_dump(), now=now)
        decision, _checkin = await register_decision(
            session,
            data=data,
            scope=caller.scope,
            policy=checkins,
            registered_by=caller.actor.name,
            now=now,
        )
    except DuplicateDecision as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from exc
    except DecisionError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(exc)) from exc
    audit(
        session,
        actor=caller.actor,
        action="decision.registered",
        case=None,
        now=now,
        decision_id=decision.id,
    )
    background.add_task(wake_worker)
    assert decision.id is not None
    return await _view(session, caller.scope, decision.id, clock())


@router.get(
    "/decisions/{decision_id}",
    response_model=DecisionOut,
    summary="A decision with its check-in's state and answers",
    responses=problems(404),
)
async def decision_show(
    decision_id: Id, clock: Clock, session: Session, caller: ApiReader
) -> DecisionOut:
    return await _view(session, caller.scope, decision_id, clock())


@router.post(
    "/decisions/{decision_id}/withdraw",
    response_model=DecisionOut,
    summary="Withdraw a decision; its check-in is cancelled",
    responses=problems(404),
)
async def decision_withdraw(
    decision_id: Id, clock: Clock, session: Session, caller: ApiWriter
) -> DecisionOut:
    decision = await find_decision(session, scope=caller.scope, decision_id=decision_id)
    now = clock()
    await withdraw_decision(session, decision=decision, now=now)
    audit(
        session,
        actor=caller.actor,
        action="decision.withdrawn",
        case=None,
        now=now,
        decision_id=decision_id,
    )
    return await _view(session, caller.scope, decision_id, clock())


@router.get(
    "/checkins/stats",
    response_model=StatsOut,
    summary="Check-in answers per unit and month (small groups suppressed)",
)
async def stats(
    session: Session,
    caller: ApiReader,
    unit: str | None = None,
    from_: Annotated[
        str | None, Query(alias="from", pattern=_MONTH, description="first month, YYYY-MM")
    ] = None,
    to: Annotated[str | None, Query(pattern=_MONTH, description="last month, YYYY-MM")] = None,
) -> StatsOut:
    groups = await checkin_stats(session, scope=caller.scope, unit=unit, start=from_, end=to)
    return StatsOut.model_validate({"min_group_size": MIN_GROUP, "groups": groups})
