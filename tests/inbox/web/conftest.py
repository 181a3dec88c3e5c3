"""Fixtures for the staff pages: units, users of every role, cases in different units, and
clients that sign in through the real sign-in form (CSRF token included)."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI
from itsdangerous import TimestampSigner
from sqlalchemy import select

from inbox.cases.access import EVERYTHING
from inbox.cases.triage import update_case
from inbox.checkins.decisions import check_input, register_decision
from inbox.checkins.plan import CheckinPolicy
from inbox.core.audit import Actor
from inbox.core.db import unit_of_work
from inbox.core.inbound import InboundAttachment
from inbox.core.models import Case, StaffUser
from inbox.staff.tokens import create_token
from inbox.staff.users import add_user
from inbox.web.app import create_app
from tests.conftest import CHEAP_PASSWORDS, SECRET_KEY, Clock, Database
from tests.factories import mail, take

PASSWORD = "rätt-lösenord-123"
SYSTEM = Actor(name="system")
# username → (role, units; None for --all-units)
USERS: dict[str, tuple[str, list[str] | None]] = {
    "ada": ("admin", ["mottagning"]),
    "alma": ("admin", None),
    "rut": ("registrar", ["mottagning"]),
    "karin": ("caseworker", ["barn-och-familj"]),
    "olle": ("caseworker", ["vuxen"]),
    "vera": ("viewer", ["barn-och-familj"]),
}
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "the page has no CSRF token"
    return found.group(1)


@dataclass
class World:
    db: Database
    clock: Clock
    app: FastAPI
    barn: str  # a case in barn-och-familj, with an attachment
    vuxen: str  # a case in vuxen, with an attachment
    loose: str  # a case with no unit yet

    async def case(self, reference: str) -> Case:
        async with self.db.sessions() as session:
            return (
                await session.execute(select(Case).where(Case.reference == reference))
            ).scalar_one()

    async def user_id(self, username: str) -> int:
        async with self.db.sessions() as session:
            user = (
                await session.execute(select(StaffUser).where(StaffUser.username == username))
            ).scalar_one()
            assert user.id is not None
            return user.id


async def _case(db: Database, clock: Clock, n: int, unit: str | None, **kwargs: object) -> str:
    clock.advance(minutes=1)
    receipt = await take(
        db,
        mail(
            n,
            sender=f"person{n}@example.se",
            attachments=[
                InboundAttachment(
                    filename=f"bilaga{n}.pdf", content_type="application/pdf", data=b"%PDF-1.4"
                )
            ],
            **kwargs,
        ),
        clock,
    )
    async with unit_of_work(db.sessions) as session:
        case = await session.get(Case, receipt.case_id)
        assert case is not None
        if unit:
            await update_case(
                session, oidc=False, case=case, changes={"unit": unit}, actor=SYSTEM, now=clock()
            )
        return case.reference


async def build_world(db: Database, clock: Clock, **app_kwargs: object) -> World:
    async with unit_of_work(db.sessions) as session:
        for name, (role, units) in USERS.items():
            await add_user(
                session,
                username=name,
                role=role,
                unit_codes=units or (),
                all_units=units is None,
                password=PASSWORD,
                display_name=name.capitalize(),
                now=clock(),
                passwords=CHEAP_PASSWORDS,
            )
    barn = await _case(db, clock, 1, "barn-och-familj", subject="Om min son")
    vuxen = await _case(db, clock, 2, "vuxen", subject="Missbruksvården")
    loose = await _case(db, clock, 3, None, subject="Ej fördelad fråga")
    app_kwargs = {"secret_key": SECRET_KEY, "passwords": CHEAP_PASSWORDS, **app_kwargs}
    app = create_app(sessions=db.sessions, clock=clock, **app_kwargs)  # type: ignore[arg-type]
    return World(db=db, clock=clock, app=app, barn=barn, vuxen=vuxen, loose=loose)


@pytest.fixture
async def world(db: Database, clock: Clock) -> World:
    return await build_world(db, clock)


Client = httpx.AsyncClient
SignIn = Callable[[str], Awaitable[Client]]


async def sign_in(client: Client, username: str, password: str = PASSWORD) -> httpx.Response:
    form = await client.get("/signin")
    return await client.post(
        "/signin",
        data={"username": username, "password": password, "csrf_token": csrf_of(form.text)},
    )


@pytest.fixture
async def as_user(world: World) -> AsyncIterator[SignIn]:
    """Opens a client signed in as the given user."""
    clients: list[Client] = []

    async def open_client(username: str) -> Client:
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=world.app, client=("10.0.0.7", 5000)),
            base_url="http://test",
        )
        clients.append(client)
        response = await sign_in(client, username)
        assert response.status_code == 303, response.text
        return client

    yield open_client
    for client in clients:
        await client.aclose()


async def form_post(client: Client, action: str, data: dict[str, str]) -> httpx.Response:
    """Posts a form the way a browser would: with the session's CSRF token (from the inbox page)."""
    html = (await client.get("/")).text
    return await client.post(action, data={**data, "csrf_token": csrf_of(html)})


ApiFor = Callable[[str, list[str]], Awaitable[httpx.AsyncClient]]


@pytest.fixture
async def api_for(world: World) -> AsyncIterator[ApiFor]:
    """Opens an API client with a token of this role and these units (none: every unit)."""
    clients: list[httpx.AsyncClient] = []

    async def open_client(role: str, units: list[str]) -> httpx.AsyncClient:
        async with unit_of_work(world.db.sessions) as session:
            _row, token = await create_token(
                session,
                name=role,
                now=world.clock(),
                role=role,
                unit_codes=units,
                all_units=not units,
            )
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=world.app),
            base_url="http://test",
            headers={"Authorization": f"Bearer {token}"},
        )
        clients.append(client)
        return client

    yield open_client
    for client in clients:
        await client.aclose()


async def decision_in(world: World, data: dict[str, str]) -> int:
    """A decision registered by the system (every unit), with its check-in scheduled."""
    async with unit_of_work(world.db.sessions) as session:
        decision, _ = await register_decision(
            session,
            data=check_input(data, now=world.clock()),
            scope=EVERYTHING,
            policy=CheckinPolicy(secret_key=SECRET_KEY),
            registered_by="test",
            now=world.clock(),
        )
    assert decision.id is not None
    return decision.id


def forged_session(secret_key: str, session: dict[str, object]) -> str:
    """A cookie as Starlette's SessionMiddleware signs it: base64 JSON, itsdangerous timestamp."""
    data = base64.b64encode(json.dumps(session).encode())
    return TimestampSigner(secret_key).sign(data).decode()


# A decision as the API takes it, in unit barn-och-familj.
DECISION = {
    "unit": "barn-och-familj",
    "channel": "email",
    "address": "klient@example.se",
    "language": "sv",
    "decided_on": "2026-03-02",
    "reference": "BOF-2026-17",
}
