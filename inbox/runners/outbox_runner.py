"""The worker's outbox: sends what is due, each message once, beside intake.

A round claims due rows (no more than there are free send slots) under a lease and starts a task
per row: re-check that the send is still wanted, hand it to the channel's sender within the send
timeout, record the result. The round does not wait for its sends, so a slow relay never holds up
new cases; a heartbeat renews the leases of the sends in flight, so no other worker takes a row
that is still being sent. A late outcome never overwrites that of a newer claim of the row.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox.cases.contacts import find_contact
from inbox.checkins.plan import RECHECKS
from inbox.core import outbox
from inbox.core.db import unit_of_work
from inbox.core.models import OutboxItem, OutboxStatus
from inbox.runners.delivery import PermanentFailure, Sender, TemporaryFailure

log = logging.getLogger(__name__)

# A per-kind re-check before sending: why the row is no longer wanted, or None to send it.
Recheck = Callable[[AsyncSession, OutboxItem, datetime], Awaitable[str | None]]

# The most one send may take; the settings keep it within half the lease, so that a send ends in
# time even when the heartbeat cannot reach the database to renew its lease.
SEND_TIMEOUT = timedelta(minutes=2)


@dataclass
class _Send:
    """A send in flight: the attempt count its claim set (which no later claim of the row shares,
    so it tells whether the row is still this worker's) and the task running it."""

    claim: int
    task: asyncio.Task[None]


class OutboxRunner:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        senders: Mapping[str, Sender],
        clock: Callable[[], datetime],
        rechecks: Mapping[str, Recheck] | None = None,
        max_attempts: int = 8,
        batch_size: int = 50,
        concurrency: int = 8,
        lease: timedelta = outbox.LEASE,
        send_timeout: timedelta = SEND_TIMEOUT,
    ) -> None:
        if concurrency < 1 or lease <= timedelta(0) or send_timeout <= timedelta(0):
            raise ValueError("the outbox needs a send slot, a lease and a send timeout")
        self._sessions = sessions
        self._senders = senders
        self._clock = clock
        # On by default: a runner built without them would send unwanted check-ins.
        self._rechecks = RECHECKS if rechecks is None else rechecks
        self._max_attempts = max_attempts
        self._batch_size = batch_size
        self._concurrency = concurrency
        self._lease = lease
        self._send_timeout = send_timeout
        # A send ended, so a slot is free for the next round: the worker listens (`Worker`).
        self.on_progress: Callable[[], None] = lambda: None
        self._sends: dict[int, _Send] = {}
        self._no_sends = asyncio.Event()  # set while nothing is in flight: the heartbeat stops
        self._no_sends.set()
        self._heartbeat: asyncio.Task[None] | None = None

    async def run_once(self) -> int:
        """Claims as many due rows as there are free send slots and starts sending them; returns
        how many it claimed, without waiting for the sends (see `wait`).

        A row is claimed only when a slot can send it at once: a row that waited behind slow
        sends would see its lease run out and be sent by another worker as well.
        """
        free = min(self._batch_size, self._concurrency - len(self._sends))
        if free <= 0:
            return 0
        async with unit_of_work(self._sessions) as session:
            claimed = list(
                await outbox.claim_due(
                    session,
                    now=self._clock(),
                    limit=free,
                    lease=self._lease,
                    channels=self._senders,
                )
            )
        for item in claimed:
            self._start(item)
        return len(claimed)

    @property
    def sending(self) -> int:
        """How many sends are in flight."""
        return len(self._sends)

    async def wait(self) -> None:
        """Returns once no send is in flight (each ends within the send timeout)."""
        while self._sends:
            await asyncio.wait([send.task for send in self._sends.values()])
        if self._heartbeat is not None:
            await self._heartbeat
            self._heartbeat = None

    def _start(self, item: OutboxItem) -> None:
        assert item.id is not None
        item_id = item.id
        task = asyncio.create_task(self._deliver(item), name=f"outbox-{item_id}")
        self._sends[item_id] = _Send(item.attempts, task)
        self._no_sends.clear()
        task.add_done_callback(lambda done: self._ended(item_id, done))
        if self._heartbeat is None or self._heartbeat.done():
            self._heartbeat = asyncio.create_task(self._keep_leases(), name="outbox-heartbeat")

    def _ended(self, item_id: int, task: asyncio.Task[None]) -> None:
        self._sends.pop(item_id, None)
        if not task.cancelled() and (exc := task.exception()) is not None:
            # The re-check or the outcome could not be written (the database went away): the
            # lease runs out and the row is tried again; after a send, the one way to send twice.
            log.error("outbox %s: could not check or record the send", item_id, exc_info=exc)
        if not self._sends:
            self._no_sends.set()
        self.on_progress()  # a free slot: the next round may claim another row

    async def _keep_leases(self) -> None:
        """The heartbeat: renews the leases of the sends in flight every third of the lease."""
        every = self._lease.total_seconds() / 3
        while self._sends:
            try:
                await asyncio.wait_for(self._no_sends.wait(), timeout=every)
            except TimeoutError:
                await self._renew_leases()

    async def _renew_leases(self) -> None:
        claims = {item_id: send.claim for item_id, send in self._sends.items()}
        try:
            async with unit_of_work(self._sessions) as session:
                renewed = await outbox.renew_leases(
                    session, claims, now=self._clock(), lease=self._lease
                )
        except Exception:
            # The next beat tries again; the send timeout, well inside the lease, ends the send
            # before another worker could take the row.
            log.exception("outbox: could not renew the leases of %d sends", len(claims))
            return
        lost = sorted(item_id for item_id in claims.keys() - renewed if item_id in self._sends)
        if lost:
            # Finished just now, or its lease ran out before this beat and another worker took
            # it (which may send it too; this worker's failure will not overwrite its outcome).
            log.warning("outbox %s: lease not renewed; finished or taken by another worker", lost)

    async def _deliver(self, item: OutboxItem) -> None:
        reason = await self._unwanted(item)
        if reason is not None:
            await self._finish(item, cancelled=reason)
            return
        sender = self._senders.get(item.channel)
        if sender is None:
            await self._finish(item, temporary=TemporaryFailure(f"no sender for {item.channel}"))
            return
        seconds = self._send_timeout.total_seconds()
        deadline = asyncio.timeout(seconds)
        try:
            async with deadline:
                await sender.send(item)
        except TemporaryFailure as exc:
            await self._finish(item, temporary=exc)
        except PermanentFailure as exc:
            await self._finish(item, permanent=exc)
        except Exception as exc:  # an unexpected bug in a sender must not kill the worker
            if deadline.expired():
                # A relay that never answers must not hold a send slot (and, renewed, the row)
                # for ever; whether it took the message is unknown, so it is tried again later.
                failure = TemporaryFailure(f"send timed out after {seconds:g} s")
            else:
                log.exception("outbox %s: sender raised", item.id)
                failure = TemporaryFailure(f"{type(exc).__name__}: {exc}")
            await self._finish(item, temporary=failure)
        else:
            await self._finish(item)

    async def _unwanted(self, item: OutboxItem) -> str | None:
        """The re-check before sending: is this still wanted now?"""
        async with self._sessions() as session:
            fresh = await session.get(OutboxItem, item.id)
            if fresh is None or fresh.status != OutboxStatus.PENDING:
                return "no longer pending"
            if fresh.attempts != item.attempts:
                return "claimed again by another worker"
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
            succeeded = temporary is None and permanent is None and cancelled is None
            ours = fresh.status == OutboxStatus.PENDING and fresh.attempts == item.attempts
            if not succeeded and not ours:
                # A late failure from a send whose lease ran out: another worker has since taken
                # the row and recorded its outcome (sent, say) or is sending it now, which this
                # must not overwrite. A success is recorded whatever: the message did go out.
                if cancelled is None:
                    log.info(
                        "outbox %s: ignoring a late failure; row is %s, attempt %s, not %s",
                        item.id,
                        fresh.status,
                        fresh.attempts,
                        item.attempts,
                    )
                return
            if cancelled is not None:
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
