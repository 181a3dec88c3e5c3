"""What the composition root gave the app, as typed dependencies: a route declares what it needs.

`create_app` keeps each part on `app.state`, an untyped namespace. This module is the one place
that reads it back: one function per part, with the part's real type, and an `Annotated` alias a
route or dependency takes as a parameter (`clock: Clock`, `policy: Policy`). FastAPI calls each
function at most once per request; they are coroutines, so none takes a trip through the thread
pool. Who is asking is not here but in `inbox.web.deps`, built on these.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox.checkins.plan import CheckinPolicy
from inbox.core.metrics import MetricsAccess
from inbox.core.privacy import PrivacyNotice
from inbox.intake.receive import IntakePolicy
from inbox.intake.web_form import WebFormPolicy
from inbox.runners.health import HealthPolicy
from inbox.staff.passwords import Passwords
from inbox.staff.signin import Throttle
from inbox.web.oidc import OidcClient, OidcConfig, client_for

# What each channel last reported, by channel name (a "problem" key makes /healthz answer 503).
ChannelStatus = Callable[[], Mapping[str, Any]]


@dataclass(slots=True)
class HealthProbe:
    """The database checks in progress, by name, if they outlived a request: `/healthz` and
    `/readyz` run one of each at a time."""

    tasks: dict[str, asyncio.Task[Any]] = field(default_factory=dict)


@dataclass
class ResultsCache:
    """The public results' figures of one day, kept a while: anyone may load `/resultat`."""

    day: date | None = None
    at: float = 0.0  # time.monotonic() when they were made
    data: dict[str, Any] | None = None


async def sessions(request: Request) -> async_sessionmaker[AsyncSession]:
    factory: async_sessionmaker[AsyncSession] = request.app.state.sessions
    return factory


async def read_sessions(request: Request) -> async_sessionmaker[AsyncSession]:
    """Sessions for work that only reads (see `inbox.core.db.read_sessions`)."""
    factory: async_sessionmaker[AsyncSession] = request.app.state.read_sessions
    return factory


async def clock(request: Request) -> Callable[[], datetime]:
    now: Callable[[], datetime] = request.app.state.clock
    return now


async def intake_policy(request: Request) -> IntakePolicy:
    policy: IntakePolicy = request.app.state.policy
    return policy


async def checkin_policy(request: Request) -> CheckinPolicy:
    policy: CheckinPolicy = request.app.state.checkins
    return policy


async def wake_worker(request: Request) -> Callable[[], None]:
    """Called after a commit that queued something to send, so the worker need not wait to poll."""
    wake: Callable[[], None] = request.app.state.wake_worker
    return wake


async def throttle(request: Request) -> Throttle:
    limits: Throttle = request.app.state.throttle
    return limits


async def passwords(request: Request) -> Passwords:
    hashing: Passwords = request.app.state.passwords
    return hashing


async def oidc_config(request: Request) -> OidcConfig | None:
    """The municipality's OpenID Connect provider, when sign-in through it is set up."""
    config: OidcConfig | None = request.app.state.oidc
    return config


async def oidc_provider(request: Request, config: Oidc) -> tuple[OidcConfig, OidcClient]:
    """The provider and our client for it (made at first use); 404 when it is not set up."""
    if config is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="Inloggning via kommunen är inte på.")
    made: tuple[OidcConfig, OidcClient] | None = request.app.state.oidc_client
    if made is None or made[0] is not config:
        made = (config, client_for(config))
        request.app.state.oidc_client = made
    return made


async def channel_status(request: Request) -> ChannelStatus:
    report: ChannelStatus = request.app.state.channel_status
    return report


async def health_policy(request: Request) -> HealthPolicy:
    policy: HealthPolicy = request.app.state.health
    return policy


async def health_probe(request: Request) -> HealthProbe:
    probe: HealthProbe = request.app.state.health_probe
    return probe


async def results_cache(request: Request) -> ResultsCache:
    cache: ResultsCache | None = getattr(request.app.state, "results_cache", None)
    if cache is None:  # one per app, made by its first visitor
        cache = request.app.state.results_cache = ResultsCache()
    return cache


async def web_form(request: Request) -> WebFormPolicy:
    policy: WebFormPolicy = request.app.state.web_form
    return policy


async def privacy_notice(request: Request) -> PrivacyNotice:
    notice: PrivacyNotice = request.app.state.privacy
    return notice


async def metrics_access(request: Request) -> MetricsAccess:
    """Who may read `/metrics` (nobody: off)."""
    rules: MetricsAccess = request.app.state.metrics
    return rules


Sessions = Annotated[async_sessionmaker[AsyncSession], Depends(sessions)]
ReadSessions = Annotated[async_sessionmaker[AsyncSession], Depends(read_sessions)]
Clock = Annotated[Callable[[], datetime], Depends(clock)]
Policy = Annotated[IntakePolicy, Depends(intake_policy)]
Checkins = Annotated[CheckinPolicy, Depends(checkin_policy)]
WakeWorker = Annotated[Callable[[], None], Depends(wake_worker)]
SignInThrottle = Annotated[Throttle, Depends(throttle)]
PasswordHashing = Annotated[Passwords, Depends(passwords)]
Oidc = Annotated[OidcConfig | None, Depends(oidc_config)]
OidcProvider = Annotated[tuple[OidcConfig, OidcClient], Depends(oidc_provider)]
Channels = Annotated[ChannelStatus, Depends(channel_status)]
HealthLimits = Annotated[HealthPolicy, Depends(health_policy)]
Probe = Annotated[HealthProbe, Depends(health_probe)]
Notice = Annotated[PrivacyNotice, Depends(privacy_notice)]
Results = Annotated[ResultsCache, Depends(results_cache)]
MetricsRules = Annotated[MetricsAccess, Depends(metrics_access)]
WebForm = Annotated[WebFormPolicy, Depends(web_form)]
