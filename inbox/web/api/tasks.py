"""`/api/tasks`: the open tasks of the token's units, marking one done, and their statistics.

A task is what the law requires someone to do about a case by a date (`inbox.cases.tasks`): it is
opened by setting an escalation flag (`PATCH /api/cases/{ref}`) or by a message that may be an
appeal. Marking one done is an audit event. The open tasks are paged by a cursor of their order
(due date, urgency, the case's arrival, id), which the list is sorted by here too.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, Field

from inbox.cases.tasks import (
    TaskError,
    TaskRow,
    case_tasks,
    mark_done,
    open_tasks,
    rule,
    task_statistics,
)
from inbox.core.time import STOCKHOLM
from inbox.web.api.paging import (
    Cursor,
    Limit,
    decode_cursor,
    encode_cursor,
    invalid_cursor,
    parse_cursor_id,
)
from inbox.web.api.problems import EVERY_OPERATION, problems
from inbox.web.deps import ApiListReader, ApiWriter, ReadSession, Session
from inbox.web.inputs import Id
from inbox.web.state import Clock

router = APIRouter(prefix="/api", tags=["api"], responses=EVERY_OPERATION)
# A task's place in the list: due date, urgency, the case's arrival, id (fixed-width strings).
Position = tuple[str, int, str, int]


class TaskOut(BaseModel):
    id: int
    case: str | None  # the case's reference; None once retention removed the case
    kind: str  # appeal_intent, lex_sarah, child_at_risk, decision_not_executed
    title: str
    actor: str  # who acts
    instruction: str
    due_on: date
    overdue: bool
    created_at: datetime
    done_at: datetime | None
    done_by: str | None  # user:<id> or token:<id>


class TaskList(BaseModel):
    items: list[TaskOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page")


class TaskKindStats(BaseModel):
    kind: str
    title: str
    opened: int
    done: int
    done_in_time: int
    open: int
    overdue: int


class TaskStatsOut(BaseModel):
    from_: date = Field(alias="from")
    to: date
    kinds: list[TaskKindStats]


def _out(row: TaskRow) -> TaskOut:
    return TaskOut(
        id=row.id,
        case=row.case_reference,
        kind=row.kind,
        title=row.title,
        actor=row.actor,
        instruction=row.instruction,
        due_on=row.due_on,
        overdue=row.overdue,
        created_at=row.created_at,
        done_at=row.done_at,
        done_by=row.done_by,
    )


def _position(row: TaskRow) -> Position:
    arrived = row.case_received_at
    return (
        row.due_on.isoformat(),
        rule(row.kind).rank,
        arrived.isoformat(timespec="microseconds") if arrived else "",
        row.id,
    )


def _after(cursor: str) -> Position:
    due_on, rank, arrived, task_id = decode_cursor(cursor, 4)
    if not rank.isascii() or not rank.isdigit() or len(rank) > 3:
        raise invalid_cursor()
    return due_on, int(rank), arrived, parse_cursor_id(task_id)


@router.get(
    "/tasks",
    response_model=TaskList,
    summary="Open tasks, the first due first",
    responses=problems(400),
)
async def tasks_index(
    clock: Clock,
    session: ReadSession,
    token: ApiListReader,
    unit: Annotated[str | None, Query(description="A unit code")] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> TaskList:
    rows = sorted(
        await open_tasks(session, scope=token.scope, now=clock(), unit=unit), key=_position
    )
    if cursor is not None:
        after = _after(cursor)
        rows = [row for row in rows if _position(row) > after]
    page = rows[:limit]
    more = len(rows) > limit
    return TaskList(
        items=[_out(row) for row in page],
        next_cursor=encode_cursor(*_position(page[-1])) if more else None,
    )


@router.post(
    "/tasks/{task_id}/done",
    response_model=TaskOut,
    summary="Mark a task done (audited)",
    responses=problems(404, 409),
)
async def task_done(task_id: Id, clock: Clock, session: Session, token: ApiWriter) -> TaskOut:
    now = clock()
    try:
        task, case = await mark_done(
            session, task_id=task_id, scope=token.scope, actor=token.actor, now=now
        )
    except TaskError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from exc
    assert case.id is not None
    [row] = [r for r in await case_tasks(session, case_id=case.id, now=now) if r.id == task.id]
    return _out(row)


@router.get(
    "/tasks/stats",
    response_model=TaskStatsOut,
    summary="Tasks per kind: opened in the period, done, done in time, open, overdue",
    responses=problems(400),
)
async def tasks_stats(
    clock: Clock,
    session: ReadSession,
    token: ApiListReader,
    from_: Annotated[date | None, Query(alias="from", description="YYYY-MM-DD")] = None,
    to: Annotated[date | None, Query(description="YYYY-MM-DD")] = None,
) -> TaskStatsOut:
    now = clock()
    today = now.astimezone(STOCKHOLM).date()
    since, until = from_ or date(today.year, 1, 1), to or today
    if since > until:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail="`from` is after `to`")
    stats = await task_statistics(session, scope=token.scope, since=since, until=until, now=now)
    kinds = [
        TaskKindStats(
            kind=s.kind,
            title=s.title,
            opened=s.opened,
            done=s.done,
            done_in_time=s.done_in_time,
            open=s.open,
            overdue=s.overdue,
        )
        for s in stats
    ]
    return TaskStatsOut.model_validate({"from": since, "to": until, "kinds": kinds})
