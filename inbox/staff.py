"""Staff users and units: who works here, in which role, for which units.

Passwords are hashed with argon2 (pwdlib); a user may have no password when they sign in through
the municipality's identity provider instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pwdlib import PasswordHash
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from inbox.models import Role, StaffUnit, StaffUser, Unit

_hasher = PasswordHash.recommended()


class StaffError(ValueError):
    """A request about staff or units that cannot be carried out, with a message for the user."""


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password: str, password_hash: str) -> bool:
    return _hasher.verify(password, password_hash)


async def add_unit(session: AsyncSession, *, code: str, name: str, response_days: int = 10) -> Unit:
    code = code.strip().lower()
    if not code or not code.replace("-", "").isalnum():
        raise StaffError(f"invalid unit code {code!r}: use letters, digits and hyphens")
    if await find_unit(session, code=code) is not None:
        raise StaffError(f"unit {code!r} already exists")
    unit = Unit(code=code, name=name.strip(), response_days=response_days)
    session.add(unit)
    await session.flush()
    return unit


async def find_unit(session: AsyncSession, *, code: str) -> Unit | None:
    return (await session.execute(select(Unit).where(col(Unit.code) == code))).scalar_one_or_none()


async def units_for_grant(
    session: AsyncSession, *, unit_codes: Sequence[str], all_units: bool
) -> list[Unit]:
    """The units a user or token is given: `--unit` codes or `--all-units`, exactly one of them."""
    if all_units and unit_codes:
        raise StaffError("give either --unit or --all-units, not both")
    if not all_units and not unit_codes:
        raise StaffError("give the units it may see: --unit UNIT (repeatable) or --all-units")
    units = []
    for code in unit_codes:
        unit = await find_unit(session, code=code)
        if unit is None:
            raise StaffError(f"unknown unit {code!r}; add it with `synpunkt units add`")
        units.append(unit)
    return units


async def add_user(
    session: AsyncSession,
    *,
    username: str,
    role: str,
    now: datetime,
    unit_codes: Sequence[str] = (),
    all_units: bool = False,
    password: str | None = None,
    display_name: str = "",
) -> StaffUser:
    """A new user who sees `unit_codes`, or every unit with `all_units`: one of them is required."""
    try:
        role = Role(role)
    except ValueError:
        allowed = ", ".join(r.value for r in Role)
        raise StaffError(f"unknown role {role!r}; choose one of {allowed}") from None
    existing = await session.execute(select(StaffUser).where(col(StaffUser.username) == username))
    if existing.scalar_one_or_none() is not None:
        raise StaffError(f"user {username!r} already exists")
    units = await units_for_grant(session, unit_codes=unit_codes, all_units=all_units)
    user = StaffUser(
        username=username,
        display_name=display_name or username,
        role=role,
        password_hash=hash_password(password) if password else None,
        created_at=now,
        all_units=all_units,
    )
    session.add(user)
    await session.flush()
    assert user.id is not None
    for unit in units:
        assert unit.id is not None
        session.add(StaffUnit(user_id=user.id, unit_id=unit.id))
    await session.flush()
    return user
