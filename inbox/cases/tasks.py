"""Tasks: what the law requires someone to do about a case, by when, and who acts.

A flag alone changes nothing; a task puts the duty on a list. Setting `lex_sarah`,
`child_at_risk` or `decision_not_executed` (by staff or the API, through triage), or a message
recognised as a possible appeal (`appeal_intent`, by intake or by staff), opens the task of that
kind on the case, unless one is open already. It stays on the unit's "Att göra" and on the case
until someone marks it done (audited), and it is counted in the statistics. Clearing the flag
does not close the task: the duty arose when the flag was set, so a person marks it done.

The deadlines are the law's (docs/legal.md, "Appeals and escalations"), counted in Stockholm:
- `child_at_risk` (orosanmälan): the same day; the information goes at once to whoever makes the
  skyddsbedömning, which is to be made at once.
- `lex_sarah`: the same day; a report is made *genast* to the one responsible for the service.
- `appeal_intent`: the next working day; the decision-maker tries whether the appeal came in
  time (rättidsprövning) and omprövar or sends it on.
- `decision_not_executed`: the last day of the month after the quarter; IVO takes each quarter's
  reports of decisions not executed within three months in the following month (two in summer).
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Select, case, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from inbox.cases.access import NotFound, Scope
from inbox.core.audit import Actor, audit, audit_row
from inbox.core.db import insert_ignoring_conflicts
from inbox.core.models import AuditEvent, Case, Task, Unit
from inbox.core.personnummer import mask_personnummer
from inbox.core.time import STOCKHOLM, add_working_days

MAX_LIST = 500


class TaskKind(StrEnum):
    """A task's kind: the name of the flag that opens it."""

    CHILD_AT_RISK = "child_at_risk"
    LEX_SARAH = "lex_sarah"
    APPEAL = "appeal_intent"
    DECISION_NOT_EXECUTED = "decision_not_executed"


@dataclass(frozen=True, slots=True)
class TaskRule:
    title: str  # what is to be done, for staff (Swedish)
    actor: str  # who acts
    instruction: str  # how, in a sentence or two
    rank: int  # among tasks due the same day, the more urgent first


RULES: dict[str, TaskRule] = {
    TaskKind.CHILD_AT_RISK: TaskRule(
        title="Orosanmälan om barn",
        actor="Mottagningen för barn och unga (skyddsbedömning)",
        instruction=(
            "Lämna uppgifterna genast till mottagningen för barn och unga. Där görs en "
            "skyddsbedömning samma dag. Uppgifter om att ett barn kan fara illa är en "
            "orosanmälan även när de kommer som en synpunkt."
        ),
        rank=0,
    ),
    TaskKind.LEX_SARAH: TaskRule(
        title="Lex Sarah-rapport",
        actor="Den som fick kännedom, till den som ansvarar för verksamheten",
        instruction=(
            "Rapportera genast missförhållandet eller risken till den som ansvarar för "
            "verksamheten. Den ansvarige utreder, åtgärdar och anmäler allvarliga "
            "missförhållanden till IVO."
        ),
        rank=1,
    ),
    TaskKind.APPEAL: TaskRule(
        title="Möjligt överklagande: rättidsprövning",
        actor="Den som fattade beslutet",
        instruction=(
            "Ta reda på vilket beslut det gäller och pröva om överklagandet kom in inom tre "
            "veckor från att personen fick ta del av beslutet. Det räknas som inkommet den dag "
            "meddelandet kom in. Kom det in i tid: ompröva beslutet eller skicka överklagandet "
            "till förvaltningsrätten."
        ),
        rank=2,
    ),
    TaskKind.DECISION_NOT_EXECUTED: TaskRule(
        title="Ej verkställt beslut: rapport till IVO",
        actor="Nämndens rapportör till IVO",
        instruction=(
            "Ta reda på när beslutet fattades. Har ett beviljat bistånd inte verkställts inom "
            "tre månader ska det rapporteras till IVO i kvartalets rapportering, och sedan "
            "varje kvartal tills det är verkställt."
        ),
        rank=3,
    ),
}


class TaskError(ValueError):
    """A task that cannot be changed that way (marked done twice, say)."""


