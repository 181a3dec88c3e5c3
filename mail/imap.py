"""IMAP intake: read a mailbox on another mail server (Exchange, Dovecot, …) and hand every
message to the intake ledger exactly once, the same way the SMTP edge does.

imapclient is blocking, so each mailbox has one thread of its own that holds the IMAP session
(`mail.imap_session`); the database work (`mail.imap_state`) runs on the event loop
(`asyncio.run_coroutine_threadsafe`). The thread:

1. connects (TLS from the start, or STARTTLS), logs in and selects the mailbox;
2. compares UIDVALIDITY with the stored one: the same, it resumes after the stored last UID and
   first moves away any message at or below it that is still there (a crash between commit and
   move); different, it reads the whole mailbox again (the ledger key drops what it holds);
3. fetches new messages in batches (`UID FETCH … BODY.PEEK[]`) and commits each batch to the
   ledger together with the new last UID, in one transaction;
4. only after that commit moves the batch to the processed folder, or flags it when no processed
   folder is set;
5. waits in IDLE (re-issued every `idle_seconds`, under 10 minutes) or, without IDLE, polls every
   `poll_seconds`, and goes back to 3.

Any error closes the session; the thread reconnects with exponential backoff (1 s doubling to
5 minutes) and logs an outage once, when it starts, and once more when it is over.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from mail import imap_state
from mail.imap_config import ImapConfig, config_from_url
from mail.imap_session import ImapSession
from mail.imap_state import Fetched, MailboxLock, mailbox_lock
from mail.imap_status import MailboxStatus

__all__ = ["ImapConfig", "ImapPoller", "MailboxStatus", "config_from_url"]

log = logging.getLogger(__name__)

T = TypeVar("T")
Clock = Callable[[], datetime]


@dataclass
class _Position:
    """Where this session stands: every message up to `last_uid` is committed."""

    uidvalidity: int
    last_uid: int


class ImapPoller:
    """One mailbox: the thread with the IMAP session, the lock, the status."""

    def __init__(
        self,
        config: ImapConfig,
        *,
        engine: AsyncEngine,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        on_commit: Callable[[], None] | None = None,
        lock: MailboxLock | None = None,
    ) -> None:
        self.config = config
        self.status = MailboxStatus(mailbox=config.key)
        self._engine = engine
        self._sessions = sessions
        self._clock = clock
        self._on_commit = on_commit
        self._lock = lock
        self._loop: asyncio.AbstractEventLoop | None = None
        self._warned_cleartext = False

    # The event loop's side ----------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Polls until `stop` is set; waits while another process holds the mailbox's lock."""
        self._loop = asyncio.get_running_loop()
        lock = self._lock or mailbox_lock(self._engine, self.config.key)
        waiting_logged = failing = False
        try:
            while not stop.is_set():
                try:
                    acquired = await lock.acquire()
                except Exception as exc:  # the database is away: like any outage, log it once
                    acquired = False
                    self._note_error(exc, log_it=not failing)
                    failing = True
                else:
                    failing = False
                if not acquired:
                    if not failing:
                        self.status.state = "waiting-for-lock"
                        if not waiting_logged:
                            log.info(
                                "IMAP %s: another process polls this mailbox; waiting for it",
                                self.config.key,
                            )
                            waiting_logged = True
                    await _wait(stop, self.config.lock_retry_seconds)
                    continue
                waiting_logged = False
                try:
                    await self._run_thread(stop, lock)
                finally:
                    await lock.release()
        finally:
            self.status.state = "stopped"

    async def _run_thread(self, stop: asyncio.Event, lock: MailboxLock) -> None:
        halt = threading.Event()
        thread = threading.Thread(
            target=self._thread_main, args=(halt,), name=f"imap {self.config.key}", daemon=True
        )
        thread.start()
        try:
            while thread.is_alive() and not stop.is_set():
                await _wait(stop, self.config.lock_check_seconds)
                if not stop.is_set() and not await lock.alive():
                    break  # another process may take over now: stop, then compete again
        finally:
            halt.set()
            await asyncio.to_thread(thread.join)

    def _db(self, coroutine: Coroutine[Any, Any, T]) -> Future[T]:
        """Runs database work on the event loop; the thread waits on the returned future."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop)

    async def _store(
        self,
        previous: Future[int] | None,
        position: _Position,
        last_uid: int,
        messages: Sequence[Fetched],
    ) -> int:
        if previous is not None:
            await asyncio.wrap_future(previous)  # raises if it failed: then this is not stored
        new = await imap_state.store_batch(
            self._sessions,
            key=self.config.key,
            uidvalidity=position.uidvalidity,
            last_uid=last_uid,
            messages=messages,
            now=self._clock(),
        )
        if new and self._on_commit is not None:
            try:
                self._on_commit()
            except Exception:  # committed already: a failed wake-up only delays the worker
                log.exception("on_commit callback failed")
        return new

    # The thread's side --------------------------------------------------------------------------

    def _thread_main(self, halt: threading.Event) -> None:
        backoff = self.config.backoff_initial
        outage_since: float | None = None
        attempts = 0
        while not halt.is_set():
            session: ImapSession | None = None
            graceful = False
            healthy_since: float | None = None
            try:
                self.status.state = "connecting"
                session = self._connect()
                position = self._open(session)
                self._sync(session, position, halt)
                if outage_since is not None:
                    log.info(
                        "IMAP %s: working again after %d failed attempts in %.0f s",
                        self.config.key,
                        attempts,
                        time.monotonic() - outage_since,
                    )
                outage_since, attempts = None, 0
                self.status.failed_attempts = 0
                healthy_since = time.monotonic()
                self._watch(session, position, halt)
                graceful = True
            except Exception as exc:
                if halt.is_set():
                    break
                # The delay starts small again only after a session that lasted: a server that
                # fails each session right after login is not hammered once a second.
                if healthy_since is not None and (
                    time.monotonic() - healthy_since >= self.config.stable_seconds
                ):
                    backoff = self.config.backoff_initial
                attempts += 1
                self.status.failed_attempts = attempts
                self._note_error(exc, log_it=outage_since is None)
                if outage_since is None:
                    outage_since = time.monotonic()
                self.status.state = "reconnecting"
                if session is not None:
                    session.close(graceful=False)
                session = None
                halt.wait(backoff)
                backoff = min(backoff * 2, self.config.backoff_max)
            finally:
                if session is not None:
                    session.close(graceful=graceful)

    def _note_error(self, exc: BaseException, *, log_it: bool) -> None:
        error = f"{type(exc).__name__}: {exc}"
        now = self._clock()
        self.status.last_error, self.status.last_error_at = error, now
        if log_it:
            log.warning(
                "IMAP %s: %s; reconnecting with backoff (logged once until it works again)",
                self.config.key,
                error,
            )
        else:
            log.debug("IMAP %s: still failing: %s", self.config.key, error)
        if log_it and self._loop is not None:
            # Best effort, and never waited for: the database may be what is failing.
            with contextlib.suppress(Exception):
                self._db(
                    imap_state.record_error(
                        self._sessions, key=self.config.key, error=error, now=now
                    )
                )

    def _connect(self) -> ImapSession:
        session = ImapSession.connect(self.config)
        if not session.encrypted and not self._warned_cleartext:
            log.warning(
                "IMAP %s: the server offers no STARTTLS; logging in without TLS", self.config.key
            )
            self._warned_cleartext = True
        return session

    def _open(self, session: ImapSession) -> _Position:
        """Logs in, selects the mailbox and settles where to go on from."""
        config = self.config
        selected = session.open()
        stored = self._db(imap_state.load_position(self._sessions, config.key)).result()
        position = _Position(uidvalidity=selected.uidvalidity, last_uid=0)
        self.status.idle = selected.idle
        self.status.uidvalidity = selected.uidvalidity
        if stored.uidvalidity is not None and stored.uidvalidity != selected.uidvalidity:
            log.warning(
                "IMAP %s: UIDVALIDITY changed from %s to %s; reading the whole mailbox again "
                "(messages stored before are recognised and not taken in twice)",
                config.key,
                stored.uidvalidity,
                selected.uidvalidity,
            )
        elif stored.uidvalidity is not None and stored.last_uid:
            position.last_uid = stored.last_uid
            self._settle_committed(session, position)
        self.status.last_uid = position.last_uid
        return position

    def _settle_committed(self, session: ImapSession, position: _Position) -> None:
        """Messages at or below the stored last UID are in the ledger (the UID was committed with
        them); any still here were not moved because the process stopped after the commit."""
        left = session.not_done(position.last_uid)
        if left:
            log.info(
                "IMAP %s: %d committed messages were not yet moved; moving them now",
                self.config.key,
                len(left),
            )
            session.done(left)

    def _sync(self, session: ImapSession, position: _Position, halt: threading.Event) -> None:
        """Takes in everything after the last UID, one committed batch at a time."""
        uids = session.new_uids(after=position.last_uid)
        if not uids:
            self._db(
                imap_state.mark_polled(
                    self._sessions,
                    key=self.config.key,
                    uidvalidity=position.uidvalidity,
                    last_uid=position.last_uid,
                    now=self._clock(),
                )
            ).result()
            self._polled()
            return
        self.status.state = "fetching"
        sizes = session.sizes(uids)
        uids = [uid for uid in uids if uid in sizes]  # the others were expunged meanwhile
        # One batch is fetched while the one before commits; each commit waits for the one
        # before it, so a failed batch can never be skipped by a later one that succeeds.
        pending: tuple[Future[int], list[int]] | None = None
        try:
            for batch in session.batches(uids, sizes):
                if halt.is_set():
                    break
                messages = session.fetch(batch, sizes)
                previous = pending[0] if pending else None
                future = self._db(self._store(previous, position, batch[-1], messages))
                before, pending = pending, (future, batch)
                if before is not None:
                    self._finish(session, position, *before)
        finally:
            if pending is not None:
                self._finish(session, position, *pending)
        self._polled()

    def _finish(
        self, session: ImapSession, position: _Position, future: Future[int], batch: list[int]
    ) -> None:
        """After the batch's commit: remember the position, then move (or flag) the messages."""
        new = future.result()
        position.last_uid = batch[-1]
        self.status.last_uid = position.last_uid
        self.status.ingested += new
        session.done(batch)

    def _polled(self) -> None:
        self.status.last_poll_at = self._clock()
        self.status.state = "polling"

    def _watch(self, session: ImapSession, position: _Position, halt: threading.Event) -> None:
        """Waits for new mail (IDLE, or polling) and takes it in, until halted."""
        while not halt.is_set():
            self.status.state = "idle" if session.selected.idle else "polling"
            session.wait(halt)
            if halt.is_set():
                return
            self._sync(session, position, halt)


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
