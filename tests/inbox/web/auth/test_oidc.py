"""OpenID Connect sign-in against a small fake provider on a real loopback port: discovery, JWKS
with a key made here, an authorize endpoint the test follows like a browser, and a token endpoint
that answers an RS256 id_token — which the tests spoil in every way the app must notice."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
import pytest
import uvicorn
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from inbox.cli.wiring import oidc_config
from inbox.core.db import unit_of_work
from inbox.core.models import AuditEvent, StaffUser
from inbox.settings import Settings
from inbox.staff.users import add_user
from inbox.web.oidc import OidcConfig
from tests.conftest import Clock, Database
from tests.inbox.web.conftest import World, build_world
from tests.inbox.web.test_metrics import value

CLIENT_ID, CLIENT_SECRET = "synpunkt", "klienthemlighet"


class FakeProvider:
    """An OpenID provider with one client; `claims` says who signs in, `spoil` what goes wrong."""

    def __init__(self) -> None:
        self.key = RSAKey.generate_key(2048, parameters={"kid": "nyckel-1"})
        self.ec_key = ECKey.generate_key("P-256", parameters={"kid": "nyckel-ec"})
        self.issuer = ""
        self.claims: dict[str, Any] = {}
        self.spoil: dict[str, Any] = {}
        self.codes: dict[str, dict[str, Any]] = {}
        self.authorize_requests: list[dict[str, str]] = []
        self.app = Starlette(
            routes=[
                Route("/.well-known/openid-configuration", self.discovery),
                Route("/jwks", self.jwks),
                Route("/authorize", self.authorize),
                Route("/token", self.token, methods=["POST"]),
            ]
        )

    def reset(self, **claims: Any) -> None:
        self.claims, self.spoil = claims, {}
        self.codes.clear()
        self.authorize_requests.clear()

    async def discovery(self, request: Request) -> Response:
        return JSONResponse(
            {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": self.spoil.get("offered", ["RS256"]),
                "code_challenge_methods_supported": ["S256"],
            }
        )

    async def jwks(self, request: Request) -> Response:
        keys = [self.key.as_dict(private=False), self.ec_key.as_dict(private=False)]
        return JSONResponse({"keys": keys})

    async def authorize(self, request: Request) -> Response:
        params = dict(request.query_params)
        self.authorize_requests.append(params)
        if params.get("client_id") != CLIENT_ID or params.get("response_type") != "code":
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        code = secrets.token_urlsafe(16)
        self.codes[code] = params
        query = urlencode({"code": code, "state": self.spoil.get("state", params["state"])})
        return RedirectResponse(f"{params['redirect_uri']}?{query}", status_code=302)

    async def token(self, request: Request) -> Response:
        form = await request.form()
        expected = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if request.headers.get("authorization") != expected:
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        asked = self.codes.pop(str(form.get("code")), None)
        if asked is None or form.get("redirect_uri") != asked["redirect_uri"]:
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        verifier = str(form.get("code_verifier", ""))
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
        if challenge.rstrip(b"=").decode() != asked.get("code_challenge"):
            return JSONResponse({"error": "invalid_grant", "why": "pkce"}, status_code=400)
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": "a1b2c3",
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + 300,
            "nonce": asked.get("nonce"),
            **self.claims,
            **{k: v for k, v in self.spoil.items() if k in ("iss", "aud", "azp", "exp", "nonce")},
        }
        id_token = self.sign(claims)
        return JSONResponse(
            {"access_token": "at", "token_type": "Bearer", "expires_in": 300, "id_token": id_token}
        )

    def sign(self, claims: dict[str, Any]) -> str:
        """The id_token as `spoil` wants it: RS256 by default, or ES256, HS256 or unsigned."""
        alg = self.spoil.get("alg", "RS256")
        if alg == "ES256":
            return jwt.encode({"alg": "ES256", "kid": "nyckel-ec"}, claims, self.ec_key)
        if alg in ("none", "HS256"):
            # Forged by hand: unsigned, or an HMAC keyed with the provider's *public* key.
            header = {"alg": alg, "kid": "nyckel-1"}
            head, body = (_b64(json.dumps(part).encode()) for part in (header, claims))
            signing_input = f"{head}.{body}".encode()
            public = self.key.as_pem(private=False)
            mac = hmac.new(public, signing_input, hashlib.sha256).digest()
            return f"{head}.{body}." + (_b64(mac) if alg == "HS256" else "")
        return jwt.encode(
            {"alg": "RS256", "kid": "nyckel-1"}, claims, self.spoil.get("key", self.key)
        )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.fixture(scope="module")
def provider() -> Iterator[FakeProvider]:
    fake = FakeProvider()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    fake.issuer = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(
        uvicorn.Config(fake.app, log_config=None, access_log=False, lifespan="off")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the fake provider did not start"
        time.sleep(0.01)
    yield fake
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


@pytest.fixture
async def oidc_world(
    db: Database, clock: Clock, provider: FakeProvider
) -> AsyncIterator[tuple[World, FakeProvider]]:
    provider.reset(preferred_username="karin")
    config = OidcConfig(issuer=provider.issuer, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    world = await build_world(db, clock, oidc=config)
    yield world, provider


def app_client(world: World) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=world.app, client=("10.0.0.5", 4000)),
        base_url="http://test",
    )


async def round_trip(client: httpx.AsyncClient, next_url: str = "/") -> httpx.Response:
    """Login → the provider's authorize page (a real HTTP request) → back to the callback."""
    start = await client.get("/auth/oidc/login", params={"next": next_url})
    assert start.status_code == 302, start.text
    async with httpx.AsyncClient() as browser:
        answer = await browser.get(start.headers["location"])
    assert answer.status_code == 302, answer.text
    back = urlsplit(answer.headers["location"])
    assert back.netloc == "test" and back.path == "/auth/oidc/callback"
    return await client.get(f"{back.path}?{back.query}")


