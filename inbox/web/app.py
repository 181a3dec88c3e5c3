"""The web application: the JSON API, `/healthz` and the staff pages, over one core.

`create_app` receives its collaborators (sessions, clock, channel status) from the composition root;
the app reads no settings of its own. It keeps them on `app.state`, which only `inbox.web.state`
reads back: routes take them as typed dependencies.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware

from inbox.cases.access import Forbidden, NotFound
from inbox.cases.queries import CaseRemoved
from inbox.checkins.plan import CheckinPolicy
from inbox.core.db import read_sessions
from inbox.core.metrics import MetricsAccess
from inbox.core.privacy import PrivacyNotice
from inbox.core.time import STOCKHOLM
from inbox.intake.receive import IntakePolicy
from inbox.intake.web_form import WebFormPolicy
from inbox.runners.health import HealthPolicy
from inbox.settings import secret_key_problem
from inbox.staff.passwords import DEFAULT_PASSWORDS, Passwords
from inbox.staff.signin import Throttle
from inbox.web.api import audit as audit_api
from inbox.web.api import cases as cases_api
from inbox.web.api import decisions as decisions_api
from inbox.web.api import health as health_api
from inbox.web.api import intake as intake_api
from inbox.web.api import registry as registry_api
from inbox.web.api import tasks as tasks_api
from inbox.web.api.docs import add_api_docs
from inbox.web.api.problems import invalid_input, refusal, with_problem_schema
from inbox.web.auth import oidc as oidc_signin
from inbox.web.auth import signin
from inbox.web.auth.sessions import SignInRequired
from inbox.web.inputs import refuse_unstorable_text
from inbox.web.limits import DEFAULT_LIMIT, BodyLimit
from inbox.web.metrics import router as metrics_router
from inbox.web.observe import Observe
from inbox.web.oidc import OidcConfig
from inbox.web.pages import (
    actions,
    admin,
    bulk,
    cases,
    checkin,
    decisions,
    filters,
    measures,
    notify,
    public_info,
    records,
    registration,
    registry,
    reports,
    tasks,
    webform,
)
from inbox.web.pages import privacy as privacy_page
from inbox.web.pages import results as results_page
from inbox.web.render import STATIC, env
from inbox.web.security import SecurityHeaders
from inbox.web.state import ChannelStatus, HealthProbe

# A channel's webhook: (secret-token header, a way to read the body) → (HTTP status, JSON body).
# It checks the secret before it reads the body.
Webhook = Callable[
    [str | None, Callable[[], Awaitable[bytes]]], Awaitable[tuple[int, dict[str, Any]]]
]
# The routes that take file uploads get `max_upload_bytes` instead of `max_request_bytes`. None
# does but the citizen's web form, with its attachments.
UPLOAD_PATHS: tuple[str, ...] = ("/synpunkt",)


# What a person's browser is told for a refusal no route explained (in Swedish), per status.
ERROR_PAGES = {
    403: ("Åtkomst nekad", "Din roll ger inte behörighet till detta."),
    404: ("Finns inte", "Sidan finns inte. Kontrollera adressen eller gå till startsidan."),
    405: ("Det går inte att göra så", "Sidan kan inte användas på det sättet."),
    410: ("Borttaget", "Det du söker är borttaget."),
    413: ("För stort", "Det du skickade är för stort."),
    500: ("Något gick fel", "Något gick fel hos oss. Försök igen om en stund."),
}


def error_page(
    status_code: int, message: str | None, *, headers: Mapping[str, str] | None = None
) -> HTMLResponse:
    """The error page: the route's own Swedish message, or the status's from `ERROR_PAGES`."""
    title, default = ERROR_PAGES.get(status_code, ("Något gick fel", "Sidan kunde inte visas."))
    body = env.get_template("error.html").render(
        title=title, message=message or default, csrf="", flash=None, staff=None
    )
    return HTMLResponse(body, status_code=status_code, headers=headers)


def create_app(
    *,
    sessions: async_sessionmaker[AsyncSession],
    clock: Callable[[], datetime],
    channel_status: ChannelStatus | None = None,
    policy: IntakePolicy | None = None,
    wake_worker: Callable[[], None] | None = None,
    telegram_webhook: Webhook | None = None,
    checkins: CheckinPolicy | None = None,
    secret_key: str,
    https_only: bool = False,
    throttle: Throttle | None = None,
    oidc: OidcConfig | None = None,
    passwords: Passwords | None = None,
    api_docs: bool = True,
    max_request_bytes: int = DEFAULT_LIMIT,
    max_upload_bytes: int = DEFAULT_LIMIT,
    health: HealthPolicy | None = None,
    privacy: PrivacyNotice | None = None,
    metrics: MetricsAccess | None = None,
    access_log: bool = False,
    web_form: WebFormPolicy | None = None,
) -> FastAPI:
    problem = secret_key_problem(secret_key)
    if problem:  # no default and no placeholder: anyone knowing it could forge an admin's session
        raise ValueError(f"the secret key {problem}")
    app = FastAPI(
        title="Synpunkt",
        summary="Feedback intake and shared inbox for social services",
        version="0.1.0",
        # FastAPI's own /docs and /redoc load scripts from a CDN: `add_api_docs` serves ours.
        docs_url=None,
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
        openapi_url="/openapi.json" if api_docs else None,
    )
    app.openapi = with_problem_schema(app)  # type: ignore[method-assign]
    app.state.sessions = sessions
    # For requests that only read (lists, counts): on SQLite they do not queue behind writers.
    app.state.read_sessions = read_sessions(sessions)
    app.state.clock = clock
    app.state.channel_status = channel_status or (lambda: {})
    app.state.health = health or HealthPolicy()  # what makes /healthz answer 503
    app.state.health_probe = HealthProbe()  # one database check at a time
    app.state.policy = policy or IntakePolicy()
    # Called after a commit that queued something to send, so the worker need not wait to poll.
    app.state.wake_worker = wake_worker or (lambda: None)
    app.state.throttle = throttle or Throttle()
    app.state.passwords = passwords or DEFAULT_PASSWORDS  # argon2 parameters (tests: cheap ones)
    app.state.oidc = oidc  # OpenID Connect sign-in, when the municipality's provider is set
    app.state.oidc_client = None  # (config, our client for it), made at the first sign-in
    app.state.checkins = checkins or CheckinPolicy(secret_key=secret_key)
    # The public privacy notice (/integritet): the organisation's facts from its settings.
    app.state.privacy = privacy or PrivacyNotice(controller=app.state.policy.organisation)
    app.state.metrics = metrics or MetricsAccess()  # who may read /metrics (nobody: 404)
    # Every router that takes input refuses text the database cannot store (the Telegram webhook
    # does not: an update is the bot adapter's to clean, and a 422 would only be retried).
    storable = [Depends(refuse_unstorable_text)]
    for api in (cases_api, registry_api, intake_api, audit_api, tasks_api):
        app.include_router(api.router, dependencies=storable)
    app.include_router(decisions_api.router, dependencies=storable)
    app.include_router(checkin.router, dependencies=storable)
    app.include_router(privacy_page.router)  # it takes no input to store
    app.include_router(results_page.router)  # nor does this
    # The citizen's web form: its own checks (`inbox.web.pages.webform`), in the citizen's words.
    app.state.web_form = web_form or WebFormPolicy(secret_key=secret_key)
    app.include_router(webform.router, dependencies=storable)
    app.include_router(public_info.router)

    if telegram_webhook is not None:

        @app.post("/telegram/webhook", include_in_schema=False)
        async def telegram(request: Request) -> JSONResponse:
            status, body = await telegram_webhook(
                request.headers.get("X-Telegram-Bot-Api-Secret-Token"), request.body
            )
            return JSONResponse(body, status_code=status)

    app.include_router(signin.router, dependencies=storable)
    app.include_router(oidc_signin.router, dependencies=storable)
    # Before pages: `/cases/new` is no reference.
    for pages in (
        registration,
        bulk,  # `/cases/bulk` is no reference either
        cases,
        actions,
        registry,
        measures,
        records,
        admin,
        decisions,
        tasks,
        reports,
        notify,
        filters,
    ):
        app.include_router(pages.router, dependencies=storable)
    if api_docs:
        add_api_docs(app)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(  # inside SecurityHeaders, so a 413 carries the headers too
        BodyLimit,
        limit=max_request_bytes,
        uploads=dict.fromkeys(UPLOAD_PATHS, max(max_upload_bytes, max_request_bytes)),
    )
    app.add_middleware(SecurityHeaders)
    # Outermost, so every page sees `request.session`: signed (itsdangerous), HttpOnly, Lax.
    app.add_middleware(
        SessionMiddleware,
        secret_key=secret_key,
        session_cookie="synpunkt_session",
        max_age=10 * 60 * 60,
        same_site="lax",
        https_only=https_only,
    )
    # Outermost of all: every request gets its id and its duration, whatever answers it.
    app.add_middleware(Observe, access_log=access_log)

    @app.exception_handler(SignInRequired)
    async def sign_in_first(request: Request, exc: SignInRequired) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse("/?" + urlencode({"next": target}), status_code=303)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        # The API and every client that does not ask for HTML get problem details (RFC 9457); a
        # person's browser gets a page in Swedish, also for what no route raised (no such path,
        # a body over the limit).
        if request.url.path.startswith("/api") or "text/html" not in request.headers.get(
            "accept", "text/html"
        ):
            return refusal(request, exc.status_code, str(exc.detail), headers=exc.headers)
        message = str(exc.detail) if isinstance(exc, HTTPException) else None
        return error_page(exc.status_code, message, headers=exc.headers)

    @app.exception_handler(Exception)
    async def server_error(request: Request, exc: Exception) -> Response:
        # Logged and re-raised by Starlette; the person sees a page in Swedish, not a bare text.
        if request.url.path.startswith("/api") or "text/html" not in request.headers.get(
            "accept", "text/html"
        ):
            return refusal(request, 500, "Internal Server Error")
        return error_page(500, None)

    @app.exception_handler(RequestValidationError)
    async def malformed(request: Request, exc: RequestValidationError) -> Response:
        return invalid_input(request, exc.errors())

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound) -> Response:
        # The core speaks English to integrators; a person at a page reads Swedish.
        api = request.url.path.startswith("/api")
        detail = (
            str(exc) if api else "Det du söker finns inte, eller så har du inte tillgång till det."
        )
        return await http_error(request, HTTPException(404, detail=detail))

    @app.exception_handler(CaseRemoved)
    async def removed(request: Request, exc: CaseRemoved) -> Response:
        on = exc.removed_at.astimezone(STOCKHOLM).date().isoformat()
        detail = f"Gallrad enligt beslut {exc.decision}. Ärendet {exc.reference} gallrades {on}."
        return await http_error(request, HTTPException(410, detail=detail))

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden) -> Response:
        api = request.url.path.startswith("/api")
        detail = str(exc) if api else "Din roll ger inte behörighet till detta."
        return await http_error(request, HTTPException(403, detail=detail))

    app.include_router(health_api.router)  # it takes no input to check
    app.include_router(metrics_router)  # nor does /metrics
    return app
