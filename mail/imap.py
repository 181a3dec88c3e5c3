"""IMAP intake: read a mailbox on another mail server (Exchange, Dovecot, …) and hand every
message to the intake ledger exactly once, the same way the SMTP edge does.

imapclient is blocking, so each mailbox has one thread of its own that holds the IMAP session; the
database work runs on the event loop (`asyncio.run_coroutine_threadsafe`). The thread:

1. connects (`imaps://`: TLS from the start; `imap://`: STARTTLS when offered, required unless
   `require_tls` is off), logs in and selects the mailbox;
2. compares UIDVALIDITY with the stored one: the same, it resumes after the stored last UID and
   first moves away any message at or below it that is still there (a crash between commit and
   move); different, it reads the whole mailbox again (the ledger key drops what it holds);
3. fetches new messages in batches (`UID FETCH … BODY.PEEK[]`) and commits each batch to the
   ledger together with the new last UID, in one transaction;
4. only after that commit moves the batch to the processed folder (MOVE, or COPY + `\\Deleted` +
   UID EXPUNGE), or flags it `\\Seen` and `$Synpunkt` when no processed folder is set;
5. waits in IDLE (re-issued every `idle_seconds`, under 10 minutes) or, without IDLE, polls every
   `poll_seconds`, and goes back to 3.

Any error closes the session; the thread reconnects with exponential backoff (1 s doubling to
5 minutes) and logs an outage once, when it starts, and once more when it is over.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable, Coroutine, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from imapclient import IMAPClient
from imapclient.imapclient import SocketTimeout
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from mail import imap_state
from mail.imap_config import DEFAULT_PROCESSED_FOLDER, ImapConfig, config_from_url
from mail.imap_state import Fetched, MailboxLock, mailbox_lock
from mail.imap_status import MailboxStatus
from mail.keys import ledger_key

__all__ = ["ImapConfig", "ImapPoller", "MailboxStatus", "config_from_url"]

log = logging.getLogger(__name__)

T = TypeVar("T")
Clock = Callable[[], datetime]

PROCESSED_KEYWORD = b"$Synpunkt"
SEEN = b"\\Seen"
DELETED = b"\\Deleted"
# imapclient writes UID sets out one by one; servers limit a command line (Dovecot: 64 KB).
_UIDS_PER_COMMAND = 1000


class ImapError(Exception):
    """A problem with the IMAP server or its configuration that a reconnect may cure."""


class ConnectionDropped(ImapError):
    pass


@dataclass
class _Selected:
    """The selected mailbox in the current session."""

    uidvalidity: int
    last_uid: int
    idle: bool
    move: bool
    uidplus: bool
    keywords: bool
    processed: str | None


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

    # The thread's side --------------------------------------------------------------------------

    def _thread_main(self, halt: threading.Event) -> None:
        backoff = self.config.backoff_initial
        outage_since: float | None = None
        attempts = 0
        while not halt.is_set():
            client: IMAPClient | None = None
            graceful = False
            healthy_since: float | None = None
            try:
                self.status.state = "connecting"
                client = self._connect()
                selected = self._open(client)
                self._sync(client, selected, halt)
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
                self._watch(client, selected, halt)
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
                _close(client, graceful=False)
                client = None
                halt.wait(backoff)
                backoff = min(backoff * 2, self.config.backoff_max)
            finally:
                _close(client, graceful=graceful)

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

    def _connect(self) -> IMAPClient:
        config = self.config
        timeout = SocketTimeout(connect=config.timeout, read=config.timeout)
        context = config.ssl_context or ssl.create_default_context()
        if config.tls == "imaps":
            client = IMAPClient(
                config.host, port=config.port, ssl=True, ssl_context=context, timeout=timeout
            )
        else:
            client = IMAPClient(config.host, port=config.port, ssl=False, timeout=timeout)
            try:
                if b"STARTTLS" in client.capabilities():
                    client.starttls(context)
                elif config.require_tls:
                    raise ImapError(
                        "the server offers no STARTTLS and TLS is required "
                        "(use imaps://, or set SYNPUNKT_IMAP_REQUIRE_TLS=false)"
                    )
                elif not self._warned_cleartext:
                    log.warning(
                        "IMAP %s: the server offers no STARTTLS; logging in without TLS",
                        config.key,
                    )
                    self._warned_cleartext = True
            except BaseException:
                _close(client, graceful=False)
                raise
        # Notices a peer that vanished without closing the connection, even while in IDLE.
        with contextlib.suppress(OSError):
            client.socket().setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        return client

    def _open(self, client: IMAPClient) -> _Selected:
        """Logs in, prepares the processed folder, selects the mailbox, settles the position."""
        config = self.config
        client.login(config.user, config.password)
        capabilities = set(client.capabilities())
        processed = self._processed_folder(client) if config.processed_folder else None
        if processed is not None and processed.upper() == config.mailbox.upper():
            raise ImapError("the processed folder is the mailbox itself; choose another one")
        info = client.select_folder(config.mailbox)
        uidvalidity = int(info[b"UIDVALIDITY"])
        stored = self._db(imap_state.load_position(self._sessions, config.key)).result()
        selected = _Selected(
            uidvalidity=uidvalidity,
            last_uid=0,
            idle=b"IDLE" in capabilities,
            move=b"MOVE" in capabilities,
            uidplus=b"UIDPLUS" in capabilities,
            keywords=b"\\*" in tuple(info.get(b"PERMANENTFLAGS", ())),
            processed=processed,
        )
        self.status.idle = selected.idle
        self.status.uidvalidity = uidvalidity
        if stored.uidvalidity is not None and stored.uidvalidity != uidvalidity:
            log.warning(
                "IMAP %s: UIDVALIDITY changed from %s to %s; reading the whole mailbox again "
                "(messages stored before are recognised and not taken in twice)",
                config.key,
                stored.uidvalidity,
                uidvalidity,
            )
        elif stored.uidvalidity is not None and stored.last_uid:
            selected.last_uid = stored.last_uid
            self._settle_committed(client, selected)
        self.status.last_uid = selected.last_uid
        return selected

    def _settle_committed(self, client: IMAPClient, selected: _Selected) -> None:
        """Messages at or below the stored last UID are in the ledger (the UID was committed with
        them); any still here were not moved because the process stopped after the commit."""
        criteria: list[Any] = ["UID", f"1:{selected.last_uid}"]
        if selected.processed is None and selected.keywords:
            criteria += ["NOT", "KEYWORD", PROCESSED_KEYWORD.decode()]
        left = sorted(uid for uid in client.search(criteria) if uid <= selected.last_uid)
        if left:
            log.info(
                "IMAP %s: %d committed messages were not yet moved; moving them now",
                self.config.key,
                len(left),
            )
            self._done(client, selected, left)

    def _processed_folder(self, client: IMAPClient) -> str:
        """The processed folder's name on this server, created if missing."""
        wanted = self.config.processed_folder or DEFAULT_PROCESSED_FOLDER
        if client.folder_exists(wanted):
            return wanted
        prefix, delimiter = "", "/"
        with contextlib.suppress(Exception):
            namespace = client.namespace()
            if namespace.personal:
                prefix, delimiter = namespace.personal[0]
        if isinstance(prefix, bytes):
            prefix = prefix.decode()
        if isinstance(delimiter, bytes):
            delimiter = delimiter.decode()
        parts = [part for part in wanted.split("/") if part]
        name = (prefix or "") + (delimiter or "/").join(parts)
        if not client.folder_exists(name):
            log.info("IMAP %s: creating the processed folder %r", self.config.key, name)
            client.create_folder(name)
            with contextlib.suppress(Exception):
                client.subscribe_folder(name)
        return name

    def _sync(self, client: IMAPClient, selected: _Selected, halt: threading.Event) -> None:
        """Takes in everything after the last UID, one committed batch at a time."""
        config = self.config
        # `UID n:*` always matches the highest UID, even when it is below n: filter.
        uids = sorted(
            uid
            for uid in client.search(["UID", f"{selected.last_uid + 1}:*"])
            if uid > selected.last_uid
        )
        if not uids:
            self._db(
                imap_state.mark_polled(
                    self._sessions,
                    key=config.key,
                    uidvalidity=selected.uidvalidity,
                    last_uid=selected.last_uid,
                    now=self._clock(),
                )
            ).result()
            self._polled()
            return
        self.status.state = "fetching"
        sizes: dict[int, int] = {}
        for chunk in _chunks(uids, _UIDS_PER_COMMAND):  # a command line has a length limit
            for uid, data in client.fetch(chunk, [b"RFC822.SIZE"]).items():
                sizes[uid] = int(data.get(b"RFC822.SIZE", 0))
        uids = [uid for uid in uids if uid in sizes]  # the others were expunged meanwhile
        # One batch is fetched while the one before commits; each commit waits for the one
        # before it, so a failed batch can never be skipped by a later one that succeeds.
        pending: tuple[Future[int], list[int]] | None = None
        try:
            for batch in _batches(uids, sizes, config.batch_size, config.batch_bytes):
                if halt.is_set():
                    break
                messages = self._fetch(client, batch, sizes)
                previous = pending[0] if pending else None
                future = self._db(self._store(previous, selected, batch[-1], messages))
                before, pending = pending, (future, batch)
                if before is not None:
                    self._finish(client, selected, *before)
        finally:
            if pending is not None:
                self._finish(client, selected, *pending)
        self._polled()

    async def _store(
        self,
        previous: Future[int] | None,
        selected: _Selected,
        last_uid: int,
        messages: Sequence[Fetched],
    ) -> int:
        if previous is not None:
            await asyncio.wrap_future(previous)  # raises if it failed: then this is not stored
        new = await imap_state.store_batch(
            self._sessions,
            key=self.config.key,
            uidvalidity=selected.uidvalidity,
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

    def _finish(
        self, client: IMAPClient, selected: _Selected, future: Future[int], batch: list[int]
    ) -> None:
        """After the batch's commit: remember the position, then move (or flag) the messages."""
        new = future.result()
        selected.last_uid = batch[-1]
        self.status.last_uid = selected.last_uid
        self.status.ingested += new
        self._done(client, selected, batch)

    def _fetch(self, client: IMAPClient, batch: list[int], sizes: dict[int, int]) -> list[Fetched]:
        limit = self.config.max_message_size
        small = [uid for uid in batch if sizes[uid] <= limit]
        large = [uid for uid in batch if sizes[uid] > limit]
        found: dict[int, Fetched] = {}
        if small:
            for uid, data in client.fetch(small, [b"BODY.PEEK[]"]).items():
                raw = data.get(b"BODY[]")
                if isinstance(raw, bytes):
                    found[uid] = Fetched(uid, ledger_key(raw), raw)
        if large:
            for uid, data in client.fetch(large, [b"BODY.PEEK[HEADER]"]).items():
                header = data.get(b"BODY[HEADER]")
                if isinstance(header, bytes):
                    error = (
                        f"too large to take in ({sizes[uid]} bytes; the limit is {limit}): "
                        "only its header is kept; the message itself is in the processed folder "
                        "of the mailbox"
                    )
                    found[uid] = Fetched(uid, ledger_key(header), header, error)
        return [found[uid] for uid in batch if uid in found]

    def _done(self, client: IMAPClient, selected: _Selected, uids: list[int]) -> None:
        """Moves committed messages to the processed folder, or flags them."""
        for chunk in _chunks(uids, _UIDS_PER_COMMAND):
            if selected.processed is None:
                flags = [SEEN, PROCESSED_KEYWORD] if selected.keywords else [SEEN]
                client.add_flags(chunk, flags, silent=True)
            elif selected.move:
                client.move(chunk, selected.processed)
            else:
                client.copy(chunk, selected.processed)
                client.add_flags(chunk, [DELETED], silent=True)
                if selected.uidplus:
                    client.uid_expunge(chunk)
                else:
                    client.expunge()

    def _polled(self) -> None:
        self.status.last_poll_at = self._clock()
        self.status.state = "polling"

    def _watch(self, client: IMAPClient, selected: _Selected, halt: threading.Event) -> None:
        """Waits for new mail (IDLE, or polling) and takes it in, until halted."""
        while not halt.is_set():
            if selected.idle:
                self.status.state = "idle"
                self._idle(client, halt)
            else:
                self.status.state = "polling"
                if halt.wait(self.config.poll_seconds):
                    return
                client.noop()
            if halt.is_set():
                return
            self._sync(client, selected, halt)

    def _idle(self, client: IMAPClient, halt: threading.Event) -> None:
        """Returns when the mailbox may have changed, the IDLE is due again, or on halt."""
        client.idle()
        deadline = time.monotonic() + self.config.idle_seconds
        try:
            while not halt.is_set():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                window = min(1.0, remaining)
                started = time.monotonic()
                responses = client.idle_check(timeout=window)
                for response in responses:
                    if response and response[0] == b"BYE":
                        raise ConnectionDropped(f"the server closed the session: {response!r}")
                if any(not response or response[0] != b"OK" for response in responses):
                    return  # EXISTS, EXPUNGE, FETCH …: look
                if not responses and time.monotonic() - started < window / 2:
                    # Readable but no line: imapclient swallows an EOF here. IDLE DONE below
                    # raises if the connection is gone; if not, a sync does no harm.
                    return
        finally:
            client.idle_done()


def _chunks(items: Sequence[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def _batches(
    uids: Sequence[int], sizes: dict[int, int], count: int, limit: int
) -> Iterator[list[int]]:
    batch: list[int] = []
    total = 0
    for uid in uids:
        size = sizes.get(uid, 0)
        if batch and (len(batch) >= count or total + size > limit):
            yield batch
            batch, total = [], 0
        batch.append(uid)
        total += size
    if batch:
        yield batch


def _close(client: IMAPClient | None, *, graceful: bool) -> None:
    if client is None:
        return
    if graceful:
        with contextlib.suppress(Exception):
            client.logout()
            return
    with contextlib.suppress(Exception):
        client.shutdown()


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
