"""What the IMAP poller needs to know about its mailbox: where it is, how to reach it safely, and
its pace (batches, IDLE, polling, timeouts, backoff), read from `SYNPUNKT_IMAP_URL`."""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

DEFAULT_PROCESSED_FOLDER = "Synpunkt/Behandlat"


@dataclass(frozen=True)
class ImapConfig:
    host: str
    user: str
    password: str = field(repr=False)
    port: int = 993
    mailbox: str = "INBOX"
    tls: Literal["imaps", "starttls"] = "imaps"
    require_tls: bool = True
    # Levels separated by "/"; the server's own personal-namespace prefix and separator are
    # applied. None: leave messages in the mailbox, flagged \Seen and $Synpunkt.
    processed_folder: str | None = DEFAULT_PROCESSED_FOLDER
    idle_seconds: float = 540.0  # IDLE is re-issued this often (RFC 2177: under 29 minutes)
    poll_seconds: float = 60.0  # without IDLE
    timeout: float = 60.0  # socket timeout for connecting and for every command
    batch_size: int = 200  # messages per UID FETCH and per transaction
    batch_bytes: int = 32 * 1024 * 1024
    max_message_size: int = 25 * 1024 * 1024  # larger: only the header is kept, marked failed
    backoff_initial: float = 1.0
    backoff_max: float = 300.0
    stable_seconds: float = 30.0  # a session this long resets the backoff
    lock_retry_seconds: float = 10.0
    lock_check_seconds: float = 15.0
    ssl_context: ssl.SSLContext | None = field(default=None, repr=False, compare=False)

    @property
    def key(self) -> str:
        """Names the mailbox in the database, the lock and the log (never the password)."""
        return f"{self.user}@{self.host.lower()}:{self.port}/{self.mailbox}"


def config_from_url(url: str, *, password: str | None = None, **options: Any) -> ImapConfig:
    """`imaps://user:password@host:993/INBOX` or `imap://…` (STARTTLS); `password` (from
    `SYNPUNKT_IMAP_PASSWORD`) takes precedence over one in the URL."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("imap", "imaps"):
        raise ValueError("SYNPUNKT_IMAP_URL must start with imaps:// or imap://")
    try:
        port = parts.port
    except ValueError as exc:
        raise ValueError("SYNPUNKT_IMAP_URL has an invalid port") from exc
    if not parts.hostname:
        raise ValueError("SYNPUNKT_IMAP_URL names no host")
    if not parts.username:
        raise ValueError("SYNPUNKT_IMAP_URL names no user (imaps://user:password@host/INBOX)")
    secret = password if password else unquote(parts.password or "")
    if not secret:
        raise ValueError("no IMAP password: put it in the URL or in SYNPUNKT_IMAP_PASSWORD")
    mailbox = unquote(parts.path.lstrip("/")) or "INBOX"
    return ImapConfig(
        host=parts.hostname,
        port=port or (993 if scheme == "imaps" else 143),
        user=unquote(parts.username),
        password=secret,
        mailbox=mailbox,
        tls="imaps" if scheme == "imaps" else "starttls",
        **options,
    )
