"""The SMTP edge: accept mail for the intake addresses and commit it, raw, to the intake ledger.

It does as little as Postfix's or Mailman's edge: reject unknown recipients at RCPT (`550`) and
oversize mail (`552`), commit the raw bytes under their dedupe key, and only then answer `250`.
Any failure before the commit is a `451`, so the sending server retries and dedupe makes the retry
harmless; parsing, threading and the acknowledgement happen later, in the worker. What one client
may send and hear (line lengths, sessions at once, STARTTLS) is `mail.smtp_session`'s job.

As the final-delivery MTA it records the envelope sender in the stored message the way RFC 5321
section 4.4 says: a `Return-Path: <reverse-path>` line on top (`Return-Path: <>` for the null
sender of bounces and auto-replies), replacing any the sender wrote, which nobody checked. The
worker reads only the stored bytes, so that is how the envelope reaches the classification that
decides whether a message is a machine's; mail read over IMAP carries the delivering MTA's.
"""

from __future__ import annotations

import asyncio
import logging
import re
import ssl
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox.core.db import unit_of_work
from inbox.core.inbound import Channel
from inbox.intake import ledger
from mail.keys import ledger_key
from mail.smtp_session import IntakeSMTP, SessionLimit

log = logging.getLogger(__name__)

CHANNEL = Channel.EMAIL
# The ledger's column width for envelope_sender: a value that does not fit would fail the insert
# on PostgreSQL every time, and a 451 for ever is worse than a cut address.
_ADDRESS_LIMIT = 320

TEMPFAIL = "451 4.3.0 Could not store the message now; please try again later"
# The same for a new message and for a redelivery: a reply that told them apart, or carried the
# ledger row's id, would tell anyone what is stored and how much arrives.
ACCEPTED = "250 2.0.0 OK"
DEFAULT_MAX_SESSIONS = 100
DEFAULT_TIMEOUT = 300.0  # RFC 5321 §4.5.3.2.7: a server waits 5 minutes for the next command
# The stored message gets a Return-Path only if `mail.parse` will read it as a message: its first
# line is a header line as `mail.parse` checks it. Within the header block, lines are read as the
# stdlib's feed parser reads them (`email.feedparser.headerRE`).
_FIRST_HEADER = re.compile(rb"[\x21-\x39\x3b-\x7e]+[ \t]*:")
_PARSER_HEADER = re.compile(rb"From |[\x21-\x39\x3b-\x7e]*:|[\t ]")
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_LINE_END = re.compile(rb"\r\n|\r|\n")
_RETURN_PATH = re.compile(rb"return-path:", re.IGNORECASE)
_LATER_RETURN_PATH = re.compile(rb"\nreturn-path:", re.IGNORECASE)
# What a reverse-path in the stamp must not carry: line breaks, controls, spaces, angle brackets.
_NOT_IN_PATH = re.compile(r"[\x00-\x20\x7f<>]")


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

    async def store(
        self, raw: bytes, *, key: str, sender: str | None, recipients: list[str]
    ) -> int | None:
        """The new ledger row's id (None for a redelivery), once committed."""
        pending = _Pending(raw, key, sender, recipients, asyncio.get_running_loop().create_future())
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
            received = raw_bytes(envelope)
            row_id = await self._writer.store(
                with_return_path(received, envelope.mail_from),
                # The key of the message as it came, so the stamp changes no dedupe key.
                key=ledger_key(received),
                sender=_clean_address(envelope.mail_from),
                recipients=[_clean_address(r) or "" for r in envelope.rcpt_tos],
            )
        except Exception as exc:
            # No addresses in the log (the README promises it), and no exception text either: a
            # database error's text carries the statement's parameters, the envelope among them.
            log.warning(
                "SMTP %s: could not store a message (%s); answered 451", session.peer, _kind(exc)
            )
            log.debug("where it failed:\n%s", "".join(traceback.format_tb(exc.__traceback__)))
            return TEMPFAIL
        if row_id is None:
            log.info("SMTP %s: a redelivery of a stored message", session.peer)
        return ACCEPTED


def _kind(exc: BaseException) -> str:
    """The exception's class and those of its causes, e.g. `DBAPIError <- ConnectionRefusedError`."""
    kinds = [type(exc).__name__]
    cause = exc.__cause__ or exc.__context__
    while cause is not None and len(kinds) < 4:
        kinds.append(type(cause).__name__)
        cause = cause.__cause__ or cause.__context__
    return " <- ".join(kinds)


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


def with_return_path(raw: bytes, reverse_path: str | None) -> bytes:
    """`raw` with `Return-Path: <reverse-path>` as its first header line and without any
    Return-Path the sender wrote; unchanged when it does not start with a header line (it is no
    message, and stays exactly as received for the worker to refuse).

    A null or missing reverse-path is `Return-Path: <>`. The line ends as the message's first line
    does, and goes after leading blank lines and an mbox `From ` line, where `mail.parse` starts.
    """
    start = len(raw) - len(raw.lstrip(b"\r\n\t "))
    if raw.startswith(b"From ", start):
        line_end = _LINE_END.search(raw, start)  # as `mail.parse` splits it: CR alone ends one too
        start = line_end.end() if line_end else len(raw)
    if not _FIRST_HEADER.match(raw, start):
        return raw
    newline = raw.find(b"\n", start)
    linesep = b"\r\n" if newline > 0 and raw[newline - 1] == 13 else b"\n"
    path = _NOT_IN_PATH.sub("", "" if reverse_path in (None, "<>") else str(reverse_path))
    stamp = b"Return-Path: <" + path.encode("utf-8", "surrogateescape") + b">" + linesep
    return raw[:start] + stamp + _without_return_path(raw, start)


def _without_return_path(raw: bytes, start: int) -> bytes:
    """`raw[start:]` without the Return-Path fields (and their folded lines) of its header block,
    which ends where the stdlib's parser ends it: at the first line that cannot be a header's."""
    head = _HEADER_END.search(raw, start)
    head_end = head.end() if head else len(raw)
    if not _RETURN_PATH.match(raw, start) and not _LATER_RETURN_PATH.search(raw, start, head_end):
        return raw[start:]  # the usual case: nothing to remove, nothing copied line by line
    kept: list[bytes] = []
    position, dropping = start, False
    while position < len(raw):
        newline = raw.find(b"\n", position)
        end = len(raw) if newline < 0 else newline + 1
        line = raw[position:end]
        if line[:1] in (b" ", b"\t"):
            pass  # a folded line belongs to the field above it
        elif _PARSER_HEADER.match(line):
            dropping = _RETURN_PATH.match(line) is not None
        else:
            break  # the blank line, or the first line of a body
        if not dropping:
            kept.append(line)
        position = end
    kept.append(raw[position:])
    return b"".join(kept)


def _clean_address(address: str | None) -> str | None:
    """An envelope address the database can store (SMTPUTF8 arguments may carry raw 8-bit)."""
    if address is None:
        return None
    text = address.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return text.replace("\x00", "")[:_ADDRESS_LIMIT]
