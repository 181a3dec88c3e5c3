"""API tokens for integrations: shown once at creation, stored only as a SHA-256 hash; listed and
revoked by name.

Tokens are long random strings, so a fast hash is enough (no password stretching needed) and lets
every request be checked with one indexed lookup. A revoked token stops working at its next request.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from inbox.core.audit import Actor, audit
from inbox.core.models import ApiToken, ApiTokenUnit, Role, Unit
from inbox.staff.users import OutOfReach, StaffError, Within, units_for_grant

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
    actor: Actor | None = None,
    within: Within = None,
) -> tuple[ApiToken, str]:
    """A new token row and the token itself, which is never stored and cannot be shown again.

    The token sees `unit_codes` or, with `all_units`, every unit (an organisation-wide
    integration); as a registrar or admin also the cases with no unit yet. One is required.
    Audited when an `actor` is given (the CLI and the pages give one).
    """
    try:
        role = Role(role)
    except ValueError:
        allowed = ", ".join(r.value for r in Role)
        raise StaffError(
            f"unknown role {role!r}; choose one of {allowed}", swedish="Välj en roll.", field="role"
        ) from None
    name = name.strip()
    if not name:
        raise StaffError("the token's name is empty", swedish="Skriv ett namn.", field="name")
    units = await units_for_grant(
        session, unit_codes=unit_codes, all_units=all_units, within=within
    )
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
    if actor is not None:
        audit(
            session,
            actor=actor,
            action="token.create",
            case=None,
            now=now,
            token=row.id,
            name=name,
            role=role.value,
            units="*" if all_units else sorted(u.code for u in units),
        )
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


@dataclass(frozen=True, slots=True)
class TokenRow:
    id: int
    name: str
    role: str
    units: list[str] | None  # None: every unit
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    unit_names: list[str] | None = None  # the units' display names, in the order of `units`


async def _token_units(session: AsyncSession) -> dict[int, list[Unit]]:
    units: dict[int, list[Unit]] = {}
    pairs = await session.execute(
        select(col(ApiTokenUnit.token_id), Unit)
        .join(Unit, col(Unit.id) == col(ApiTokenUnit.unit_id))
        .order_by(col(Unit.code))
    )
    for token_id, unit in pairs:
        units.setdefault(token_id, []).append(unit)
    return units


def _reached(token: ApiToken, units: list[Unit], within: Within) -> bool:
    return within is None or (not token.all_units and {u.id for u in units} <= within)


async def list_tokens(session: AsyncSession, *, within: Within = None) -> list[TokenRow]:
    """Every token, revoked ones too (they stay for the audit trail), oldest first; with `within`,
    only those whose units all lie inside it."""
    units = await _token_units(session)
    tokens = (await session.execute(select(ApiToken).order_by(col(ApiToken.id)))).scalars()
    return [
        TokenRow(
            id=token.id or 0,
            name=token.name,
            role=token.role,
            units=None if token.all_units else [u.code for u in units.get(token.id or 0, [])],
            unit_names=None if token.all_units else [u.name for u in units.get(token.id or 0, [])],
            created_at=token.created_at,
            last_used_at=token.last_used_at,
            revoked_at=token.revoked_at,
        )
        for token in tokens
        if _reached(token, units.get(token.id or 0, []), within)
    ]


async def revoke_token(
    session: AsyncSession, *, token_id: int, actor: Actor, now: datetime, within: Within = None
) -> ApiToken:
    """Revokes one token by id (the admin page's button); revoking a revoked token changes nothing."""
    token = await session.get(ApiToken, token_id)
    units = (await _token_units(session)).get(token_id, []) if token is not None else []
    if token is None or not _reached(token, units, within):
        raise OutOfReach(str(token_id))
    if token.revoked_at is None:
        _revoke(session, token, actor=actor, now=now)
        await session.flush()
    return token


def _revoke(session: AsyncSession, token: ApiToken, *, actor: Actor, now: datetime) -> None:
    token.revoked_at = now
    audit(
        session,
        actor=actor,
        action="token.revoke",
        case=None,
        now=now,
        token=token.id,
        name=token.name,
    )


async def revoke_tokens(session: AsyncSession, *, name: str, actor: Actor, now: datetime) -> int:
    """Revokes every live token called `name` (names need not be unique) and returns how many."""
    live = (
        await session.execute(
            select(ApiToken).where(col(ApiToken.name) == name, col(ApiToken.revoked_at).is_(None))
        )
    ).scalars()
    revoked = 0
    for token in live:
        _revoke(session, token, actor=actor, now=now)
        revoked += 1
    if not revoked:
        raise StaffError(f"no live token {name!r}; see `synpunkt tokens list`")
    await session.flush()
    return revoked
