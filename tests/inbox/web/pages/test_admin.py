"""The admin area (users, units, API tokens) and the log review page (/audit): every admin action
goes through `inbox.staff`, is in the audit trail, and a disabled user or a new password ends the
user's live sessions at once."""

from __future__ import annotations

import asyncio
import csv
import io
import re
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from inbox.cases.triage import update_case
from inbox.core.audit import Actor
from inbox.core.db import unit_of_work
from inbox.core.models import ApiToken, AuditEvent, Case, LogReview, StaffUser, Unit
from inbox.staff.tokens import create_token
from inbox.staff.users import set_active
from inbox.web.audit_text import safe_cell
from tests.factories import synpunkt
from tests.inbox.web.conftest import PASSWORD, ApiFor, SignIn, World, csrf_of, form_post

Client = httpx.AsyncClient


async def _user(world: World, username: str) -> StaffUser:
    async with world.db.sessions() as session:
        return (
            await session.execute(select(StaffUser).where(StaffUser.username == username))
        ).scalar_one()


async def _last_event(world: World) -> AuditEvent:
    async with world.db.sessions() as session:
        return (
            await session.execute(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1))  # type: ignore[attr-defined]
        ).scalar_one()


async def _token_id(world: World, name: str) -> int:
    async with unit_of_work(world.db.sessions) as session:
        row, _ = await create_token(
            session, name=name, role="viewer", unit_codes=["vuxen"], now=world.clock()
        )
    assert row.id is not None
    return row.id


Action = Callable[[World, Client], Awaitable[httpx.Response]]


async def _add_user(world: World, alma: Client) -> httpx.Response:
    return await form_post(
        alma,
        "/admin/users",
        {"username": "nora", "display_name": "Nora Åberg", "role": "caseworker", "unit": "vuxen"},
    )


async def _edit_user(world: World, alma: Client) -> httpx.Response:
    olle = await world.user_id("olle")
    data = {"display_name": "Olle Öst", "role": "viewer", "unit": "vuxen"}
    return await form_post(alma, f"/admin/users/{olle}", data)


async def _disable(world: World, alma: Client) -> httpx.Response:
    return await form_post(alma, f"/admin/users/{await world.user_id('olle')}/active", {})


async def _enable(world: World, alma: Client) -> httpx.Response:
    async with unit_of_work(world.db.sessions) as session:
        await set_active(
            session, username="olle", active=False, actor=Actor("system"), now=world.clock()
        )
    olle = await world.user_id("olle")
    return await form_post(alma, f"/admin/users/{olle}/active", {"active": "1"})


async def _reset_password(world: World, alma: Client) -> httpx.Response:
    return await form_post(alma, f"/admin/users/{await world.user_id('olle')}/password", {})


async def _set_password(world: World, alma: Client) -> httpx.Response:
    olle = await world.user_id("olle")
    return await form_post(alma, f"/admin/users/{olle}/password", {"password": "ett-nytt-lösen-99"})


async def _add_unit(world: World, alma: Client) -> httpx.Response:
    data = {"code": "familjeratt", "name": "Familjerätt", "response_days": "5", "delay": ""}
    return await form_post(alma, "/admin/units", data)


async def _edit_unit(world: World, alma: Client) -> httpx.Response:
    data = {"name": "Ekonomiskt bistånd", "response_days": "7", "delay": "3", "active": "1"}
    return await form_post(alma, "/admin/units/ekonomiskt-bistand", data)


async def _disable_unit(world: World, alma: Client) -> httpx.Response:
    data = {"name": "Ekonomiskt bistånd", "response_days": "10", "delay": ""}
    return await form_post(alma, "/admin/units/ekonomiskt-bistand", data)


async def _create_token(world: World, alma: Client) -> httpx.Response:
    data = {"name": "e-tjänst", "role": "registrar", "unit": "vuxen"}
    return await form_post(alma, "/admin/tokens", data)


async def _revoke_token(world: World, alma: Client) -> httpx.Response:
    token_id = await _token_id(world, "gammal")
    return await form_post(alma, f"/admin/tokens/{token_id}/revoke", {})


