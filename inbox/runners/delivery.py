"""What a channel's sender promises the worker: send one outbox item, or say how it failed.

Senders live in the adapters (mail, bot) and are handed to the worker by the composition root.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Protocol

from inbox.core.models import OutboxItem


class TemporaryFailure(Exception):
    """Try again later (network trouble, 4xx from an SMTP server, 429 or 5xx from an API)."""

    def __init__(self, message: str, *, retry_after: timedelta | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentFailure(Exception):
    """Never try again (address rejected, bot blocked); the item is dead and shows on the case."""

    def __init__(self, message: str, *, unreachable: bool = False) -> None:
        super().__init__(message)
        self.unreachable = unreachable


class Sender(Protocol):
    async def send(self, item: OutboxItem) -> None:
        """Delivers `item` or raises TemporaryFailure / PermanentFailure."""
        ...
