"""The web application: the JSON API, `/healthz` and (later) the staff pages, over one core.

`create_app` receives its collaborators (sessions, clock, channel status) from the composition root;
the app reads no settings of its own.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from inbox import ledger
from inbox.checkins import CheckinPolicy
from inbox.intake import IntakePolicy
from inbox.models import OutboxItem
from inbox.web.api import router as api_router
from inbox.web.checkin_pages import router as checkin_pages_router
from inbox.web.decisions_api import router as decisions_router
from inbox.web.schemas import Health

ChannelStatus = Callable[[], Mapping[str, Any]]
# A channel's webhook: (request body, secret-token header) → (HTTP status, JSON body).
Webhook = Callable[[bytes, str | None], Awaitable[tuple[int, dict[str, Any]]]]


def create_app(
    *,
    sessions: async_sessionmaker[AsyncSession],
    clock: Callable[[], datetime],
    channel_status: ChannelStatus | None = None,
    policy: IntakePolicy | None = None,
    wake_worker: Callable[[], None] | None = None,
    telegram_webhook: Webhook | None = None,
    checkins: CheckinPolicy | None = None,
) -> FastAPI:
    app = FastAPI(
        title="Synpunkt",
        summary="Feedback intake and shared inbox for social services",
        version="0.1.0",
    )
    app.state.sessions = sessions
    app.state.clock = clock
    app.state.channel_status = channel_status or (lambda: {})
    app.state.policy = policy or IntakePolicy()
    # Called after a commit that queued something to send, so the worker need not wait to poll.
    app.state.wake_worker = wake_worker or (lambda: None)
    app.include_router(api_router)
    app.state.checkins = checkins or CheckinPolicy()
    app.include_router(decisions_router)
    app.include_router(checkin_pages_router)

    if telegram_webhook is not None:

        @app.post("/telegram/webhook", include_in_schema=False)
        async def telegram(request: Request) -> JSONResponse:
            status, body = await telegram_webhook(
                await request.body(), request.headers.get("X-Telegram-Bot-Api-Secret-Token")
            )
            return JSONResponse(body, status_code=status)

    @app.get("/healthz", response_model=Health, tags=["health"], summary="Liveness and queues")
    async def healthz(request: Request) -> Any:
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
        except Exception as exc:  # report, don't raise: a health check must answer
            return JSONResponse(
                {
                    "status": "error",
                    "database": f"{type(exc).__name__}",
                    "intake": {},
                    "outbox": {},
                },
                status_code=503,
            )
        body = Health(status="ok", database="ok", intake=intake, outbox=outbox).model_dump()
        body["channels"] = dict(request.app.state.channel_status())
        return JSONResponse(body)

    return app
