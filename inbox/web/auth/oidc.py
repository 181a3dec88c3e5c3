"""Signing staff in through the municipality's OpenID Connect provider (authlib, code flow + PKCE).

The provider vouches for who the person is; Synpunkt still decides who may come in: the id_token
(issuer, audience, `azp`, a signature in one of *our* algorithms, expiry, nonce all checked) must
name an existing, active staff user through one claim. The first such sign-in binds the user to
the provider's `sub`, which then decides: a username claim can change or be given to someone
else, `sub` cannot. Nobody is created here. Success starts the same session as a local password.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import httpx
from authlib.integrations.base_client import OAuthError
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from joserfc.errors import JoseError
from sqlalchemy import select
from sqlmodel import col

from inbox.core.audit import Actor, audit
from inbox.core.metrics import METRICS
from inbox.core.models import StaffUser
from inbox.staff.users import record_signin
from inbox.web.auth.sessions import Session, client_addr, start_session
from inbox.web.auth.signin import safe_next, sign_in_page
from inbox.web.oidc import OidcConfig
from inbox.web.state import Clock, OidcProvider

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)

NEXT_KEY = "oidc_next"
FAILED = (
    "Inloggningen via kommunens inloggning misslyckades. Försök igen eller logga in med lösenord."
)
UNAVAILABLE = "Kommunens inloggning svarar inte just nu. Försök igen om en stund."


def _claims_options(config: OidcConfig) -> dict[str, dict[str, Any]]:
    # authlib checks only what it is told to: the issuer *we* trust and our client id as audience.
    return {
        "iss": {"essential": True, "value": config.issuer},
        "aud": {"essential": True, "value": config.client_id},
        "sub": {"essential": True},
        "exp": {"essential": True},
    }


@router.get("/auth/oidc/login")
async def oidc_login(request: Request, provider: OidcProvider, next: str = "/") -> Response:
    config, client = provider
    request.session[NEXT_KEY] = safe_next(next)
    redirect_uri = config.redirect_url or str(request.url_for("oidc_callback"))
    try:
        response: Response = await client.authorize_redirect(request, redirect_uri)
    except (httpx.HTTPError, OAuthError, ValueError, RuntimeError) as exc:
        log.warning("OIDC provider %s unreachable: %s", config.issuer, exc)
        return sign_in_page(request, oidc=True, next_url=next, error=UNAVAILABLE, status_code=502)
    return response


@router.get("/auth/oidc/callback", name="oidc_callback")
async def oidc_callback(
    request: Request, session: Session, provider: OidcProvider, clock: Clock
) -> Response:
    config, client = provider
    next_url = safe_next(request.session.pop(NEXT_KEY, "/"))
    now = clock()
    anonymous = Actor(name="oidc", remote_addr=client_addr(request))

    def refuse(reason: str, message: str, code: int, **detail: Any) -> Response:
        log.warning("OIDC sign-in refused (%s) from %s: %s", reason, client_addr(request), detail)
        METRICS.signin_failures.labels(f"oidc-{reason}").inc()
        audit(
            session,
            actor=anonymous,
            action="signin.oidc.refused",
            case=None,
            now=now,
            reason=reason,
            **detail,
        )
        return sign_in_page(request, oidc=True, next_url=next_url, error=message, status_code=code)

    try:
        token = await client.authorize_access_token(request, claims_options=_claims_options(config))
    except (OAuthError, JoseError) as exc:
        return refuse("invalid", FAILED, 401, error=type(exc).__name__, description=str(exc)[:200])
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
        return refuse("provider", UNAVAILABLE, 502, error=type(exc).__name__)
    claims = token.get("userinfo")
    if not claims:  # no id_token in the answer: nothing vouches for the person
        return refuse("no-id-token", FAILED, 401)
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        return refuse("no-sub", FAILED, 401)
    problem = _audience_problem(claims, config.client_id)
    if problem is not None:
        return refuse("azp", FAILED, 401, error=problem, sub=subject)
    user = (
        await session.execute(select(StaffUser).where(col(StaffUser.oidc_subject) == subject))
    ).scalar_one_or_none()
    value = claims.get(config.username_claim)
    value = value.strip() if isinstance(value, str) else ""
    if user is None:  # not bound yet: the username claim may find the user, once
        if not value:
            return refuse("no-claim", FAILED, 401, claim=config.username_claim, sub=subject)
        if config.username_claim == "email" and claims.get("email_verified") is not True:
            # Many providers let people type any address into their profile.
            return refuse("email-unverified", FAILED, 401, claim="email", value=value, sub=subject)
        user = (
            await session.execute(select(StaffUser).where(col(StaffUser.username) == value))
        ).scalar_one_or_none()
        if user is not None and user.oidc_subject is not None:
            # Bound to another person at the provider: the claim was changed or given anew.
            message = (
                f"Kontot {value} i Synpunkt hör till en annan inloggning hos kommunen. "
                "Be en administratör om hjälp."
            )
            return refuse(
                "subject-mismatch",
                message,
                403,
                claim=config.username_claim,
                value=value,
                sub=subject,
            )
    if user is None or not user.active:
        name = value or (user.username if user else subject)
        message = (
            f"Du är inloggad hos kommunen som {name}, men har inget aktivt konto i Synpunkt. "
            "Be en administratör att lägga upp dig."
        )
        reason = "unknown-user" if user is None else "inactive-user"
        return refuse(reason, message, 403, claim=config.username_claim, value=value, sub=subject)
    bound = user.oidc_subject is None
    if bound:
        user.oidc_subject = subject
    start_session(request, user)
    record_signin(user, now=now)
    actor = Actor(name=f"user:{user.id}", user_id=user.id, remote_addr=client_addr(request))
    audit(session, actor=actor, action="signin.oidc", case=None, now=now, sub=subject, bound=bound)
    log.info("OIDC sign-in of %s (sub %s%s)", user.username, subject, ", now bound" * bound)
    return RedirectResponse(next_url, status_code=303)


def _audience_problem(claims: Mapping[str, Any], client_id: str) -> str | None:
    """What is wrong with `azp` (OpenID Connect Core 3.1.3.7), if anything.

    authlib checks this too; it is checked here as well so that a library change cannot quietly
    let in a token issued to another client of the same provider.
    """
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    azp = claims.get("azp")
    if azp is not None and azp != client_id:
        return "azp names another client"
    if len(audiences) > 1 and azp is None:
        return "several audiences and no azp"
    return None
