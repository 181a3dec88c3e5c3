"""API tokens for integrations: shown once at creation, stored only as a SHA-256 hash.

Tokens are long random strings, so a fast hash is enough (no password stretching needed) and lets
every request be checked with one indexed lookup.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from inbox.models import ApiToken, ApiTokenUnit, Role
from inbox.staff import StaffError, units_for_grant

TOKEN_PREFIX = "spk_"
# `last_used_at` is for spotting unused tokens, so minute precision is plenty; writing it on every
# request would make every API read a write and a commit.
LAST_USED_PRECISION = timedelta(minutes=1)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_token(
    session: AsyncSession,
    *,
    name: str,
    now: datetime,
    role: str = Role.REGISTRAR,
    unit_codes: Sequence[str] = (),
    all_units: bool = False,
) -> tuple[ApiToken, str]:
    """A new token row and the token itself, which is never stored and cannot be shown again.

    The token sees `unit_codes` or, with `all_units`, every unit (an organisation-wide
    integration); as a registrar or admin also the cases with no unit yet. One is required.
    """
    try:
        role = Role(role)
    except ValueError:
        allowed = ", ".join(r.value for r in Role)
        raise StaffError(f"unknown role {role!r}; choose one of {allowed}") from None
    units = await units_for_grant(session, unit_codes=unit_codes, all_units=all_units)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        name=name, token_hash=hash_token(token), role=role, created_at=now, all_units=all_units
    )
    session.add(row)
    await session.flush()
    assert row.id is not None
    for unit in units:
        assert unit.id is not None
        session.add(ApiTokenUnit(token_id=row.id, unit_id=unit.id))
    await session.flush()
    return row, token


async def authenticate(
    session: AsyncSession, *, token: str, now: datetime, touch: bool = True
) -> ApiToken | None:
    """The live token row for `token`; with `touch`, `last_used_at` is set when `use_due`."""
    row = (
        await session.execute(select(ApiToken).where(col(ApiToken.token_hash) == hash_token(token)))
    ).scalar_one_or_none()
    if row is None or row.revoked_at is not None:
        return None
    if touch and use_due(row, now=now):
        row.last_used_at = now
    return row


def use_due(token: ApiToken, *, now: datetime) -> bool:
    """Whether `last_used_at` is older than its precision, so a request should record its use."""
    return token.last_used_at is None or now - token.last_used_at >= LAST_USED_PRECISION


async def record_use(session: AsyncSession, *, token_id: int, now: datetime) -> None:
    """Set `last_used_at` without loading the row: for callers that read in another session."""
    await session.execute(
        update(ApiToken).where(col(ApiToken.id) == token_id).values(last_used_at=now)
    )
