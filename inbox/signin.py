"""Signing staff in with a local password, throttled per username and per address.

Failed attempts are rows in the database, so the limit holds across every web process. While a
username or an address is over its limit, even the right password is refused, and the answer does
not say whether the username exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from inbox.models import SignInFailure, StaffUser
from inbox.staff import verify_password

# Argon2 verification against a fixed hash keeps unknown usernames as slow as known ones.
_DUMMY_HASH = (
    "$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHRzb21lc2FsdA$"
    "0sQsl4VCrKQ0YVnQ3FhYRnS0Uy8YVDpz+9ZVQUr8vAE"
)


@dataclass(frozen=True, slots=True)
class Throttle:
    window: timedelta = timedelta(minutes=15)
    per_user: int = 5
    per_address: int = 20


class SignInRefused(Exception):
    """Wrong username or password, or an inactive account (deliberately not told apart)."""


class SignInThrottled(SignInRefused):
    """Too many failures lately for this username or address."""


async def _failures(session: AsyncSession, *, key: str, since: datetime) -> int:
    count = await session.execute(
        select(func.count())
        .select_from(SignInFailure)
        .where(col(SignInFailure.key) == key, col(SignInFailure.at) > since)
    )
    return int(count.scalar_one())


async def sign_in(
    session: AsyncSession,
    *,
    username: str,
    password: str,
    remote_addr: str | None,
    now: datetime,
    throttle: Throttle = Throttle(),
) -> StaffUser:
    """The user if the password is right and nobody is over the limit; flushes a failure if not."""
    username = username.strip()
    user_key = f"user:{username.lower()}"[:200]
    addr_key = f"addr:{remote_addr or '-'}"
    since = now - throttle.window
    if (
        await _failures(session, key=user_key, since=since) >= throttle.per_user
        or await _failures(session, key=addr_key, since=since) >= throttle.per_address
    ):
        raise SignInThrottled("too many failed sign-ins")
    user = (
        await session.execute(select(StaffUser).where(col(StaffUser.username) == username))
    ).scalar_one_or_none()
    ok = verify_password(
        password, user.password_hash if user and user.password_hash else _DUMMY_HASH
    )
    if user is None or not user.active or not user.password_hash or not ok:
        session.add_all([SignInFailure(key=user_key, at=now), SignInFailure(key=addr_key, at=now)])
        await session.flush()
        raise SignInRefused("wrong username or password")
    # A success forgives this user's failures (not the address's) and forgets old rows.
    await session.execute(
        delete(SignInFailure).where(
            (col(SignInFailure.key) == user_key) | (col(SignInFailure.at) <= since)
        )
    )
    return user