async def _events(world: World, action: str) -> list[AuditEvent]:
    async with world.db.sessions() as session:
        rows = await session.execute(select(AuditEvent).where(AuditEvent.action == action))
        return list(rows.scalars())


async def test_sign_in_page_offers_the_provider_and_a_known_user_gets_in(
    oidc_world: tuple[World, FakeProvider],
) -> None:
    world, provider = oidc_world
    async with app_client(world) as client:
        page = (await client.get("/signin", params={"next": f"/cases/{world.barn}"})).text
        assert f'href="/auth/oidc/login?next=/cases/{world.barn}"' in page.replace("%2F", "/")
        assert (await client.get(f"/cases/{world.barn}")).status_code == 303
        done = await round_trip(client, f"/cases/{world.barn}")
        assert done.status_code == 303 and done.headers["location"] == f"/cases/{world.barn}"
        case = await client.get(f"/cases/{world.barn}")
        assert case.status_code == 200 and "Om min son" in case.text
        # A caseworker of barn-och-familj: the session carries karin's scope, not more.
        assert (await client.get(f"/cases/{world.vuxen}")).status_code == 404
    asked = provider.authorize_requests[0]
    assert asked["scope"] == "openid profile email" and asked["code_challenge_method"] == "S256"
    assert asked["nonce"] and asked["state"] and asked["code_challenge"]
    [event] = await _events(world, "signin.oidc")
    assert event.actor == f"user:{await world.user_id('karin')}" and event.detail["sub"] == "a1b2c3"