def due_date(kind: str, since: date) -> date:
    """When a task of `kind` that arose on `since` (a Stockholm date) is due."""
    if kind == TaskKind.APPEAL:
        return add_working_days(since, 1)
    if kind == TaskKind.DECISION_NOT_EXECUTED:
        month = (since.month - 1) // 3 * 3 + 4  # the month after the quarter
        year = since.year + (month > 12)
        month = month - 12 if month > 12 else month
        return date(year, month, calendar.monthrange(year, month)[1])
    return since


def rule(kind: str) -> TaskRule:
    return RULES.get(kind) or TaskRule(title=kind, actor="", instruction="", rank=9)


async def add_tasks(
    session: AsyncSession,
    wanted: Sequence[tuple[int, str, str, date]],
    *,
    actor: Actor,
    now: datetime,
) -> list[int]:
    """Opens a task for each (case id, reference, kind, the date it arose), unless the case has
    one of that kind open; each one opened is an audit event. Returns the new tasks' ids."""
    if not wanted:
        return []
    created = await session.execute(
        insert_ignoring_conflicts(session, Task).returning(
            col(Task.id), col(Task.case_id), col(Task.kind), col(Task.due_on)
        ),
        [
            {
                "case_id": case_id,
                "kind": kind,
                "due_on": due_date(kind, since),
                "actor": rule(kind).actor,
                "created_at": now,
                "created_by": actor.name,
            }
            for case_id, _reference, kind, since in wanted
        ],
    )
    references = {case_id: reference for case_id, reference, _kind, _since in wanted}
    rows = created.all()
    if rows:
        await session.execute(
            insert(AuditEvent),
            [
                audit_row(
                    actor=actor,
                    action="task.created",
                    case_id=case_id,
                    case_reference=references[case_id],
                    now=now,
                    detail={"task_id": task_id, "kind": kind, "due_on": due_on.isoformat()},
                )
                for task_id, case_id, kind, due_on in rows
            ],
        )
    return [row[0] for row in rows]


async def open_flag_tasks(
    session: AsyncSession, *, case: Case, kinds: Iterable[str], actor: Actor, now: datetime
) -> list[int]:
    """The tasks of the flags just set on `case`, arising today (Stockholm)."""
    assert case.id is not None
    today = now.astimezone(STOCKHOLM).date()
    wanted = [(case.id, case.reference, kind, today) for kind in kinds if kind in RULES]
    return await add_tasks(session, wanted, actor=actor, now=now)


@dataclass(frozen=True, slots=True)
class TaskRow:
    """A task as a list or a case shows it, with its case's reference, subject and unit."""

    id: int
    kind: str
    due_on: date
    actor: str
    created_at: datetime
    done_at: datetime | None
    done_by: str | None
    case_reference: str | None
    case_subject: str  # personnummer masked
    unit_code: str | None
    unit_name: str | None
    overdue: bool
    case_received_at: datetime | None = None  # the order's tie-break (None once the case is gone)

    @property
    def title(self) -> str:
        return rule(self.kind).title

    @property
    def instruction(self) -> str:
        return rule(self.kind).instruction

    @property
    def done_by_user(self) -> int | None:
        """The staff user who marked it done (None when it was a token or the system)."""
        kind, _, user_id = (self.done_by or "").partition(":")
        return int(user_id) if kind == "user" and user_id.isdigit() else None


def _rank() -> Any:
    return case({kind: r.rank for kind, r in RULES.items()}, value=col(Task.kind), else_=len(RULES))


def _rows_query() -> Select[*tuple[Any, ...]]:
    return (
        select(
            col(Task.id),
            col(Task.kind),
            col(Task.due_on),
            col(Task.actor),
            col(Task.created_at),
            col(Task.done_at),
            col(Task.done_by),
            col(Case.reference),
            col(Case.subject),
            col(Unit.code),
            col(Unit.name),
            col(Case.received_at),
        )
        .outerjoin(Case, col(Case.id) == Task.case_id)
        .outerjoin(Unit, col(Unit.id) == Case.unit_id)
    )


def _row(row: Any, today: date) -> TaskRow:
    (task_id, kind, due_on, actor, created_at, done_at, done_by, ref, subject, code, name, at) = row
    return TaskRow(
        id=task_id,
        kind=kind,
        due_on=due_on,
        actor=actor,
        created_at=created_at,
        done_at=done_at,
        done_by=done_by,
        case_reference=ref,
        case_subject=mask_personnummer(subject or ""),
        unit_code=code,
        unit_name=name,
        overdue=done_at is None and due_on < today,
        case_received_at=at,
    )


