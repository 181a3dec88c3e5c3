"""The IMAP side of the poller: one session with the mailbox's server, over imapclient.

It connects under the TLS rules (`imaps://`: TLS from the start; `imap://`: STARTTLS when
offered, required unless `require_tls` is off), logs in, finds or creates the processed folder,
selects the mailbox, finds and fetches messages by UID, moves or flags the ones that are done, and
waits for new mail in IDLE or by polling. imapclient blocks: only the poller's thread calls this;
what is stored, and when a message counts as done, is the poller's business (`mail.imap`).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from imapclient import IMAPClient
from imapclient.imapclient import SocketTimeout

from mail.imap_config import DEFAULT_PROCESSED_FOLDER, ImapConfig
from mail.imap_state import Fetched
from mail.keys import ledger_key

log = logging.getLogger(__name__)

PROCESSED_KEYWORD = b"$Synpunkt"
SEEN = b"\\Seen"
DELETED = b"\\Deleted"
# imapclient writes UID sets out one by one; servers limit a command line (Dovecot: 64 KB).
_UIDS_PER_COMMAND = 1000


class ImapError(Exception):
    """A problem with the IMAP server or its configuration that a reconnect may cure."""


class ConnectionDropped(ImapError):
    pass


@dataclass(frozen=True)
class Selected:
    """The selected mailbox: its UIDVALIDITY and what the server offers for it."""

    uidvalidity: int
    idle: bool
    move: bool
    uidplus: bool
    keywords: bool  # the mailbox keeps keywords such as $Synpunkt
    processed: str | None  # the processed folder's name on the server; None: flag instead


class ImapSession:
    """One connection: `connect`, then `open` (log in, select), then the mailbox's work."""

    def __init__(self, config: ImapConfig, client: IMAPClient, *, encrypted: bool) -> None:
        self.config = config
        self.client = client
        self.encrypted = encrypted  # False only when TLS is not required and not offered
        self._selected: Selected | None = None

    @classmethod
    def connect(cls, config: ImapConfig) -> ImapSession:
        timeout = SocketTimeout(connect=config.timeout, read=config.timeout)
        context = config.ssl_context or ssl.create_default_context()
        encrypted = True
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
                else:
                    encrypted = False
            except BaseException:
                _shutdown(client)
                raise
        # Notices a peer that vanished without closing the connection, even while in IDLE.
        with contextlib.suppress(OSError):
            client.socket().setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        return cls(config, client, encrypted=encrypted)

    @property
    def selected(self) -> Selected:
        if self._selected is None:
            raise ImapError("no mailbox is selected in this session")
        return self._selected

    def open(self) -> Selected:
        """Logs in, prepares the processed folder and selects the mailbox."""
        config, client = self.config, self.client
        client.login(config.user, config.password)
        capabilities = set(client.capabilities())
        processed = self._processed_folder() if config.processed_folder else None
        if processed is not None and processed.upper() == config.mailbox.upper():
            raise ImapError("the processed folder is the mailbox itself; choose another one")
        info = client.select_folder(config.mailbox)
        self._selected = Selected(
            uidvalidity=int(info[b"UIDVALIDITY"]),
            idle=b"IDLE" in capabilities,
            move=b"MOVE" in capabilities,
            uidplus=b"UIDPLUS" in capabilities,
            keywords=b"\\*" in tuple(info.get(b"PERMANENTFLAGS", ())),
            processed=processed,
        )
        return self._selected

    def _processed_folder(self) -> str:
        """The processed folder's name on this server, created if missing."""
        client = self.client
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

    def not_done(self, up_to: int) -> list[int]:
        """The UIDs up to `up_to` still in the mailbox and not yet moved (or flagged)."""
        selected = self.selected
        criteria: list[Any] = ["UID", f"1:{up_to}"]
        if selected.processed is None and selected.keywords:
            criteria += ["NOT", "KEYWORD", PROCESSED_KEYWORD.decode()]
        return sorted(uid for uid in self.client.search(criteria) if uid <= up_to)

    def new_uids(self, after: int) -> list[int]:
        """The UIDs above `after`, in order."""
        # `UID n:*` always matches the highest UID, even when it is below n: filter.
        return sorted(uid for uid in self.client.search(["UID", f"{after + 1}:*"]) if uid > after)

    def sizes(self, uids: Sequence[int]) -> dict[int, int]:
        """Each message's size; one expunged meanwhile is missing."""
        sizes: dict[int, int] = {}
        for chunk in _chunks(uids, _UIDS_PER_COMMAND):  # a command line has a length limit
            for uid, data in self.client.fetch(chunk, [b"RFC822.SIZE"]).items():
                sizes[uid] = int(data.get(b"RFC822.SIZE", 0))
        return sizes

    def batches(self, uids: Sequence[int], sizes: dict[int, int]) -> Iterator[list[int]]:
        """The UIDs in batches of at most `batch_size` messages and `batch_bytes` (a message
        larger than that alone)."""
        count, limit = self.config.batch_size, self.config.batch_bytes
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

    def fetch(self, batch: list[int], sizes: dict[int, int]) -> list[Fetched]:
        """The batch's messages with their ledger keys; one too large to take in is fetched as
        its header only, with the reason. One expunged meanwhile is missing."""
        limit = self.config.max_message_size
        small = [uid for uid in batch if sizes[uid] <= limit]
        large = [uid for uid in batch if sizes[uid] > limit]
        found: dict[int, Fetched] = {}
        if small:
            for uid, data in self.client.fetch(small, [b"BODY.PEEK[]"]).items():
                raw = data.get(b"BODY[]")
                if isinstance(raw, bytes):
                    found[uid] = Fetched(uid, ledger_key(raw), raw)
        if large:
            for uid, data in self.client.fetch(large, [b"BODY.PEEK[HEADER]"]).items():
                header = data.get(b"BODY[HEADER]")
                if isinstance(header, bytes):
                    error = (
                        f"too large to take in ({sizes[uid]} bytes; the limit is {limit}): "
                        "only its header is kept; the message itself is in the processed folder "
                        "of the mailbox"
                    )
                    found[uid] = Fetched(uid, ledger_key(header), header, error)
        return [found[uid] for uid in batch if uid in found]

    def done(self, uids: list[int]) -> None:
        """Moves messages to the processed folder (MOVE, or COPY + `\\Deleted` + UID EXPUNGE),
        or flags them `\\Seen` and `$Synpunkt` when there is none."""
        selected, client = self.selected, self.client
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

    def wait(self, halt: threading.Event) -> None:
        """Returns when there may be new mail: the server said so in IDLE, the IDLE is due again
        (`idle_seconds`), or, without IDLE, after `poll_seconds`; at once on halt."""
        if self.selected.idle:
            self._idle(halt)
        elif not halt.wait(self.config.poll_seconds):
            self.client.noop()

    def _idle(self, halt: threading.Event) -> None:
        client = self.client
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

    def close(self, *, graceful: bool) -> None:
        """Logs out (graceful), or just drops the connection; never raises."""
        if graceful:
            with contextlib.suppress(Exception):
                self.client.logout()
                return
        _shutdown(self.client)


def _shutdown(client: IMAPClient) -> None:
    with contextlib.suppress(Exception):
        client.shutdown()


def _chunks(items: Sequence[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])
