"""`EmailSender`: the worker's sender for the email channel, over SMTP or into a folder of files.

`SYNPUNKT_MAIL_TRANSPORT` picks the way out: `file://FOLDER` writes one `.eml` per message, named
by its Message-ID so that a resend replaces the file (the embedded default, for trying it out and
for tests), `smtp://[user:pass@]host[:port]` hands mail to
a relay (STARTTLS whenever offered, and required when there are credentials: they never cross the
network in clear), `smtps://…` speaks TLS from the start. SMTP replies are mapped to the worker's
TemporaryFailure / PermanentFailure so it knows whether to retry.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import ssl
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.utils import parseaddr
from pathlib import Path
from urllib.parse import unquote, urlsplit

import aiosmtplib

from inbox.core.models import OutboxItem
from inbox.runners.delivery import PermanentFailure, TemporaryFailure
from mail.compose import compose_email, to_bytes

# Replies to RCPT that say the mailbox itself is not there (RFC 5321 §4.2.2/§3.4): no such user,
# user not local, mailbox name not allowed. Other 5xx (policy, spam, size) say nothing about the
# address, so the contact stays reachable for later mail.
UNREACHABLE_CODES = frozenset({550, 551, 553})

DEFAULT_TIMEOUT = 60.0
# Once the relay has accepted a message, how long its goodbye may take.
QUIT_TIMEOUT = 5.0

# What a file name made from a Message-ID keeps; anything else (a `/`, a leading dot) is replaced.
_FILE_SAFE = re.compile(r"[^A-Za-z0-9._@+=-]")
_MAX_NAME = 200  # bytes, well inside the usual 255, with room for `.eml` and a hash


@dataclass(frozen=True, slots=True)
class FileTransport:
    folder: Path


@dataclass(frozen=True, slots=True)
class SmtpTransport:
    host: str
    port: int
    use_tls: bool = False
    username: str | None = None
    password: str | None = None

    @property
    def requires_tls(self) -> bool:
        """Credentials go only over TLS (RFC 4954 §4: a password must not travel in clear)."""
        return self.username is not None


Transport = FileTransport | SmtpTransport


def parse_transport(url: str, *, cwd: Path | None = None) -> Transport:
    """`file://var/outbox` (relative to `cwd`), `file:///abs/path`, `smtp://…`, `smtps://…`."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme == "file":
        # `file://var/outbox` puts `var` in the netloc; `file:///x` and `file://localhost/x`
        # (RFC 8089) are absolute.
        host = parts.netloc if parts.netloc.lower() != "localhost" else ""
        folder = Path(unquote(host + parts.path))
        if not str(folder) or str(folder) == ".":
            raise ValueError(f"mail transport {url!r} names no folder")
        if not folder.is_absolute():
            folder = (cwd or Path.cwd()) / folder
        return FileTransport(folder)
    if scheme in ("smtp", "smtps"):
        if not parts.hostname:
            raise ValueError(f"mail transport {url!r} names no host")
        use_tls = scheme == "smtps"
        return SmtpTransport(
            host=parts.hostname,
            port=parts.port or (465 if use_tls else 25),
            use_tls=use_tls,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )
    raise ValueError(f"unknown mail transport {url!r}: use file://FOLDER or smtp://host:port")


