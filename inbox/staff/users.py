"""Staff users and units: who works here, in which role, for which units, and their lifecycle.

Passwords are hashed with argon2 (`inbox.staff.passwords`); a user may have no password when they sign in
through the municipality's identity provider instead. Whatever ends someone's right to what they
could see — a new password, deactivation, another role or other units — raises the user's
`session_version`, which ends every session they have at once (`inbox.web.auth.sessions`
compares it).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from inbox.core.addresses import is_mail_address
from inbox.core.audit import Actor, audit
from inbox.core.models import Role, StaffUnit, StaffUser, Unit
from inbox.staff.passwords import DEFAULT_PASSWORDS, Passwords

MIN_PASSWORD_LENGTH = 12
MAX_DAYS = 365


class StaffError(ValueError):
    """A request about staff or units that cannot be carried out, with a message for the user:
    the English one for the command line, `swedish` for the staff pages, and the form `field` it is
    about (None: the whole form)."""

    def __init__(self, message: str, *, swedish: str = "", field: str | None = None) -> None:
        super().__init__(message)
        self.swedish = swedish or message
        self.field = field


class OutOfReach(LookupError):
    """A user, unit or token outside the units the acting admin has: as if it did not exist."""


# The units an acting admin has, as ids; None: every unit (an all-units admin, or the command line).
Within = frozenset[int] | None


def check_password_rule(username: str, password: str) -> None:
    """At least 12 characters and not the username (nor containing it, in any case)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise StaffError(
            f"the password must be at least {MIN_PASSWORD_LENGTH} characters long",
            swedish=f"Lösenordet måste ha minst {MIN_PASSWORD_LENGTH} tecken.",
            field="password",
        )
    name = username.strip().casefold()
    if name and name in password.casefold():
        raise StaffError(
            "the password must not contain the username",
            swedish="Lösenordet får inte innehålla användarnamnet.",
            field="password",
        )


def _role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        allowed = ", ".join(r.value for r in Role)
        raise StaffError(
            f"unknown role {value!r}; choose one of {allowed}",
            swedish="Välj en roll.",
            field="role",
        ) from None


def _unit_name(name: str) -> str:
    if not name.strip():
        raise StaffError(
            "the unit's name is empty", swedish="Skriv verksamhetens namn.", field="name"
        )
    return name.strip()


def _days(value: int | None, *, field: str) -> int | None:
    if value is not None and not 0 < value <= MAX_DAYS:
        raise StaffError(
            f"{field.replace('_', ' ')} must be between 1 and {MAX_DAYS}",
            swedish=f"Ange ett antal arbetsdagar mellan 1 och {MAX_DAYS}.",
            field=field,
        )
    return value


async def add_unit(
    session: AsyncSession,
    *,
    code: str,
    name: str,
    response_days: int = 10,
    checkin_delay_days: int | None = None,
    actor: Actor | None = None,
    now: datetime | None = None,
) -> Unit:
    """A new unit (verksamhet); audited when an `actor` is given (the CLI and the pages give one)."""
    code = code.strip().lower()
    if not code or not code.replace("-", "").isalnum() or not code.isascii():
        raise StaffError(
            f"invalid unit code {code!r}: use letters, digits and hyphens",
            swedish="Koden får bara innehålla a–z, siffror och bindestreck.",
            field="code",
        )
    if await find_unit(session, code=code) is not None:
        raise StaffError(
            f"unit {code!r} already exists",
            swedish=f"Det finns redan en verksamhet med koden {code}.",
            field="code",
        )
    unit = Unit(
        code=code,
        name=_unit_name(name),
        response_days=_days(response_days, field="response_days") or 10,
        checkin_delay_days=_days(checkin_delay_days, field="checkin_delay_days"),
    )
    session.add(unit)
    await session.flush()
    if actor is not None and now is not None:
        audit(
            session,
            actor=actor,
            action="unit.add",
            case=None,
            now=now,
            unit=unit.code,
            name=unit.name,
            response_days=unit.response_days,
        )
        await session.flush()
    return unit


async def update_unit(
    session: AsyncSession,
    *,
    code: str,
    actor: Actor,
    now: datetime,
    name: str | None = None,
    response_days: int | None = None,
    checkin_delay_days: int | None = None,
    clear_checkin_delay: bool = False,
    active: bool | None = None,
    within: Within = None,
) -> Unit:
    """Another display name, response-time target, check-in delay (cleared: the setting's) or
    active state; audited with what changed. An inactive unit is offered for no new case."""
    unit = await existing_unit(session, code=code, within=within)
    changes: dict[str, object] = {}
    wanted: dict[str, object] = {}
    if name is not None:
        wanted["name"] = _unit_name(name)
    if response_days is not None:
        wanted["response_days"] = _days(response_days, field="response_days")
    if checkin_delay_days is not None or clear_checkin_delay:
        wanted["checkin_delay_days"] = _days(checkin_delay_days, field="checkin_delay_days")
    if active is not None:
        wanted["active"] = active
    if not wanted:
        raise StaffError(
            "nothing to change: give --name, --response-days, --checkin-delay-days",
            swedish="Inget att ändra.",
        )
    for key, value in wanted.items():
        if getattr(unit, key) != value:
            changes[key] = [getattr(unit, key), value]
            setattr(unit, key, value)
    if changes:
        action = "unit.update"
        if set(changes) == {"active"}:
            action = "unit.enable" if unit.active else "unit.disable"
        audit(session, actor=actor, action=action, case=None, now=now, unit=unit.code, **changes)
    await session.flush()
    return unit


