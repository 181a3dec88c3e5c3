"""`/metrics`: this process's metrics and the database's backlog in Prometheus's text format.

Off unless the operator allows someone: a bearer token (SYNPUNKT_METRICS_TOKEN), networks whose
addresses need none (SYNPUNKT_METRICS_NETWORKS), or both. Off, it answers 404 as if it did not
exist. It takes no staff principal: Prometheus is no staff member, and the numbers name nobody.

The web app serves it at `/metrics`; a process without the web app (`synpunkt worker`, `smtp`,
`imap`, `bot`) serves the same on SYNPUNKT_METRICS_LISTEN (`metrics_app`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.applications import Starlette
from starlette.routing import Route

from inbox.core.metrics import METRICS, Backlog, MetricsAccess, backlog
from inbox.web.state import Clock, MetricsRules, ReadSessions

# The database has this long (seconds) to give the backlog; past it, /metrics answers without.
BACKLOG_TIMEOUT = 2.0


async def exposition(sessions: async_sessionmaker[AsyncSession], now: datetime) -> bytes:
    """The process's metrics, and the backlog as the database tells it now (when it answers)."""
    found: Backlog | None
    try:
        async with asyncio.timeout(BACKLOG_TIMEOUT), sessions() as session:
            found = await backlog(session, now=now)
    except Exception:  # the counters are worth having when the database is not
        found = None
    return generate_latest(METRICS.registry) + _backlog_text(found)


def _backlog_text(found: Backlog | None) -> bytes:
    registry = CollectorRegistry()
    up = Gauge("synpunkt_database_up", "Whether the database gave the backlog", registry=registry)
    up.set(found is not None)
    if found is not None:
        for name, text, value in (
            ("intake_pending", "Received messages waiting for the worker", found.intake_pending),
            (
                "intake_oldest_pending_seconds",
                "How long the oldest waiting message has waited",
                found.intake_oldest_seconds,
            ),
            ("outbox_pending", "Sends waiting, due or planned", found.outbox_pending),
            (
                "outbox_oldest_due_seconds",
                "How long the oldest due send has been due",
                found.outbox_oldest_due_seconds,
            ),
        ):
            Gauge(f"synpunkt_{name}", text, registry=registry).set(value)
    return generate_latest(registry)


async def answer(
    request: Request,
    rules: MetricsAccess,
    sessions: async_sessionmaker[AsyncSession],
    clock: Callable[[], datetime],
) -> Response:
    client = request.client.host if request.client else None
    refused = rules.refusal(client, request.headers.get("authorization"))
    if refused is not None:
        headers = {"WWW-Authenticate": "Bearer"} if refused == 401 else None
        return Response(status_code=refused, headers=headers)
    return Response(await exposition(sessions, clock()), media_type=CONTENT_TYPE_LATEST)


router = APIRouter()


@router.get("/metrics", include_in_schema=False)
async def metrics(
    request: Request, rules: MetricsRules, sessions: ReadSessions, clock: Clock
) -> Response:
    return await answer(request, rules, sessions, clock)


def metrics_app(
    rules: MetricsAccess,
    sessions: async_sessionmaker[AsyncSession],
    clock: Callable[[], datetime],
) -> Starlette:
    """`/metrics` alone, for SYNPUNKT_METRICS_LISTEN in a process without the web app."""

    async def endpoint(request: Request) -> Response:
        return await answer(request, rules, sessions, clock)

    return Starlette(routes=[Route("/metrics", endpoint)])
