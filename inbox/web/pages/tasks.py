"""The staff page "Att göra" (`/tasks`): the open tasks of the user's units, per unit, the first
due first, with this year's statistics; and marking a task done, from there or from its case.

What the user sees is decided by the scope (`inbox.cases.tasks` takes it), as on the case list: a
task goes with its case's unit, and a task of a case outside the user's units does not exist for
them (404 when marked done).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from inbox.cases.access import active_units
from inbox.cases.tasks import TaskError, TaskRow, mark_done, open_tasks, task_statistics
from inbox.core.time import STOCKHOLM
from inbox.web.auth.csrf import verify_csrf
from inbox.web.auth.sessions import Session
from inbox.web.deps import StaffReader, StaffWriter
from inbox.web.inputs import Id
from inbox.web.render import page
from inbox.web.state import Clock

router = APIRouter(dependencies=[Depends(verify_csrf)], include_in_schema=False)

UNASSIGNED = "Ej fördelade ärenden"


@dataclass(frozen=True, slots=True)
class Group:
    """One unit's part of the list (or the cases with no unit yet)."""

    name: str
    code: str
    rows: list[TaskRow]


def _groups(rows: list[TaskRow]) -> list[Group]:
    """The rows per unit, keeping their order within each: cases with no unit first (they still
    need a unit), then the units by name."""
    by_unit: dict[str | None, list[TaskRow]] = {}
    names: dict[str | None, str] = {}
    for row in rows:
        by_unit.setdefault(row.unit_code, []).append(row)
        names[row.unit_code] = row.unit_name or UNASSIGNED
    order = sorted(by_unit, key=lambda code: (code is not None, names[code].casefold()))
    return [Group(name=names[code], code=code or "", rows=by_unit[code]) for code in order]


@router.get("/tasks", response_class=HTMLResponse)
async def tasks_page(
    request: Request, session: Session, staff: StaffReader, clock: Clock
) -> Response:
    now = clock()
    units = await active_units(session, staff.scope)
    wanted = request.query_params.get("unit", "").strip()
    if wanted not in {u.code for u in units}:
        wanted = ""
    rows = await open_tasks(session, scope=staff.scope, now=now, unit=wanted or None)
    today = now.astimezone(STOCKHOLM).date()
    stats = await task_statistics(
        session, scope=staff.scope, since=date(today.year, 1, 1), until=today, now=now
    )
    return page(
        request,
        "tasks.html",
        {
            "staff": staff,
            "units": units,
            "unit": wanted,
            "groups": _groups(rows),
            "stats": stats,
            "year": today.year,
            "show_case": True,
            "back": "/tasks" + (f"?unit={wanted}" if wanted else ""),
        },
    )


# Where to go after marking a task done: the list it was marked on, or its case; nothing else.
_BACK = re.compile(r"/tasks(\?unit=[a-z0-9-]{1,64})?|/cases/[A-Za-z0-9-]{1,32}", re.ASCII)


@router.post("/tasks/{task_id}/done")
async def task_done(
    task_id: Id, request: Request, session: Session, staff: StaffWriter, clock: Clock
) -> Response:
    form = await request.form()
    try:
        _task, case = await mark_done(
            session, task_id=task_id, scope=staff.scope, actor=staff.actor, now=clock()
        )
        request.session["flash"] = f"Uppgiften i {case.reference} är markerad som klar."
    except TaskError:
        request.session["flash"] = "Uppgiften var redan markerad som klar."
    back = str(form.get("next", ""))
    return RedirectResponse(back if _BACK.fullmatch(back) else "/tasks", status_code=303)