async def existing_unit(session: AsyncSession, *, code: str, within: Within = None) -> Unit:
    unit = await find_unit(session, code=code.strip().lower())
    if unit is None or (within is not None and unit.id not in within):
        if within is not None:
            raise OutOfReach(code)
        raise StaffError(f"no unit {code!r}; see `synpunkt units list`")
    return unit


async def list_units(session: AsyncSession, *, within: Within = None) -> list[Unit]:
    """Every unit, inactive ones too, by name; with `within`, only those."""
    rows = (await session.execute(select(Unit).order_by(col(Unit.name)))).scalars()
    return [u for u in rows if within is None or u.id in within]


async def find_unit(session: AsyncSession, *, code: str) -> Unit | None:
    return (await session.execute(select(Unit).where(col(Unit.code) == code))).scalar_one_or_none()


async def units_for_grant(
    session: AsyncSession, *, unit_codes: Sequence[str], all_units: bool, within: Within = None
) -> list[Unit]:
    """The units a user or token is given: `--unit` codes or `--all-units`, exactly one of them.

    An admin limited to some units (`within`) may give only those: nobody gets more than the
    admin who grants it."""
    if all_units and unit_codes:
        raise StaffError(
            "give either --unit or --all-units, not both",
            swedish="Välj antingen verksamheter eller alla verksamheter, inte båda.",
            field="units",
        )
    if not all_units and not unit_codes:
        raise StaffError(
            "give the units it may see: --unit UNIT (repeatable) or --all-units",
            swedish="Välj minst en verksamhet (eller alla).",
            field="units",
        )
    if all_units and within is not None:
        raise StaffError(
            "only an admin of every unit may give every unit",
            swedish="Bara en administratör för alla verksamheter kan ge alla verksamheter.",
            field="units",
        )
    units = []
    for code in unit_codes:
        unit = await find_unit(session, code=code)
        if unit is None:
            raise StaffError(
                f"unknown unit {code!r}; add it with `synpunkt units add`",
                swedish=f"Verksamheten {code} finns inte.",
                field="units",
            )
        if within is not None and unit.id not in within:
            raise StaffError(
                f"unit {code!r} is not one of yours",
                swedish=f"Du kan bara ge dina egna verksamheter, inte {unit.name}.",
                field="units",
            )
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
    within: Within = None,
) -> StaffUser:
    """A new user who sees `unit_codes`, or every unit with `all_units`: one of them is required.

    Audited when an `actor` is given (the CLI and the pages give one).
    """
    role = _role(role)
    username = username.strip()
    if not username:
        raise StaffError(
            "the username is empty", swedish="Skriv ett användarnamn.", field="username"
        )
    if await find_user(session, username=username) is not None:
        raise StaffError(
            f"user {username!r} already exists",
            swedish=f"Användarnamnet {username} är upptaget.",
            field="username",
        )
    units = await units_for_grant(
        session, unit_codes=unit_codes, all_units=all_units, within=within
    )
    if password is not None:
        check_password_rule(username, password)
    user = StaffUser(
        username=username,
        display_name=display_name.strip() or username,
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


async def existing_user(
    session: AsyncSession, username: str, *, within: Within = None
) -> StaffUser:
    """The user called `username`; with `within`, only one whose units all lie inside it (an admin
    limited to some units neither sees nor changes anyone who sees more than they do)."""
    user = await find_user(session, username=username)
    if user is not None and within is not None:
        assert user.id is not None
        if user.all_units or not set(await _user_unit_ids(session, user.id)) <= within:
            user = None
    if user is None:
        if within is not None:
            raise OutOfReach(username)
        raise StaffError(f"no user {username!r}; see `synpunkt users list`")
    return user


async def _user_unit_ids(session: AsyncSession, user_id: int) -> list[int]:
    rows = await session.execute(
        select(col(StaffUnit.unit_id)).where(col(StaffUnit.user_id) == user_id)
    )
    return list(rows.scalars())


def record_signin(user: StaffUser, *, now: datetime) -> None:
    """Every way of signing in calls this, so that admins see accounts nobody uses."""
    user.last_signin_at = now


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
    within: Within = None,
) -> StaffUser:
    """A new password; every session the user has ends."""
    user = await existing_user(session, username, within=within)
    check_password_rule(user.username, password)
    user.password_hash = await passwords.hash_async(password)
    _end_sessions(user)
    audit(session, actor=actor, action="staff.password", case=None, now=now, user=user.username)
    await session.flush()
    return user


