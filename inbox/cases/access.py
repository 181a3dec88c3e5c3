"""Who may see and do what: a `Scope` built from a staff user or an API token, and the roles
each kind of action needs.

A principal sees the cases of its units (`--unit`) or of every unit (`--all-units`); registrars
and admins also see cases with no unit yet, to triage them. Core functions take the scope and
refuse what lies outside it: `NotFound` (404) for what the principal may not know exists,
`Forbidden` (403) for a role that may not act. `NEEDS` is the one table of roles per action; the
web layer's typed dependencies and the route matrix test are built on it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import and_, false, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from inbox.core.models import (
    ApiToken,
    ApiTokenUnit,
    Case,
    CheckIn,
    Decision,
    Role,
    StaffUnit,
    StaffUser,
    Unit,
)

TRIAGE_ROLES = frozenset({Role.ADMIN, Role.REGISTRAR})
WRITE_ROLES = frozenset({Role.ADMIN, Role.REGISTRAR, Role.CASEWORKER})


class Need(StrEnum):
    """What an action needs of the principal's role."""

    READ = "read"  # read cases, decisions and statistics in scope: every role
    WRITE = "write"  # answer, note, triage, close, register, merge, split, decisions: not viewers
    REGISTRAR = "registrar"  # the intake ledger and channel health: registrars and admins
    ADMIN = "admin"  # the audit trail and reply templates: admins
    # A protected submitter's contact details (OSL 26 kap. 5 §): registrars and admins. Not a
    # route's need: the core functions hide what the scope may not see (`cases.registry`).
    IDENTITY = "identity"


NEEDS: dict[Need, frozenset[str]] = {
    Need.READ: frozenset(Role),
    Need.WRITE: WRITE_ROLES,
    Need.REGISTRAR: TRIAGE_ROLES,
    Need.ADMIN: frozenset({Role.ADMIN}),
    Need.IDENTITY: TRIAGE_ROLES,
}


class NotFound(LookupError):
    """Missing, or outside the principal's scope: the two are not told apart (404)."""


class Forbidden(PermissionError):
    """The principal's role may not do this, or not in that unit (403)."""


@dataclass(frozen=True, slots=True)
class Scope:
    """The cases someone may see: `unit_ids` (None for every unit) plus, maybe, unit-less ones."""

    role: str
    unit_ids: frozenset[int] | None
    sees_unassigned: bool

    def may(self, need: Need) -> bool:
        return self.role in NEEDS[need]

    def require(self, need: Need) -> None:
        """Raises `Forbidden` unless the role may do what `need` names."""
        if not self.may(need):
            raise Forbidden(f"the role {self.role} may not do this ({need} is needed)")

    def require_unit(self, unit_id: int | None) -> None:
        """Raises `Forbidden` when the principal may not act in (register into) this unit."""
        if not self.allows_unit(unit_id):
            raise Forbidden("outside the units this principal may act in")

    @property
    def can_write(self) -> bool:
        """Answer, note, triage, close: everyone but a viewer (läsare)."""
        return self.may(Need.WRITE)

    @property
    def is_admin(self) -> bool:
        return self.may(Need.ADMIN)

    @property
    def sees_channels(self) -> bool:
        return self.may(Need.REGISTRAR)

    @property
    def keeps_registry(self) -> bool:
        """Registrars and admins: they take secrecy markings and identity protections away."""
        return self.may(Need.REGISTRAR)

    @property
    def sees_everything(self) -> bool:
        """Every unit and the cases with none: what records that belong to no case need."""
        return self.unit_ids is None and self.sees_unassigned

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

    def linked_condition(self) -> Any:
        """For records that may belong to a case (audit events, outbox rows), outer-joined to
        `cases`: those whose case is in scope; those with no case (or whose case is gone) carry no
        unit to judge by, so only a principal that sees everything gets them."""
        if self.sees_everything:
            return true()
        return and_(col(Case.id).is_not(None), self.condition())

    def allows_unit(self, unit_id: int | None) -> bool:
        if unit_id is None:
            return self.sees_unassigned
        return self.unit_ids is None or unit_id in self.unit_ids


# Everything, for the system itself (CLI, worker, reports) — never for a person or a token.
EVERYTHING = Scope(role=Role.ADMIN, unit_ids=None, sees_unassigned=True)