async def test_an_unknown_or_inactive_person_is_refused_without_an_account(
    oidc_world: tuple[World, FakeProvider],
) -> None:
    world, provider = oidc_world
    provider.reset(preferred_username="nils.okand")
    unknown = value("synpunkt_signin_failures_total", reason="oidc-unknown-user")
    async with app_client(world) as client:
        refused = await round_trip(client)
        assert refused.status_code == 403
        assert value("synpunkt_signin_failures_total", reason="oidc-unknown-user") == unknown + 1
        assert "inloggad hos kommunen som nils.okand" in refused.text
        assert "inget aktivt konto i Synpunkt" in refused.text
        assert (await client.get(f"/cases/{world.barn}")).status_code == 303
    async with world.db.sessions() as session:
        users = await session.execute(select(StaffUser.username))
        assert "nils.okand" not in set(users.scalars())
    async with unit_of_work(world.db.sessions) as session:
        karin = (
            await session.execute(select(StaffUser).where(StaffUser.username == "karin"))
        ).scalar_one()
        karin.active = False
    provider.reset(preferred_username="karin")
    async with app_client(world) as client:
        assert (await round_trip(client)).status_code == 403
        assert (await client.get(f"/cases/{world.barn}")).status_code == 303
    reasons = [e.detail["reason"] for e in await _events(world, "signin.oidc.refused")]
    assert reasons == ["unknown-user", "inactive-user"]


@pytest.mark.parametrize(
    "spoil",
    [
        pytest.param({"aud": "en-annan-tjanst"}, id="wrong-audience"),
        pytest.param({"iss": "https://falsk.example"}, id="wrong-issuer"),
        pytest.param({"nonce": "gammal-nonce"}, id="wrong-nonce"),
        pytest.param({"exp": int(time.time()) - 3600}, id="expired"),
        pytest.param({"key": "other"}, id="bad-signature"),
        pytest.param({"state": "forfalskat"}, id="wrong-state"),
    ],
)
async def test_a_spoiled_answer_is_refused_and_audited(
    oidc_world: tuple[World, FakeProvider], spoil: dict[str, Any]
) -> None:
    world, provider = oidc_world
    if spoil.get("key") == "other":  # same key id, another key: the signature does not verify
        spoil = {"key": RSAKey.generate_key(2048, parameters={"kid": "nyckel-1"})}
    provider.spoil = spoil
    async with app_client(world) as client:
        refused = await round_trip(client, f"/cases/{world.barn}")
        assert refused.status_code == 401, refused.text
        assert "Inloggningen via kommunens inloggning misslyckades" in refused.text
        assert (await client.get(f"/cases/{world.barn}")).status_code == 303
    [event] = await _events(world, "signin.oidc.refused")
    assert event.detail["reason"] == "invalid" and event.remote_addr == "10.0.0.5"
    assert not await _events(world, "signin.oidc")


async def test_a_callback_without_a_login_is_refused(
    oidc_world: tuple[World, FakeProvider],
) -> None:
    world, _provider = oidc_world
    async with app_client(world) as client:
        refused = await client.get("/auth/oidc/callback", params={"code": "x", "state": "y"})
        assert refused.status_code == 401
        assert (await client.get(f"/cases/{world.barn}")).status_code == 303
        await client.get("/auth/oidc/login")
        denied = await client.get(
            "/auth/oidc/callback",
            params={"error": "access_denied", "error_description": "Avbrutet av användaren"},
        )
        assert denied.status_code == 401 and "misslyckades" in denied.text
    events = await _events(world, "signin.oidc.refused")
    assert [e.detail["error"] for e in events] == ["MismatchingStateError", "OAuthError"]


async def test_next_survives_the_round_trip_but_never_leaves_the_site(
    oidc_world: tuple[World, FakeProvider],
) -> None:
    world, _provider = oidc_world
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        async with app_client(world) as client:
            done = await round_trip(client, target)
            assert done.status_code == 303 and done.headers["location"] == "/"
    async with app_client(world) as client:
        done = await round_trip(client, "/?status=new&kind=complaint")
        assert done.headers["location"] == "/?status=new&kind=complaint"


