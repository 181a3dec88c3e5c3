"""One SMTP conversation at the public edge: what a client may send and what it is told.

aiosmtpd's session, bounded: command lines (RFC 5321 sizes, refused before they are read to the
end), sessions at once (`421` to one more), idle time; STARTTLS offered when there is a
certificate, never required; a greeting without the software's name and version.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import ssl
from typing import Any

from aiosmtpd.smtp import SMTP, syntax

log = logging.getLogger(__name__)

TOO_BIG = "552 5.3.4 Message too big for this system"
# The greeting says what the service speaks, not which software (aiosmtpd's says "Python SMTP x.y").
IDENT = "ESMTP"
BUSY = b"421 4.3.2 Too many connections; please try again later\r\n"
LINE_TOO_LONG = b"500 5.5.2 Line too long; closing the connection\r\n"
# RFC 5321 §4.5.3.1.4: a command line is at most 512 octets with its CRLF; SIZE and SMTPUTF8 add
# 26 and 10 to MAIL, and aiosmtpd's per-command limits answer "500 Command line too long" above
# those. No command we accept comes near this bound: outside DATA a longer line cannot be a command,
# so the session ends there instead of reading (and buffering) the rest of it.
COMMAND_LINE_LIMIT = 1024


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
        handler: Any,
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
        # StreamReader has no public way to change its limit; `_limit` is what both readuntil()
        # and its flow control (pause reading above twice the limit) read.
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
