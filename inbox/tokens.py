"""API tokens for integrations: shown once at creation, stored only as a SHA-256 hash.

Tokens are long random strings, so a fast hash is enough (no password stretching needed) and lets
every request be checked with one indexed lookup.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from inbox.models import ApiToken, Role

TOKEN_PREFIX = "spk_"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_token(
    session: AsyncSession, *, name: str, now: datetime, role: Role = Role.REGISTRAR
) -> tuple[ApiToken, str]:
    """A new token row and the token itself, which is never stored and cannot be shown again."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(name=name, token_hash=hash_token(token), role=role, created_at=now)
    session.add(row)
    await session.flush()
    return row, token


async def authenticate(session: AsyncSession, *, token: str, now: datetime) -> ApiToken | None:
    row = (
        await session.execute(select(ApiToken).where(col(ApiToken.token_hash) == hash_token(token)))
    ).scalar_one_or_none()
    if row is None or row.revoked_at is not None:
        return None
    row.last_used_at = now
    return row
