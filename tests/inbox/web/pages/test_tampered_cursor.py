"""A tampered list cursor is the client's mistake: 400 from the API and the staff list, never 500."""

from __future__ import annotations

import base64

import httpx

from inbox.core.db import unit_of_work
from inbox.staff.tokens import create_token
from tests.inbox.web.conftest import SignIn, World


def b64(text: str | bytes) -> str:
    data = text.encode() if isinstance(text, str) else text
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


AT = "2026-03-10T09:30:00+00:00"
TAMPERED = [
    "garbage",
    "!!",
    "ü",
    "a" * 5000,
    b64("nonsense"),
    b64(b"\xff\xfe\x00"),
    b64("[1, 2]"),
    b64('{"received_at": "2026-03-10", "id": 1}'),
    b64("2026-03-10T09:30:00|1"),  # no time zone
    b64("2026-13-10T09:30:00+00:00|1"),
    b64(f"{AT}|abc"),
    b64(f"{AT}|1.5"),
    b64(f"{AT}|-1"),
    b64(f"{AT}|0"),
    b64(f"{AT}|99999999999999999999999"),
    b64(f"{AT}|4294967296"),
    b64(f"{AT}|1_000"),
    b64("0001-01-01T00:00:00+01:00|1"),  # out of range once in UTC
    b64("9999-12-31T23:59:59-01:00|1"),
    b64(f"{AT}|1|2|3"),
    b64(f"{AT}|1|nan"),
    b64(f"{AT}|1|inf"),
    b64(f"{AT}|1|x"),
    b64("|"),
    b64(f"{AT}|1\x00"),
]


async def test_api_answers_every_tampered_cursor_with_400(world: World) -> None:
    async with unit_of_work(world.db.sessions) as session:
        _row, token = await create_token(session, name="t", now=world.clock(), all_units=True)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=world.app),
        base_url="http://test",
        headers={"Authorization": f"Bearer {token}"},
    ) as api:
        for cursor in TAMPERED:
            for params in ({"cursor": cursor}, {"cursor": cursor, "q": "synpunkt"}):
                response = await api.get("/api/cases", params=params)
                assert response.status_code == 400, (params, response.text[:200])
        assert (await api.get("/api/cases", params={"limit": 1})).json()["next_cursor"]


async def test_staff_list_answers_every_tampered_cursor_with_400(
    world: World, as_user: SignIn
) -> None:
    rut = await as_user("rut")
    for cursor in TAMPERED:
        response = await rut.get("/", params={"cursor": cursor})
        assert response.status_code == 400, (cursor, response.text[:200])