async def _log_review(world: World, alma: Client) -> httpx.Response:
    data = {
        "from": "2026-02-01",
        "to": "2026-02-28",
        "reviewer": "Alma",
        "findings": "Inga obehöriga läsningar.",
    }
    return await form_post(alma, "/audit/reviews", data)


ADMIN_ACTIONS: dict[str, tuple[Action, str, str]] = {
    # name: (the admin's action, the audit event's action, what the log page says about it)
    "add user": (_add_user, "staff.add", "Lade till Nora Åberg som handläggare för Vuxen"),
    "edit user": (_edit_user, "staff.update", "roll från Handläggare till Läsare"),
    "disable user": (_disable, "staff.disable", "Stängde av Olle"),
    "enable user": (_enable, "staff.enable", "Aktiverade Olle igen"),
    "one-time password": (_reset_password, "staff.password", "Bytte lösenord för Olle"),
    "set password": (_set_password, "staff.password", "Bytte lösenord för Olle"),
    "add unit": (_add_unit, "unit.add", "Lade till verksamheten Familjerätt"),
    "edit unit": (_edit_unit, "unit.update", "svarstid (arbetsdagar) från 10 till 7"),
    "disable unit": (_disable_unit, "unit.disable", "Stängde verksamheten Ekonomiskt bistånd"),
    "create token": (_create_token, "token.create", "Skapade API-nyckeln e-tjänst"),
    "revoke token": (_revoke_token, "token.revoke", "Återkallade API-nyckeln gammal"),
    "log review": (_log_review, "logreview.recorded", "loggranskning av 2026-02-01–2026-02-28"),
}


@pytest.mark.parametrize("name", ADMIN_ACTIONS)
async def test_every_admin_action_is_in_the_audit_trail_in_words(
    world: World, as_user: SignIn, name: str
) -> None:
    act, action, sentence = ADMIN_ACTIONS[name]
    alma = await as_user("alma")
    response = await act(world, alma)
    assert response.status_code in (200, 303), response.text
    event = await _last_event(world)
    assert (event.action, event.actor) == (action, f"user:{await world.user_id('alma')}")
    assert event.remote_addr == "10.0.0.7"
    log = (await alma.get("/audit")).text
    assert sentence in log


async def test_a_user_disabled_by_an_admin_is_signed_out_on_the_next_request(
    world: World, as_user: SignIn
) -> None:
    karin, alma = await as_user("karin"), await as_user("alma")
    assert (await karin.get(f"/cases/{world.barn}")).status_code == 200
    disabled = await form_post(alma, f"/admin/users/{await world.user_id('karin')}/active", {})
    assert disabled.status_code == 303
    refused = await karin.get(f"/cases/{world.barn}")
    assert refused.status_code == 303 and refused.headers["location"].startswith("/?next=")
    again = await karin.post(
        "/signin",
        data={
            "username": "karin",
            "password": PASSWORD,
            "csrf_token": csrf_of((await karin.get("/signin")).text),
        },
    )
    assert again.status_code != 303  # nor can she sign in again


async def test_a_user_disabled_with_the_command_is_signed_out_on_the_next_request(
    world: World, as_user: SignIn, tmp_path: Path
) -> None:
    karin = await as_user("karin")
    assert (await karin.get(f"/cases/{world.barn}")).status_code == 200
    result = await asyncio.to_thread(
        synpunkt, tmp_path, "users", "disable", "karin", SYNPUNKT_DATABASE_URL=world.db.url
    )
    assert result.returncode == 0, result.stderr
    refused = await karin.get(f"/cases/{world.barn}")
    assert refused.status_code == 303 and refused.headers["location"].startswith("/?next=")
    event = await _last_event(world)
    assert event.action == "staff.disable" and event.actor.startswith("cli:")


async def test_an_admin_cannot_disable_herself(world: World, as_user: SignIn) -> None:
    alma = await as_user("alma")
    refused = await form_post(alma, f"/admin/users/{await world.user_id('alma')}/active", {})
    assert refused.status_code == 422 and "Du kan inte stänga av dig själv" in refused.text
    assert (await _user(world, "alma")).active