async def open_tasks(
    session: AsyncSession,
    *,
    scope: Scope,
    now: datetime,
    unit: str | None = None,
    limit: int = MAX_LIST,
) -> list[TaskRow]:
    """The open tasks of the cases in `scope` (of one unit, by code), the first due first; on
    the same day the more urgent kind first, then the case that came in first."""
    query = _rows_query().where(col(Task.done_at).is_(None), scope.linked_condition())
    if unit:
        query = query.where(col(Unit.code) == unit)
    query = query.order_by(col(Task.due_on), _rank(), col(Case.received_at), col(Task.id)).limit(
        limit
    )
    today = now.astimezone(STOCKHOLM).date()
    return [_row(row, today) for row in (await session.execute(query)).all()]


async def case_tasks(session: AsyncSession, *, case_id: int, now: datetime) -> list[TaskRow]:
    """Every task of a case (found in scope by its caller): the open ones first, by deadline."""
    query = (
        _rows_query()
        .where(col(Task.case_id) == case_id)
        .order_by(col(Task.done_at).is_not(None), col(Task.due_on), _rank(), col(Task.id))
    )
    today = now.astimezone(STOCKHOLM).date()
    return [_row(row, today) for row in (await session.execute(query)).all()]


async def mark_done(
    session: AsyncSession, *, task_id: int, scope: Scope, actor: Actor, now: datetime
) -> tuple[Task, Case]:
    """Marks a task of a case in `scope` done, as an audit event. `NotFound` outside the scope
    (or for a task whose case is gone); `TaskError` when it was done already."""
    found = (
        await session.execute(
            select(Task, Case)
            .join(Case, col(Case.id) == Task.case_id)
            .where(col(Task.id) == task_id, scope.condition())
        )
    ).first()
    if found is None:
        raise NotFound("no such task")
    task, the_case = found
    if task.done_at is not None:
        raise TaskError("the task is already done")
    task.done_at, task.done_by = now, actor.name
    audit(
        session,
        actor=actor,
        action="task.done",
        case=the_case,
        now=now,
        task_id=task.id,
        kind=task.kind,
        due_on=task.due_on.isoformat(),
        in_time=now.astimezone(STOCKHOLM).date() <= task.due_on,
    )
    await session.flush()
    return task, the_case


@dataclass(frozen=True, slots=True)
class TaskStats:
    """Per kind, of the tasks opened in a period: how many, done, done by the deadline, still
    open, and open past the deadline now."""

    kind: str
    opened: int
    done: int
    done_in_time: int
    open: int
    overdue: int

    @property
    def title(self) -> str:
        return rule(self.kind).title


async def task_statistics(
    session: AsyncSession, *, scope: Scope, since: date, until: date, now: datetime
) -> list[TaskStats]:
    """The tasks opened from `since` to `until` (Stockholm dates, both included), per kind, in
    the order of `RULES`; a task whose case retention removed counts for those who see all."""
    today = now.astimezone(STOCKHOLM).date()
    start = datetime.combine(since, datetime.min.time(), STOCKHOLM)
    end = datetime.combine(until, datetime.max.time(), STOCKHOLM)
    # A task done on its last day is in time: compared as Stockholm dates, in Python, below.
    rows = (
        await session.execute(
            select(col(Task.kind), col(Task.due_on), col(Task.done_at))
            .outerjoin(Case, col(Case.id) == Task.case_id)
            .where(
                scope.linked_condition(),
                col(Task.created_at) >= start,
                col(Task.created_at) <= end,
            )
        )
    ).all()
    counts: dict[str, list[int]] = {kind: [0, 0, 0, 0, 0] for kind in RULES}
    for kind, due_on, done_at in rows:
        row = counts.setdefault(kind, [0, 0, 0, 0, 0])
        row[0] += 1
        if done_at is not None:
            row[1] += 1
            row[2] += done_at.astimezone(STOCKHOLM).date() <= due_on
        else:
            row[3] += 1
            row[4] += due_on < today
    return [TaskStats(kind, *values) for kind, values in counts.items()]
