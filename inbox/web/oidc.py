"""Signing staff in through the municipality's OpenID Connect provider (authlib, code flow + PKCE).

The provider vouches for who the person is; Synpunkt still decides who may come in: the id_token
(issuer, audience, signature, expiry, nonce all checked) must name an existing, active staff user
through one claim. Nobody is created here. Success starts the same session as a local password.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import httpx
from authlib.integrations.base_client import OAuthError
from authlib.integrations.starlette_client import OAuth
from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import RedirectResponse, Response
from joserfc.errors import JoseError
from sqlalchemy import select
from sqlmodel import col

from inbox.models import StaffUser
from inbox.replies import Actor, audit
from inbox.web.auth import DbSession, client_addr, sign_in_page, start_session
from inbox.web.security import safe_next

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)

PROVIDER = "municipal"
NEXT_KEY = "oidc_next"
FAILED = (
    "Inloggningen via kommunens inloggning misslyckades. Försök igen eller logga in med lösenord."
)
UNAVAILABLE = "Kommunens inloggning svarar inte just nu. Försök igen om en stund."


@dataclass(frozen=True, slots=True)
class OidcConfig:
    issuer: str
    client_id: str
    client_secret: str
    username_claim: str = "preferred_username"  # or "email": compared with StaffUser.username
    redirect_url: str | None = None  # the callback's public address; else from the request

    @property
    def metadata_url(self) -> str:
        return f"{self.issuer.rstrip('/')}/.well-known/openid-configuration"


def _client(request: Request) -> tuple[OidcConfig, Any]:
    config: OidcConfig | None = request.app.state.oidc
    if config is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="Inloggning via kommunen är inte på.")
    client = getattr(request.app.state, "oidc_client", None)
    if client is None:
        oauth = OAuth()
        client = oauth.register(
            PROVIDER,
            client_id=config.client_id,
            client_secret=config.client_secret,
            server_metadata_url=config.metadata_url,
            client_kwargs={"scope": "openid profile email", "code_challenge_method": "S256"},
        )
        request.app.state.oidc_client = client
    return config, client


def _claims_options(config: OidcConfig) -> dict[str, dict[str, Any]]:
    # authlib checks only what it is told to: the issuer *we* trust and our client id as audience.
    return {
        "iss": {"essential": True, "value": config.issuer},
        "aud": {"essential": True, "value": config.client_id},
        "sub": {"essential": True},
        "exp": {"essential": True},
    }


@router.get("/auth/oidc/login")
async def oidc_login(request: Request, next: str = "/") -> Response:
    config, client = _client(request)
    request.session[NEXT_KEY] = safe_next(next)
    redirect_uri = config.redirect_url or str(request.url_for("oidc_callback"))
    try:
        response: Response = await client.authorize_redirect(request, redirect_uri)
    except (httpx.HTTPError, OAuthError, ValueError, RuntimeError) as exc:
        log.warning("OIDC provider %s unreachable: %s", config.issuer, exc)
        return sign_in_page(request, next_url=next, error=UNAVAILABLE, status_code=502)
    return response


@router.get("/auth/oidc/callback", name="oidc_callback")
async def oidc_callback(request: Request, session: DbSession) -> Response:
    config, client = _client(request)
    next_url = safe_next(request.session.pop(NEXT_KEY, "/"))
    now = request.app.state.clock()
    anonymous = Actor(name="oidc", remote_addr=client_addr(request))

    def refuse(reason: str, message: str, code: int, **detail: Any) -> Response:
        log.warning("OIDC sign-in refused (%s) from %s: %s", reason, client_addr(request), detail)
        audit(
            session,
            actor=anonymous,
            action="signin.oidc.refused",
            case=None,
            now=now,
            reason=reason,
            **detail,
        )
        return sign_in_page(request, next_url=next_url, error=message, status_code=code)

    try:
        token = await client.authorize_access_token(request, claims_options=_claims_options(config))
    except (OAuthError, JoseError) as exc:
        return refuse("invalid", FAILED, 401, error=type(exc).__name__, description=str(exc)[:200])
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
        return refuse("provider", UNAVAILABLE, 502, error=type(exc).__name__)
    claims = token.get("userinfo")
    if not claims:  # no id_token in the answer: nothing vouches for the person
        return refuse("no-id-token", FAILED, 401)
    value = claims.get(config.username_claim)
    subject = str(claims.get("sub"))
    if not isinstance(value, str) or not value.strip():
        return refuse("no-claim", FAILED, 401, claim=config.username_claim, sub=subject)
    value = value.strip()
    if config.username_claim == "email" and claims.get("email_verified") is False:
        return refuse("email-unverified", FAILED, 401, claim="email", value=value, sub=subject)
    user = (
        await session.execute(select(StaffUser).where(col(StaffUser.username) == value))
    ).scalar_one_or_none()
    if user is None or not user.active:
        message = (
            f"Du är inloggad hos kommunen som {value}, men har inget aktivt konto i Synpunkt. "
            "Be en administratör att lägga upp dig."
        )
        reason = "unknown-user" if user is None else "inactive-user"
        return refuse(reason, message, 403, claim=config.username_claim, value=value, sub=subject)
    start_session(request, user)
    actor = Actor(name=f"user:{user.id}", user_id=user.id, remote_addr=client_addr(request))
    audit(session, actor=actor, action="signin.oidc", case=None, now=now, sub=subject)
    log.info("OIDC sign-in of %s (sub %s)", user.username, subject)
    return RedirectResponse(next_url, status_code=303)
