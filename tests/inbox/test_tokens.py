"""API tokens: a token authenticates by its hash, and its last use is kept to the minute."""

from __future__ import annotations

from inbox.db import unit_of_work
from inbox.models import ApiToken
from inbox.tokens import authenticate, create_token
from tests.conftest import Clock, Database


async def last_used(db: Database, token: str, clock: Clock) -> object:
    async with unit_of_work(db.sessions) as session:
        row = await authenticate(session, token=token, now=clock())
        assert row is not None
    async with db.sessions() as session:
        stored = await session.get(ApiToken, row.id)
        assert stored is not None
        return stored.last_used_at


async def test_last_use_is_written_at_most_once_a_minute(db: Database, clock: Clock) -> None:
    async with unit_of_work(db.sessions) as session:
        _row, token = await create_token(session, name="ärendesystem", now=clock(), all_units=True)
    first = clock()
    assert await last_used(db, token, clock) == first
    clock.advance(seconds=59)
    assert await last_used(db, token, clock) == first  # a read, not a write
    later = clock.advance(seconds=1)
    assert await last_used(db, token, clock) == later
    async with db.sessions() as session:
        assert await authenticate(session, token=token + "x", now=clock()) is None
