"""The SMTP edge: accept mail for the intake addresses and commit it, raw, to the intake ledger.

It does as little as Postfix's or Mailman's edge: reject unknown recipients at RCPT (`550`) and
oversize mail (`552`), commit the raw bytes under their dedupe key, and only then answer `250`.
Any failure before the commit is a `451`, so the sending server retries and dedupe makes the retry
harmless; parsing, threading and the acknowledgement happen later, in the worker. Being public, it
also bounds what a client can make it hold: command lines, concurrent sessions, idle time; it offers
STARTTLS when given a certificate, and tells a client nothing about its software or its ledger.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import logging
import ssl
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session, syntax
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox import ledger
from inbox.db import unit_of_work
from mail.parse import message_key

log = logging.getLogger(__name__)

CHANNEL = "email"
# Column widths of the ledger (IntakeRecord.external_id, envelope_sender): a value that does not
# fit would fail the insert on PostgreSQL every time, and a 451 for ever is worse than a hash.
_KEY_LIMIT = 998
_ADDRESS_LIMIT = 320

TEMPFAIL = "451 4.3.0 Could not store the message now; please try again later"
TOO_BIG = "552 5.3.4 Message too big for this system"
# The same for a new message and for a redelivery: a reply that told them apart, or carried the
# ledger row's id, would tell anyone what is stored and how much arrives.
ACCEPTED = "250 2.0.0 OK"
# The greeting says what the service speaks, not which software (aiosmtpd's says "Python SMTP x.y").
IDENT = "ESMTP"
BUSY = b"421 4.3.2 Too many connections; please try again later\r\n"
LINE_TOO_LONG = b"500 5.5.2 Line too long; closing the connection\r\n"
# RFC 5321 §4.5.3.1.4: a command line is at most 512 octets with its CRLF; SIZE and SMTPUTF8 add
# 26 and 10 to MAIL, and aiosmtpd's per-command limits answer "500 Command line too long" above
# those. No command we accept comes near this bound: outside DATA a longer line cannot be a command,
# so the session ends there instead of reading (and buffering) the rest of it.
COMMAND_LINE_LIMIT = 1024
DEFAULT_MAX_SESSIONS = 100
DEFAULT_TIMEOUT = 300.0  # RFC 5321 §4.5.3.2.7: a server waits 5 minutes for the next command


@dataclass(slots=True)
class _Pending:
    raw: bytes
    key: str
    sender: str | None
    recipients: list[str]
    done: asyncio.Future[int | None]


class LedgerWriter:
    """Commits arriving messages to the ledger in groups: one transaction for all that arrived
    while the previous one was committing (group commit).

    One writer per process means SMTP sessions never fight each other for SQLite's write lock (its
    busy handler sleeps for milliseconds), and PostgreSQL pays one commit for many messages. Each
    message's future resolves only after its transaction committed. The writer runs as its own
    task, so a client hanging up never interrupts a transaction halfway.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        clock: Callable[[], datetime],
        on_commit: Callable[[], None] | None = None,
        max_batch: int = 100,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._on_commit = on_commit
        self._max_batch = max_batch
        # Bounded by the number of open SMTP sessions: each waits for its own message.
        self._queue: list[_Pending] = []
        self._task: asyncio.Task[None] | None = None

    async def store(self, raw: bytes, *, sender: str | None, recipients: list[str]) -> int | None:
        """The new ledger row's id (None for a redelivery), once committed."""
        pending = _Pending(
            raw, ledger_key(raw), sender, recipients, asyncio.get_running_loop().create_future()
        )
        self._queue.append(pending)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="smtp-ledger-writer")
        return await pending.done

    async def _run(self) -> None:
        while self._queue:
            batch, self._queue = self._queue[: self._max_batch], self._queue[self._max_batch :]
            try:
                ids = await self._commit(batch)
            except Exception as exc:
                if len(batch) == 1:
                    _settle(batch[0], exc=exc)
                    continue
                # One message the database refuses must not take the others down with it.
                log.warning("group commit of %d messages failed; one by one", len(batch))
                ids = []
                for pending in batch:
                    try:
                        [row_id] = await self._commit([pending])
                    except Exception as one:
                        _settle(pending, exc=one)  # the later result for it is then ignored
                        row_id = None
                    ids.append(row_id)
            if any(row_id is not None for row_id in ids) and self._on_commit is not None:
                try:
                    self._on_commit()
                except Exception:  # committed already: a failed wake-up only delays the worker
                    log.exception("on_commit callback failed")
            for pending, row_id in zip(batch, ids, strict=True):
                _settle(pending, row_id=row_id)

    async def _commit(self, batch: list[_Pending]) -> list[int | None]:
        now = self._clock()
        async with unit_of_work(self._sessions) as session:
            return [
                await ledger.record(
                    session,
                    channel=CHANNEL,
                    external_id=p.key,
                    raw=p.raw,
                    now=now,
                    envelope_sender=p.sender,
                    envelope_recipients=p.recipients,
                )
                for p in batch
            ]


