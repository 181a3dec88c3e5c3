"""The worker's notifier: turns the events staff may be told of into outbox rows, and queues the
daily digest when its hour has come (`inbox.cases.notifications` has the rules).

It runs in the worker's rounds before the outbox, so a notification usually leaves in the same
round; the digest is looked for (and events told of a week ago pruned) at most once a minute.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox.cases.notifications import NotifyPolicy, notify_pending, prune_events, send_digests
from inbox.core.db import unit_of_work

DIGEST_EVERY = timedelta(minutes=1)


class Notifier:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        policy: NotifyPolicy,
        clock: Callable[[], datetime],
    ) -> None:
        self._sessions = sessions
        self._policy = policy
        self._clock = clock
        self._digest_checked: datetime | None = None

    async def run_once(self) -> int:
        """One batch of events, and the digests when due; how many events and digests."""
        now = self._clock()
        async with unit_of_work(self._sessions) as session:
            done = await notify_pending(session, policy=self._policy, now=now)
        if self._digest_checked is None or now - self._digest_checked >= DIGEST_EVERY:
            self._digest_checked = now
            async with unit_of_work(self._sessions) as session:
                done += await send_digests(session, policy=self._policy, now=now)
                await prune_events(session, now=now)
        return done