async def test_email_can_be_the_claim_but_must_be_verified(
    db: Database, clock: Clock, provider: FakeProvider
) -> None:
    config = OidcConfig(
        issuer=provider.issuer,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        username_claim="email",
    )
    world = await build_world(db, clock, oidc=config)
    async with unit_of_work(world.db.sessions) as session:
        await add_user(
            session,
            username="anna@kommun.example",
            role="caseworker",
            unit_codes=["barn-och-familj"],
            now=clock(),
        )
    for unverified in ({"email_verified": False}, {}, {"email_verified": "true"}):
        provider.reset(preferred_username="karin", email="anna@kommun.example", **unverified)
        async with app_client(world) as client:
            assert (await round_trip(client)).status_code == 401
    provider.reset(preferred_username="karin", email="anna@kommun.example", email_verified=True)
    async with app_client(world) as client:
        assert (await round_trip(client)).status_code == 303
        assert (await client.get(f"/cases/{world.barn}")).status_code == 200


async def _user(world: World, username: str) -> StaffUser:
    async with world.db.sessions() as session:
        return (
            await session.execute(select(StaffUser).where(StaffUser.username == username))
        ).scalar_one()


async def test_the_first_sign_in_binds_the_subject_which_decides_from_then_on(
    oidc_world: tuple[World, FakeProvider],
) -> None:
    world, provider = oidc_world
    assert (await _user(world, "karin")).oidc_subject is None
    async with app_client(world) as client:
        assert (await round_trip(client)).status_code == 303
    assert (await _user(world, "karin")).oidc_subject == "a1b2c3"
    # Renamed at the provider, or the old name now given to a colleague: `sub` still finds karin.
    for claim in ("karin.andersson", "olle"):
        provider.reset(preferred_username=claim)
        async with app_client(world) as client:
            assert (await round_trip(client)).status_code == 303
            assert (await client.get(f"/cases/{world.barn}")).status_code == 200
            assert (await client.get(f"/cases/{world.vuxen}")).status_code == 404  # not olle
    events = await _events(world, "signin.oidc")
    assert [e.detail["bound"] for e in events] == [True, False, False]
    assert {e.actor for e in events} == {f"user:{await world.user_id('karin')}"}


async def test_another_subject_with_a_bound_users_name_is_refused(
    oidc_world: tuple[World, FakeProvider],
) -> None:
    world, provider = oidc_world
    async with app_client(world) as client:
        assert (await round_trip(client)).status_code == 303
    provider.reset(preferred_username="karin", sub="someone-else")
    async with app_client(world) as client:
        refused = await round_trip(client)
        assert refused.status_code == 403 and "hör till en annan inloggning" in refused.text
        assert (await client.get(f"/cases/{world.barn}")).status_code == 303
    [event] = await _events(world, "signin.oidc.refused")
    assert (event.detail["reason"], event.detail["sub"]) == ("subject-mismatch", "someone-else")
    assert (await _user(world, "karin")).oidc_subject == "a1b2c3"


@pytest.mark.parametrize(
    "spoil",
    [
        pytest.param({"alg": "none", "offered": ["RS256", "none"]}, id="unsigned"),
        pytest.param({"alg": "HS256", "offered": ["RS256", "HS256"]}, id="hmac-with-public-key"),
        pytest.param({"alg": "ES256", "offered": ["RS256", "ES256"]}, id="not-configured"),
    ],
)
async def test_only_the_configured_signing_algorithms_are_accepted(
    oidc_world: tuple[World, FakeProvider], spoil: dict[str, Any]
) -> None:
    world, provider = oidc_world
    provider.spoil = spoil
    async with app_client(world) as client:
        refused = await round_trip(client)
        assert refused.status_code == 401, refused.text
        assert (await client.get(f"/cases/{world.barn}")).status_code == 303
    [event] = await _events(world, "signin.oidc.refused")
    assert event.detail["reason"] == "invalid"
    assert (await _user(world, "karin")).oidc_subject is None


