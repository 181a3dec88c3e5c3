"""The worker's intake: turns pending ledger rows into cases, and lets no message stall the rest.

A round claims rows within a count and a byte budget, parses them side by side under the parse
budget (`inbox.runners.parse_pool`) and stores a batch of what has parsed in one transaction
(`receive_many`). Claims keep up to two batches parsing, so that the next batch parses in the
pool's processes while this one is stored on the event loop. A parse still running once the
others are done carries on into later rounds, which claim and store the mail behind it meanwhile. A parse whose process died or ran out of memory is tried once more,
alone in a fresh process; a message that cannot be parsed, or whose parse ran out of time or
crashed twice, is kept raw and marked failed for staff. A pool that cannot start a process fails
nothing: the rows wait. The ledger caps how often a row is claimed (`ledger.claim_pending`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import defer
from sqlmodel import col

from inbox.core.db import unit_of_work
from inbox.core.inbound import InboundMessage
from inbox.core.models import IntakeRecord, IntakeStatus
from inbox.intake import ledger
from inbox.intake.receive import IntakePolicy, receive_many
from inbox.runners.parse_pool import (
    InlineParsing,
    ParseCrashed,
    Parser,
    Parsing,
    PoolUnavailable,
)

log = logging.getLogger(__name__)

# After the parse pool could not start a process, claims pause this long (seconds) instead of
# spinning through claim, failed start and release.
UNAVAILABLE_PAUSE_SECONDS = 5.0
# Once the other parses of a round are done, how long to wait for one more before storing what is
# ready: a parse slower than this carries on into later rounds instead of holding up the rest.
SETTLE_SECONDS = 0.5
# The lease of a row still parsing is renewed once this much of it has passed (by the runner's
# clock), not at every round: a round is far shorter than a lease.
RENEW_AFTER = ledger.LEASE / 4

Result = InboundMessage | BaseException


@dataclass
class _Parse:
    row_id: int
    raw_size: int
    attempts: int
    task: asyncio.Task[InboundMessage]
    leased_at: datetime  # when its lease was taken or last renewed


class IntakeRunner:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        parsers: Mapping[str, Parser],
        policy: IntakePolicy,
        clock: Callable[[], datetime],
        parsing: Parsing | None = None,
        batch_size: int = 50,
        batch_bytes: int = ledger.BATCH_BYTES,
        max_attempts: int = ledger.MAX_ATTEMPTS,
        settle: float = SETTLE_SECONDS,
    ) -> None:
        self._sessions = sessions
        self._parsers = parsers
        self._policy = policy
        self._clock = clock
        # Parsing is CPU-bound: a pool of processes runs it beside the event loop, not under it
        # (`synpunkt serve` and `worker` pass one); threads without one (tests, one-shot commands).
        self._parsing = parsing or InlineParsing()
        self._batch_size = batch_size
        # Rows claimed and parsing at once: this batch and the next, which parses while this one
        # is stored. The byte budget holds for all of them together.
        self._in_flight = 2 * batch_size
        self._batch_bytes = batch_bytes
        self._max_attempts = max_attempts
        self._settle = settle
        # A parse finished, so another round can store it: the worker listens (`Worker`).
        self.on_progress: Callable[[], None] = lambda: None
        self._parses: dict[int, _Parse] = {}  # in claim order
        self._parse_ended = asyncio.Event()  # set as each parse ends
        self._paused_until = 0.0  # monotonic; while the parse pool cannot start processes

    @property
    def busy(self) -> bool:
        """Whether parses are still running (carried over from an earlier round)."""
        return bool(self._parses)

    def status(self) -> dict[str, Any]:
        parsing = self._parsing.status()
        return {
            "parsing": parsing,
            "parses_running": len(self._parses),
            "problem": parsing["problem"],
        }

    async def run_once(self) -> int:
        """One round: claim, parse, store a batch of what is ready; returns how many rows it
        finished."""
        await self._claim()
        if not self._parses:
            return 0
        return await self._store_finished(await self._finished())

    async def close(self) -> None:
        """Stops the parses still running and gives their rows back (this is not their fault)."""
        parses = list(self._parses.values())
        self._parses.clear()
        for parse in parses:
            parse.task.cancel()
        await asyncio.gather(*(parse.task for parse in parses), return_exceptions=True)
        if parses:
            with contextlib.suppress(Exception):  # else their leases run out and they are retried
                async with unit_of_work(self._sessions) as session:
                    await ledger.release(session, [parse.row_id for parse in parses])

    async def _claim(self) -> None:
        count = self._in_flight - len(self._parses)
        size = self._batch_bytes - sum(parse.raw_size for parse in self._parses.values())
        async with unit_of_work(self._sessions) as session:
            now = self._clock()
            renew = [p for p in self._parses.values() if now - p.leased_at >= RENEW_AFTER]
            await ledger.renew_leases(session, [parse.row_id for parse in renew], now=now)
            for parse in renew:
                parse.leased_at = now
            paused = time.monotonic() < self._paused_until
            if paused or count <= 0 or (self._parses and size <= 0):
                return
            rows = await ledger.claim_pending(
                session, now=now, limit=count, max_bytes=size, max_attempts=self._max_attempts
            )
            if self._parses and any(row.attempts > 1 for row in rows):
                # A row claimed before that did not finish comes alone (`ledger.claim_pending`),
                # so that whatever killed its worker counts against it only: not beside the
                # parses in flight, then. Given back, it is claimed once they are stored.
                await ledger.release(session, [row.id for row in rows if row.id is not None])
                return
            claimed = [
                (row.id, row.channel, row.external_id, row.raw or b"", row.raw_size, row.attempts)
                for row in rows
                if row.id is not None
            ]
        for row_id, channel, external_id, raw, raw_size, attempts in claimed:
            task = asyncio.create_task(self._parse(channel, raw, external_id))
            task.add_done_callback(self._ended)
            self._parses[row_id] = _Parse(row_id, raw_size, attempts, task, now)

    def _ended(self, _: asyncio.Task[InboundMessage]) -> None:
        self._parse_ended.set()
        self.on_progress()

    async def _finished(self) -> list[_Parse]:
        """The next batch to store, in claim order: waits while parses keep finishing until a
        batch or every parse is done, and stops at the first lull of `settle` seconds."""
        while True:
            done = [parse for parse in self._parses.values() if parse.task.done()]
            if len(done) >= self._batch_size or len(done) == len(self._parses):
                return done[: self._batch_size]
            self._parse_ended.clear()
            try:
                async with asyncio.timeout(self._settle):
                    await self._parse_ended.wait()
            except TimeoutError:
                return done

    async def _parse(self, channel: str, raw: bytes, external_id: str) -> InboundMessage:
        parser = self._parsers.get(channel)
        if parser is None:
            raise LookupError(f"no parser for channel {channel!r}")
        try:
            msg = await self._parsing.parse(parser, raw)
        except ParseCrashed as first:
            # Perhaps not this message's doing (the OOM killer picks a process, not a message):
            # once more, alone in a fresh process; a second crash is the message's.
            log.warning("intake %s: %s; trying once more", external_id[:100], first)
            try:
                msg = await self._parsing.parse(parser, raw)
            except ParseCrashed as second:
                raise type(second)(f"{second}; tried twice") from None
        # The ledger row's key wins: the edge computed it before the full parse.
        return msg if msg.external_id == external_id else replace(msg, external_id=external_id)

    async def _store_finished(self, finished: list[_Parse]) -> int:
        """Stores a batch in one transaction; should the database refuse one message, the batch
        is stored again one message at a time, so only that message waits for its retry."""
        batch: list[tuple[int, Result]] = []
        unavailable: list[int] = []
        for parse in finished:
            del self._parses[parse.row_id]
            error = parse.task.exception()
            if isinstance(error, PoolUnavailable):
                unavailable.append(parse.row_id)
            else:
                batch.append((parse.row_id, error or parse.task.result()))
        if unavailable:
            # Not the message's fault: it waits, unclaimed, for the pool to come back.
            self._paused_until = time.monotonic() + UNAVAILABLE_PAUSE_SECONDS
            async with unit_of_work(self._sessions) as session:
                await ledger.release(session, unavailable)
        if not batch:
            return 0
        attempts = {parse.row_id: parse.attempts for parse in finished}
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
                    await self._store_failed(
                        row_id,
                        f"cannot store: {type(exc).__name__}: {exc}",
                        final=attempts[row_id] >= self._max_attempts,
                    )
        return len(batch)

    async def _store(self, batch: list[tuple[int, Result]]) -> None:
        async with unit_of_work(self._sessions) as session:
            ids = [row_id for row_id, _ in batch]
            # Without the raw message, read at the claim already: storing writes the row's status.
            locked = await session.execute(
                select(IntakeRecord)
                .where(col(IntakeRecord.id).in_(ids))
                .options(defer(IntakeRecord.raw, raiseload=True))  # type: ignore[arg-type]
                .with_for_update()
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

    async def _store_failed(self, row_id: int, error: str, *, final: bool) -> None:
        async with unit_of_work(self._sessions) as session:
            if not final:
                await ledger.note_error(session, row_id, error=error)
                return
            row = await session.get(IntakeRecord, row_id)
            if row is not None and row.status == IntakeStatus.PENDING:
                ledger.mark_failed(row, error=error, now=self._clock())