class EmailSender:
    """Sends email outbox items; raises TemporaryFailure or PermanentFailure for the worker."""

    def __init__(
        self,
        *,
        mail_from: str,
        transport: str,
        clock: Callable[[], datetime],
        timeout: float = DEFAULT_TIMEOUT,
        local_hostname: str | None = None,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self._mail_from = mail_from
        # The envelope sender is our own address, not the null path RFC 3834 suggests for
        # auto-replies: relays that authenticate us refuse `MAIL FROM:<>`, and a bounce of an
        # acknowledgement should reach our mailbox (where intake files it as machine mail).
        self._envelope_from = parseaddr(mail_from)[1] or mail_from
        self._transport = parse_transport(transport)
        self._clock = clock
        self._timeout = timeout
        # aiosmtplib would ask socket.getfqdn() for the EHLO name, which can block for seconds on
        # a host without reverse DNS; our own mail domain is the honest name anyway.
        self._local_hostname = local_hostname or self._envelope_from.rpartition("@")[2] or None
        # None: the system's trusted certificates, and the relay's name is checked.
        self._tls_context = tls_context

    @property
    def transport(self) -> Transport:
        return self._transport

    async def send(self, item: OutboxItem) -> None:
        try:
            msg = compose_email(item, mail_from=self._mail_from, now=self._clock())
            data = to_bytes(msg)
        except ValueError as exc:  # ComposeError, or a header the email package refuses
            # The same item will fail the same way on every retry.
            raise PermanentFailure(f"cannot compose the message: {exc}") from exc
        if isinstance(self._transport, FileTransport):
            await self._write_file(eml_name(str(msg["Message-ID"])), data)
        else:
            await self._send_smtp(self._transport, item, data)

    # File transport ----------------------------------------------------------------------------

    async def _write_file(self, name: str, data: bytes) -> None:
        assert isinstance(self._transport, FileTransport)
        try:
            await asyncio.to_thread(write_atomically, self._transport.folder, name, data)
        except OSError as exc:  # a full disk or a permission fixed later: try again
            raise TemporaryFailure(f"cannot write {name}: {exc}") from exc

    # SMTP transport ----------------------------------------------------------------------------

    async def _send_smtp(self, smtp: SmtpTransport, item: OutboxItem, data: bytes) -> None:
        client = aiosmtplib.SMTP(
            hostname=smtp.host,
            port=smtp.port,
            use_tls=smtp.use_tls,
            start_tls=False,  # decided below, where a relay without STARTTLS can be refused
            timeout=self._timeout,
            local_hostname=self._local_hostname,
            tls_context=self._tls_context,
        )
        try:
            await self._transact(client, smtp, item, data)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            raise _recipient_failure(exc.recipients[0] if exc.recipients else None, exc) from exc
        except aiosmtplib.SMTPRecipientRefused as exc:
            raise _recipient_failure(exc, exc) from exc
        except (
            aiosmtplib.SMTPConnectResponseError,
            aiosmtplib.SMTPAuthenticationError,
            aiosmtplib.SMTPSenderRefused,
            aiosmtplib.SMTPHeloError,
            aiosmtplib.SMTPNotSupported,
        ) as exc:
            # The relay turned us away (greeting, credentials, sender address), not this message:
            # keep it queued while someone fixes the relay or the configuration.
            raise TemporaryFailure(f"relay refused us: {_describe(exc)}") from exc
        except aiosmtplib.SMTPResponseException as exc:
            if 500 <= exc.code < 600:
                raise PermanentFailure(f"message rejected: {_describe(exc)}") from exc
            raise TemporaryFailure(f"relay said: {_describe(exc)}") from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            # Connection refused, reset, timed out, TLS failures: the relay may be back later.
            raise TemporaryFailure(
                f"cannot reach {smtp.host}:{smtp.port}: {_describe(exc)}"
            ) from exc
        await _quit(client)

    async def _transact(
        self, client: aiosmtplib.SMTP, smtp: SmtpTransport, item: OutboxItem, data: bytes
    ) -> None:
        """Connects and hands the message over; on any failure the connection is dropped."""
        try:
            await client.connect()
            await self._secure(client, smtp)
            if smtp.username is not None:
                await client.login(smtp.username, smtp.password or "")
            await client.sendmail(self._envelope_from, [item.recipient], data)
        except BaseException:
            # Not `async with client`: on the way out that sends QUIT and waits for its answer,
            # which a relay still chewing on DATA gives only after that DATA, so a send the
            # worker gives up on (its send timeout cancels us) would hang on for the full
            # command timeout. A failed or abandoned session is simply closed.
            client.close()
            raise

    @staticmethod
    async def _secure(client: aiosmtplib.SMTP, smtp: SmtpTransport) -> None:
        """STARTTLS when the relay offers it (aiosmtplib then verifies its certificate); with
        credentials, a relay that does not offer it (or whose offer was stripped on the way) gets
        nothing more: no AUTH in clear."""
        if smtp.use_tls:
            return
        await client.ehlo()
        if client.supports_extension("starttls"):
            await client.starttls()
        elif smtp.requires_tls:
            # Temporary: it is the relay or our configuration that is wrong, not this message,
            # and the mail can go once someone fixes it (as when the relay refuses our login).
            raise TemporaryFailure(
                f"relay {smtp.host}:{smtp.port} does not offer STARTTLS, and the credentials are "
                "never sent in clear: use a relay with STARTTLS, or smtps://"
            )


def eml_name(message_id: str) -> str:
    """The file a message is written to: its Message-ID, so that sending it again (after a crash
    between the write and marking the row sent) replaces the file instead of adding a second one.

    A Message-ID may hold characters a file name must not (`/`, a leading dot): those are replaced,
    and a hash of the whole Message-ID keeps two ids that differ only there apart.
    """
    bare = message_id.strip().strip("<>").strip()
    safe = _FILE_SAFE.sub("_", bare)
    if safe.startswith("."):
        safe = "_" + safe[1:]
    if safe != bare or len(safe) > _MAX_NAME or not safe:
        digest = hashlib.sha256(bare.encode("utf-8", "surrogateescape")).hexdigest()[:16]
        safe = f"{safe[:_MAX_NAME]}-{digest}"
    return f"{safe}.eml"


async def _quit(client: aiosmtplib.SMTP) -> None:
    """Ends a session whose message the relay has accepted: nothing that happens now may turn the
    send into a failure (a retry would deliver it twice), and it must not take long."""
    try:
        await client.quit(timeout=QUIT_TIMEOUT)
    except (aiosmtplib.SMTPException, OSError, TimeoutError):
        pass  # accepted is accepted; the relay closes its end itself
    finally:
        client.close()


def write_atomically(folder: Path, name: str, data: bytes) -> Path:
    """Writes `folder/name` so that it either exists complete or not at all (also after a crash)."""
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        target = folder / name
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def _recipient_failure(
    refused: aiosmtplib.SMTPRecipientRefused | None, exc: Exception
) -> TemporaryFailure | PermanentFailure:
    if refused is None:
        return TemporaryFailure(f"recipient refused: {exc}")
    text = f"recipient {refused.recipient} refused: {refused.code} {refused.message}"
    if 500 <= refused.code < 600:
        return PermanentFailure(text, unreachable=refused.code in UNREACHABLE_CODES)
    return TemporaryFailure(text)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return f"{exc.code} {exc.message}"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
