"""The worker: turns committed raw messages into cases, and sends what the outbox holds.

Intake (`inbox.runners.intake_runner`): claim pending ledger rows, parse each with its channel's parser
under the parse budget (in processes beside the event loop, so it keeps answering SMTP), and store
them as cases; a row that cannot be parsed is marked failed for staff and never blocks the rows
after it. Outbox (`inbox.runners.outbox_runner`): claim due rows for the free send slots and send them
beside intake, each under a lease renewed while it runs and within the send timeout.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox.checkins.plan import RECHECKS
from inbox.core import outbox
from inbox.intake import ledger
from inbox.intake.receive import IntakePolicy
from inbox.runners.delivery import Sender
from inbox.runners.intake_runner import IntakeRunner
from inbox.runners.outbox_runner import SEND_TIMEOUT, OutboxRunner, Recheck
from inbox.runners.parse_pool import InlineParsing, Parser, Parsing

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


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
        lease: timedelta = outbox.LEASE,
        send_timeout: timedelta = SEND_TIMEOUT,
        poll_interval: float = 2.0,
        parsing: Parsing | None = None,
        intake_batch_bytes: int = ledger.BATCH_BYTES,
        intake_max_attempts: int = ledger.MAX_ATTEMPTS,
        rechecks: Mapping[str, Recheck] | None = None,
    ) -> None:
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
        self._outbox = OutboxRunner(
            sessions,
            senders=senders,
            clock=clock,
            # On by default: a worker built without them would send unwanted check-ins.
            rechecks=RECHECKS if rechecks is None else rechecks,
            max_attempts=max_attempts,
            batch_size=batch_size,
            concurrency=concurrency,
            lease=lease,
            send_timeout=send_timeout,
            on_progress=self.wake,
        )

    def wake(self) -> None:
        """Called by an in-process adapter right after it committed something to do."""
        self._wakeup.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Rounds of intake and sending until `stop`; then waits for the sends in flight."""
        while not stop.is_set():
            # Cleared before the round, not after it: a wake() that arrives while the round runs
            # (after its claim query) must start another round instead of being lost.
            self._wakeup.clear()
            try:
                # Not run_once: the sends this starts run on beside the next rounds' intake.
                done = await self.process_intake() + await self.process_outbox()
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
        await self.wait_for_sends()
        await self._intake.close()

    async def run_once(self) -> int:
        """One round of intake and sending, its sends finished; returns how many rows it handled.

        For tests and one-shot runs: `run` does not wait for sends, so intake goes on beside them.
        """
        handled = await self.process_intake() + await self.process_outbox()
        await self.wait_for_sends()
        return handled

    async def drain(self) -> None:
        """Works until nothing is due, no send is in flight and no parse runs (for tests and
        one-shot runs)."""
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
        """Claims due rows for the free send slots and starts sending them (see `OutboxRunner`);
        returns how many it claimed, without waiting for the sends."""
        return await self._outbox.run_once()

    @property
    def sending(self) -> int:
        """How many sends are in flight."""
        return self._outbox.sending

    async def wait_for_sends(self) -> None:
        """Returns once no send is in flight (each ends within the send timeout)."""
        await self._outbox.wait()
