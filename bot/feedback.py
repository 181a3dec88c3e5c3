"""Feedback updates go to the intake ledger, exactly like mail: committed first, parsed by the worker.

Files are downloaded through the Bot API here, before the commit, and stored base64-encoded beside
the update in the ledger row (the worker's parser must stay pure). A failed download raises, so the
update is not confirmed and comes again; a file Telegram will not hand out (too big) is noted on
the message instead of blocking it. Every other update is recorded as done before it is handled:
the update id is the deduplication key for all of them.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from aiogram import BaseMiddleware, Bot, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.fsm.context import FSMContext
from aiogram.types import Message, TelegramObject, Update

from bot.context import BotContext
from bot.conversation import Conversation
from bot.updates import OURS, file_refs, is_feedback, message_of
from inbox.core.db import unit_of_work
from inbox.core.inbound import Channel
from inbox.core.models import IntakeStatus
from inbox.intake import ledger

CHANNEL = Channel.TELEGRAM


def update_json(update: Update) -> dict[str, Any]:
    """The update as Telegram sent it (aiogram keeps unknown keys; unset ones are left out)."""
    return update.model_dump(mode="json", exclude_unset=True, by_alias=True)


def encode(raw: dict[str, Any]) -> bytes:
    return json.dumps(raw, ensure_ascii=False, separators=(",", ":")).encode()


class UpdateLedger(BaseMiddleware):
    """Skips updates seen before; records non-feedback ones (commands, buttons) as done."""

    async def __call__(self, handler: Any, event: TelegramObject, data: dict[str, Any]) -> Any:
        assert isinstance(event, Update)
        context: BotContext = data["context"]
        raw = data.get("raw_update") or update_json(event)
        data["raw_update"] = raw
        now = context.clock()
        context.status.last_update_at = now
        context.status.updates += 1
        async with unit_of_work(context.sessions) as session:
            if is_feedback(raw):
                seen = await ledger.find(session, channel=CHANNEL, external_id=str(event.update_id))
                if seen is not None:
                    return None
            else:
                row = await ledger.record(
                    session,
                    channel=CHANNEL,
                    external_id=str(event.update_id),
                    raw=encode(raw),
                    now=now,
                    status=IntakeStatus.DONE,
                )
                if row is None:
                    return None
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
    bot: Bot, raw_update: dict[str, Any], *, state: FSMContext | None, context: BotContext
) -> bool:
    """Downloads the files, then commits the update to the ledger; False for a repeat."""
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
    stored = {**raw_update, OURS: ours}
    async with unit_of_work(context.sessions) as session:
        row = await ledger.record(
            session,
            channel=CHANNEL,
            external_id=str(raw_update["update_id"]),
            raw=encode(stored),
            now=context.clock(),
        )
    if row is None:
        return False
    if new_case and state is not None:
        await state.set_state(None)
    context.wake()
    return True


async def on_feedback(
    message: Message,
    raw_update: dict[str, Any],
    context: BotContext,
    bot: Bot,
    state: FSMContext | None = None,
) -> None:
    await store_feedback(bot, raw_update, state=state, context=context)


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
