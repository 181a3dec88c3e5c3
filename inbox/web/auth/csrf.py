"""CSRF protection for the staff pages: a synchronizer token kept in the signed session.

Forms send it as the field `csrf_token`, htmx requests as the header `X-CSRF-Token` (set by
`static/app.js` from a meta tag). Every unsafe request to the staff pages is checked; the
bearer-token API is not (no cookies), nor are the public check-in pages, whose single-use signed
token in the address does the same work.
"""

from __future__ import annotations

import hmac
import secrets

from fastapi import HTTPException, Request, status

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


async def verify_csrf(request: Request) -> None:
    """A dependency of every page router: refuses unsafe requests without the session's token."""
    if request.method in SAFE_METHODS:
        return
    expected = request.session.get("csrf")
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not isinstance(expected, str) or not sent or not hmac.compare_digest(expected, sent):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail="Formuläret saknar en giltig säkerhetskod. Ladda om sidan och försök igen.",
        )
