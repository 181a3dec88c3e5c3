"""The webhook: Telegram posts each update to the web app, which answers 200 only once it is stored.

The web app (`create_app(telegram_webhook=...)`) hands the secret-token header and a way to read
the body to a `WebhookEndpoint`; it checks the secret in constant time before a byte of the body is
read (anyone can post to the URL), and handles the update as a batch of one, like a polled answer:
one aiogram cannot decode is kept as feedback or as a failed ledger row and answered 200 like any
other. A failure answers 500, so Telegram delivers the update again (and dedupe makes the repeat
harmless) until the bot gives up on it and keeps it as failed; a body that is not an update
answers 400.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from bot.app import TelegramBot
from bot.updates import loads

log = logging.getLogger(__name__)


class WebhookEndpoint:
    def __init__(self, bot: TelegramBot, *, secret: str) -> None:
        self._bot = bot
        self._secret = secret

    async def __call__(
        self, secret: str | None, read_body: Callable[[], Awaitable[bytes]]
    ) -> tuple[int, dict[str, Any]]:
        """Returns the HTTP status and JSON body to answer Telegram with."""
        if secret is None or not hmac.compare_digest(secret.encode(), self._secret.encode()):
            return 401, {"ok": False, "error": "wrong or missing X-Telegram-Bot-Api-Secret-Token"}
        body = await read_body()
        try:
            raw = loads(body)  # JSON nested too deep is cut short, and kept as a failed row
            if not isinstance(raw, dict) or not isinstance(raw.get("update_id"), int):
                raise ValueError("no update_id")
        except (ValueError, UnicodeDecodeError) as exc:
            return 400, {"ok": False, "error": f"not a Telegram update: {exc}"}
        try:
            await self._bot.handle_batch([raw])
        except Exception as exc:
            log.exception("telegram webhook: update %s failed", raw.get("update_id"))
            self._bot._failed("webhook", exc)
            return 500, {"ok": False, "error": "could not store the update; retry"}
        self._bot.context.status.last_ok_at = self._bot.context.clock()
        return 200, {"ok": True}
