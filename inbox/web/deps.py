"""Typed principals: the only way an endpoint learns who is asking and what they may do.

An API endpoint takes `ApiReader`, `ApiWriter`, `ApiRegistrar` or `ApiAdmin` (a bearer token); a
staff page takes `StaffReader`, `StaffWriter`, `StaffRegistrar` or `StaffAdmin` (the signed-in
user). Each checks the role against `inbox.cases.access.NEEDS` before the endpoint runs, so a route
cannot forget the role check; the scope it carries is what the core functions use to refuse
objects outside it. The route matrix test reads `need_of` to hold every route to its table.
What the app was given rather than who is asking (the clock, the policies, the sessions) a route
takes from `inbox.web.state`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox.cases.access import Need, Scope, scope_for_token
from inbox.core.audit import Actor
from inbox.core.db import unit_of_work
from inbox.core.models import ApiToken
from inbox.staff.tokens import authenticate, record_use, use_due
from inbox.web.auth.sessions import ReadSession, Session, Staff, client_addr, staff_dep
from inbox.web.state import Clock, Sessions

bearer = HTTPBearer(auto_error=False, description="An API token from `synpunkt tokens create`")
_NEED = "__synpunkt_need__"


Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated API token, the cases it may see, and how it appears in the audit trail."""

    token: ApiToken
    scope: Scope
    actor: Actor

    @property
    def id(self) -> int | None:
        return self.token.id

    @property
    def name(self) -> str:
        return self.token.name


async def _caller(
    request: Request,
    session: AsyncSession,
    credentials: HTTPAuthorizationCredentials | None,
    *,
    clock: Callable[[], datetime],
    sessions: async_sessionmaker[AsyncSession],
    read_only: bool,
) -> Caller:
    token = None
    now = clock()
    if credentials is not None and credentials.scheme.lower() == "bearer":
        token = await authenticate(
            session, token=credentials.credentials, now=now, touch=not read_only
        )
    if token is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="A valid API token is required",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if read_only and token.id is not None and use_due(token, now=now):
        # The read session must not write, so the (at most once a minute) use is recorded in a
        # short write transaction of its own.
        async with unit_of_work(sessions) as writer:
            await record_use(writer, token_id=token.id, now=now)
    return Caller(
        token=token,
        scope=await scope_for_token(session, token=token),
        actor=Actor(name=f"token:{token.id}", remote_addr=client_addr(request)),
    )


def _mark(dependency: Callable[..., Awaitable[Any]], need: Need) -> Any:
    setattr(dependency, _NEED, need)
    return dependency


def _api(need: Need, *, read_only: bool = False) -> Any:
    if read_only:

        async def read_caller(
            request: Request,
            session: ReadSession,
            credentials: Credentials,
            clock: Clock,
            sessions: Sessions,
        ) -> Caller:
            caller = await _caller(
                request, session, credentials, clock=clock, sessions=sessions, read_only=True
            )
            caller.scope.require(need)
            return caller

        return _mark(read_caller, need)

    async def caller(
        request: Request,
        session: Session,
        credentials: Credentials,
        clock: Clock,
        sessions: Sessions,
    ) -> Caller:
        found = await _caller(
            request, session, credentials, clock=clock, sessions=sessions, read_only=False
        )
        found.scope.require(need)
        return found

    return _mark(caller, need)


def _staff(need: Need) -> Any:
    async def staff(request: Request, session: Session) -> Staff:
        found = await staff_dep(request, session)
        found.scope.require(need)
        return found

    return _mark(staff, need)


def need_of(dependency: object) -> Need | None:
    """The `Need` a principal dependency checks, or None for any other callable."""
    return getattr(dependency, _NEED, None)


# The API: every route takes exactly one of these.
ApiReader = Annotated[Caller, Depends(_api(Need.READ))]
ApiListReader = Annotated[Caller, Depends(_api(Need.READ, read_only=True))]  # lists and counts
ApiWriter = Annotated[Caller, Depends(_api(Need.WRITE))]
ApiRegistrar = Annotated[Caller, Depends(_api(Need.REGISTRAR))]
ApiAdmin = Annotated[Caller, Depends(_api(Need.ADMIN))]

# The staff pages: every page that needs a signed-in user takes exactly one of these.
StaffReader = Annotated[Staff, Depends(_staff(Need.READ))]
StaffWriter = Annotated[Staff, Depends(_staff(Need.WRITE))]
StaffRegistrar = Annotated[Staff, Depends(_staff(Need.REGISTRAR))]
StaffAdmin = Annotated[Staff, Depends(_staff(Need.ADMIN))]
