"""Signing staff in with a local password, throttled so that guessing stops and an office does not.

Failures are rows in the database, so the limits hold across every web process. They are counted
under three keys:

- `pair:<address>|<username>`: one address guessing one account; the tight limit.
- `user:<username>`: one account guessed from many addresses; higher, so that someone elsewhere
  needs many failures before the account is refused everywhere.
- `addr:<address>`: failures with usernames that do not exist or cannot sign in, which is what an
  address spraying guesses produces; higher still. A colleague's mistyped password never counts
  against the office's address, and a success does not clear the address for anyone else.

While a key is over its limit even the right password is refused, and the answer never tells
whether the username exists (unknown names are counted under the first two keys as well).

An attempt is two short transactions with the slow argon2 check between them, outside any lock and
off the event loop: the first counts and, when every key is under its limit, records the attempt as
a failure in advance; the second, after a right password, forgives the user's failures. On
PostgreSQL the first takes an advisory lock per key, so concurrent attempts are counted one after
another (on SQLite, BEGIN IMMEDIATE serialises them): sixteen concurrent guesses at one account get
five password checks, not sixteen.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from inbox.core.audit import Actor, audit
from inbox.core.db import unit_of_work
from inbox.core.metrics import METRICS
from inbox.core.models import SignInFailure, StaffUser
from inbox.staff.passwords import DEFAULT_PASSWORDS, Passwords
from inbox.staff.users import record_signin


@dataclass(frozen=True, slots=True)
class Throttle:
    """Failures allowed per `window` before a key refuses every attempt until they age out."""

    window: timedelta = timedelta(minutes=15)
    per_address_user: int = 5
    per_user: int = 20
    per_address: int = 30  # failures with unknown usernames


class SignInRefused(Exception):
    """Wrong username or password, or an inactive account (deliberately not told apart)."""


class SignInThrottled(SignInRefused):
    """Too many failed sign-ins lately for this username, this address, or both together."""


@dataclass(frozen=True, slots=True)
class Keys:
    user: str
    pair: str
    address: str


@dataclass(frozen=True, slots=True)
class Attempt:
    """An admitted attempt, already counted as a failure; `user_id` None when it cannot succeed."""

    keys: Keys
    user_id: int | None
    password_hash: str | None


def client_key(remote_addr: str | None) -> str:
    """The address as counted: an IPv6 client by its /64 (one subscriber's whole network)."""
    if not remote_addr:
        return "-"
    try:
        address = ipaddress.ip_address(remote_addr)
    except ValueError:
        return remote_addr[:64]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def throttle_keys(username: str, remote_addr: str | None) -> Keys:
    name = username.strip().casefold()
    addr = client_key(remote_addr)
    return Keys(
        user=f"user:{name}"[:200], pair=f"pair:{addr}|{name}"[:200], address=f"addr:{addr}"[:200]
    )


def _lock_id(key: str) -> int:
    digest = hashlib.blake2b(f"synpunkt.signin:{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


async def _lock(session: AsyncSession, keys: Iterable[str]) -> None:
    """PostgreSQL: an advisory lock per key until the transaction ends, always taken in the same
    order (so two attempts never wait for each other crosswise)."""
    if session.get_bind().dialect.name != "postgresql":
        return  # SQLite: the transaction's write lock (BEGIN IMMEDIATE) already serialises
    for lock_id in sorted({_lock_id(key) for key in keys}):
        await session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": lock_id})


async def begin_attempt(
    session: AsyncSession,
    *,
    username: str,
    remote_addr: str | None,
    now: datetime,
    throttle: Throttle,
) -> Attempt:
    """Counts the keys and records the attempt as a failure, or raises `SignInThrottled`.

    Commit it before the password is checked: the count must be visible to the next attempt.
    """
    keys = throttle_keys(username, remote_addr)
    await _lock(session, (keys.user, keys.pair, keys.address))
    counts = dict(
        (
            await session.execute(
                select(col(SignInFailure.key), func.count())
                .where(
                    col(SignInFailure.key).in_((keys.user, keys.pair, keys.address)),
                    col(SignInFailure.at) > now - throttle.window,
                )
                .group_by(col(SignInFailure.key))
            )
        ).all()
    )
    if (
        counts.get(keys.pair, 0) >= throttle.per_address_user
        or counts.get(keys.user, 0) >= throttle.per_user
        or counts.get(keys.address, 0) >= throttle.per_address
    ):
        METRICS.signin_failures.labels("throttled").inc()
        raise SignInThrottled("too many failed sign-ins")
    user = (
        await session.execute(select(StaffUser).where(col(StaffUser.username) == username.strip()))
    ).scalar_one_or_none()
    usable = user is not None and user.active and user.password_hash is not None
    failures = [SignInFailure(key=keys.user, at=now), SignInFailure(key=keys.pair, at=now)]
    if not usable:
        failures.append(SignInFailure(key=keys.address, at=now))
    session.add_all(failures)
    await session.flush()
    if not usable or user is None:
        return Attempt(keys=keys, user_id=None, password_hash=None)
    return Attempt(keys=keys, user_id=user.id, password_hash=user.password_hash)


async def finish_attempt(
    session: AsyncSession,
    *,
    attempt: Attempt,
    remote_addr: str | None,
    now: datetime,
    throttle: Throttle,
) -> StaffUser:
    """After the right password: the user, with their failures forgiven (not the address's)."""
    user = await session.get(StaffUser, attempt.user_id) if attempt.user_id is not None else None
    if user is None or not user.active or user.password_hash != attempt.password_hash:
        raise SignInRefused("the account changed during sign-in")
    await session.execute(
        delete(SignInFailure).where(
            col(SignInFailure.key).in_((attempt.keys.user, attempt.keys.pair))
            | (col(SignInFailure.at) <= now - throttle.window)
        )
    )
    record_signin(user, now=now)
    actor = Actor(name=f"user:{user.id}", user_id=user.id, remote_addr=remote_addr)
    audit(session, actor=actor, action="signin.password", case=None, now=now)
    await session.flush()
    return user


async def sign_in(
    sessions: async_sessionmaker[AsyncSession],
    *,
    username: str,
    password: str,
    remote_addr: str | None,
    now: datetime,
    throttle: Throttle = Throttle(),
    passwords: Passwords = DEFAULT_PASSWORDS,
) -> StaffUser:
    """The user if the password is right and no key is over its limit.

    Takes the session factory, not a session: it commits the counted attempt before the check.
    """
    async with unit_of_work(sessions) as session:
        attempt = await begin_attempt(
            session, username=username, remote_addr=remote_addr, now=now, throttle=throttle
        )
    ok = await passwords.verify_async(password, attempt.password_hash)
    if not ok or attempt.user_id is None:
        METRICS.signin_failures.labels("wrong").inc()
        raise SignInRefused("wrong username or password")
    async with unit_of_work(sessions) as session:
        return await finish_attempt(
            session, attempt=attempt, remote_addr=remote_addr, now=now, throttle=throttle
        )