async def test_a_new_password_ends_the_users_other_sessions(world: World, as_user: SignIn) -> None:
    karin, alma = await as_user("karin"), await as_user("alma")
    reset = await form_post(alma, f"/admin/users/{await world.user_id('karin')}/password", {})
    shown = re.search(r'<code class="secret">([^<]+)</code>', reset.text)
    assert reset.status_code == 200 and shown, reset.text
    assert (await karin.get("/tasks")).status_code == 303
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=world.app, client=("10.0.0.8", 1)), base_url="http://t"
    ) as fresh:
        form = await fresh.get("/signin")
        signed = await fresh.post(
            "/signin",
            data={
                "username": "karin",
                "password": shown.group(1),
                "csrf_token": csrf_of(form.text),
            },
        )
        assert signed.status_code == 303
    assert (await _user(world, "karin")).last_signin_at == world.clock()


async def test_the_users_page_lists_names_roles_units_status_and_last_sign_in(
    world: World, as_user: SignIn
) -> None:
    alma = await as_user("alma")
    page = (await alma.get("/admin/users")).text
    assert "Karin" in page and "Handläggare" in page and "Barn och familj" in page
    assert "Alla verksamheter" in page and "Aldrig" in page  # olle never signed in
    assert "barn-och-familj</td>" not in page


async def test_an_admin_sets_where_a_users_notifications_go(world: World, as_user: SignIn) -> None:
    alma = await as_user("alma")
    olle = await world.user_id("olle")
    form = {"display_name": "Olle", "role": "caseworker", "unit": "vuxen"}
    refused = await form_post(alma, f"/admin/users/{olle}", form | {"email": "olle@vuxen"})
    assert refused.status_code == 422
    assert "Skriv en e-postadress som namn@exempel.se" in refused.text
    assert 'id="e-email"' in refused.text and 'aria-invalid="true"' in refused.text
    saved = await form_post(alma, f"/admin/users/{olle}", form | {"email": "olle@exempelby.se"})
    assert saved.status_code == 303
    page = (await alma.get(f"/admin/users/{olle}")).text
    assert 'value="olle@exempelby.se"' in page
    async with world.db.sessions() as session:
        user = await session.get(StaffUser, olle)
        assert user is not None and user.email == "olle@exempelby.se"
        events = (
            await session.execute(select(AuditEvent).where(AuditEvent.action == "staff.update"))  # type: ignore[arg-type]
        ).scalars()
        assert [e.detail["email"] for e in events if "email" in e.detail] == [
            [None, "olle@exempelby.se"]
        ]
    # A form without the field (an older page) leaves the address as it was.
    await form_post(alma, f"/admin/users/{olle}", form | {"display_name": "Olle Ö"})
    async with world.db.sessions() as session:
        user = await session.get(StaffUser, olle)
        assert user is not None and user.email == "olle@exempelby.se"


async def test_a_unit_limited_admin_manages_only_her_units(world: World, as_user: SignIn) -> None:
    ada = await as_user("ada")  # admin of mottagning only
    page = (await ada.get("/admin/users")).text
    assert "Rut" in page and "Karin" not in page and "Alma" not in page
    assert (await ada.get(f"/admin/users/{await world.user_id('karin')}")).status_code == 404
    edit = await form_post(ada, f"/admin/users/{await world.user_id('karin')}/active", {})
    assert edit.status_code == 404 and (await _user(world, "karin")).active
    wider = await form_post(
        ada, "/admin/users", {"username": "nils", "role": "admin", "unit": "vuxen"}
    )
    assert wider.status_code == 422 and "Du kan bara ge dina egna verksamheter" in wider.text
    every = await form_post(
        ada, "/admin/users", {"username": "nils", "role": "admin", "all_units": "1"}
    )
    assert every.status_code == 422
    rut = await world.user_id("rut")
    grown = await form_post(
        ada, f"/admin/users/{rut}", {"display_name": "Rut", "role": "admin", "all_units": "1"}
    )
    assert grown.status_code == 422 and (await _user(world, "rut")).role == "registrar"
    assert (await ada.get("/admin/units/vuxen")).status_code == 404


