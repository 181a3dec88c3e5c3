"""Tasks: a flag set by triage opens its task with the law's deadline and who acts; the list per
unit, the first due first; marking done is audited; the statistics count them."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from inbox.cases.access import EVERYTHING, NotFound, granted
from inbox.cases.tasks import (
    RULES,
    TaskError,
    TaskKind,
    case_tasks,
    due_date,
    mark_done,
    open_tasks,
    task_statistics,
)
from inbox.cases.triage import update_case
from inbox.core.audit import Actor
from inbox.core.db import unit_of_work
from inbox.core.models import AuditEvent, Case, Task, Unit
from tests.conftest import Clock, Database
from tests.factories import mail, take

STAFF = Actor("user:7", user_id=7)


@pytest.mark.parametrize(
    ("kind", "since", "due"),
    [
        # Orosanmälan and lex Sarah: at once, weekends and holidays included.
        ("child_at_risk", date(2026, 3, 10), date(2026, 3, 10)),
        ("lex_sarah", date(2026, 3, 14), date(2026, 3, 14)),  # a Saturday
        # A possible appeal: the next working day (Friday → Monday; over Easter to the Tuesday).
        ("appeal_intent", date(2026, 3, 10), date(2026, 3, 11)),
        ("appeal_intent", date(2026, 3, 13), date(2026, 3, 16)),
        ("appeal_intent", date(2026, 4, 2), date(2026, 4, 7)),  # Good Friday, Easter Monday
        ("appeal_intent", date(2026, 12, 23), date(2026, 12, 28)),  # Christmas Eve to Boxing Day
        # Not executed: the end of the month after the quarter (IVO's reporting month).
        ("decision_not_executed", date(2026, 3, 10), date(2026, 4, 30)),
        ("decision_not_executed", date(2026, 4, 1), date(2026, 7, 31)),
        ("decision_not_executed", date(2026, 9, 30), date(2026, 10, 31)),
        ("decision_not_executed", date(2026, 12, 1), date(2027, 1, 31)),
    ],
)
def test_each_kind_is_due_by_its_rule(kind: str, since: date, due: date) -> None:
    assert due_date(kind, since) == due


async def _case(db: Database, clock: Clock, n: int, unit: str | None) -> Case:
    receipt = await take(db, mail(n, sender=f"p{n}@example.se"), clock)
    async with unit_of_work(db.sessions) as session:
        case = await session.get(Case, receipt.case_id)
        assert case is not None
        if unit:
            await update_case(
                session, oidc=False, case=case, changes={"unit": unit}, actor=STAFF, now=clock()
            )
        return case


async def _flag(db: Database, clock: Clock, case: Case, **flags: bool) -> None:
    async with unit_of_work(db.sessions) as session:
        fresh = await session.get(Case, case.id)
        assert fresh is not None
        await update_case(
            session, oidc=False, case=fresh, changes={"flags": flags}, actor=STAFF, now=clock()
        )


async def _tasks(db: Database, case: Case) -> list[Task]:
    async with db.sessions() as session:
        query = select(Task).where(Task.case_id == case.id).order_by(Task.id)
        return list((await session.execute(query)).scalars())


async def test_setting_each_escalation_flag_opens_its_task_once(db: Database, clock: Clock) -> None:
    case = await _case(db, clock, 1, "vuxen")
    await _flag(db, clock, case, lex_sarah=True, child_at_risk=True, decision_not_executed=True)
    tasks = await _tasks(db, case)
    today = date(2026, 3, 10)
    assert {(t.kind, t.due_on, t.actor, t.created_by, t.done_at) for t in tasks} == {
        ("lex_sarah", today, RULES["lex_sarah"].actor, "user:7", None),
        ("child_at_risk", today, RULES["child_at_risk"].actor, "user:7", None),
        ("decision_not_executed", date(2026, 4, 30), "Nämndens rapportör till IVO", "user:7", None),
    }
    assert RULES["lex_sarah"].actor.endswith("den som ansvarar för verksamheten")
    # Cleared and set again while the task is open: still one task; the duty is not undone.
    await _flag(db, clock, case, lex_sarah=False)
    await _flag(db, clock, case, lex_sarah=True)
    assert len(await _tasks(db, case)) == 3
    async with db.sessions() as session:
        created = (
            (await session.execute(select(AuditEvent).where(AuditEvent.action == "task.created")))
            .scalars()
            .all()
        )
    assert sorted(e.detail["kind"] for e in created) == sorted(
        ["lex_sarah", "child_at_risk", "decision_not_executed"]
    )
    assert {e.actor for e in created} == {"user:7"}


async def test_marking_done_is_audited_and_a_flag_set_again_opens_a_new_task(
    db: Database, clock: Clock
) -> None:
    case = await _case(db, clock, 1, "vuxen")
    await _flag(db, clock, case, lex_sarah=True)
    [task] = await _tasks(db, case)
    assert task.id is not None
    clock.advance(days=1)  # done the day after its deadline: late
    async with unit_of_work(db.sessions) as session:
        await mark_done(session, task_id=task.id, scope=EVERYTHING, actor=STAFF, now=clock())
    async with unit_of_work(db.sessions) as session:
        with pytest.raises(TaskError):
            await mark_done(session, task_id=task.id, scope=EVERYTHING, actor=STAFF, now=clock())
    async with db.sessions() as session:
        [done] = (
            (await session.execute(select(AuditEvent).where(AuditEvent.action == "task.done")))
            .scalars()
            .all()
        )
    assert (done.actor, done.case_reference, done.detail["task_id"], done.detail["in_time"]) == (
        "user:7",
        case.reference,
        task.id,
        False,
    )
    [closed] = await _tasks(db, case)
    assert closed.done_at == clock() and closed.done_by == "user:7"
    await _flag(db, clock, case, lex_sarah=False)
    await _flag(db, clock, case, lex_sarah=True)
    assert [t.done_at is None for t in await _tasks(db, case)] == [False, True]


async def test_a_task_outside_the_scope_does_not_exist(db: Database, clock: Clock) -> None:
    case = await _case(db, clock, 1, "vuxen")
    await _flag(db, clock, case, child_at_risk=True)
    [task] = await _tasks(db, case)
    assert task.id is not None
    async with db.sessions() as session:
        barn = (
            await session.execute(select(Unit).where(Unit.code == "barn-och-familj"))
        ).scalar_one()
    assert barn.id is not None
    elsewhere = granted(role="caseworker", all_units=False, unit_ids={barn.id})
    async with unit_of_work(db.sessions) as session:
        assert await open_tasks(session, scope=elsewhere, now=clock()) == []
        with pytest.raises(NotFound):
            await mark_done(session, task_id=task.id, scope=elsewhere, actor=STAFF, now=clock())
    assert (await _tasks(db, case))[0].done_at is None


async def test_the_list_is_per_unit_the_first_due_first_and_the_most_urgent_on_a_day(
    db: Database, clock: Clock
) -> None:
    not_executed = await _case(db, clock, 1, "vuxen")
    await _flag(db, clock, not_executed, decision_not_executed=True)  # due 30 April
    clock.advance(minutes=5)
    appeal = await _case(db, clock, 2, "vuxen")
    await _flag(db, clock, appeal, appeal_intent=True)  # due tomorrow
    sarah = await _case(db, clock, 3, "vuxen")
    child = await _case(db, clock, 4, "vuxen")
    await _flag(db, clock, sarah, lex_sarah=True)  # today
    await _flag(db, clock, child, child_at_risk=True)  # today, and more urgent
    other = await _case(db, clock, 5, "barn-och-familj")
    await _flag(db, clock, other, lex_sarah=True)
    async with db.sessions() as session:
        rows = await open_tasks(session, scope=EVERYTHING, now=clock(), unit="vuxen")
        later = await open_tasks(
            session, scope=EVERYTHING, now=clock() + timedelta(days=2), unit="vuxen"
        )
        on_case = await case_tasks(session, case_id=appeal.id or 0, now=clock())
    assert [(r.case_reference, r.kind) for r in rows] == [
        (child.reference, TaskKind.CHILD_AT_RISK),
        (sarah.reference, TaskKind.LEX_SARAH),
        (appeal.reference, TaskKind.APPEAL),
        (not_executed.reference, TaskKind.DECISION_NOT_EXECUTED),
    ]
    assert {r.unit_code for r in rows} == {"vuxen"} and not any(r.overdue for r in rows)
    assert [r.overdue for r in later] == [True, True, True, False]
    assert [(r.kind, r.title) for r in on_case] == [
        ("appeal_intent", "Möjligt överklagande: rättidsprövning")
    ]


async def test_statistics_count_opened_done_in_time_open_and_overdue(
    db: Database, clock: Clock
) -> None:
    clock.now = datetime(2026, 3, 10, 22, 30, tzinfo=UTC)  # 23:30 in Stockholm
    early, late, still = [await _case(db, clock, n, "vuxen") for n in (1, 2, 3)]
    for case in (early, late, still):
        await _flag(db, clock, case, lex_sarah=True)
    [first] = await _tasks(db, early)
    [second] = await _tasks(db, late)
    async with unit_of_work(db.sessions) as session:
        # 23:59 in Stockholm is still the deadline's day (00:00 UTC would already be the next).
        at = datetime(2026, 3, 10, 22, 59, tzinfo=UTC)
        await mark_done(session, task_id=first.id or 0, scope=EVERYTHING, actor=STAFF, now=at)
        then = at + timedelta(days=2)
        await mark_done(session, task_id=second.id or 0, scope=EVERYTHING, actor=STAFF, now=then)
    async with db.sessions() as session:
        stats = await task_statistics(
            session,
            scope=EVERYTHING,
            since=date(2026, 1, 1),
            until=date(2026, 12, 31),
            now=at + timedelta(days=3),
        )
        before = await task_statistics(
            session,
            scope=EVERYTHING,
            since=date(2026, 1, 1),
            until=date(2026, 3, 9),
            now=at + timedelta(days=3),
        )
    counts = {s.kind: (s.opened, s.done, s.done_in_time, s.open, s.overdue) for s in stats}
    assert counts["lex_sarah"] == (3, 2, 1, 1, 1)
    assert counts["appeal_intent"] == (0, 0, 0, 0, 0)
    assert [s.kind for s in stats] == list(RULES)
    assert all(s.opened == 0 for s in before)
