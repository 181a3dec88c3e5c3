"""Health for monitoring and orchestrators, no sign-in: `/healthz`, `/readyz` and `/livez`.

What `/healthz` and `/readyz` found is shown only to monitoring (`sees_detail`); the internet
sees ok or not.

`/healthz` answers 503 when there is a problem, each named in `problems`: the database's (an
error, or no answer within the policy's timeout), what `inbox.runners.health` finds there (a stale
part, mail waiting with no worker, failures, a stuck claim, an old backlog) or a channel's own
report. `/readyz` answers 503 until the database answers and its schema is at this version's
migration head; `/livez` answers whenever the process does and touches nothing.

Each database check runs once at a time, however many requests wait for its answer.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import asdict
from datetime import datetime
from typing import Any, TypeVar, cast

from alembic.runtime.migration import MigrationContext
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox.core import migrate
from inbox.core.metrics import MetricsAccess
from inbox.runners.health import Findings, HealthPolicy, check
from inbox.web.api.schemas import Health, Liveness, Readiness
from inbox.web.auth.sessions import client_addr
from inbox.web.state import (
    Channels,
    Clock,
    HealthLimits,
    HealthProbe,
    MetricsRules,
    Probe,
    ReadSessions,
    Sessions,
)

router = APIRouter()
T = TypeVar("T")
# /healthz's database check: (database: "ok" or the error's type, what it found there).
DatabaseHealth = tuple[str, Findings]
# The migration this version needs, read from the migration scripts once.
schema_head = functools.cache(migrate.head)


async def _once(
    probe: HealthProbe, name: str, start: Callable[[], Coroutine[Any, Any, T]], within: float
) -> T | None:
    """The answer of the check `name`, or None when it takes longer than `within` seconds.

    One check at a time: while the database does not answer, later requests wait on the same
    check instead of piling up connections behind the same lock.
    """
    task = probe.tasks.get(name)
    if task is None or task.done():
        task = probe.tasks[name] = asyncio.create_task(start())
    done, _ = await asyncio.wait({task}, timeout=within)
    return cast(T, task.result()) if done else None


def _busy(policy: HealthPolicy) -> str:
    return f"database busy: no answer within {policy.timeout:g} s"


@router.get(
    "/healthz",
    response_model=Health,
    tags=["health"],
    summary="Parts, queues and intake problems (503 when there are any)",
    responses={503: {"model": Health, "description": "a problem, named in `problems`"}},
)
async def healthz(
    request: Request,
    sessions: Sessions,
    clock: Clock,
    policy: HealthLimits,
    probe: Probe,
    channel_status: Channels,
    rules: MetricsRules,
) -> Any:
    now = clock()
    answer = await _once(
        probe, "health", lambda: _database_health(sessions, policy, now), policy.timeout
    )
    channels = dict(channel_status())
    problems = [
        f"{name}: {status['problem']}"
        for name, status in channels.items()
        if isinstance(status, Mapping) and status.get("problem")
    ]
    database, found = answer or ("busy", Findings(problems=[_busy(policy)]))
    problems = found.problems + problems
    body = Health.model_validate(
        asdict(found) | {"status": "error" if problems else "ok", "database": database}
    ).model_dump(mode="json") | {"problems": problems, "channels": channels}
    if not sees_detail(request, rules):
        body = {"status": body["status"]}
    return JSONResponse(body, status_code=503 if problems else 200)


def sees_detail(request: Request, rules: MetricsAccess) -> bool:
    """Whether a client may read what `/healthz` found, beyond ok or not: the parts' hosts,
    processes and versions, the counts and the problems help monitoring, and an attacker. A
    client on a loopback or private network may (behind the proxy, the address is the one that
    connected to it); so may one that `/metrics` lets in (its token or networks)."""
    client = client_addr(request)
    try:
        address = ipaddress.ip_address(client or "")
    except ValueError:
        address = None
    if address is not None and (address.is_loopback or address.is_private):
        return True
    return rules.on and rules.refusal(client, request.headers.get("authorization")) is None


async def _database_health(
    sessions: async_sessionmaker[AsyncSession], policy: HealthPolicy, now: datetime
) -> DatabaseHealth:
    """(database, what it found); reports errors, never raises."""
    try:
        async with sessions() as session:
            await session.execute(text("SELECT 1"))
            return "ok", await check(session, policy=policy, now=now)
    except Exception as exc:  # report, don't raise: a health check must answer
        name = type(exc).__name__
        return name, Findings(problems=[f"database error: {name}"])


@router.get(
    "/livez",
    response_model=Liveness,
    tags=["health"],
    summary="Liveness: the process answers (it asks nothing of the database)",
)
async def livez() -> Liveness:
    return Liveness(status="ok")


@router.get(
    "/readyz",
    response_model=Readiness,
    tags=["health"],
    summary="Readiness: the database answers and its schema is migrated (503 otherwise)",
    responses={503: {"model": Readiness, "description": "not ready, why in `problems`"}},
)
async def readyz(
    request: Request,
    sessions: ReadSessions,
    policy: HealthLimits,
    probe: Probe,
    rules: MetricsRules,
) -> Any:
    head = schema_head()
    answer = await _once(probe, "ready", lambda: _schema_revision(sessions), policy.timeout)
    database, revision = answer or ("busy", None)
    problems = []
    if answer is None:
        problems.append(_busy(policy))
    elif database != "ok":
        problems.append(f"database error: {database}")
    elif revision != head:
        problems.append(
            f"schema: the database is at {revision or 'no migration'}, this version needs {head} "
            "(`synpunkt db upgrade`)"
        )
    body = Readiness(
        status="error" if problems else "ok",
        database=database,
        schema_revision=revision,
        head=head,
        problems=problems,
    )
    shown = body.model_dump(mode="json")
    if not sees_detail(request, rules):
        shown = {"status": shown["status"]}
    return JSONResponse(shown, status_code=503 if problems else 200)


async def _schema_revision(
    sessions: async_sessionmaker[AsyncSession],
) -> tuple[str, str | None]:
    """("ok", the database's migration) or (the error's type, None); never raises."""

    def read(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    try:
        async with sessions() as session:
            connection = await session.connection()
            return "ok", await connection.run_sync(read)
    except Exception as exc:  # report, don't raise: a readiness check must answer
        return type(exc).__name__, None
