"""Heartbeats: every long-running part (web, worker, smtp, imap, bot) says it is alive.

A process runs one `Heartbeats` task for the parts it runs: every interval it writes one row per
living part (one upsert for them all), and on a clean shutdown it marks them stopped. `/healthz`
(`inbox.runners.health`) reads the rows, so any web process sees every part wherever it runs, and
a part whose process died or hangs goes stale. A beat that fails is logged and never stops a part.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from enum import StrEnum
from importlib.metadata import PackageNotFoundError, version

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from inbox.core.db import unit_of_work, upsert
from inbox.core.models import Heartbeat as HeartbeatRow

log = logging.getLogger(__name__)

# Rows whose last beat is older than this are pruned when a process starts beating: `/healthz`
# expects a part that beat within the last day (`HealthPolicy.remembered`).
KEEP = timedelta(days=1)
# A beat that takes longer than its interval, and at least this long, is given up (and logged), so
# that a database that hangs cannot hold a shutdown (SQLite: its busy timeout bounds the wait).
MIN_TIMEOUT = 5.0


class Part(StrEnum):
    WEB = "web"
    WORKER = "worker"
    SMTP = "smtp"
    IMAP = "imap"
    BOT = "bot"


def instance_id() -> str:
    """This process: its host and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"[:200]


def package_version() -> str:
    try:
        return version("synpunkt")
    except PackageNotFoundError:
        return "unknown"


async def beat(
    session: AsyncSession,
    *,
    parts: list[str],
    instance: str,
    version: str,
    started_at: datetime,
    now: datetime,
) -> None:
    """One row per part of this process says it is alive at `now`: one statement for all."""
    if not parts:
        return
    statement = upsert(session, HeartbeatRow).values(
        [
            {
                "part": part,
                "instance": instance,
                "version": version,
                "started_at": started_at,
                "beat_at": now,
                "stopped_at": None,
            }
            for part in parts
        ]
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["part", "instance"],
            set_={
                "version": statement.excluded.version,
                "started_at": statement.excluded.started_at,
                "beat_at": statement.excluded.beat_at,
                "stopped_at": None,
            },
        )
    )


async def mark_stopped(
    session: AsyncSession, *, parts: list[str], instance: str, now: datetime
) -> None:
    await session.execute(
        update(HeartbeatRow)
        .where(col(HeartbeatRow.instance) == instance, col(HeartbeatRow.part).in_(parts))
        .values(stopped_at=now)
    )


async def prune(session: AsyncSession, *, before: datetime) -> None:
    await session.execute(delete(HeartbeatRow).where(col(HeartbeatRow.beat_at) < before))


class Heartbeats:
    """The heartbeat task of one process, for the parts it runs (`add` each before `run`).

    A part beats while its `alive()` says so (its task still runs, its server still serves); a part
    that is not alive, or a process whose event loop is blocked, stops beating and goes stale.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        clock: Callable[[], datetime],
        interval: float,
        instance: str | None = None,
        version: str | None = None,
        timeout: float | None = None,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self.interval = interval
        self.timeout = timeout or max(interval, MIN_TIMEOUT)  # for each write
        self.instance = instance or instance_id()
        self.version = (version or package_version())[:32]
        self.started_at = clock()
        self._parts: dict[str, Callable[[], bool]] = {}
        self._failing = False

    def add(self, part: str, alive: Callable[[], bool] | None = None) -> None:
        self._parts[part] = alive or (lambda: True)

    @property
    def parts(self) -> list[str]:
        return list(self._parts)

    async def run(self, stop: asyncio.Event) -> None:
        """Beats every interval until `stop`; never raises (a failed beat is logged)."""
        await self._quietly("prune old heartbeats", self._prune)
        while not stop.is_set():
            await self.beat_once()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.interval)

    async def beat_once(self) -> bool:
        """Writes this process's living parts' beat; False (logged) when it could not."""
        living = [part for part, alive in self._parts.items() if alive()]
        return await self._quietly("heartbeat", lambda session: self._beat(session, living))

    async def stopped(self) -> None:
        """Marks every part of this process stopped (a clean shutdown: not stale, not expected)."""
        await self._quietly("heartbeat (stopped)", self._stopped)

    async def _beat(self, session: AsyncSession, living: list[str]) -> None:
        await beat(
            session,
            parts=living,
            instance=self.instance,
            version=self.version,
            started_at=self.started_at,
            now=self._clock(),
        )

    async def _stopped(self, session: AsyncSession) -> None:
        await mark_stopped(session, parts=self.parts, instance=self.instance, now=self._clock())

    async def _prune(self, session: AsyncSession) -> None:
        await prune(session, before=self._clock() - KEEP)

    async def _quietly(self, what: str, work: Callable[[AsyncSession], Awaitable[None]]) -> bool:
        try:
            async with (
                asyncio.timeout(self.timeout),
                unit_of_work(self._sessions) as session,
            ):
                await work(session)
        except Exception as exc:  # a part must never stop because its heartbeat failed
            if not self._failing:
                first = str(exc).strip().splitlines()[:1]
                log.warning("%s failed: %s", what, ": ".join([type(exc).__name__, *first]))
            self._failing = True
            return False
        if self._failing:
            log.info("%s written again", what)
        self._failing = False
        return True