async def test_forms_list_their_errors_first_linked_to_the_fields(
    world: World, as_user: SignIn
) -> None:
    alma = await as_user("alma")
    taken = await form_post(alma, "/admin/users", {"username": "karin", "role": "viewer"})
    assert taken.status_code == 422
    assert '<a href="#u-username">Användarnamnet karin är upptaget.</a>' in taken.text
    assert 'id="u-username"' in taken.text and 'aria-invalid="true"' in taken.text
    short = await form_post(
        alma, f"/admin/users/{await world.user_id('olle')}/password", {"password": "kort"}
    )
    assert short.status_code == 422 and 'href="#p-password"' in short.text
    bad_days = await form_post(
        alma, "/admin/units", {"code": "ny", "name": "Ny", "response_days": "tio"}
    )
    assert bad_days.status_code == 422 and 'href="#n-response_days"' in bad_days.text
    async with world.db.sessions() as session:
        assert (await session.execute(select(Unit).where(Unit.code == "ny"))).first() is None


async def test_a_token_is_shown_once_and_works_until_revoked(world: World, as_user: SignIn) -> None:
    alma = await as_user("alma")
    created = await form_post(
        alma, "/admin/tokens", {"name": "e-tjänst", "role": "viewer", "unit": "barn-och-familj"}
    )
    token = re.search(r'<code class="secret">(spk_[^<]+)</code>', created.text)
    assert created.status_code == 200 and token
    assert token.group(1) not in (await alma.get("/admin/tokens")).text
    api = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=world.app),
        base_url="http://test",
        headers={"Authorization": f"Bearer {token.group(1)}"},
    )
    async with api:
        assert (await api.get(f"/api/cases/{world.barn}")).status_code == 200
        listed = (await alma.get("/admin/tokens")).text
        assert "Barn och familj" in listed and "Aldrig" not in listed  # its use is shown
        async with world.db.sessions() as session:
            row = (
                await session.execute(select(ApiToken).where(ApiToken.name == "e-tjänst"))
            ).scalar_one()
        await form_post(alma, f"/admin/tokens/{row.id}/revoke", {})
        assert (await api.get(f"/api/cases/{world.barn}")).status_code == 401


# The log review page ---------------------------------------------------------------------------


async def _assign(world: World, reference: str, username: str) -> None:
    alma = Actor(f"user:{await world.user_id('alma')}")
    async with unit_of_work(world.db.sessions) as session:
        case = (await session.execute(select(Case).where(Case.reference == reference))).scalar_one()
        await update_case(
            session,
            oidc=False,
            case=case,
            changes={"assignee": username},
            actor=alma,
            now=world.clock(),
        )


async def test_the_log_reads_as_sentences_with_names_not_ids_and_codes(
    world: World, as_user: SignIn
) -> None:
    await _assign(world, world.barn, "karin")
    alma = await as_user("alma")
    page = (await alma.get("/audit")).text
    assert "Ändrade handläggare från – till Karin" in page
    assert "assignee_id" not in page and "before: None" not in page


async def test_the_log_filters_by_user_action_unit_and_dates(world: World, as_user: SignIn) -> None:
    karin, olle = await as_user("karin"), await as_user("olle")
    await karin.get(f"/cases/{world.barn}")
    world.clock.advance(days=2)
    await olle.get(f"/cases/{world.vuxen}")
    alma = await as_user("alma")
    karin_id = str(await world.user_id("karin"))

    async def rows(**params: str) -> str:
        response = await alma.get("/audit", params=params)
        assert response.status_code == 200, response.text
        return response.text.split("<tbody>")[1].split("</tbody>")[0]

    by_karin = await rows(user=karin_id, action="case.read")
    assert world.barn in by_karin and world.vuxen not in by_karin
    in_vuxen = await rows(unit="vuxen", action="case.read")
    assert world.vuxen in in_vuxen and world.barn not in in_vuxen
    day = (world.clock() - timedelta(days=2)).date().isoformat()
    first_day = await rows(action="case.read", **{"from": day, "to": day})
    assert world.barn in first_day and world.vuxen not in first_day
    signins = await rows(action="signin")
    assert "Loggade in med lösenord" in signins and "Läste ärendet" not in signins
    wrong = await alma.get("/audit", params={"from": "igår", "unit": "finns-inte"})
    assert wrong.status_code == 200 and 'href="#a-from"' in wrong.text
    assert 'href="#a-unit"' in wrong.text


