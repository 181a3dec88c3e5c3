"""`TelegramSender`: the worker's sender for the Telegram channel, paced to the Bot API's limits.

It sends the outbox item's `text` to its `chat_id` with `sendMessage` (with the payload's own
`inline_keyboard`, a check-in question's buttons, when it has one) and turns the API's answers into
the worker's terms: 403 or "chat not found" → permanent and unreachable; 429 → retry after the
given `retry_after`; 5xx and network errors → retry with backoff. A `Pacer` shared by all
concurrent sends keeps to about 30 messages a second overall and one a second per chat.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.types import InlineKeyboardMarkup

from inbox.core.models import OutboxItem
from inbox.runners.delivery import PermanentFailure, TemporaryFailure

# A send that would wait longer than this for its chat's turn gives its worker slot back instead.
MAX_WAIT = 5.0
_GONE = ("chat not found", "user is deactivated", "peer_id_invalid", "bot was kicked")

# What to add to an outbox item's message: more text and buttons (the conversation's questions).
Decoration = Callable[[OutboxItem], tuple[str, InlineKeyboardMarkup | None]]


class Pacer:
    """Spaces sends: `rate` a second overall, and `per_chat_interval` seconds within one chat.

    Telegram counts what arrives, so the defaults keep a little under its limits (30/s, 1/s)
    to absorb jitter between here and the server.
    """

    def __init__(
        self,
        *,
        rate: float = 29.0,
        per_chat_interval: float = 1.05,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._interval = 1.0 / rate
        self._per_chat = per_chat_interval
        self._clock = clock
        self._next_global = 0.0
        self._next_chat: dict[str, float] = {}

    def chat_wait(self, chat: str) -> float:
        """Seconds until `chat` may be sent to again."""
        return max(0.0, self._next_chat.get(chat, 0.0) - self._clock())

    def hold_chat(self, chat: str, seconds: float) -> None:
        """The server asked us to wait (429) for this chat."""
        self._next_chat[chat] = max(self._next_chat.get(chat, 0.0), self._clock() + seconds)

    async def acquire(self, chat: str) -> None:
        """Waits for this chat's turn and a global slot, and reserves both."""
        while (wait := self.chat_wait(chat)) > 0:  # noqa: ASYNC110 (a 429 may extend it)
            await asyncio.sleep(wait)
        now = self._clock()
        slot = max(now, self._next_global)
        self._next_global = slot + self._interval
        # Reserved before sleeping, so concurrent sends to the same chat queue behind this one.
        self._next_chat[chat] = slot + self._per_chat
        if slot > now:
            await asyncio.sleep(slot - now)
        if len(self._next_chat) > 10_000:  # forget chats whose turn has long come
            cutoff = self._clock()
            self._next_chat = {c: t for c, t in self._next_chat.items() if t > cutoff}


def _keyboard(rows: Any) -> InlineKeyboardMarkup | None:
    """The payload's own buttons (a check-in question), as the Bot API's inline keyboard."""
    if not isinstance(rows, list) or not rows:
        return None
    return InlineKeyboardMarkup.model_validate({"inline_keyboard": rows})


class TelegramSender:
    def __init__(
        self,
        bot: Bot,
        *,
        pacer: Pacer | None = None,
        decorate: Decoration | None = None,
        max_wait: float = MAX_WAIT,
    ) -> None:
        self._bot = bot
        self._pacer = pacer or Pacer()
        self._decorate = decorate
        self._max_wait = max_wait

    async def send(self, item: OutboxItem) -> None:
        payload: dict[str, Any] = item.payload or {}
        chat = str(payload.get("chat_id") or item.recipient)
        text = payload.get("text")
        if not isinstance(text, str) or not text.strip():
            raise PermanentFailure("the outbox item has no text to send")
        markup = _keyboard(payload.get("inline_keyboard"))
        if markup is None and self._decorate is not None:
            more, markup = self._decorate(item)
            text = f"{text}\n\n{more}" if more else text
        wait = self._pacer.chat_wait(chat)
        if wait > self._max_wait:
            raise TemporaryFailure(
                f"chat {chat} is busy for {wait:.1f} s", retry_after=timedelta(seconds=wait)
            )
        await self._pacer.acquire(chat)
        try:
            await self._bot.send_message(chat_id=chat, text=text[:4096], reply_markup=markup)
        except TelegramRetryAfter as exc:
            self._pacer.hold_chat(chat, exc.retry_after)
            raise TemporaryFailure(
                f"429 from the Bot API: retry after {exc.retry_after} s",
                retry_after=timedelta(seconds=exc.retry_after),
            ) from exc
        except TelegramForbiddenError as exc:
            raise PermanentFailure(
                f"403 from the Bot API: {exc.message}", unreachable=True
            ) from exc
        except (TelegramBadRequest, TelegramNotFound) as exc:
            gone = any(marker in exc.message.lower() for marker in _GONE)
            raise PermanentFailure(
                f"{type(exc).__name__}: {exc.message}", unreachable=gone
            ) from exc
        except TelegramUnauthorizedError as exc:  # our token is wrong: fix the setting, retry
            raise TemporaryFailure(f"401 from the Bot API: {exc.message}") from exc
        except (TelegramServerError, TelegramNetworkError) as exc:
            raise TemporaryFailure(f"{type(exc).__name__}: {exc}") from exc
        except TelegramAPIError as exc:
            raise TemporaryFailure(f"{type(exc).__name__}: {exc}") from exc