async def test_es256_is_accepted_when_configured(
    db: Database, clock: Clock, provider: FakeProvider
) -> None:
    config = OidcConfig(
        issuer=provider.issuer,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        algorithms=("ES256",),
    )
    world = await build_world(db, clock, oidc=config)
    provider.reset(preferred_username="karin")
    provider.spoil = {"alg": "ES256", "offered": ["RS256", "ES256"]}
    async with app_client(world) as client:
        assert (await round_trip(client)).status_code == 303
    provider.spoil = {}  # RS256 now: not what this installation accepts
    async with app_client(world) as client:
        assert (await round_trip(client)).status_code == 401


@pytest.mark.parametrize("algorithms", [("none",), ("HS256",), ("RS256", "HS512"), ()])
def test_symmetric_or_no_signatures_cannot_be_configured(algorithms: tuple[str, ...]) -> None:
    with pytest.raises(ValueError, match="algorithms"):
        OidcConfig(
            issuer="https://id.example", client_id="a", client_secret="b", algorithms=algorithms
        )
    with pytest.raises(ValueError, match="SYNPUNKT_OIDC_ALGORITHMS"):
        Settings(oidc_algorithms=",".join(algorithms))


@pytest.mark.parametrize(
    ("claims", "accepted"),
    [
        pytest.param({"azp": "en-annan-klient"}, False, id="azp-of-another-client"),
        pytest.param({"aud": [CLIENT_ID, "en-annan-tjanst"]}, False, id="several-aud-no-azp"),
        pytest.param(
            {"aud": [CLIENT_ID, "en-annan-tjanst"], "azp": "en-annan-tjanst"},
            False,
            id="several-aud-foreign-azp",
        ),
        pytest.param({"aud": [CLIENT_ID, "en-annan-tjanst"], "azp": CLIENT_ID}, True, id="ok"),
        pytest.param({"azp": CLIENT_ID}, True, id="azp-is-us"),
    ],
)
async def test_azp_must_name_us_and_is_required_with_several_audiences(
    oidc_world: tuple[World, FakeProvider], claims: dict[str, Any], accepted: bool
) -> None:
    world, provider = oidc_world
    provider.spoil = claims
    async with app_client(world) as client:
        answer = await round_trip(client)
        assert answer.status_code == (303 if accepted else 401), answer.text
    refusals = await _events(world, "signin.oidc.refused")
    assert len(refusals) == (0 if accepted else 1)
    assert len(await _events(world, "signin.oidc")) == (1 if accepted else 0)


async def test_without_settings_the_routes_are_absent_and_an_unreachable_provider_is_told(
    db: Database, clock: Clock
) -> None:
    world = await build_world(db, clock)
    async with app_client(world) as client:
        assert "/auth/oidc/login" not in (await client.get("/signin")).text
        assert (await client.get("/auth/oidc/login")).status_code == 404
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))  # bound, never listening: the connection is refused
    dead = OidcConfig(
        issuer=f"http://127.0.0.1:{sock.getsockname()[1]}", client_id="x", client_secret="y"
    )
    world.app.state.oidc = dead
    try:
        async with app_client(world) as client:
            answer = await client.get("/auth/oidc/login")
            assert answer.status_code == 502 and "svarar inte just nu" in answer.text
    finally:
        sock.close()


def test_the_cli_turns_it_on_only_with_all_three_settings() -> None:
    full = Settings(
        oidc_issuer="https://id.kommun.example/realms/personal",
        oidc_client_id="synpunkt",
        oidc_client_secret="hemligt",
        oidc_username_claim="email",
        public_url="https://synpunkt.kommun.example/",
    )
    config = oidc_config(full)
    assert config == OidcConfig(
        issuer="https://id.kommun.example/realms/personal",
        client_id="synpunkt",
        client_secret="hemligt",
        username_claim="email",
        redirect_url="https://synpunkt.kommun.example/auth/oidc/callback",
    )
    assert config is not None and config.metadata_url == (
        "https://id.kommun.example/realms/personal/.well-known/openid-configuration"
    )
    partial = Settings(oidc_issuer="https://id.kommun.example", oidc_client_id="synpunkt")
    assert oidc_config(partial) is None
