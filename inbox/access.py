"""Who may see and change which cases: a `Scope` built from a staff user or an API token.

A user sees the cases of the units they belong to; registrars and admins also see cases with no
unit yet, to triage them. The query layer (`inbox.cases`) applies the scope to every lookup, so a
case outside it is simply not found — for pages and API alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import false, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from inbox.models import ApiToken, ApiTokenUnit, Case, Role, StaffUnit, StaffUser

TRIAGE_ROLES = frozenset({Role.ADMIN, Role.REGISTRAR})
WRITE_ROLES = frozenset({Role.ADMIN, Role.REGISTRAR, Role.CASEWORKER})


@dataclass(frozen=True, slots=True)
class Scope:
    """The cases someone may see: `unit_ids` (None for every unit) plus, maybe, unit-less ones."""

    role: str
    unit_ids: frozenset[int] | None
    sees_unassigned: bool

    @property
    def can_write(self) -> bool:
        """Answer, note, triage, close: everyone but a viewer (läsare)."""
        return self.role in WRITE_ROLES

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    @property
    def sees_channels(self) -> bool:
        return self.role in TRIAGE_ROLES

    def condition(self, unit_id: Any = None) -> Any:
        """A WHERE clause on `cases` that keeps only the cases in scope (or on another `unit_id`
        column: the cached counts per unit use the same rule)."""
        unit = col(Case.unit_id) if unit_id is None else unit_id
        parts = []
        if self.unit_ids is None:
            parts.append(unit.is_not(None))
        elif self.unit_ids:
            parts.append(unit.in_(sorted(self.unit_ids)))
        if self.sees_unassigned:
            parts.append(unit.is_(None))
        if not parts:
            return false()
        if self.unit_ids is None and self.sees_unassigned:
            return true()
        return or_(*parts)

    def allows_unit(self, unit_id: int | None) -> bool:
        if unit_id is None:
            return self.sees_unassigned
        return self.unit_ids is None or unit_id in self.unit_ids


# Everything, for the system itself (CLI, worker, reports) — never for a person or a token.
EVERYTHING = Scope(role=Role.ADMIN, unit_ids=None, sees_unassigned=True)


async def scope_for_user(session: AsyncSession, *, user: StaffUser) -> Scope:
    """The user's role and units: every unit with `all_units`, else their `StaffUnit` rows."""
    units = None
    if not user.all_units:
        rows = await session.execute(
            select(col(StaffUnit.unit_id)).where(col(StaffUnit.user_id) == user.id)
        )
        units = frozenset(rows.scalars())
    return Scope(role=user.role, unit_ids=units, sees_unassigned=user.role in TRIAGE_ROLES)


async def scope_for_token(session: AsyncSession, *, token: ApiToken) -> Scope:
    """The same rule as for users: every unit with `all_units`, else its `ApiTokenUnit` rows."""
    units = None
    if not token.all_units:
        rows = await session.execute(
            select(col(ApiTokenUnit.unit_id)).where(col(ApiTokenUnit.token_id) == token.id)
        )
        units = frozenset(rows.scalars())
    return Scope(role=token.role, unit_ids=units, sees_unassigned=token.role in TRIAGE_ROLES)
