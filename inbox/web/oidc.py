"""The municipality's OpenID Connect provider: its settings and our authlib client for it.

`OidcConfig` is what the composition root gives `create_app`; `client_for` registers the client
(code flow with PKCE) that `inbox.web.auth.oidc` signs staff in with. The id_token's signature is
accepted only in the algorithms configured here, whatever the provider's discovery document offers.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

from authlib.deprecate import AuthlibDeprecationWarning

with warnings.catch_warnings():
    # authlib's Starlette client imports its own deprecated httpx module internally; nothing of
    # ours uses it, and the warning would be the first line every command prints.
    warnings.simplefilter("ignore", AuthlibDeprecationWarning)
    from authlib.integrations.starlette_client import OAuth, StarletteOAuth2App

from inbox.settings import SIGNING_ALGORITHMS

PROVIDER = "municipal"


@dataclass(frozen=True, slots=True)
class OidcConfig:
    issuer: str
    client_id: str
    client_secret: str
    username_claim: str = "preferred_username"  # or "email": compared with StaffUser.username
    redirect_url: str | None = None  # the callback's public address; else from the request
    algorithms: tuple[str, ...] = ("RS256",)  # the id_token signatures we accept

    def __post_init__(self) -> None:
        wrong = [alg for alg in self.algorithms if alg not in SIGNING_ALGORITHMS]
        if wrong or not self.algorithms:
            raise ValueError(
                f"id_token algorithms must be among {', '.join(sorted(SIGNING_ALGORITHMS))}"
            )

    @property
    def metadata_url(self) -> str:
        return f"{self.issuer.rstrip('/')}/.well-known/openid-configuration"


class OidcClient(StarletteOAuth2App):
    """authlib takes the id_token algorithms from the provider's discovery document; ours win."""

    algorithms: tuple[str, ...] = ("RS256",)

    async def load_server_metadata(self) -> dict[str, Any]:
        metadata: dict[str, Any] = await super().load_server_metadata()
        metadata["id_token_signing_alg_values_supported"] = list(self.algorithms)
        return metadata


class _OAuth(OAuth):
    oauth2_client_cls = OidcClient


def client_for(config: OidcConfig) -> OidcClient:
    """A client for the provider; it reads the discovery document when first used, not here."""
    client: OidcClient = _OAuth().register(
        PROVIDER,
        client_id=config.client_id,
        client_secret=config.client_secret,
        server_metadata_url=config.metadata_url,
        client_kwargs={"scope": "openid profile email", "code_challenge_method": "S256"},
    )
    client.algorithms = config.algorithms
    return client
