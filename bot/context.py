"""What the bot's handlers need from the rest of the system, injected as one object.

The composition root builds a `BotContext` and puts it in the dispatcher's workflow data, so that
handlers receive it as the `context` argument; nothing in `bot/` reads settings or globals.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox.checkins.plan import CheckinPolicy


@dataclass
class BotStatus:
    """For `/healthz`: when updates last arrived, and the last error, if any."""

    mode: str = "polling"
    last_ok_at: datetime | None = None
    last_update_at: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    updates: int = 0

    def as_dict(self) -> dict[str, Any]:
        def iso(value: datetime | None) -> str | None:
            return value.isoformat() if value else None

        return {
            "mode": self.mode,
            "last_ok_at": iso(self.last_ok_at),
            "last_update_at": iso(self.last_update_at),
            "last_error": self.last_error,
            "last_error_at": iso(self.last_error_at),
            "updates": self.updates,
        }


@dataclass
class BotContext:
    sessions: async_sessionmaker[AsyncSession]
    clock: Callable[[], datetime]
    wake: Callable[[], None] = lambda: None
    organisation: str = "Socialtjänsten"
    response_days: int = 10
    public_url: str = "http://127.0.0.1:8000"  # where people reach us: the privacy notice's link
    emergency_text: str = ""  # the social on-call service, after "Vid akut fara, ring 112."
    email: str = "synpunkt@synpunkt.localhost"
    web_url: str | None = None
    checkins: CheckinPolicy = field(default_factory=CheckinPolicy)
    status: BotStatus = field(default_factory=BotStatus)
