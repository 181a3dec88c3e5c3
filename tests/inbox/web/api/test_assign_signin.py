"""A case is given only to someone who can sign in (`may_sign_in`), the rule by which
`assignable_users` offers people: the API, the case page's triage form and the bulk form refuse
an account without a password where the installation offers no municipal login, and accept it
where it does. An assignee kept through a move to another unit is not asked again."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

from inbox.core.db import unit_of_work
from inbox.staff.tokens import create_token
from inbox.staff.users import add_user
from inbox.web.oidc import OidcConfig
from tests.conftest import Clock, Database
from tests.inbox.web.conftest import World, build_world, form_post, sign_in

NO_PASSWORD = "nils"  # a caseworker of every unit who has neither password nor login yet
OIDC = OidcConfig(issuer="https://login.example.se", client_id="synpunkt", client_secret="s")


@pytest.fixture(params=[False, True], ids=["password-only", "municipal-login"])
async def world(request: pytest.FixtureRequest, db: Database, clock: Clock) -> World:
    made = await build_world(db, clock, **({"oidc": OIDC} if request.param else {}))
    async with unit_of_work(db.sessions) as session:
        await add_user(
            session, username=NO_PASSWORD, role="caseworker", all_units=True, now=clock()
        )
    return made


@asynccontextmanager
async def _api(world: World) -> AsyncIterator[httpx.AsyncClient]:
    """An API client with an admin token of every unit."""
    async with unit_of_work(world.db.sessions) as session:
        _row, token = await create_token(
            session, name="admin", now=world.clock(), role="admin", unit_codes=[], all_units=True
        )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=world.app),
        base_url="http://test",
        headers={"Authorization": f"Bearer {token}"},
    ) as opened:
        yield opened


@pytest.fixture
async def client(world: World) -> AsyncIterator[httpx.AsyncClient]:
    async with _api(world) as opened:
        yield opened


def _offers_login(world: World) -> bool:
    return world.app.state.oidc is not None


async def test_the_api_gives_a_case_only_to_someone_who_can_sign_in(
    world: World, client: httpx.AsyncClient
) -> None:
    response = await client.patch(f"/api/cases/{world.vuxen}", json={"assignee": NO_PASSWORD})
    assigned = (await world.case(world.vuxen)).assignee_id
    if _offers_login(world):
        assert response.status_code == 200, response.text
        assert assigned == await world.user_id(NO_PASSWORD)
    else:
        assert response.status_code == 422, response.text
        assert "cannot sign in" in response.text
        assert assigned is None


async def test_the_triage_and_bulk_forms_give_a_case_only_to_someone_who_can_sign_in(
    world: World,
) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=world.app, client=("10.0.0.7", 5000)),
        base_url="http://test",
    ) as alma:
        assert (await sign_in(alma, "alma")).status_code == 303
        triaged = await form_post(
            alma, f"/cases/{world.vuxen}/triage", {"unit": "vuxen", "assignee": NO_PASSWORD}
        )
        bulk = await form_post(
            alma, "/cases/bulk", {"ref": world.barn, "action": "assign", "assignee": NO_PASSWORD}
        )
    nils = await world.user_id(NO_PASSWORD)
    vuxen, barn = await world.case(world.vuxen), await world.case(world.barn)
    if _offers_login(world):
        assert triaged.status_code == 303, triaged.text
        assert (vuxen.assignee_id, barn.assignee_id) == (nils, nils)
    else:
        assert triaged.status_code == 422 and "kan inte logga in" in triaged.text
        assert bulk.status_code == 303  # the list, with what was refused and why
        assert (vuxen.assignee_id, barn.assignee_id) == (None, None)


async def test_an_assignee_is_kept_through_a_move_without_being_asked_to_sign_in_again(
    db: Database, clock: Clock
) -> None:
    """Assigned while the municipal login was offered, then moved after it was switched off: the
    unit's change does not drop the assignee (only a new assignment asks for a sign-in)."""
    world = await build_world(db, clock, oidc=OIDC)
    async with unit_of_work(db.sessions) as session:
        await add_user(
            session, username=NO_PASSWORD, role="caseworker", all_units=True, now=clock()
        )
    async with _api(world) as api:
        assigned = await api.patch(f"/api/cases/{world.vuxen}", json={"assignee": NO_PASSWORD})
        assert assigned.status_code == 200, assigned.text
        world.app.state.oidc = None
        moved = await api.patch(f"/api/cases/{world.vuxen}", json={"unit": "barn-och-familj"})
        assert moved.status_code == 200, moved.text
        again = await api.patch(f"/api/cases/{world.barn}", json={"assignee": NO_PASSWORD})
        assert again.status_code == 422, again.text
    case = await world.case(world.vuxen)
    assert case.assignee_id == await world.user_id(NO_PASSWORD)
