"""API tokens: a token authenticates by its hash, its last use is kept to the minute, and
revoking a name stops its tokens."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from inbox.core.audit import Actor
from inbox.core.db import unit_of_work
from inbox.core.models import ApiToken, AuditEvent
from inbox.staff.tokens import authenticate, create_token, list_tokens, revoke_tokens
from inbox.staff.users import StaffError
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


async def test_revoking_by_name_stops_every_live_token_of_that_name(
    db: Database, clock: Clock
) -> None:
    async with unit_of_work(db.sessions) as session:
        _a, first = await create_token(session, name="ärendesystem", now=clock(), all_units=True)
        _b, second = await create_token(
            session, name="ärendesystem", now=clock(), unit_codes=["vuxen"]
        )
        _c, other = await create_token(session, name="rapporter", now=clock(), all_units=True)
    actor = Actor(name="cli")
    async with unit_of_work(db.sessions) as session:
        assert await revoke_tokens(session, name="ärendesystem", actor=actor, now=clock()) == 2
    async with db.sessions() as session:
        assert await authenticate(session, token=first, now=clock()) is None
        assert await authenticate(session, token=second, now=clock()) is None
        assert await authenticate(session, token=other, now=clock()) is not None
        rows = {
            (row.name, row.units is None, row.revoked_at is not None)
            for row in await list_tokens(session)
        }
        assert rows == {
            ("ärendesystem", True, True),
            ("ärendesystem", False, True),
            ("rapporter", True, False),
        }
        events = list((await session.execute(select(AuditEvent))).scalars())
        assert [(e.actor, e.action, e.detail["name"]) for e in events] == [
            ("cli", "token.revoke", "ärendesystem")
        ] * 2
        with pytest.raises(StaffError, match="no live token"):
            await revoke_tokens(session, name="ärendesystem", actor=actor, now=clock())
