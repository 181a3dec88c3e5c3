"""The check-in part of the JSON API: register, read and withdraw decisions; check-in statistics.

Thin endpoints over `inbox.decisions`, `inbox.checkin_reports`; same bearer tokens as the rest.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, HTTPException, Query, Request, status
from fastapi.encoders import jsonable_encoder
from pydantic import BaseModel, Field

from inbox.checkin_reports import MIN_GROUP, checkin_stats, decision_view
from inbox.decisions import (
    DecisionError,
    DuplicateDecision,
    check_input,
    register_decision,
    withdraw_decision,
)
from inbox.models import Decision
from inbox.replies import Actor, audit
from inbox.web.api import Session, Token

router = APIRouter(prefix="/api", tags=["check-ins"])
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


class DecisionIn(BaseModel):
    unit: str = Field(description="unit code, e.g. ekonomiskt-bistand")
    channel: str = Field(description="email or telegram")
    address: str = Field(description="email address or Telegram chat id")
    language: str = Field(default="sv", description="sv or en")
    decided_on: str = Field(description="YYYY-MM-DD")
    reference: str = Field(description="the case-management system's id (no personal data)")


def _actor(request: Request, token: Any) -> Actor:
    return Actor(
        name=f"token:{token.id}", remote_addr=request.client.host if request.client else None
    )


async def _view(request: Request, session: Session, decision_id: int) -> dict[str, Any]:
    view = await decision_view(session, decision_id=decision_id, now=request.app.state.clock())
    if view is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="No such decision")
    return jsonable_encoder(view)  # type: ignore[no-any-return]


@router.post(
    "/decisions",
    status_code=status.HTTP_201_CREATED,
    summary="Register a decision; its check-in is scheduled",
)
async def decision_create(
    body: DecisionIn, request: Request, session: Session, token: Token, background: BackgroundTasks
) -> dict[str, Any]:
    now = request.app.state.clock()
    try:
        data = check_input(body.model_dump(), now=now)
        decision, _checkin = await register_decision(
            session,
            data=data,
            policy=request.app.state.checkins,
            registered_by=f"token:{token.id}",
            now=now,
        )
    except DuplicateDecision as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from exc
    except DecisionError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(exc)) from exc
    audit(
        session,
        actor=_actor(request, token),
        action="decision.registered",
        case=None,
        now=now,
        decision_id=decision.id,
    )
    background.add_task(request.app.state.wake_worker)
    assert decision.id is not None
    return await _view(request, session, decision.id)


@router.get("/decisions/{decision_id}", summary="A decision with its check-in's state and answers")
async def decision_show(
    decision_id: int, request: Request, session: Session, token: Token
) -> dict[str, Any]:
    return await _view(request, session, decision_id)


@router.post(
    "/decisions/{decision_id}/withdraw", summary="Withdraw a decision; its check-in is cancelled"
)
async def decision_withdraw(
    decision_id: int, request: Request, session: Session, token: Token
) -> dict[str, Any]:
    decision = await session.get(Decision, decision_id)
    if decision is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="No such decision")
    now = request.app.state.clock()
    await withdraw_decision(session, decision=decision, now=now)
    audit(
        session,
        actor=_actor(request, token),
        action="decision.withdrawn",
        case=None,
        now=now,
        decision_id=decision_id,
    )
    return await _view(request, session, decision_id)


@router.get(
    "/checkins/stats", summary="Check-in answers per unit and month (small groups suppressed)"
)
async def stats(
    session: Session,
    token: Token,
    unit: str | None = None,
    from_: Annotated[str | None, Query(alias="from", description="first month, YYYY-MM")] = None,
    to: Annotated[str | None, Query(description="last month, YYYY-MM")] = None,
) -> dict[str, Any]:
    for value in (from_, to):
        if value is not None and not _MONTH.match(value):
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail="months are YYYY-MM")
    groups = await checkin_stats(session, unit=unit, start=from_, end=to)
    return {"min_group_size": MIN_GROUP, "groups": groups}
