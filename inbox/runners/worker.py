"""The worker: turns committed raw messages into cases, and sends what the outbox holds.

Intake (`inbox.runners.intake_runner`): claim pending ledger rows, parse each with its channel's parser
under the parse budget (in processes beside the event loop, so it keeps answering SMTP), and store
them as cases; a row that cannot be parsed is marked failed for staff and never blocks the rows
after it. Outbox: claim due rows under a lease, re-check that each send is still wanted, hand it to
its channel's sender, record the result.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox.cases.contacts import find_contact
from inbox.checkins import plan as checkins
from inbox.core import outbox
from inbox.core.db import unit_of_work
from inbox.core.models import OutboxItem, OutboxStatus
from inbox.intake import ledger
from inbox.intake.receive import IntakePolicy
from inbox.runners.delivery import PermanentFailure, Sender, TemporaryFailure
from inbox.runners.intake_runner import IntakeRunner
from inbox.runners.parse_pool import InlineParsing, Parser, Parsing

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
# A per-kind re-check before sending: why the row is no longer wanted, or None to send it.
Recheck = Callable[[AsyncSession, OutboxItem, datetime], Awaitable[str | None]]


class Worker:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        senders: Mapping[str, Sender],
        parsers: Mapping[str, Parser],
        policy: IntakePolicy,
        clock: Clock,
        max_attempts: int = 8,
        batch_size: int = 50,
        concurrency: int = 8,
        poll_interval: float = 2.0,
        parsing: Parsing | None = None,
        intake_batch_bytes: int = ledger.BATCH_BYTES,
        intake_max_attempts: int = ledger.MAX_ATTEMPTS,
        rechecks: Mapping[str, Recheck] | None = None,
    ) -> None:
        self._sessions = sessions
        self._senders = senders
        self._clock = clock
        self._max_attempts = max_attempts
        self._batch_size = batch_size
        self._semaphore = asyncio.Semaphore(concurrency)
        self._poll_interval = poll_interval
        self._wakeup = asyncio.Event()
        # Parsing is CPU-bound: a pool of processes runs it beside the event loop, not under it
        # (`synpunkt serve` and `worker` pass one); threads without one (tests, one-shot commands).
        self._intake = IntakeRunner(
            sessions,
            parsers=parsers,
            policy=policy,
            clock=clock,
            parsing=parsing or InlineParsing(),
            batch_size=batch_size,
            batch_bytes=intake_batch_bytes,
            max_attempts=intake_max_attempts,
            on_progress=self.wake,
        )
        # On by default: a worker built without them would send check-ins that are no longer wanted.
        self._rechecks = checkins.RECHECKS if rechecks is None else rechecks

    def wake(self) -> None:
        """Called by an in-process adapter right after it committed something to do."""
        self._wakeup.set()

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            # Cleared before the round, not after it: a wake() that arrives while the round runs
            # (after its claim query) must start another round instead of being lost.
            self._wakeup.clear()
            try:
                done = await self.run_once()
            except Exception:
                log.exception("worker round failed; retrying after the poll interval")
                done = 0
            if done:
                continue
            waiters = [
                asyncio.ensure_future(self._wakeup.wait()),
                asyncio.ensure_future(stop.wait()),
            ]
            await asyncio.wait(
                waiters, timeout=self._poll_interval, return_when=asyncio.FIRST_COMPLETED
            )
            for waiter in waiters:
                waiter.cancel()
        await self._intake.close()

    async def run_once(self) -> int:
        """One round of intake and sending; returns how many rows it handled."""
        return await self.process_intake() + await self.process_outbox()

    async def drain(self) -> None:
        """Works until nothing is due and no parse runs (for tests and one-shot runs)."""
        while await self.run_once() or self._intake.busy:
            pass

    # Intake -----------------------------------------------------------------------------------

    async def process_intake(self) -> int:
        """Claims, parses and stores a batch of pending ledger rows (see `IntakeRunner`)."""
        return await self._intake.run_once()

    def status(self) -> dict[str, Any]:
        """What `/healthz` shows of this worker; a "problem" (the parse pool's) makes it 503."""
        return self._intake.status()

    # Outbox -----------------------------------------------------------------------------------

    async def process_outbox(self) -> int:
        async with unit_of_work(self._sessions) as session:
            claimed = list(
                await outbox.claim_due(
                    session, now=self._clock(), limit=self._batch_size, channels=self._senders
                )
            )
        await asyncio.gather(*(self._deliver(item) for item in claimed))
        return len(claimed)

    async def _deliver(self, item: OutboxItem) -> None:
        async with self._semaphore:
            reason = await self._unwanted(item)
            if reason is not None:
                await self._finish(item, cancelled=reason)
                return
            sender = self._senders.get(item.channel)
            if sender is None:
                await self._finish(
                    item, temporary=TemporaryFailure(f"no sender for {item.channel}")
                )
                return
            try:
                await sender.send(item)
            except TemporaryFailure as exc:
                await self._finish(item, temporary=exc)
            except PermanentFailure as exc:
                await self._finish(item, permanent=exc)
            except Exception as exc:  # an unexpected bug in a sender must not kill the worker
                log.exception("outbox %s: sender raised", item.id)
                await self._finish(item, temporary=TemporaryFailure(f"{type(exc).__name__}: {exc}"))
            else:
                await self._finish(item)

    async def _unwanted(self, item: OutboxItem) -> str | None:
        """The re-check before sending: is this still wanted now?"""
        async with self._sessions() as session:
            fresh = await session.get(OutboxItem, item.id)
            if fresh is None or fresh.status != OutboxStatus.PENDING:
                return "no longer pending"
            contact = await find_contact(session, channel=item.channel, address=item.recipient)
            if contact is not None and contact.blocked:
                return "contact blocked"
            if contact is not None and contact.unreachable_at is not None:
                return f"contact unreachable: {contact.unreachable_reason}"
            recheck = self._rechecks.get(fresh.kind)
            if recheck is not None:
                return await recheck(session, fresh, self._clock())
        return None

    async def _finish(
        self,
        item: OutboxItem,
        *,
        temporary: TemporaryFailure | None = None,
        permanent: PermanentFailure | None = None,
        cancelled: str | None = None,
    ) -> None:
        now = self._clock()
        async with unit_of_work(self._sessions) as session:
            fresh = await session.get(OutboxItem, item.id)
            if fresh is None:
                return
            failed = temporary is not None or permanent is not None
            if failed and fresh.status != OutboxStatus.PENDING:
                # A late failure from a send whose lease expired: another worker has since taken
                # the row and recorded its outcome (sent, say), which this must not overwrite.
                log.info("outbox %s: ignoring a late failure; row is %s", item.id, fresh.status)
                return
            if cancelled is not None:
                if fresh.status == OutboxStatus.PENDING:
                    await outbox.mark_cancelled(session, fresh, reason=cancelled, now=now)
            elif temporary is not None:
                log.info("outbox %s: temporary failure: %s", item.id, temporary)
                await outbox.mark_retry(
                    session,
                    fresh,
                    error=str(temporary),
                    now=now,
                    max_attempts=self._max_attempts,
                    retry_after=temporary.retry_after,
                )
            elif permanent is not None:
                log.warning("outbox %s: permanent failure: %s", item.id, permanent)
                await outbox.mark_dead(session, fresh, error=str(permanent), now=now)
                if permanent.unreachable:
                    contact = await find_contact(
                        session, channel=fresh.channel, address=fresh.recipient
                    )
                    if contact is not None:
                        contact.unreachable_at = now
                        contact.unreachable_reason = str(permanent)[:500]
            else:
                await outbox.mark_sent(session, fresh, now=now)
