"""`/healthz`: liveness, the queues and intake problems, for monitoring; no sign-in.

503 when there is a problem, each named in `problems`: the database's (an error, or no answer
within the policy's timeout), the intake's (`inbox.runners.health`) or a channel's own report.
The database is checked once at a time, however many requests wait for the answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from inbox.core.models import OutboxItem
from inbox.intake import ledger
from inbox.runners.health import HealthPolicy, intake_problems
from inbox.web.api.schemas import Health
from inbox.web.state import Channels, Clock, DatabaseHealth, HealthLimits, Probe, Sessions

router = APIRouter()


@router.get(
    "/healthz",
    response_model=Health,
    tags=["health"],
    summary="Liveness, queues and intake problems (503 when there are any)",
    responses={503: {"model": Health, "description": "a problem, named in `problems`"}},
)
async def healthz(
    sessions: Sessions,
    clock: Clock,
    policy: HealthLimits,
    probe: Probe,
    channel_status: Channels,
) -> Any:
    if probe.task is None or probe.task.done():
        # One database check at a time: while the database does not answer, later requests
        # wait on the same check instead of piling up connections behind the same lock.
        probe.task = asyncio.create_task(_database_health(sessions, policy, clock()))
    task = probe.task
    done, _ = await asyncio.wait({task}, timeout=policy.timeout)
    channels = dict(channel_status())
    problems = [
        f"{name}: {status['problem']}"
        for name, status in channels.items()
        if isinstance(status, Mapping) and status.get("problem")
    ]
    if done:
        database, intake, outbox, found = task.result()
    else:
        database, intake, outbox = "busy", {}, {}
        found = [f"database busy: no answer within {policy.timeout:g} s"]
    problems = found + problems
    body = Health(
        status="error" if problems else "ok",
        database=database,
        intake=intake,
        outbox=outbox,
        problems=problems,
    ).model_dump()
    body["channels"] = channels
    return JSONResponse(body, status_code=503 if problems else 200)


async def _database_health(
    sessions: async_sessionmaker[AsyncSession], policy: HealthPolicy, now: datetime
) -> DatabaseHealth:
    """(database, intake counts, outbox counts, problems); reports errors, never raises."""
    try:
        async with sessions() as session:
            await session.execute(text("SELECT 1"))
            intake = await ledger.count_by_status(session)
            outbox = dict(
                (
                    await session.execute(
                        select(col(OutboxItem.status), func.count()).group_by(
                            col(OutboxItem.status)
                        )
                    )
                ).all()
            )
            problems = await intake_problems(session, policy=policy, now=now)
    except Exception as exc:  # report, don't raise: a health check must answer
        name = type(exc).__name__
        return name, {}, {}, [f"database error: {name}"]
    return "ok", intake, outbox, problems