async def test_the_csv_has_the_same_filters_and_sentences_and_no_formulas(
    world: World, as_user: SignIn
) -> None:
    async with unit_of_work(world.db.sessions) as session:
        await create_token(
            session,
            name="=HYPERLINK(1)",
            role="viewer",
            unit_codes=["vuxen"],
            now=world.clock(),
            actor=Actor(f"user:{await world.user_id('alma')}"),
        )
    karin = await as_user("karin")
    await karin.get(f"/cases/{world.barn}")
    alma = await as_user("alma")
    response = await alma.get("/audit.csv", params={"action": "case.read"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig")), delimiter=";"))
    assert rows[0][:3] == ["Tid", "Vem", "Vad"]
    assert [r[1:4] for r in rows[1:]] == [["Karin", "Läste ärendet", world.barn]]
    tokens = await alma.get("/audit.csv", params={"action": "token"})
    [row] = list(csv.reader(io.StringIO(tokens.content.decode("utf-8-sig")), delimiter=";"))[1:]
    assert row[2].startswith("Skapade API-nyckeln =HYPERLINK(1)")  # inside text: harmless


@pytest.mark.parametrize("value", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\r=1"])
def test_a_cell_that_starts_like_a_formula_is_made_text(value: str) -> None:
    assert safe_cell(value) == "'" + value
    assert safe_cell("Läste ärendet") == "Läste ärendet"


async def test_a_log_review_is_recorded_and_listed(world: World, as_user: SignIn) -> None:
    alma = await as_user("alma")
    done = await _log_review(world, alma)
    assert done.status_code == 303
    page = (await alma.get("/audit")).text
    assert "2026-02-01 – 2026-02-28" in page and "Inga obehöriga läsningar." in page
    future = await form_post(
        alma,
        "/audit/reviews",
        {"from": "2026-02-01", "to": "2099-01-01", "reviewer": "Alma", "findings": "x"},
    )
    assert future.status_code == 422 and 'href="#r-to"' in future.text
    async with world.db.sessions() as session:
        [review] = (await session.execute(select(LogReview))).scalars()
    assert review.recorded_by == await world.user_id("alma")


async def test_the_admin_area_is_for_admins(world: World, as_user: SignIn) -> None:
    rut = await as_user("rut")
    for path in ("/admin/users", "/admin/units", "/admin/tokens", "/audit", "/audit.csv"):
        assert (await rut.get(path)).status_code == 403, path


async def test_units_show_their_display_names_in_the_inbox(world: World, as_user: SignIn) -> None:
    alma = await as_user("alma")
    listing = (await alma.get("/")).text
    case = (await alma.get(f"/cases/{world.barn}")).text
    for html in (listing, case):
        assert "Barn och familj" in html
        assert ">barn-och-familj<" not in html


async def test_her_own_new_password_ends_her_other_sessions_not_this_one(
    world: World, as_user: SignIn
) -> None:
    here, elsewhere = await as_user("alma"), await as_user("alma")
    alma = await world.user_id("alma")
    changed = await form_post(
        here, f"/admin/users/{alma}/password", {"password": "ett-nytt-lösen-99"}
    )
    assert changed.status_code == 303
    assert (await here.get("/admin/users")).status_code == 200
    assert (await elsewhere.get("/admin/users")).status_code == 303


async def test_the_api_narrows_the_trail_the_same_way(
    world: World, as_user: SignIn, api_for: ApiFor
) -> None:
    karin, olle = await as_user("karin"), await as_user("olle")
    await karin.get(f"/cases/{world.barn}")
    await olle.get(f"/cases/{world.vuxen}")
    api = await api_for("admin", [])
    karin_id = await world.user_id("karin")
    response = await api.get(
        "/api/audit",
        params={"actor": f"user:{karin_id}", "action": "case", "unit": "barn-och-familj"},
    )
    assert response.status_code == 200, response.text
    assert [(e["action"], e["case"]) for e in response.json()["items"]] == [
        ("case.read", world.barn)
    ]
    day = world.clock().date()
    later = await api.get("/api/audit", params={"from": (day + timedelta(days=1)).isoformat()})
    assert later.json()["items"] == []
    unknown = await api.get("/api/audit", params={"unit": "finns-inte"})
    assert unknown.status_code == 200 and unknown.json()["items"] == []
