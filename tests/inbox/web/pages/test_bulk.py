"""Finding work on the inbox list (issue 18, item 4): saved filters per user, and bulk actions on
the cases ticked on the list — each case through the single-case write path, audited the same way,
and a case the user may not change skipped and reported with its reason in Swedish."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import parse_qs, urlsplit

import httpx
from sqlalchemy import select

from inbox.cases.bulk import NOT_FOUND, BulkResult
from inbox.core.models import AuditEvent, SavedFilter
from tests.inbox.web.conftest import SignIn, World, _case, csrf_of

FLASH = re.compile(r'<p class="flash" role="status">(.*?)</p>', re.S)
CANNOT_SEE = (
    "Den handläggaren kan inte logga in, kan inte se ärendet i den här verksamheten eller får bara "
    "läsa ärenden."
)


async def post(
    client: httpx.AsyncClient, action: str, data: dict[str, str | list[str]]
) -> httpx.Response:
    """Posts a form of the list page as a browser would, with the session's CSRF token."""
    html = (await client.get("/")).text
    return await client.post(action, data={**data, "csrf_token": csrf_of(html)})


async def flash_after(client: httpx.AsyncClient, response: httpx.Response) -> str:
    """The message the page the form redirected to shows."""
    assert response.status_code == 303, response.text
    page = await client.get(response.headers["location"])
    found = FLASH.search(page.text)
    assert found, "no message after the form"
    return unescape(found.group(1))


async def filters_of(world: World, username: str) -> list[SavedFilter]:
    user_id = await world.user_id(username)
    async with world.db.sessions() as session:
        rows = await session.execute(select(SavedFilter).where(SavedFilter.user_id == user_id))  # type: ignore[arg-type]
        return list(rows.scalars())


async def updates(world: World, reference: str) -> list[AuditEvent]:
    async with world.db.sessions() as session:
        rows = await session.execute(
            select(AuditEvent)
            .where(
                AuditEvent.case_reference == reference,  # type: ignore[arg-type]
                AuditEvent.action == "case.update",  # type: ignore[arg-type]
            )
            .order_by(AuditEvent.id)  # type: ignore[arg-type]
        )
        return list(rows.scalars())


# Saved filters ------------------------------------------------------------------------------------


async def test_a_user_saves_opens_and_deletes_their_own_filters(
    world: World, as_user: SignIn
) -> None:
    karin = await as_user("karin")
    page = (await karin.get("/")).text
    assert "Sparade filter" not in page  # none saved, nothing filtered: nothing to show
    assert 'action="/filters"' not in page

    filtered = (await karin.get("/", params={"overdue": "1", "assignee": "mine"})).text
    assert '<input type="hidden" name="assignee" value="mine">' in filtered
    saved = await post(
        karin,
        "/filters",
        {
            "name": "  Mina   försenade ",
            "overdue": "1",
            "assignee": "mine",
            "cursor": "abc",  # not a filter: not kept
            "evil": "<script>",  # nor this
        },
    )
    assert await flash_after(karin, saved) == "Filtret ”Mina försenade” är sparat."
    assert parse_qs(urlsplit(saved.headers["location"]).query) == {
        "assignee": ["mine"],
        "overdue": ["1"],
    }
    [row] = await filters_of(world, "karin")
    assert (row.name, row.params) == ("Mina försenade", {"assignee": "mine", "overdue": "1"})

    listed = (await karin.get("/")).text
    assert '<a href="/?assignee=mine&amp;overdue=1">Mina försenade</a>' in listed
    shown = (await karin.get("/", params={"assignee": "mine", "overdue": "1"})).text
    assert 'href="/?assignee=mine&amp;overdue=1" aria-current="true">Mina försenade' in shown

    # The same name again replaces the filter; a value the list does not know saves nothing.
    again = await post(karin, "/filters", {"name": "Mina försenade", "status": "new"})
    assert await flash_after(karin, again) == "Filtret ”Mina försenade” är uppdaterat."
    [row] = await filters_of(world, "karin")
    assert row.params == {"status": "new"}
    bad_values = (
        {"status": "gammal"},
        {"channel": "fax"},
        {"unit": "finns-inte"},
        {"assignee": "nobody"},
    )
    for bad in (*bad_values, {}):
        refused = await post(karin, "/filters", {"name": "Fel", **bad})
        assert (await flash_after(karin, refused)).startswith("Filtret sparades inte.")
    nameless = await post(karin, "/filters", {"name": " ", "status": "new"})
    assert await flash_after(karin, nameless) == "Filtret sparades inte. Ge filtret ett namn."
    assert [f.name for f in await filters_of(world, "karin")] == ["Mina försenade"]

    deleted = await post(karin, f"/filters/{row.id}/delete", {})
    assert await flash_after(karin, deleted) == "Filtret ”Mina försenade” är borttaget."
    assert await filters_of(world, "karin") == []


