"""The worker: turns committed raw messages into cases, and sends what the outbox holds.

Intake: claim pending ledger rows, parse each with its channel's parser (in a thread, so the event
loop keeps answering SMTP), and `receive()` it in a transaction of its own; a row that cannot be
parsed is marked failed for staff and never blocks the rows after it. Outbox: claim due rows under a
lease, re-check that each send is still wanted, hand it to its channel's sender, record the result.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import Executor
from dataclasses import replace
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from inbox import checkins, ledger, outbox
from inbox.contacts import find_contact
from inbox.db import unit_of_work
from inbox.delivery import PermanentFailure, Sender, TemporaryFailure
from inbox.inbound import InboundMessage
from inbox.intake import IntakePolicy
from inbox.intake_batch import receive_many
from inbox.models import IntakeRecord, IntakeStatus, OutboxItem, OutboxStatus

log = logging.getLogger(__name__)

Parser = Callable[[bytes], InboundMessage]
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
        parse_executor: Executor | None = None,
        rechecks: Mapping[str, Recheck] | None = None,
    ) -> None:
        self._sessions = sessions
        self._senders = senders
        self._parsers = parsers
        self._policy = policy
        self._clock = clock
        self._max_attempts = max_attempts
        self._batch_size = batch_size
        self._semaphore = asyncio.Semaphore(concurrency)
        self._poll_interval = poll_interval
        # Parsing is CPU-bound: a process pool lets it run beside the event loop, not under it.
        self._parse_executor = parse_executor
        self._wakeup = asyncio.Event()
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

    async def run_once(self) -> int:
        """One round of intake and sending; returns how many rows it handled."""
        return await self.process_intake() + await self.process_outbox()

    async def drain(self) -> None:
        """Works until nothing is due (for tests and one-shot runs)."""
        while await self.run_once():
            pass

    # Intake -----------------------------------------------------------------------------------

    async def process_intake(self) -> int:
        """Parses a batch of pending ledger rows side by side, then stores them in one transaction.

        Should the database refuse one message, the batch is stored again one message at a time,
        so only that message waits for its retry; a message that cannot be parsed is marked failed.
        """
        async with unit_of_work(self._sessions) as session:
            rows = await ledger.claim_pending(session, now=self._clock(), limit=self._batch_size)
            claimed = [(row.id, row.channel, row.external_id, row.raw or b"") for row in rows]
            attempts = {row.id: row.attempts for row in rows}
        if not claimed:
            return 0
        parsed = await asyncio.gather(
            *(self._parse(channel, raw, external_id) for _id, channel, external_id, raw in claimed),
            return_exceptions=True,
        )
        batch = [(row_id, result) for (row_id, *_), result in zip(claimed, parsed, strict=True)]
        try:
            await self._store(batch)
        except Exception:
            for one in batch:
                try:
                    await self._store([one])
                except Exception as exc:
                    row_id = one[0]
                    log.exception(
                        "intake %s: could not store (attempt %s)", row_id, attempts[row_id]
                    )
                    if attempts[row_id] >= ledger.MAX_ATTEMPTS:
                        await self._fail_intake(
                            row_id, f"cannot store: {type(exc).__name__}: {exc}"
                        )
        return len(claimed)

    async def _store(self, batch: list[tuple[int | None, InboundMessage | BaseException]]) -> None:
        async with unit_of_work(self._sessions) as session:
            ids = [row_id for row_id, _ in batch]
            locked = await session.execute(
                select(IntakeRecord).where(col(IntakeRecord.id).in_(ids)).with_for_update()
            )
            by_id = {row.id: row for row in locked.scalars()}
            now = self._clock()
            ready: list[tuple[InboundMessage, IntakeRecord]] = []
            for row_id, result in batch:
                row = by_id.get(row_id)
                if row is None or row.status != IntakeStatus.PENDING:
                    continue
                if isinstance(result, BaseException):
                    # Any parser failure is final: the raw message is kept for staff.
                    log.warning("intake %s: cannot parse: %s", row_id, result)
                    error = f"cannot parse: {type(result).__name__}: {result}"
                    ledger.mark_failed(row, error=error, now=now)
                    continue
                ready.append((result, row))
            await receive_many(session, ready, policy=self._policy, now=now)

    async def _parse(self, channel: str, raw: bytes, external_id: str) -> InboundMessage:
        parser = self._parsers.get(channel)
        if parser is None:
            raise LookupError(f"no parser for channel {channel!r}")
        # No executor given: the loop's default thread pool.
        msg = await asyncio.get_running_loop().run_in_executor(self._parse_executor, parser, raw)
        # The ledger row's key wins: the edge computed it before the full parse.
        return msg if msg.external_id == external_id else replace(msg, external_id=external_id)

    async def _fail_intake(self, row_id: int | None, error: str) -> None:
        async with unit_of_work(self._sessions) as session:
            row = await session.get(IntakeRecord, row_id)
            if row is not None and row.status == IntakeStatus.PENDING:
                ledger.mark_failed(row, error=error, now=self._clock())

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
