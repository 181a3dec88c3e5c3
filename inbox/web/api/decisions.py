"""The check-in part of the JSON API: register, read and withdraw decisions; check-in statistics.

Thin endpoints over `inbox.checkins.decisions`, `inbox.checkins.reports`; same bearer tokens as the rest.
Every decision and statistic is limited to the token's units by the core functions.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, HTTPException, Query, status
from fastapi.encoders import jsonable_encoder
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
from inbox.web.api.schemas import REFUSED
from inbox.web.deps import ApiReader, ApiWriter, Session
from inbox.web.inputs import Id
from inbox.web.state import Checkins, Clock, WakeWorker

router = APIRouter(prefix="/api", tags=["check-ins"])
_MONTH = r"^[0-9]{4}-(0[1-9]|1[0-2])$"


class DecisionIn(BaseModel):
    unit: str = Field(description="unit code, e.g. ekonomiskt-bistand")
    channel: str = Field(description="email or telegram")
    address: str = Field(description="email address or Telegram chat id")
    language: str = Field(default="sv", description="sv or en")
    decided_on: str = Field(description="YYYY-MM-DD")
    reference: str = Field(description="the case-management system's id (no personal data)")


async def _view(session: Session, scope: Scope, decision_id: int, now: datetime) -> Any:
    view = await decision_view(session, scope=scope, decision_id=decision_id, now=now)
    return jsonable_encoder(view)


@router.post(
    "/decisions",
    status_code=status.HTTP_201_CREATED,
    summary="Register a decision; its check-in is scheduled",
    responses=REFUSED,
)
async def decision_create(
    body: DecisionIn,
    clock: Clock,
    checkins: Checkins,
    wake_worker: WakeWorker,
    session: Session,
    caller: ApiWriter,
    background: BackgroundTasks,
) -> dict[str, Any]:
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
    return await _view(session, caller.scope, decision.id, clock())  # type: ignore[no-any-return]


@router.get("/decisions/{decision_id}", summary="A decision with its check-in's state and answers")
async def decision_show(
    decision_id: Id, clock: Clock, session: Session, caller: ApiReader
) -> dict[str, Any]:
    return await _view(session, caller.scope, decision_id, clock())  # type: ignore[no-any-return]


@router.post(
    "/decisions/{decision_id}/withdraw", summary="Withdraw a decision; its check-in is cancelled"
)
async def decision_withdraw(
    decision_id: Id, clock: Clock, session: Session, caller: ApiWriter
) -> dict[str, Any]:
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
    return await _view(session, caller.scope, decision_id, clock())  # type: ignore[no-any-return]


@router.get(
    "/checkins/stats", summary="Check-in answers per unit and month (small groups suppressed)"
)
async def stats(
    session: Session,
    caller: ApiReader,
    unit: str | None = None,
    from_: Annotated[
        str | None, Query(alias="from", pattern=_MONTH, description="first month, YYYY-MM")
    ] = None,
    to: Annotated[str | None, Query(pattern=_MONTH, description="last month, YYYY-MM")] = None,
) -> dict[str, Any]:
    groups = await checkin_stats(session, scope=caller.scope, unit=unit, start=from_, end=to)
    return {"min_group_size": MIN_GROUP, "groups": groups}