def _settle(
    pending: _Pending, *, row_id: int | None = None, exc: BaseException | None = None
) -> None:
    # A future is cancelled when its SMTP session went away; the message is stored regardless.
    if pending.done.done():
        return
    if exc is not None:
        pending.done.set_exception(exc)
    else:
        pending.done.set_result(row_id)


class IntakeHandler:
    """aiosmtpd handler: what EHLO offers, the recipient check at RCPT, the ledger commit at DATA."""

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        intake_addresses: Iterable[str],
        clock: Callable[[], datetime],
        on_commit: Callable[[], None] | None = None,
    ) -> None:
        self._addresses = frozenset(address.strip().lower() for address in intake_addresses)
        self._writer = LedgerWriter(sessions, clock=clock, on_commit=on_commit)

    async def handle_EHLO(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        # After STARTTLS aiosmtpd offers AUTH (and refuses every attempt): an intake takes mail
        # from anyone, nobody signs in to it, and an offer would only invite password guessing.
        session.host_name = hostname
        return [line for line in responses if not line.startswith("250-AUTH")]

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if address.strip().lower() not in self._addresses:
            return f"550 5.1.1 <{address}>: no such mailbox here"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        # An exception escaping this method leaves the client waiting for an answer that never
        # comes, so everything before the commit turns into a 451.
        try:
            row_id = await self._writer.store(
                raw_bytes(envelope),
                sender=_clean_address(envelope.mail_from),
                recipients=[_clean_address(r) or "" for r in envelope.rcpt_tos],
            )
        except Exception:
            log.exception(
                "SMTP %s: could not store a message from %r", session.peer, envelope.mail_from
            )
            return TEMPFAIL
        if row_id is None:
            log.info("SMTP %s: a redelivery of a stored message", session.peer)
        return ACCEPTED


class SessionLimit:
    """How many SMTP sessions may be open at once; shared by all sessions of one listener."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("the SMTP session limit must be at least 1")
        self.limit = limit
        self.open = 0

    def acquire(self) -> bool:
        if self.open >= self.limit:
            return False
        self.open += 1
        return True

    def release(self) -> None:
        self.open -= 1


class IntakeSMTP(SMTP):
    """aiosmtpd's SMTP session, adjusted for an intake that must not lose mail and must not let a
    client make it hold more than it needs."""

    def __init__(
        self,
        handler: IntakeHandler,
        *,
        max_size: int,
        sessions: SessionLimit | None = None,
        **kwargs: Any,
    ) -> None:
        # aiosmtpd keeps the per-command limits in one dictionary on the class, shared by every
        # session: each EHLO anywhere raised MAIL's limit for all of them, each new connection reset
        # it. Each session gets its own, set afresh at each EHLO (see smtp_EHLO).
        self.command_size_limits = collections.defaultdict(lambda: SMTP.command_size_limit)
        # The stream reader is sized from line_length_limit in SMTP.__init__: commands are read
        # with the command bound, and only DATA gets more (see smtp_DATA).
        self.line_length_limit = COMMAND_LINE_LIMIT
        super().__init__(handler, data_size_limit=max_size, ident=IDENT, **kwargs)
        # Clients that end lines with a bare LF send a whole message as one "line", and aiosmtpd's
        # RFC 5321 line limit (1001 octets) would answer big mail with a permanent "500 Line too
        # long". Like Postfix, let only the size limit bound a line of a message.
        self.line_length_limit = max_size + 1024
        self._session_limit = sessions
        self._counted = False
        self._refused = False
        self._in_data = False
        self._partial_line = 0  # octets received since the last LF, outside DATA
        self._discarding = False  # after a refused line: nothing more is read

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Called again after STARTTLS (with the TLS transport): that is the same session.
        starttls = self._original_transport is not None
        if not starttls and self._session_limit is not None:
            if not self._session_limit.acquire():
                # Before aiosmtpd sets the session up: the extra connection costs a socket and
                # one line, and the sending server retries later.
                self._refused = True
                assert isinstance(transport, asyncio.WriteTransport)
                transport.write(BUSY)
                transport.close()
                return
            self._counted = True
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        if self._refused:
            return
        if self._counted and self._session_limit is not None:
            self._counted = False
            self._session_limit.release()
        super().connection_lost(error)

    def eof_received(self) -> bool | None:
        if self._refused:
            return False
        return super().eof_received()

    def data_received(self, data: bytes) -> None:
        if self._refused or self._discarding:
            return
        if not self._in_data:
            newline = data.rfind(b"\n")
            if newline < 0:
                self._partial_line += len(data)
            else:
                self._partial_line = len(data) - newline - 1
            if self._partial_line > COMMAND_LINE_LIMIT:
                # aiosmtpd would read such a line to its end, however long, before answering;
                # this answers now and stops reading.
                log.info("SMTP %s: command line too long; closing", self._peer())
                self._discarding = True
                assert isinstance(self.transport, asyncio.WriteTransport)
                self.transport.write(LINE_TOO_LONG)
                self.transport.close()
                return
        super().data_received(data)

    def _peer(self) -> Any:
        return self.session.peer if self.session is not None else None

    @syntax("EHLO hostname")
    async def smtp_EHLO(self, hostname: str) -> None:
        self.command_size_limits.clear()  # SMTP.smtp_EHLO adds what SIZE and SMTPUTF8 allow
        await super().smtp_EHLO(hostname)

    @syntax("DATA")
    async def smtp_DATA(self, arg: str) -> None:
        self._in_data = True
        self._reader._limit = self.line_length_limit  # type: ignore[attr-defined]
        try:
            await super().smtp_DATA(arg)
        finally:
            self._reader._limit = COMMAND_LINE_LIMIT  # type: ignore[attr-defined]
            self._in_data = False
            self._partial_line = 0

    async def push(self, status: Any) -> None:
        # aiosmtpd's own size rejections (SIZE= at MAIL FROM, too much DATA) carry no enhanced
        # status code; bounces read better with the standard 5.3.4.
        if isinstance(status, str) and status.startswith("552 Error"):
            status = TOO_BIG
        await super().push(status)


def tls_context(cert: str, key: str) -> ssl.SSLContext:
    """The listener's TLS context for STARTTLS; a ValueError naming the file that will not load."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(certfile=cert, keyfile=key)
    except (OSError, ssl.SSLError) as exc:
        # OpenSSL's own words ("[SSL] PEM lib (_ssl.c:3905)") tell an administrator little.
        reason = (
            "not a PEM certificate and its private key"
            if isinstance(exc, ssl.SSLError)
            else exc.strerror or str(exc)
        )
        raise ValueError(
            f"cannot load the SMTP TLS certificate {cert!r} with key {key!r}: {reason}"
        ) from exc
    return context


async def start_smtp_server(
    *,
    sessions: async_sessionmaker[AsyncSession],
    intake_addresses: Iterable[str],
    hostname: str,
    host: str,
    port: int,
    max_size: int,
    clock: Callable[[], datetime],
    on_commit: Callable[[], None] | None = None,
    max_sessions: int = DEFAULT_MAX_SESSIONS,
    idle_timeout: float = DEFAULT_TIMEOUT,
    tls: ssl.SSLContext | None = None,
) -> asyncio.Server:
    """Listens on host:port on the running loop; `on_commit` is called after each new message.

    At most `max_sessions` sessions at once (an extra connection hears 421), each closed after
    `idle_timeout` seconds without a command; with `tls`, STARTTLS is offered but never required (a
    public MX must still take mail from servers that cannot encrypt).
    """
    handler = IntakeHandler(
        sessions=sessions, intake_addresses=intake_addresses, clock=clock, on_commit=on_commit
    )
    limit = SessionLimit(max_sessions)
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        lambda: IntakeSMTP(
            handler,
            max_size=max_size,
            sessions=limit,
            # Always explicit: without it aiosmtpd calls getfqdn(), which can block for seconds.
            hostname=hostname,
            enable_SMTPUTF8=True,
            decode_data=False,
            timeout=idle_timeout,
            tls_context=tls,
            loop=loop,
        ),
        host=host,
        port=port,
    )


def raw_bytes(envelope: Envelope) -> bytes:
    """The message exactly as received (before aiosmtpd would decode it)."""
    if envelope.original_content is not None:
        return envelope.original_content
    content = envelope.content
    if isinstance(content, str):
        return content.encode("utf-8", errors="surrogateescape")
    return bytes(content or b"")


def ledger_key(raw: bytes) -> str:
    """The ledger key of a raw message: its Message-ID, else a hash (shared with IMAP intake)."""
    try:
        key = message_key(raw)
    except Exception:  # a broken header block must not become a 451 for ever
        log.exception("message_key failed; keying the message by its hash")
        return "sha256:" + hashlib.sha256(raw).hexdigest()
    if len(key) > _KEY_LIMIT or "\x00" in key:
        # Keyed by a hash of the Message-ID, not of the bytes, so redeliveries still dedupe.
        return "sha256-id:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
    return key


def _clean_address(address: str | None) -> str | None:
    """An envelope address the database can store (SMTPUTF8 arguments may carry raw 8-bit)."""
    if address is None:
        return None
    text = address.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return text.replace("\x00", "")[:_ADDRESS_LIMIT]