async def test_nobody_sees_or_deletes_another_users_filter(world: World, as_user: SignIn) -> None:
    karin, olle = await as_user("karin"), await as_user("olle")
    await post(karin, "/filters", {"name": "Barnärenden", "kind": "complaint"})
    [karins] = await filters_of(world, "karin")

    assert "Barnärenden" not in (await olle.get("/")).text
    attempt = await post(olle, f"/filters/{karins.id}/delete", {})
    assert await flash_after(olle, attempt) == "Det sparade filtret finns inte (längre)."
    assert [f.id for f in await filters_of(world, "karin")] == [karins.id]
    # The same name is each user's own.
    await post(olle, "/filters", {"name": "Barnärenden", "kind": "praise"})
    [olles] = await filters_of(world, "olle")
    assert olles.id != karins.id and olles.params == {"kind": "praise"}
    assert (await filters_of(world, "karin"))[0].params == {"kind": "complaint"}

    vera = await as_user("vera")  # a viewer saves filters too: they are hers, not the cases'
    saved = await post(vera, "/filters", {"name": "Nya", "status": "new"})
    assert await flash_after(vera, saved) == "Filtret ”Nya” är sparat."


# Bulk actions -------------------------------------------------------------------------------------


async def test_bulk_kind_changes_what_the_user_may_change_and_reports_the_rest(
    world: World, as_user: SignIn
) -> None:
    second = await _case(world.db, world.clock, 30, "barn-och-familj", subject="Andra")
    karin = await as_user("karin")  # barn-och-familj only
    page = (await karin.get("/")).text
    assert (
        f'<label for="pick-{world.barn}" class="visually-hidden">Markera {world.barn}</label>'
        in page
    )
    assert f'id="pick-{world.barn}" name="ref" value="{world.barn}" form="bulk"' in page
    assert "Markera alla ärenden på sidan" in page and 'id="bulk"' in page

    response = await post(
        karin,
        "/cases/bulk",
        {
            "ref": [world.barn, second, world.vuxen, "SP-1999-9999"],
            "action": "kind",
            "kind": "praise",
            "back": "/?status=new",
        },
    )
    assert response.headers["location"] == "/?status=new"  # back to the list page it came from
    assert await flash_after(karin, response) == (
        f"2 ärenden ändrade, 2 kunde inte ändras: {world.vuxen}, SP-1999-9999 – {NOT_FOUND}"
    )
    assert (await world.case(world.barn)).kind == "praise"
    assert (await world.case(second)).kind == "praise"
    assert (await world.case(world.vuxen)).kind != "praise"
    karin_id = await world.user_id("karin")
    for reference in (world.barn, second):
        [event] = [e for e in await updates(world, reference) if e.detail["field"] == "kind"]
        assert event.actor == f"user:{karin_id}"
        assert event.detail["field"] == "kind" and event.detail["after"] == "praise"
    assert [e for e in await updates(world, world.vuxen) if e.detail["field"] == "kind"] == []

    # Asked again: nothing changes, and it says so.
    again = await post(
        karin, "/cases/bulk", {"ref": [world.barn], "action": "kind", "kind": "praise"}
    )
    assert await flash_after(karin, again) == "Inga ärenden ändrades, 1 var redan så."


async def test_bulk_assign_refuses_a_case_the_assignee_cannot_see(
    world: World, as_user: SignIn
) -> None:
    alma = await as_user("alma")  # an admin of every unit
    response = await post(
        alma,
        "/cases/bulk",
        {"ref": [world.barn, world.vuxen], "action": "assign", "assignee": "karin"},
    )
    assert await flash_after(alma, response) == (
        f"1 ärende ändrat, 1 kunde inte ändras: {world.vuxen} – {CANNOT_SEE}"
    )
    karin_id = await world.user_id("karin")
    assert (await world.case(world.barn)).assignee_id == karin_id
    assert (await world.case(world.vuxen)).assignee_id is None
    [event] = [e for e in await updates(world, world.barn) if e.detail["field"] == "assignee_id"]
    assert event.actor == f"user:{await world.user_id('alma')}"
    assert event.detail["after"] == karin_id

    # "Ingen" takes the assignment away.
    cleared = await post(
        alma, "/cases/bulk", {"ref": world.barn, "action": "assign", "assignee": "-"}
    )
    assert await flash_after(alma, cleared) == "1 ärende ändrat."
    assert (await world.case(world.barn)).assignee_id is None
    # Viewers are not offered: they may not act on cases.
    chooser = re.search(r'<select id="bulk-assignee".*?</select>', (await alma.get("/")).text, re.S)
    assert chooser is not None
    assert '<option value="karin">Karin</option>' in chooser.group(0)
    assert 'value="vera"' not in chooser.group(0)


