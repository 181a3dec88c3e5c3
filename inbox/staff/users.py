"""Staff users and units: who works here, in which role, for which units, and their lifecycle.

Passwords are hashed with argon2 (`inbox.staff.passwords`); a user may have no password when they sign in
through the municipality's identity provider instead. Whatever ends someone's right to what they
could see — a new password, deactivation, another role or other units — raises the user's
`session_version`, which ends every session they have at once (`inbox.web.auth.sessions`
compares it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from inbox.core.audit import Actor, audit
from inbox.core.models import Role, StaffUnit, StaffUser, Unit
from inbox.staff.passwords import DEFAULT_PASSWORDS, Passwords

MIN_PASSWORD_LENGTH = 12


class StaffError(ValueError):
    """A request about staff or units that cannot be carried out, with a message for the user."""


def check_password_rule(username: str, password: str) -> None:
    """At least 12 characters and not the username (nor containing it, in any case)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise StaffError(f"the password must be at least {MIN_PASSWORD_LENGTH} characters long")
    name = username.strip().casefold()
    if name and name in password.casefold():
        raise StaffError("the password must not contain the username")


def _role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        allowed = ", ".join(r.value for r in Role)
        raise StaffError(f"unknown role {value!r}; choose one of {allowed}") from None


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
    actor: Actor | None = None,
    passwords: Passwords = DEFAULT_PASSWORDS,
) -> StaffUser:
    """A new user who sees `unit_codes`, or every unit with `all_units`: one of them is required.

    Audited when an `actor` is given (the CLI gives one).
    """
    role = _role(role)
    if not username.strip():
        raise StaffError("the username is empty")
    if await find_user(session, username=username) is not None:
        raise StaffError(f"user {username!r} already exists")
    units = await units_for_grant(session, unit_codes=unit_codes, all_units=all_units)
    if password is not None:
        check_password_rule(username, password)
    user = StaffUser(
        username=username,
        display_name=display_name or username,
        role=role,
        password_hash=await passwords.hash_async(password) if password is not None else None,
        created_at=now,
        all_units=all_units,
    )
    session.add(user)
    await session.flush()
    assert user.id is not None
    for unit in units:
        assert unit.id is not None
        session.add(StaffUnit(user_id=user.id, unit_id=unit.id))
    if actor is not None:
        audit(
            session,
            actor=actor,
            action="staff.add",
            case=None,
            now=now,
            user=user.username,
            role=role.value,
            units="*" if all_units else sorted(u.code for u in units),
        )
    await session.flush()
    return user


async def find_user(session: AsyncSession, *, username: str) -> StaffUser | None:
    return (
        await session.execute(select(StaffUser).where(col(StaffUser.username) == username))
    ).scalar_one_or_none()


async def _existing_user(session: AsyncSession, username: str) -> StaffUser:
    user = await find_user(session, username=username)
    if user is None:
        raise StaffError(f"no user {username!r}; see `synpunkt users list`")
    return user


def _end_sessions(user: StaffUser) -> None:
    user.session_version += 1


async def set_password(
    session: AsyncSession,
    *,
    username: str,
    password: str,
    actor: Actor,
    now: datetime,
    passwords: Passwords = DEFAULT_PASSWORDS,
) -> StaffUser:
    """A new password; every session the user has ends."""
    user = await _existing_user(session, username)
    check_password_rule(user.username, password)
    user.password_hash = await passwords.hash_async(password)
    _end_sessions(user)
    audit(session, actor=actor, action="staff.password", case=None, now=now, user=user.username)
    await session.flush()
    return user


async def set_active(
    session: AsyncSession, *, username: str, active: bool, actor: Actor, now: datetime
) -> StaffUser:
    """Disabled, the user can no longer sign in and every session they have ends; enabled, they
    may sign in again."""
    user = await _existing_user(session, username)
    user.active = active
    if not active:
        _end_sessions(user)
    action = "staff.enable" if active else "staff.disable"
    audit(session, actor=actor, action=action, case=None, now=now, user=user.username)
    await session.flush()
    return user


async def user_unit_codes(session: AsyncSession, *, user_id: int) -> list[str]:
    rows = await session.execute(
        select(col(Unit.code))
        .join(StaffUnit, col(StaffUnit.unit_id) == col(Unit.id))
        .where(col(StaffUnit.user_id) == user_id)
        .order_by(col(Unit.code))
    )
    return list(rows.scalars())


async def update_user(
    session: AsyncSession,
    *,
    username: str,
    actor: Actor,
    now: datetime,
    role: str | None = None,
    unit_codes: Sequence[str] = (),
    all_units: bool = False,
    display_name: str | None = None,
) -> StaffUser:
    """Another role, other units (`unit_codes` or `all_units`, replacing the old ones) or another
    display name. A change of role or units ends every session the user has."""
    if role is None and not unit_codes and not all_units and display_name is None:
        raise StaffError("nothing to change: give --role, --unit/--all-units or --display-name")
    user = await _existing_user(session, username)
    assert user.id is not None
    changes: dict[str, object] = {}
    new_role = _role(role) if role is not None else None
    if new_role is not None and new_role != user.role:
        changes["role"] = [user.role, new_role.value]
        user.role = new_role
    if unit_codes or all_units:
        units = await units_for_grant(session, unit_codes=unit_codes, all_units=all_units)
        before = "*" if user.all_units else await user_unit_codes(session, user_id=user.id)
        after = "*" if all_units else sorted({u.code for u in units})
        if before != after:
            changes["units"] = [before, after]
            await session.execute(delete(StaffUnit).where(col(StaffUnit.user_id) == user.id))
            for unit_id in sorted({u.id for u in units if u.id is not None}):
                session.add(StaffUnit(user_id=user.id, unit_id=unit_id))
            user.all_units = all_units
    if display_name is not None and display_name.strip() != user.display_name:
        if not display_name.strip():
            raise StaffError("the display name is empty")
        changes["display_name"] = [user.display_name, display_name.strip()]
        user.display_name = display_name.strip()
    if "role" in changes or "units" in changes:
        _end_sessions(user)
    if changes:
        audit(
            session,
            actor=actor,
            action="staff.update",
            case=None,
            now=now,
            user=user.username,
            **changes,
        )
    await session.flush()
    return user


async def end_sessions(
    session: AsyncSession, *, user: StaffUser, actor: Actor, now: datetime
) -> None:
    """Signs the user out everywhere (the sign-out button)."""
    _end_sessions(user)
    audit(session, actor=actor, action="staff.signout", case=None, now=now, user=user.username)
    await session.flush()


@dataclass(frozen=True, slots=True)
class UserRow:
    username: str
    display_name: str
    role: str
    active: bool
    units: list[str] | None  # None: every unit
    password: bool
    oidc: bool
    created_at: datetime


async def list_users(session: AsyncSession) -> list[UserRow]:
    units: dict[int, list[str]] = {}
    pairs = await session.execute(
        select(col(StaffUnit.user_id), col(Unit.code))
        .join(Unit, col(Unit.id) == col(StaffUnit.unit_id))
        .order_by(col(Unit.code))
    )
    for user_id, code in pairs:
        units.setdefault(user_id, []).append(code)
    users = (await session.execute(select(StaffUser).order_by(col(StaffUser.username)))).scalars()
    return [
        UserRow(
            username=user.username,
            display_name=user.display_name,
            role=user.role,
            active=user.active,
            units=None if user.all_units else units.get(user.id or 0, []),
            password=user.password_hash is not None,
            oidc=user.oidc_subject is not None,
            created_at=user.created_at,
        )
        for user in users
    ]
