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
import time
from typing import Any

from inbox.core.metrics import METRICS
from inbox.runners.intake_runner import IntakeRunner
from inbox.runners.notifier import Notifier
from inbox.runners.outbox_runner import OutboxRunner

log = logging.getLogger(__name__)


class Worker:
    """Rounds of the two runners, woken by either of them and by in-process adapters.

    The composition root builds the runners (each with its own collaborators and limits) and
    hands them over; the worker only decides when a round runs.
    """

    def __init__(
        self,
        intake: IntakeRunner,
        outbox: OutboxRunner,
        *,
        notifier: Notifier | None = None,
        poll_interval: float = 2.0,
    ) -> None:
        self._intake = intake
        self._outbox = outbox
        self._notifier = notifier
        self._poll_interval = poll_interval
        self._wakeup = asyncio.Event()
        intake.on_progress = outbox.on_progress = self.wake

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
                done = (
                    await self.process_intake()
                    + await self.process_notifications()
                    + await self.process_outbox()
                )
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
        handled = (
            await self.process_intake()
            + await self.process_notifications()
            + await self.process_outbox()
        )
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
        started = time.perf_counter()
        handled = await self._intake.run_once()
        METRICS.batch_done("intake", started, handled)
        return handled

    def status(self) -> dict[str, Any]:
        """What `/healthz` shows of this worker; a "problem" (the parse pool's) makes it 503."""
        return self._intake.status()

    # Notifications -------------------------------------------------------------------------------

    async def process_notifications(self) -> int:
        """Staff notifications and the daily digest into the outbox (see `Notifier`)."""
        if self._notifier is None:
            return 0
        return await self._notifier.run_once()

    # Outbox -----------------------------------------------------------------------------------

    async def process_outbox(self) -> int:
        """Claims due rows for the free send slots and starts sending them (see `OutboxRunner`);
        returns how many it claimed, without waiting for the sends."""
        started = time.perf_counter()
        claimed = await self._outbox.run_once()
        METRICS.batch_done("outbox", started, claimed)
        return claimed

    @property
    def sending(self) -> int:
        """How many sends are in flight."""
        return self._outbox.sending

    async def wait_for_sends(self) -> None:
        """Returns once no send is in flight (each ends within the send timeout)."""
        await self._outbox.wait()