async def test_bulk_unit_moves_cases_and_sets_their_due_date(world: World, as_user: SignIn) -> None:
    rut = await as_user("rut")  # a registrar of mottagning: sees the cases with no unit
    response = await post(
        rut,
        "/cases/bulk",
        {"ref": [world.loose, world.barn], "action": "unit", "unit": "mottagning"},
    )
    assert await flash_after(rut, response) == (
        f"1 ärende ändrat, 1 kunde inte ändras: {world.barn} – {NOT_FOUND}"
    )
    moved = await world.case(world.loose)
    assert moved.unit_id is not None and moved.due_on is not None
    [event] = [e for e in await updates(world, world.loose) if e.detail["field"] == "unit_id"]
    assert (event.detail["before"], event.detail["after"]) == (None, moved.unit_id)


async def test_bulk_close_needs_an_outcome_and_closes_each_case_as_one_would(
    world: World, as_user: SignIn
) -> None:
    second = await _case(world.db, world.clock, 31, "barn-och-familj", subject="Tredje")
    karin = await as_user("karin")
    # No outcome: nothing changes, and the list comes back with the same cases ticked.
    refused = await post(
        karin,
        "/cases/bulk",
        {"ref": [world.barn, second], "action": "close", "outcome": "", "back": "/"},
    )
    assert await flash_after(karin, refused) == (
        "Inget ändrades. Välj ett utfall för att avsluta ärendena."
    )
    ticked = (await karin.get(refused.headers["location"])).text
    assert f'value="{world.barn}" form="bulk" checked' in ticked
    assert f'value="{second}" form="bulk" checked' in ticked
    assert (await world.case(world.barn)).status != "closed"

    closed = await post(
        karin,
        "/cases/bulk",
        {"ref": [world.barn, second], "action": "close", "outcome": "answered"},
    )
    assert await flash_after(karin, closed) == "2 ärenden ändrade."
    for reference in (world.barn, second):
        case = await world.case(reference)
        assert (case.status, case.outcome) == ("closed", "answered")
        assert case.closed_at is not None
        changed = {e.detail["field"]: e.detail["after"] for e in await updates(world, reference)}
        assert changed["status"] == "closed" and changed["outcome"] == "answered"
    # An outcome the list does not offer is no outcome.
    odd = await post(
        karin, "/cases/bulk", {"ref": world.barn, "action": "close", "outcome": "anonymous"}
    )
    assert (await flash_after(karin, odd)).startswith("Inget ändrades.")


async def test_all_on_the_page_takes_every_case_of_the_page_without_javascript(
    world: World, as_user: SignIn
) -> None:
    alma = await as_user("alma")
    page = (await alma.get("/")).text
    on_page = re.findall(r'name="page_ref" value="([^"]+)" form="bulk"', page)
    assert set(on_page) == {world.barn, world.vuxen, world.loose}
    response = await post(
        alma,
        "/cases/bulk",
        {"all": "1", "page_ref": on_page, "action": "kind", "kind": "question"},
    )
    assert await flash_after(alma, response) == "3 ärenden ändrade."
    for reference in on_page:
        assert (await world.case(reference)).kind == "question"


async def test_bulk_refuses_nothing_ticked_a_viewer_and_a_foreign_address(
    world: World, as_user: SignIn
) -> None:
    karin = await as_user("karin")
    empty = await post(karin, "/cases/bulk", {"action": "kind", "kind": "praise"})
    assert await flash_after(karin, empty) == "Markera minst ett ärende i listan först."
    away = await post(
        karin,
        "/cases/bulk",
        {"ref": world.barn, "action": "kind", "kind": "praise", "back": "https://evil.example/"},
    )
    assert away.headers["location"] == "/"
    vera = await as_user("vera")  # a viewer: no boxes, no form, and the route refuses her
    seen = (await vera.get("/")).text
    assert world.barn in seen and 'name="ref"' not in seen and 'id="bulk"' not in seen
    csrf = csrf_of(seen)
    forbidden = await vera.post(
        "/cases/bulk",
        data={"ref": world.barn, "action": "kind", "kind": "other", "csrf_token": csrf},
    )
    assert forbidden.status_code == 403
    assert (await world.case(world.barn)).kind == "praise"


def test_the_summary_reads_in_swedish() -> None:
    result = BulkResult(
        changed=["SP-1", "SP-2", "SP-3"],
        refused=[("SP-4", NOT_FOUND)],
    )
    assert result.summary() == f"3 ärenden ändrade, 1 kunde inte ändras: SP-4 – {NOT_FOUND}"
    assert BulkResult(changed=["SP-1"]).summary() == "1 ärende ändrat."
    grouped = BulkResult(refused=[("SP-1", "A."), ("SP-2", "B."), ("SP-3", "A.")]).summary()
    assert grouped == "Inga ärenden ändrades, 3 kunde inte ändras: SP-1, SP-3 – A. SP-2 – B."
