"""Feedback updates go to the intake ledger, exactly like mail: committed first, parsed by the worker.

Files are downloaded through the Bot API here, before the commit, and stored base64-encoded beside
the update in the ledger row (the worker's parser must stay pure). A failed download raises, so the
update is not confirmed and comes again; a file Telegram will not hand out (too big) is noted on
the message instead of blocking it. The rows go to the batch (`bot.batch`), committed together once
the batch's handlers ran. Every other update gets a done row too: the update id is the
deduplication key for all of them; one whose handler answers the person claims it before acting.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from aiogram import BaseMiddleware, Bot, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import Message, TelegramObject, Update

from bot.batch import BatchState, LedgerBatch
from bot.context import BotContext
from bot.conversation import Conversation
from bot.updates import OURS, file_refs, is_feedback, message_of
from inbox.core.models import IntakeStatus


def encode(raw: dict[str, Any]) -> bytes:
    return json.dumps(raw, ensure_ascii=False, separators=(",", ":")).encode()


class UpdateLedger(BaseMiddleware):
    """Counts updates; a non-feedback one (a command, a button) is done once handled."""

    async def __call__(self, handler: Any, event: TelegramObject, data: dict[str, Any]) -> Any:
        assert isinstance(event, Update)
        context: BotContext = data["context"]
        batch: LedgerBatch = data["batch"]
        context.status.last_update_at = context.clock()
        context.status.updates += 1
        raw = data["raw_update"]
        if not is_feedback(raw):
            batch.add(str(event.update_id), encode(raw), status=IntakeStatus.DONE)
        return await handler(event, data)


class ClaimFirst(BaseMiddleware):
    """For the handlers that answer the person: the update's done row is committed before they act,
    so that an update answered once is never answered again (at most once, as a reply must be)."""

    async def __call__(self, handler: Any, event: TelegramObject, data: dict[str, Any]) -> Any:
        context: BotContext = data["context"]
        batch: LedgerBatch = data["batch"]
        update: Update = data["event_update"]
        raw = encode(data["raw_update"])
        if not await batch.claim(str(update.update_id), raw, now=context.clock()):
            return None  # another process has it
        return await handler(event, data)


def _feedback(message: Message, raw_update: dict[str, Any]) -> bool:
    return is_feedback(raw_update)


async def _download(bot: Bot, file_id: str) -> dict[str, str]:
    try:
        file = await bot.get_file(file_id)
    except TelegramBadRequest as exc:  # e.g. "file is too big": it will never work
        return {"error": exc.message}
    if not file.file_path:
        return {"error": "the Bot API gave no file path"}
    data = await bot.download_file(file.file_path)
    assert data is not None
    return {"data": base64.b64encode(data.read()).decode("ascii")}


async def store_feedback(
    bot: Bot, raw_update: dict[str, Any], *, state: BatchState | None, batch: LedgerBatch
) -> None:
    """Downloads the files, then adds the update to the batch's rows (committed with the batch)."""
    found = message_of(raw_update)
    assert found is not None
    ours: dict[str, Any] = {}
    data = await state.get_data() if state else {}  # channel posts have no user, so no state
    if data.get("lang"):
        ours["lang"] = data["lang"]
    new_case = state is not None and await state.get_state() == Conversation.new_case.state
    if new_case:
        ours["new_case"] = True
    refs = file_refs(found[1])
    if refs:
        ours["files"] = {ref.file_id: await _download(bot, ref.file_id) for ref in refs}
    external_id = str(raw_update["update_id"])
    batch.add(external_id, encode({**raw_update, OURS: ours}))
    if new_case and state is not None:
        await state.use_up(external_id)


async def on_feedback(
    message: Message,
    raw_update: dict[str, Any],
    bot: Bot,
    batch: LedgerBatch,
    state: BatchState | None = None,
) -> None:
    await store_feedback(bot, raw_update, state=state, batch=batch)


def make_router() -> Router:
    router = Router(name="feedback")
    for observer in (
        router.message,
        router.edited_message,
        router.channel_post,
        router.edited_channel_post,
    ):
        observer.register(on_feedback, _feedback)
    return router
