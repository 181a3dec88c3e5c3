"""Staff users through their lifecycle: the password rule, and which changes end their sessions."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.core.audit import Actor
from inbox.core.db import unit_of_work
from inbox.core.models import AuditEvent, StaffUser
from inbox.staff.users import (
    StaffError,
    add_user,
    end_sessions,
    find_user,
    list_users,
    set_active,
    set_password,
    update_user,
)
from tests.conftest import CHEAP_PASSWORDS, Clock, Database

ADMIN = Actor(name="user:99", user_id=99, remote_addr="10.0.0.1")  # not karin


async def _karin(session: AsyncSession, clock: Clock) -> StaffUser:
    return await add_user(
        session,
        username="karin",
        role="caseworker",
        unit_codes=["vuxen"],
        password="rätt-lösenord-123",
        now=clock(),
        passwords=CHEAP_PASSWORDS,
    )


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("elva-tecken", "at least 12 characters"),
        ("karin", "at least 12 characters"),
        ("karinkarin12", "must not contain the username"),
        ("Mitt-KARIN-lösenord", "must not contain the username"),
    ],
)
async def test_weak_passwords_are_refused_when_adding_and_when_changing(
    db: Database, clock: Clock, password: str, message: str
) -> None:
    async with db.sessions() as session:
        with pytest.raises(StaffError, match=message):
            await add_user(
                session,
                username="karin",
                role="caseworker",
                all_units=True,
                password=password,
                now=clock(),
                passwords=CHEAP_PASSWORDS,
            )
        assert await find_user(session, username="karin") is None
    async with unit_of_work(db.sessions) as session:
        await _karin(session, clock)
    async with db.sessions() as session:
        with pytest.raises(StaffError, match=message):
            await set_password(
                session,
                username="karin",
                password=password,
                actor=ADMIN,
                now=clock(),
                passwords=CHEAP_PASSWORDS,
            )


async def test_a_new_password_replaces_the_old_one(db: Database, clock: Clock) -> None:
    async with unit_of_work(db.sessions) as session:
        await _karin(session, clock)
        user = await set_password(
            session,
            username="karin",
            password="ett helt nytt lösenord",
            actor=ADMIN,
            now=clock(),
            passwords=CHEAP_PASSWORDS,
        )
        assert CHEAP_PASSWORDS.verify("ett helt nytt lösenord", user.password_hash)
        assert not CHEAP_PASSWORDS.verify("rätt-lösenord-123", user.password_hash)


async def _password(session: AsyncSession, clock: Clock) -> object:
    return await set_password(
        session,
        username="karin",
        password="ett-nytt-lösenord-456",
        actor=ADMIN,
        now=clock(),
        passwords=CHEAP_PASSWORDS,
    )


async def _disable(session: AsyncSession, clock: Clock) -> object:
    return await set_active(session, username="karin", active=False, actor=ADMIN, now=clock())


async def _role(session: AsyncSession, clock: Clock) -> object:
    return await update_user(session, username="karin", role="viewer", actor=ADMIN, now=clock())


async def _units(session: AsyncSession, clock: Clock) -> object:
    return await update_user(
        session, username="karin", unit_codes=["mottagning"], actor=ADMIN, now=clock()
    )


async def _all_units(session: AsyncSession, clock: Clock) -> object:
    return await update_user(session, username="karin", all_units=True, actor=ADMIN, now=clock())


async def _sign_out(session: AsyncSession, clock: Clock) -> object:
    user = await find_user(session, username="karin")
    assert user is not None
    await end_sessions(session, user=user, actor=ADMIN, now=clock())
    return user


Change = Callable[[AsyncSession, Clock], Awaitable[object]]


@pytest.mark.parametrize(
    ("change", "action"),
    [
        (_password, "staff.password"),
        (_disable, "staff.disable"),
        (_role, "staff.update"),
        (_units, "staff.update"),
        (_all_units, "staff.update"),
        (_sign_out, "staff.signout"),
    ],
    ids=["password", "disable", "role", "units", "all-units", "sign-out"],
)
async def test_changes_that_end_sessions_raise_the_version_and_are_audited(
    db: Database, clock: Clock, change: Change, action: str
) -> None:
    async with unit_of_work(db.sessions) as session:
        before = (await _karin(session, clock)).session_version
    async with unit_of_work(db.sessions) as session:
        await change(session, clock)
    async with db.sessions() as session:
        user = await find_user(session, username="karin")
        assert user is not None and user.session_version > before
        [event] = (await session.execute(select(AuditEvent))).scalars()
        assert (event.action, event.actor, event.detail["user"]) == (action, "user:99", "karin")
        assert event.remote_addr == "10.0.0.1"


async def test_changes_that_take_nothing_away_keep_the_sessions(db: Database, clock: Clock) -> None:
    async with unit_of_work(db.sessions) as session:
        await _karin(session, clock)
        await set_active(session, username="karin", active=False, actor=ADMIN, now=clock())
    async with unit_of_work(db.sessions) as session:
        found = await find_user(session, username="karin")
        assert found is not None
        before = found.session_version
        await set_active(session, username="karin", active=True, actor=ADMIN, now=clock())
        await update_user(
            session, username="karin", display_name="Karin Karlsson", actor=ADMIN, now=clock()
        )
        # The same role and units again change nothing.
        await update_user(
            session,
            username="karin",
            role="caseworker",
            unit_codes=["vuxen"],
            actor=ADMIN,
            now=clock(),
        )
    async with db.sessions() as session:
        user = await find_user(session, username="karin")
        assert user is not None and user.active and user.display_name == "Karin Karlsson"
        assert user.session_version == before


async def test_new_units_replace_the_old_ones(db: Database, clock: Clock) -> None:
    async with unit_of_work(db.sessions) as session:
        await _karin(session, clock)
        await update_user(
            session,
            username="karin",
            unit_codes=["barn-och-familj", "mottagning"],
            actor=ADMIN,
            now=clock(),
        )
    async with db.sessions() as session:
        [row] = await list_users(session)
        assert row.units == ["barn-och-familj", "mottagning"]
    async with unit_of_work(db.sessions) as session:
        await update_user(session, username="karin", all_units=True, actor=ADMIN, now=clock())
    async with db.sessions() as session:
        [row] = await list_users(session)
        assert row.units is None
        with pytest.raises(StaffError, match="unknown unit"):
            await update_user(
                session, username="karin", unit_codes=["finns-inte"], actor=ADMIN, now=clock()
            )


async def test_changes_to_unknown_users_and_empty_changes_are_refused(
    db: Database, clock: Clock
) -> None:
    async with db.sessions() as session:
        for change in (
            set_active(session, username="nobody", active=False, actor=ADMIN, now=clock()),
            set_active(session, username="nobody", active=True, actor=ADMIN, now=clock()),
            update_user(session, username="nobody", role="viewer", actor=ADMIN, now=clock()),
        ):
            with pytest.raises(StaffError, match="no user 'nobody'"):
                await change
        with pytest.raises(StaffError, match="nothing to change"):
            await update_user(session, username="nobody", actor=ADMIN, now=clock())
        with pytest.raises(StaffError, match="unknown role"):
            await add_user(session, username="x", role="boss", all_units=True, now=clock())


async def test_nobody_disables_themselves(db: Database, clock: Clock) -> None:
    async with unit_of_work(db.sessions) as session:
        karin = await _karin(session, clock)
        herself = Actor(name=f"user:{karin.id}", user_id=karin.id)
        with pytest.raises(StaffError, match="cannot disable yourself"):
            await set_active(session, username="karin", active=False, actor=herself, now=clock())
        assert karin.active
