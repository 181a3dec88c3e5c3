"""Staff sign-in for the pages: the signed session cookie, sign-in, sign-out, and who is asking.

The session (Starlette's `SessionMiddleware`, signed with itsdangerous) holds only the user's id,
their `session_version` and the CSRF token. Every request loads the user again and refuses a session
whose version is not the user's: signing out, a new password, deactivation and a change of role or
units raise the version (`inbox.staff.users`), which ends every session of that user at once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.cases.access import Scope, scope_for_user
from inbox.core.audit import Actor
from inbox.core.models import StaffUser
from inbox.staff.signin import SignInRefused, SignInThrottled, sign_in
from inbox.staff.users import end_sessions
from inbox.web.render import page
from inbox.web.security import safe_next, verify_csrf

router = APIRouter(dependencies=[Depends(verify_csrf)], include_in_schema=False)


class SignInRequired(Exception):
    """Raised by the page dependency when nobody is signed in; answered with a redirect."""


@dataclass(frozen=True, slots=True)
class Staff:
    user: StaffUser
    scope: Scope
    actor: Actor


async def page_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.sessions() as session, session.begin():
        yield session


async def page_read_session(request: Request) -> AsyncIterator[AsyncSession]:
    """For pages that only read (see `inbox.core.db.read_sessions`): nothing may be written in it."""
    async with request.app.state.read_sessions() as session, session.begin():
        yield session


DbSession = Annotated[AsyncSession, Depends(page_session)]
ReadDbSession = Annotated[AsyncSession, Depends(page_read_session)]


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


async def staff_dep(request: Request, session: DbSession) -> Staff:
    staff = await signed_in(request, session)
    if staff is None:
        raise SignInRequired()
    return staff


CurrentStaff = Annotated[Staff, Depends(staff_dep)]


def start_session(request: Request, user: StaffUser) -> None:
    """A fresh session for `user` (a new CSRF token too: nothing from before sign-in survives)."""
    request.session.clear()
    request.session["user_id"] = user.id
    request.session["session_version"] = user.session_version


def sign_in_page(
    request: Request, *, next_url: str = "/", error: str | None = None, status_code: int = 200
) -> Response:
    return page(
        request,
        "signin.html",
        {
            "next_url": safe_next(next_url),
            "error": error,
            "username": "",
            "oidc": request.app.state.oidc is not None,
        },
        status_code=status_code,
    )


@router.get("/signin")
async def signin_form(request: Request, next: str = "/") -> Response:
    return sign_in_page(request, next_url=next)


@router.post("/signin")
async def signin_submit(request: Request) -> Response:
    form = await request.form()
    username, password = str(form.get("username", "")), str(form.get("password", ""))
    next_url = safe_next(str(form.get("next", "/")))
    try:
        user = await sign_in(
            request.app.state.sessions,
            username=username,
            password=password,
            remote_addr=client_addr(request),
            now=request.app.state.clock(),
            throttle=request.app.state.throttle,
            passwords=request.app.state.passwords,
        )
    except SignInThrottled:
        return sign_in_page(
            request,
            next_url=next_url,
            error="För många misslyckade inloggningar. Vänta en stund och försök igen.",
            status_code=429,
        )
    except SignInRefused:
        return sign_in_page(
            request,
            next_url=next_url,
            error="Fel användarnamn eller lösenord.",
            status_code=401,
        )
    start_session(request, user)
    return RedirectResponse(next_url, status_code=303)


@router.post("/signout")
async def signout(request: Request, session: DbSession) -> Response:
    """Ends this user's sessions everywhere, not only this cookie: a copy of it stops working too."""
    staff = await signed_in(request, session)
    if staff is not None:
        await end_sessions(
            session, user=staff.user, actor=staff.actor, now=request.app.state.clock()
        )
    request.session.clear()
    return RedirectResponse("/", status_code=303)
