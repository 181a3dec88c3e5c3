"""Sign-in: the form at `/`, the session cookie and its key, sessions that end when they should,
throttling that stops guessing but not an office, client addresses behind proxies, no open
redirects."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.cli.wiring import web_server_config
from inbox.core.audit import Actor
from inbox.core.db import unit_of_work
from inbox.core.models import StaffUser
from inbox.settings import Settings
from inbox.staff.passwords import Passwords
from inbox.staff.signin import Throttle
from inbox.staff.users import set_active, set_password, update_user
from inbox.web.app import create_app
from tests.conftest import CHEAP_PASSWORDS, SECRET_KEY, Clock, Database
from tests.inbox.web.conftest import PASSWORD, World, build_world, csrf_of, forged_session, sign_in


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
    other = create_app(
        sessions=world.db.sessions, clock=world.clock, secret_key="other-" + uuid.uuid4().hex
    )
    async with client_for(world) as client:
        await sign_in(client, "karin")
        stolen = client.cookies["synpunkt_session"]
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=other), base_url="http://test"
    ) as client:
        client.cookies.set("synpunkt_session", stolen)
        assert (await client.get(f"/cases/{world.barn}")).status_code == 303


async def test_an_admin_cookie_forged_with_the_old_default_key_signs_nobody_in(
    world: World,
) -> None:
    ada = await world.user_id("ada")
    async with client_for(world) as client:
        for version in ({}, {"session_version": 0}):
            forged = forged_session("change-me", {"user_id": ada, **version})
            client.cookies.set("synpunkt_session", forged)
            assert (await client.get(f"/cases/{world.loose}")).status_code == 303
    # The same forgery with the app's own key gets in: the cookie above was well-formed.
    async with client_for(world) as client:
        client.cookies.set(
            "synpunkt_session", forged_session(SECRET_KEY, {"user_id": ada, "session_version": 0})
        )
        assert (await client.get(f"/cases/{world.loose}")).status_code == 200


async def test_the_app_refuses_a_published_or_short_secret_key(world: World) -> None:
    for key in ("change-me", "change-me-" * 4, "kort-nyckel-1234"):
        with pytest.raises(ValueError, match="secret key"):
            create_app(sessions=world.db.sessions, clock=world.clock, secret_key=key)


async def test_deactivated_user_is_signed_out_at_once(world: World) -> None:
    async with client_for(world) as client:
        await sign_in(client, "karin")
        assert (await client.get(f"/cases/{world.barn}")).status_code == 200
        async with unit_of_work(world.db.sessions) as session:
            user = await session.get(StaffUser, await world.user_id("karin"))
            assert user is not None
            user.active = False
        assert (await client.get(f"/cases/{world.barn}")).status_code == 303


async def test_a_cookie_copied_before_sign_out_no_longer_works_after_it(world: World) -> None:
    async with client_for(world) as client, client_for(world, addr="10.0.0.10") as thief:
        await sign_in(client, "karin")
        thief.cookies.set("synpunkt_session", client.cookies["synpunkt_session"])
        assert (await thief.get(f"/cases/{world.barn}")).status_code == 200
        csrf = csrf_of((await client.get("/")).text)
        assert (await client.post("/signout", data={"csrf_token": csrf})).status_code == 303
        assert (await thief.get(f"/cases/{world.barn}")).status_code == 303
        # Signing in again is a new session, and the old copy stays dead.
        assert (await sign_in(client, "karin")).status_code == 303
        assert (await client.get(f"/cases/{world.barn}")).status_code == 200
        assert (await thief.get(f"/cases/{world.barn}")).status_code == 303


CLI = Actor(name="cli")


async def _new_password(session: AsyncSession, now: datetime) -> object:
    return await set_password(
        session,
        username="karin",
        password="ett-nytt-lösenord-456",
        actor=CLI,
        now=now,
        passwords=CHEAP_PASSWORDS,
    )


async def _disable(session: AsyncSession, now: datetime) -> object:
    return await set_active(session, username="karin", active=False, actor=CLI, now=now)


async def _new_role(session: AsyncSession, now: datetime) -> object:
    return await update_user(session, username="karin", role="viewer", actor=CLI, now=now)


async def _new_units(session: AsyncSession, now: datetime) -> object:
    return await update_user(
        session, username="karin", unit_codes=["barn-och-familj", "vuxen"], actor=CLI, now=now
    )


@pytest.mark.parametrize(
    "change",
    [_new_password, _disable, _new_role, _new_units],
    ids=["password", "disable", "role", "units"],
)
async def test_a_change_to_the_user_ends_their_existing_sessions(
    world: World, change: Callable[[AsyncSession, datetime], Awaitable[object]]
) -> None:
    async with client_for(world) as client, client_for(world, addr="10.0.0.10") as other:
        await sign_in(client, "karin")
        await sign_in(other, "karin")
        for browser in (client, other):
            assert (await browser.get(f"/cases/{world.barn}")).status_code == 200
        async with unit_of_work(world.db.sessions) as session:
            await change(session, world.clock())
        for browser in (client, other):
            assert (await browser.get(f"/cases/{world.barn}")).status_code == 303


async def test_a_new_display_name_keeps_the_session(world: World) -> None:
    async with client_for(world) as client:
        await sign_in(client, "karin")
        async with unit_of_work(world.db.sessions) as session:
            await update_user(
                session, username="karin", display_name="Karin K", actor=CLI, now=world.clock()
            )
        assert (await client.get(f"/cases/{world.barn}")).status_code == 200


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


async def test_guesses_at_one_account_from_one_address_stop_there_not_for_the_office(
    world: World,
) -> None:
    async with client_for(world, addr="203.0.113.5") as attacker:
        for _ in range(5):
            assert (await sign_in(attacker, "karin", "fel")).status_code == 401
        refused = await sign_in(attacker, "karin")
        assert refused.status_code == 429 and "För många" in refused.text
    # Karin at the office, through another web process on the same database: not locked out.
    second = create_app(
        sessions=world.db.sessions,
        clock=world.clock,
        secret_key=SECRET_KEY,
        passwords=CHEAP_PASSWORDS,
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=second, client=("10.0.0.2", 1)), base_url="http://test"
    ) as office:
        assert (await sign_in(office, "karin")).status_code == 303
    async with client_for(world, addr="203.0.113.5") as attacker:
        assert (await sign_in(attacker, "karin")).status_code == 429  # her success forgave nobody
    world.clock.advance(minutes=16)
    async with client_for(world, addr="203.0.113.5") as attacker:
        assert (await sign_in(attacker, "karin", "fel")).status_code == 401


async def test_guesses_at_one_account_from_many_addresses_stop_at_the_user_limit(
    world: World,
) -> None:
    for n in range(20):
        async with client_for(world, addr=f"198.51.100.{n}") as client:
            assert (await sign_in(client, "karin", "fel")).status_code == 401
    async with client_for(world, addr="10.0.0.3") as office:
        assert (await sign_in(office, "karin")).status_code == 429
        assert (await sign_in(office, "olle")).status_code == 303
    world.clock.advance(minutes=16)
    async with client_for(world, addr="10.0.0.3") as office:
        assert (await sign_in(office, "karin")).status_code == 303


async def test_unknown_usernames_are_throttled_per_address(world: World) -> None:
    async with client_for(world, addr="10.0.0.66") as client:
        for n in range(30):
            assert (await sign_in(client, f"guess{n}", "fel")).status_code == 401
        assert (await sign_in(client, "olle")).status_code == 429
    async with client_for(world, addr="10.0.0.67") as client:
        assert (await sign_in(client, "olle")).status_code == 303


async def test_colleagues_mistyped_passwords_do_not_lock_out_their_office(
    db: Database, clock: Clock
) -> None:
    world = await build_world(db, clock, throttle=Throttle(per_address=10))
    async with client_for(world, addr="10.1.1.1") as office:
        for name in ("ada", "rut", "karin", "olle", "vera"):
            for _ in range(4):
                assert (await sign_in(office, name, "fel-lösenord")).status_code == 401
        for name in ("ada", "rut", "karin", "olle", "vera"):
            assert (await sign_in(office, name)).status_code == 303


async def test_a_success_does_not_clear_the_address_for_other_usernames(
    db: Database, clock: Clock
) -> None:
    world = await build_world(db, clock, throttle=Throttle(per_address=10))
    async with client_for(world, addr="10.1.1.2") as client:
        for n in range(9):
            assert (await sign_in(client, f"guess{n}", "fel")).status_code == 401
        assert (await sign_in(client, "karin")).status_code == 303
        assert (await sign_in(client, "guess9", "fel")).status_code == 401
        assert (await sign_in(client, "olle")).status_code == 429


class GatedPasswords(Passwords):
    """Cheap argon2 whose check waits until the test opens the gate."""

    def __init__(self) -> None:
        super().__init__(CHEAP_PASSWORDS._hasher)
        self.entered = threading.Event()
        self.gate = threading.Event()

    def verify(self, password: str, password_hash: str | None) -> bool:
        self.entered.set()
        self.gate.wait(timeout=30)
        return super().verify(password, password_hash)


async def test_the_password_check_does_not_stall_other_requests(db: Database, clock: Clock) -> None:
    passwords = GatedPasswords()
    world = await build_world(db, clock, passwords=passwords)
    async with client_for(world) as client, client_for(world) as other:
        form = await client.get("/signin")
        pending = asyncio.create_task(
            client.post(
                "/signin",
                data={"username": "karin", "password": PASSWORD, "csrf_token": csrf_of(form.text)},
            )
        )
        await asyncio.to_thread(passwords.entered.wait, 30)
        # The check is under way; the event loop still answers everyone else.
        assert (await other.get("/livez")).status_code == 200
        assert (await other.get("/signin")).status_code == 200
        assert not pending.done()
        passwords.gate.set()
        assert (await pending).status_code == 303


async def test_x_forwarded_for_counts_only_from_configured_proxies(world: World) -> None:
    async def attempts(settings: Settings) -> list[int]:
        config = web_server_config(settings, world.app)
        config.load()
        codes = []
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=config.loaded_app, client=("127.0.0.1", 4000)),
            base_url="http://test",
        ) as client:
            for n in range(6):
                client.headers["X-Forwarded-For"] = f"192.0.2.{n}"
                codes.append((await sign_in(client, "vera", "fel")).status_code)
        return codes

    # Unset: the peer's address is the client's, whatever the header says (uvicorn alone would
    # believe it from 127.0.0.1).
    assert await attempts(Settings(_env_file=None)) == [401] * 5 + [429]
    world.clock.advance(minutes=16)
    trusted = Settings(_env_file=None, forwarded_allow_ips="127.0.0.1")  # type: ignore[arg-type]
    assert await attempts(trusted) == [401] * 6


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
