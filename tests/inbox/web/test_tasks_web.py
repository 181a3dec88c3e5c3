"""Escalation flags that make something happen, through the staff pages and the API: each flag
opens its task with its deadline and who acts, shown on the case and on the unit's "Att göra"
until it is marked done (audited), and counted in the statistics."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from inbox.cases.tasks import RULES
from inbox.core.models import AuditEvent, Task
from tests.inbox.web.conftest import ApiFor, SignIn, World, csrf_of, form_post

BARN = "barn-och-familj"
# flag → (due date, who acts), the flag being set on 10 March 2026 (a Tuesday)
EXPECTED = {
    "lex_sarah": ("2026-03-10", "Den som fick kännedom, till den som ansvarar för verksamheten"),
    "child_at_risk": ("2026-03-10", "Mottagningen för barn och unga (skyddsbedömning)"),
    "decision_not_executed": ("2026-04-30", "Nämndens rapportör till IVO"),
    "appeal_intent": ("2026-03-11", "Den som fattade beslutet"),
}


def _triage(unit: str | None, *flags: str) -> dict[str, str]:
    """The triage form as a browser sends it: the unit chosen, the flags ticked."""
    return {"unit": unit or "", **{f"flag_{flag}": "on" for flag in flags}}


async def _tasks(world: World, reference: str) -> list[Task]:
    case = await world.case(reference)
    async with world.db.sessions() as session:
        query = select(Task).where(Task.case_id == case.id).order_by(Task.id)
        return list((await session.execute(query)).scalars())


async def _done_events(world: World) -> list[AuditEvent]:
    async with world.db.sessions() as session:
        query = select(AuditEvent).where(AuditEvent.action == "task.done")
        return list((await session.execute(query)).scalars())


@pytest.mark.parametrize("flag", list(EXPECTED))
async def test_setting_a_flag_on_the_staff_page_opens_its_task(
    world: World, as_user: SignIn, flag: str
) -> None:
    karin = await as_user("karin")
    response = await form_post(karin, f"/cases/{world.barn}/triage", _triage(BARN, flag))
    assert response.status_code == 303
    [task] = await _tasks(world, world.barn)
    due, actor = EXPECTED[flag]
    assert (task.kind, task.due_on.isoformat(), task.actor) == (flag, due, actor)
    assert task.created_by == f"user:{await world.user_id('karin')}"
    page = (await karin.get(f"/cases/{world.barn}")).text
    assert RULES[flag].title in page and actor in page and f"Senast {due}" in page
    assert "Markera som klar" in page
    listing = (await karin.get("/tasks")).text
    assert world.barn in listing and RULES[flag].title in listing
    # Unchecking the flag leaves the duty where it is.
    await form_post(karin, f"/cases/{world.barn}/triage", _triage(BARN))
    assert len(await _tasks(world, world.barn)) == 1


async def test_marking_done_on_the_page_is_audited_and_leaves_the_list(
    world: World, as_user: SignIn
) -> None:
    karin = await as_user("karin")
    await form_post(karin, f"/cases/{world.barn}/triage", _triage(BARN, "child_at_risk"))
    [task] = await _tasks(world, world.barn)
    listing = (await karin.get("/tasks")).text
    assert f'action="/tasks/{task.id}/done"' in listing
    world.clock.advance(minutes=20)
    done = await karin.post(
        f"/tasks/{task.id}/done", data={"csrf_token": csrf_of(listing), "next": "/tasks"}
    )
    assert done.status_code == 303 and done.headers["location"] == "/tasks"
    after = (await karin.get("/tasks")).text
    assert f"Uppgiften i {world.barn} är markerad som klar." in after
    assert "Inget att göra just nu." in after
    [event] = await _done_events(world)
    assert (event.actor, event.case_reference, event.detail["task_id"]) == (
        f"user:{await world.user_id('karin')}",
        world.barn,
        task.id,
    )
    assert event.detail["in_time"] is True
    case_page = (await karin.get(f"/cases/{world.barn}")).text
    assert "Klar 2026-03-10" in case_page and "av Karin" in case_page
    assert "Markera som klar" not in case_page
    again = await karin.post(
        f"/tasks/{task.id}/done",
        data={"csrf_token": csrf_of(case_page), "next": f"/cases/{world.barn}"},
    )
    assert again.headers["location"] == f"/cases/{world.barn}"
    assert "redan markerad som klar" in (await karin.get(f"/cases/{world.barn}")).text
    assert len(await _done_events(world)) == 1
    # Only this site's own pages are where a form may send the browser next.
    await form_post(karin, f"/cases/{world.barn}/triage", _triage(BARN, "lex_sarah"))
    [_, sarah] = await _tasks(world, world.barn)
    away = await karin.post(
        f"/tasks/{sarah.id}/done",
        data={"csrf_token": csrf_of(case_page), "next": "https://evil.example/"},
    )
    assert away.headers["location"] == "/tasks"


async def test_the_list_is_per_unit_and_a_reader_sees_it_without_acting(
    world: World, as_user: SignIn
) -> None:
    alma = await as_user("alma")  # an admin with every unit
    for reference, unit in ((world.barn, BARN), (world.vuxen, "vuxen"), (world.loose, None)):
        await form_post(alma, f"/cases/{reference}/triage", _triage(unit, "lex_sarah"))
    listing = (await alma.get("/tasks")).text
    headings = re.findall(r'<h2 id="group-\d+">([^<]+?) <span', listing)
    assert headings == ["Ej fördelade ärenden", "Barn och familj", "Vuxen"]
    only = (await alma.get("/tasks", params={"unit": "vuxen"})).text
    assert world.vuxen in only and world.barn not in only and world.loose not in only
    vera = await as_user("vera")  # a viewer in barn-och-familj
    seen = (await vera.get("/tasks")).text
    assert world.barn in seen and world.vuxen not in seen and world.loose not in seen
    assert "Markera som klar" not in seen
    assert 'href="/tasks"' in seen  # in the menu
    stats = re.search(r"Lex Sarah-rapport</th>((?:<td>\d+</td>)+)", seen)
    assert stats and re.findall(r"\d+", stats.group(1)) == ["1", "0", "0", "1", "0"]


@pytest.mark.parametrize("flag", list(EXPECTED))
async def test_setting_a_flag_through_the_api_opens_its_task(
    world: World, api_for: ApiFor, flag: str
) -> None:
    api = await api_for("caseworker", ["vuxen"])
    patched = await api.patch(f"/api/cases/{world.vuxen}", json={"flags": {flag: True}})
    assert patched.status_code == 200
    [item] = (await api.get("/api/tasks")).json()["items"]
    due, actor = EXPECTED[flag]
    assert (item["case"], item["kind"], item["due_on"], item["actor"]) == (
        world.vuxen,
        flag,
        due,
        actor,
    )
    assert item["title"] == RULES[flag].title and item["overdue"] is False
    assert (await api.get("/api/tasks", params={"unit": "barn-och-familj"})).json()["items"] == []


async def test_marking_done_through_the_api_is_audited_once(world: World, api_for: ApiFor) -> None:
    api = await api_for("caseworker", ["vuxen"])
    await api.patch(f"/api/cases/{world.vuxen}", json={"flags": {"decision_not_executed": True}})
    [item] = (await api.get("/api/tasks")).json()["items"]
    done = await api.post(f"/api/tasks/{item['id']}/done")
    assert done.status_code == 200
    assert done.json()["done_at"] is not None and done.json()["done_by"].startswith("token:")
    assert (await api.post(f"/api/tasks/{item['id']}/done")).status_code == 409
    assert (await api.get("/api/tasks")).json()["items"] == []
    [event] = await _done_events(world)
    assert event.actor == done.json()["done_by"] and event.case_reference == world.vuxen
    stats = (await api.get("/api/tasks/stats", params={"from": "2026-01-01"})).json()
    counted = {k["kind"]: (k["opened"], k["done"], k["done_in_time"]) for k in stats["kinds"]}
    assert stats["from"] == "2026-01-01" and stats["to"] == "2026-03-10"
    assert counted["decision_not_executed"] == (1, 1, 1) and counted["lex_sarah"] == (0, 0, 0)
    bad = await api.get("/api/tasks/stats", params={"from": "2026-03-10", "to": "2026-01-01"})
    assert bad.status_code == 400