def one_time_password() -> str:
    """A password an admin reads out once for a reset; the user should choose their own."""
    return secrets.token_urlsafe(12)


async def reset_password(
    session: AsyncSession,
    *,
    username: str,
    actor: Actor,
    now: datetime,
    passwords: Passwords = DEFAULT_PASSWORDS,
    within: Within = None,
) -> str:
    """A new random password for the user, returned to be shown once; their sessions end."""
    password = one_time_password()
    await set_password(
        session,
        username=username,
        password=password,
        actor=actor,
        now=now,
        passwords=passwords,
        within=within,
    )
    return password


async def set_active(
    session: AsyncSession,
    *,
    username: str,
    active: bool,
    actor: Actor,
    now: datetime,
    within: Within = None,
) -> StaffUser:
    """Disabled, the user can no longer sign in and every session they have ends; enabled, they
    may sign in again. Nobody disables themselves (an office must not lose its last admin so)."""
    user = await existing_user(session, username, within=within)
    if not active and actor.user_id is not None and actor.user_id == user.id:
        raise StaffError("you cannot disable yourself", swedish="Du kan inte stänga av dig själv.")
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
    email: str | None = None,
    within: Within = None,
) -> StaffUser:
    """Another role, other units (`unit_codes` or `all_units`, replacing the old ones), another
    display name, or another address for the user's notifications (`email`; empty: none, so no
    notifications). A change of role or units ends every session the user has."""
    if role is None and not unit_codes and not all_units and display_name is None and email is None:
        raise StaffError(
            "nothing to change: give --role, --unit/--all-units, --display-name or --email",
            swedish="Inget att ändra.",
        )
    user = await existing_user(session, username, within=within)
    assert user.id is not None
    # Everything is checked before anything changes: a refused change leaves the user as it was.
    new_role = _role(role) if role is not None else None
    units = None
    if unit_codes or all_units:
        units = await units_for_grant(
            session, unit_codes=unit_codes, all_units=all_units, within=within
        )
    if display_name is not None and not display_name.strip():
        raise StaffError(
            "the display name is empty", swedish="Skriv ett namn.", field="display_name"
        )
    address = None if email is None else email.strip() or None
    if address is not None and not is_mail_address(address):
        raise StaffError(
            f"not an e-mail address: {address!r}",
            swedish="Skriv en e-postadress som namn@exempel.se, eller lämna fältet tomt.",
            field="email",
        )
    changes: dict[str, object] = {}
    if new_role is not None and new_role != user.role:
        changes["role"] = [user.role, new_role.value]
        user.role = new_role
    if units is not None:
        before = "*" if user.all_units else await user_unit_codes(session, user_id=user.id)
        after = "*" if all_units else sorted({u.code for u in units})
        if before != after:
            changes["units"] = [before, after]
            await session.execute(delete(StaffUnit).where(col(StaffUnit.user_id) == user.id))
            for unit_id in sorted({u.id for u in units if u.id is not None}):
                session.add(StaffUnit(user_id=user.id, unit_id=unit_id))
            user.all_units = all_units
    if display_name is not None and display_name.strip() != user.display_name:
        changes["display_name"] = [user.display_name, display_name.strip()]
        user.display_name = display_name.strip()
    if email is not None and address != user.email:
        changes["email"] = [user.email, address]
        user.email = address
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
    id: int
    username: str
    display_name: str
    role: str
    active: bool
    units: list[str] | None  # None: every unit
    password: bool
    oidc: bool
    created_at: datetime
    last_signin_at: datetime | None = None
    unit_names: list[str] | None = None  # the units' display names, in the order of `units`


async def list_users(session: AsyncSession, *, within: Within = None) -> list[UserRow]:
    """Every user by username; with `within`, only those whose units all lie inside it."""
    units: dict[int, list[Unit]] = {}
    pairs = await session.execute(
        select(col(StaffUnit.user_id), Unit)
        .join(Unit, col(Unit.id) == col(StaffUnit.unit_id))
        .order_by(col(Unit.code))
    )
    for user_id, unit in pairs:
        units.setdefault(user_id, []).append(unit)
    users = (await session.execute(select(StaffUser).order_by(col(StaffUser.username)))).scalars()
    if within is not None:
        users = [  # type: ignore[assignment]
            u
            for u in users
            if not u.all_units and {x.id for x in units.get(u.id or 0, [])} <= within
        ]
    return [
        UserRow(
            id=user.id or 0,
            username=user.username,
            display_name=user.display_name,
            role=user.role,
            active=user.active,
            units=None if user.all_units else [u.code for u in units.get(user.id or 0, [])],
            unit_names=None if user.all_units else [u.name for u in units.get(user.id or 0, [])],
            password=user.password_hash is not None,
            oidc=user.oidc_subject is not None,
            created_at=user.created_at,
            last_signin_at=user.last_signin_at,
        )
        for user in users
    ]
