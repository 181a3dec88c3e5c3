"""Signing in with a username and password, signing out, and the sign-in page itself.

Failed sign-ins are counted in the database (`inbox.staff.signin`), so the limits hold across
processes; the password check runs beside the event loop. After sign-in `next` may only be a path
on this site.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from inbox.staff.signin import SignInRefused, SignInThrottled, sign_in
from inbox.staff.users import end_sessions
from inbox.web.auth.csrf import verify_csrf
from inbox.web.auth.sessions import Session, client_addr, signed_in, start_session
from inbox.web.render import page
from inbox.web.state import Clock, Oidc, PasswordHashing, Sessions, SignInThrottle

router = APIRouter(dependencies=[Depends(verify_csrf)], include_in_schema=False)


def safe_next(value: str | None, default: str = "/") -> str:
    """A redirect target only when it is a path on this site (no scheme, host or `//`)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or any(ord(ch) < 32 for ch in value):
        return default
    return value


def sign_in_page(
    request: Request,
    *,
    oidc: bool,
    next_url: str = "/",
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    """The sign-in form; `oidc` offers the municipality's sign-in beside the password."""
    return page(
        request,
        "signin.html",
        {
            "next_url": safe_next(next_url),
            "error": error,
            "username": "",
            "oidc": oidc,
        },
        status_code=status_code,
    )


@router.get("/signin")
async def signin_form(request: Request, oidc: Oidc, next: str = "/") -> Response:
    return sign_in_page(request, oidc=oidc is not None, next_url=next)


@router.post("/signin")
async def signin_submit(
    request: Request,
    sessions: Sessions,
    clock: Clock,
    throttle: SignInThrottle,
    passwords: PasswordHashing,
    oidc: Oidc,
) -> Response:
    form = await request.form()
    username, password = str(form.get("username", "")), str(form.get("password", ""))
    next_url = safe_next(str(form.get("next", "/")))
    try:
        user = await sign_in(
            sessions,
            username=username,
            password=password,
            remote_addr=client_addr(request),
            now=clock(),
            throttle=throttle,
            passwords=passwords,
        )
    except SignInThrottled:
        return sign_in_page(
            request,
            oidc=oidc is not None,
            next_url=next_url,
            error="För många misslyckade inloggningar. Vänta en stund och försök igen.",
            status_code=429,
        )
    except SignInRefused:
        return sign_in_page(
            request,
            oidc=oidc is not None,
            next_url=next_url,
            error="Fel användarnamn eller lösenord.",
            status_code=401,
        )
    start_session(request, user)
    return RedirectResponse(next_url, status_code=303)


@router.post("/signout")
async def signout(request: Request, session: Session, clock: Clock) -> Response:
    """Ends this user's sessions everywhere, not only this cookie: a copy of it stops working too."""
    staff = await signed_in(request, session)
    if staff is not None:
        await end_sessions(session, user=staff.user, actor=staff.actor, now=clock())
    request.session.clear()
    return RedirectResponse("/", status_code=303)
