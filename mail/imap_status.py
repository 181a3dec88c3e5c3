"""What `/healthz` shows about the mailbox the IMAP poller reads in this process."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass
class MailboxStatus:
    """Written by the poller's thread, read by `/healthz`."""

    mailbox: str
    state: str = "starting"  # waiting-for-lock, connecting, idle, polling, fetching, reconnecting
    idle: bool | None = None  # whether the server offers IDLE
    last_poll_at: datetime | None = None  # the last poll that completed
    last_error: str | None = None
    last_error_at: datetime | None = None
    ingested: int = 0  # new ledger rows since this process started
    failed_attempts: int = 0  # in the current outage
    uidvalidity: int | None = None
    last_uid: int | None = None

    def as_dict(self) -> dict[str, Any]:
        healthy = self.last_poll_at is not None and (
            self.last_error_at is None or self.last_poll_at >= self.last_error_at
        )
        return {
            "mailbox": self.mailbox,
            "state": self.state,
            "ok": healthy,
            "idle": self.idle,
            "last_poll_at": _iso(self.last_poll_at),
            "last_error": self.last_error,
            "last_error_at": _iso(self.last_error_at),
            "ingested": self.ingested,
            "failed_attempts": self.failed_attempts,
            "uidvalidity": self.uidvalidity,
            "last_uid": self.last_uid,
        }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