def granted(*, role: str, all_units: bool, unit_ids: set[int] | frozenset[int]) -> Scope:
    """The one rule for users and tokens alike: every unit with `all_units`, else the units given;
    registrars and admins also see the cases with no unit."""
    return Scope(
        role=role,
        unit_ids=None if all_units else frozenset(unit_ids),
        sees_unassigned=role in TRIAGE_ROLES,
    )


async def scope_for_user(session: AsyncSession, *, user: StaffUser) -> Scope:
    return (await scopes_for_users(session, users=[user]))[user.id or 0]


async def scopes_for_users(session: AsyncSession, *, users: list[StaffUser]) -> dict[int, Scope]:
    """`scope_for_user` for many users in one query (the case page's list of assignees)."""
    ids = [u.id for u in users if u.id is not None and not u.all_units]
    units: dict[int, set[int]] = {i: set() for i in ids}
    if ids:
        rows = await session.execute(
            select(col(StaffUnit.user_id), col(StaffUnit.unit_id)).where(
                col(StaffUnit.user_id).in_(ids)
            )
        )
        for user_id, unit_id in rows.all():
            units[user_id].add(unit_id)
    return {
        u.id or 0: granted(role=u.role, all_units=u.all_units, unit_ids=units.get(u.id or 0, set()))
        for u in users
    }


def may_be_assigned(scope: Scope, unit_id: int | None) -> bool:
    """A case goes only to someone who sees it where it is and may act on it (not a viewer)."""
    return scope.may(Need.WRITE) and scope.allows_unit(unit_id)


def may_sign_in(user: StaffUser, *, oidc: bool) -> bool:
    """Whether the user can sign in at all: active, and with a password, an OpenID Connect login
    already bound, or (`oidc`: the installation offers it) the municipality's login to come."""
    return user.active and (user.password_hash is not None or user.oidc_subject is not None or oidc)


async def kept_from(session: AsyncSession, case: Case) -> int | None:
    """The user a call-back case must not go to: the client asked (in the check-in) to talk to
    someone other than the handläggare who registered the decision (`Decision.registered_by` is
    `user:<id>`). None when there is no such wish or it names no user."""
    if not case.flag_other_handler:
        return None
    row = (
        await session.execute(
            select(col(Decision.registered_by))
            .join(CheckIn, col(CheckIn.decision_id) == col(Decision.id))
            .where(col(CheckIn.case_id) == case.id)
        )
    ).first()
    kind, _, number = (row[0] if row else "").partition(":")
    return int(number) if kind == "user" and number.isascii() and number.isdigit() else None


def _shown_name(user: StaffUser) -> str:
    return user.display_name or user.username


async def assignable_users(
    session: AsyncSession,
    case: Case | None = None,
    *,
    unit_ids: Iterable[int | None] = (),
    oidc: bool,
) -> list[StaffUser]:
    """The people a case may be given to, by display name: active users who can sign in
    (`may_sign_in`) and may see and act on it where it is (`may_be_assigned`); for a call-back
    case, not the handläggare the client would rather not talk to (`kept_from`).

    For one `case`; or, for several cases at once (bulk assignment), `unit_ids`, an iterable of
    their unit ids (None for a case with no unit): those who may act on every one of them.
    """
    units: set[int | None] = set(unit_ids)
    avoided = None
    if case is not None:
        units.add(case.unit_id)
        avoided = await kept_from(session, case)
    rows = await session.execute(select(StaffUser).where(col(StaffUser.active).is_(True)))
    users = [
        u
        for u in rows.scalars()
        if u.id is not None and u.id != avoided and may_sign_in(u, oidc=oidc)
    ]
    scopes = await scopes_for_users(session, users=users)
    chosen = [u for u in users if all(may_be_assigned(scopes[u.id or 0], unit) for unit in units)]
    return sorted(chosen, key=lambda u: (_shown_name(u).casefold(), u.username))


async def scope_for_token(session: AsyncSession, *, token: ApiToken) -> Scope:
    units: set[int] = set()
    if not token.all_units:
        rows = await session.execute(
            select(col(ApiTokenUnit.unit_id)).where(col(ApiTokenUnit.token_id) == token.id)
        )
        units = set(rows.scalars())
    return granted(role=token.role, all_units=token.all_units, unit_ids=units)


async def active_units(session: AsyncSession, scope: Scope | None = None) -> list[Unit]:
    """The active units by name; with `scope`, only those it may act in (forms, the bot)."""
    rows = await session.execute(
        select(Unit).where(col(Unit.active).is_(True)).order_by(col(Unit.name))
    )
    return [u for u in rows.scalars() if scope is None or scope.allows_unit(u.id)]
