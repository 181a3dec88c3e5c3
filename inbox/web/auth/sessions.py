"""Staff sessions for the pages: the signed session cookie, who is asking, and the per-request
unit of work.

The session (Starlette's `SessionMiddleware`, signed with itsdangerous) holds only the user's id,
their `session_version` and the CSRF token. Every request loads the user again and refuses a session
whose version is not the user's: signing out, a new password, deactivation and a change of role or
units raise the version (`inbox.staff.users`), which ends every session of that user at once.
A route gets the signed-in user only through a typed principal from `inbox.web.deps`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.cases.access import Scope, scope_for_user
from inbox.core.audit import Actor
from inbox.core.models import StaffUser
from inbox.web.state import ReadSessions, Sessions


class SignInRequired(Exception):
    """Raised by the page dependency when nobody is signed in; answered with a redirect."""


@dataclass(frozen=True, slots=True)
class Staff:
    user: StaffUser
    scope: Scope
    actor: Actor


async def page_session(sessions: Sessions) -> AsyncIterator[AsyncSession]:
    async with sessions() as session, session.begin():
        yield session


async def page_read_session(read_sessions: ReadSessions) -> AsyncIterator[AsyncSession]:
    """For pages that only read (see `inbox.core.db.read_sessions`): nothing may be written in it."""
    async with read_sessions() as session, session.begin():
        yield session


# Pages and API share the unit of work per request: one transaction, committed at the end.
Session = Annotated[AsyncSession, Depends(page_session)]
ReadSession = Annotated[AsyncSession, Depends(page_read_session)]


def client_addr(request: Request) -> str | None:
    """The peer's address; a proxy's X-Forwarded-For counts only from SYNPUNKT_FORWARDED_ALLOW_IPS
    (uvicorn rewrites the client address for those, see `inbox.cli.wiring.web_server_config`)."""
    return request.client.host if request.client else None


async def signed_in(request: Request, session: AsyncSession) -> Staff | None:
    user_id = request.session.get("user_id")
    version = request.session.get("session_version")
    if not isinstance(user_id, int) or not isinstance(version, int):
        return None
    user = await session.get(StaffUser, user_id)
    if user is None or not user.active or user.session_version != version:
        request.session.clear()
        return None
    scope = await scope_for_user(session, user=user)
    return Staff(
        user=user,
        scope=scope,
        actor=Actor(name=f"user:{user.id}", user_id=user.id, remote_addr=client_addr(request)),
    )


async def staff_dep(request: Request, session: Session) -> Staff:
    staff = await signed_in(request, session)
    if staff is None:
        raise SignInRequired()
    return staff


def start_session(request: Request, user: StaffUser) -> None:
    """A fresh session for `user` (a new CSRF token too: nothing from before sign-in survives)."""
    request.session.clear()
    request.session["user_id"] = user.id
    request.session["session_version"] = user.session_version
