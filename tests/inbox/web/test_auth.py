"""Sign-in: the form at `/`, the session cookie, sign-out, throttling, and no open redirects."""

from __future__ import annotations

import httpx

from inbox.db import unit_of_work
from inbox.models import StaffUser
from inbox.web.app import create_app
from tests.conftest import Clock, Database
from tests.inbox.web.conftest import PASSWORD, World, build_world, csrf_of, sign_in


def client_for(
    world: World, addr: str = "10.0.0.9", base_url: str = "http://test"
) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=world.app, client=(addr, 4000)), base_url=base_url
    )


async def test_inbox_asks_for_sign_in_and_pages_redirect_there(world: World) -> None:
    async with client_for(world) as client:
        first = await client.get("/")
        assert first.status_code == 200 and 'action="/signin"' in first.text
        assert world.barn not in first.text
        case = await client.get(f"/cases/{world.barn}")
        assert case.status_code == 303
        assert case.headers["location"] == f"/?next=%2Fcases%2F{world.barn}"
        assert (await client.get("/health")).status_code == 303


async def test_sign_in_sets_a_signed_httponly_lax_cookie_and_sign_out_ends_it(world: World) -> None:
    async with client_for(world) as client:
        response = await sign_in(client, "karin")
        assert response.status_code == 303 and response.headers["location"] == "/"
        cookie = response.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie
        assert world.barn in (await client.get("/")).text
        csrf = csrf_of((await client.get("/")).text)
        out = await client.post("/signout", data={"csrf_token": csrf})
        assert out.status_code == 303
        assert (await client.get(f"/cases/{world.barn}")).status_code == 303


async def test_cookie_is_secure_behind_https(db: Database, clock: Clock) -> None:
    world = await build_world(db, clock, https_only=True)
    async with client_for(world, base_url="https://test") as client:
        response = await sign_in(client, "karin")
        assert "secure" in response.headers["set-cookie"].lower()


async def test_forged_or_stale_sessions_are_not_accepted(world: World) -> None:
    async with client_for(world) as client:
        await sign_in(client, "karin")
        cookie = client.cookies["synpunkt_session"]
        client.cookies.set("synpunkt_session", cookie[:-3] + "AAA")
        assert (await client.get(f"/cases/{world.barn}")).status_code == 303
    other = create_app(sessions=world.db.sessions, clock=world.clock, secret_key="another-key")
    async with client_for(world) as client:
        await sign_in(client, "karin")
        stolen = client.cookies["synpunkt_session"]
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=other), base_url="http://test"
    ) as client:
        client.cookies.set("synpunkt_session", stolen)
        assert (await client.get(f"/cases/{world.barn}")).status_code == 303


async def test_deactivated_user_is_signed_out_at_once(world: World) -> None:
    async with client_for(world) as client:
        await sign_in(client, "karin")
        assert (await client.get(f"/cases/{world.barn}")).status_code == 200
        async with unit_of_work(world.db.sessions) as session:
            user = await session.get(StaffUser, await world.user_id("karin"))
            assert user is not None
            user.active = False
        assert (await client.get(f"/cases/{world.barn}")).status_code == 303


async def test_wrong_password_is_refused_without_saying_which_part_was_wrong(
    world: World,
) -> None:
    async with client_for(world) as client:
        wrong = await sign_in(client, "karin", "fel")
        unknown = await sign_in(client, "nobody", "fel")
        assert wrong.status_code == unknown.status_code == 401
        assert "Fel användarnamn eller lösenord" in wrong.text
        assert "synpunkt_session" not in client.cookies or (
            (await client.get(f"/cases/{world.barn}")).status_code == 303
        )


async def test_failed_sign_ins_are_throttled_per_user_across_processes(world: World) -> None:
    async with client_for(world, addr="10.0.0.1") as client:
        for _ in range(5):
            assert (await sign_in(client, "karin", "fel")).status_code == 401
        refused = await sign_in(client, "karin")
        assert refused.status_code == 429 and "För många" in refused.text
    # Another web process (another app on the same database), another address: still refused.
    second = create_app(sessions=world.db.sessions, clock=world.clock)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=second, client=("10.0.0.2", 1)), base_url="http://test"
    ) as client:
        assert (await sign_in(client, "karin", PASSWORD)).status_code == 429
        assert (await sign_in(client, "olle", PASSWORD)).status_code == 303
    world.clock.advance(minutes=16)
    async with client_for(world, addr="10.0.0.1") as client:
        assert (await sign_in(client, "karin")).status_code == 303


async def test_failed_sign_ins_are_throttled_per_address(world: World) -> None:
    async with client_for(world, addr="10.0.0.66") as client:
        for n in range(20):
            assert (await sign_in(client, f"guess{n}", "fel")).status_code == 401
        assert (await sign_in(client, "olle")).status_code == 429
    async with client_for(world, addr="10.0.0.67") as client:
        assert (await sign_in(client, "olle")).status_code == 303


async def test_next_goes_only_to_paths_on_this_site(world: World) -> None:
    for target, expected in (
        (f"/cases/{world.barn}", f"/cases/{world.barn}"),
        ("//evil.example/x", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("javascript:alert(1)", "/"),
    ):
        async with client_for(world) as client:
            form = await client.get("/signin", params={"next": target})
            response = await client.post(
                "/signin",
                data={
                    "username": "karin",
                    "password": PASSWORD,
                    "next": target,
                    "csrf_token": csrf_of(form.text),
                },
            )
            assert response.headers["location"] == expected, target
