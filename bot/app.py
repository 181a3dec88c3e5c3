"""The bot assembled: aiogram `Bot` and `Dispatcher` with its routers, polling and the webhook.

Polling is our own small loop around `getUpdates` rather than aiogram's: an update is confirmed
(the offset moves past it) only after it was handled and its ledger row committed, so an update
whose handling failed (the database down, a file download broken) comes again instead of being
lost. Updates of different chats are handled side by side; one chat's updates in order. Each
answer costs one ledger read and one ledger transaction (`bot.batch`), not one per update.

`getUpdates` is read as raw JSON and each update decoded on its own (aiogram decodes a batch all or
nothing), so one malformed update cannot hold back the others: what cannot be decoded is kept in the
ledger as a failed row for staff, and one whose handling keeps failing is kept so after a few tries.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
from collections import defaultdict
from typing import Any, ClassVar, cast

from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.methods import TelegramMethod
from aiogram.methods.base import Response
from aiogram.types import File, Message, Update, User
from pydantic import ValidationError

from bot import checkin, conversation, feedback
from bot.batch import BatchStates, LedgerBatch
from bot.context import BotContext
from bot.storage import SQLStorage
from bot.updates import NESTED_TOO_DEEP, is_feedback, loads, too_deep
from inbox.core.models import IntakeStatus

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/telegram/webhook"
GIVE_UP_AFTER = 5  # failed tries of one update before it is kept as a failed ledger row
ALLOWED_UPDATES = [
    "message",
    "edited_message",
    "channel_post",
    "edited_channel_post",
    "callback_query",
    "my_chat_member",
]


class RawGetUpdates(TelegramMethod[list[Any]]):
    """`getUpdates` whose result stays raw JSON: each update is decoded on its own."""

    __returning__: ClassVar[Any] = list[Any]
    __api_method__: ClassVar[str] = "getUpdates"

    offset: int | None = None
    limit: int | None = None
    timeout: int | None = None
    allowed_updates: list[str] | None = None


# aiogram reads every answer through `Response[<the method's result type>]`, a generic model that
# pydantic caches only while something refers to it: without these references the garbage collector
# drops it between calls and each answer builds it again (about a millisecond of CPU per message
# sent, the largest cost of a send to the fake Bot API in `tests/bench/bench_telegram.py`).
_ANSWER_MODELS = (
    Response[Message],
    Response[Message | bool],
    Response[bool],
    Response[File],
    Response[User],
    Response[list[Any]],
)


def make_bot(token: str, api_base: str) -> Bot:
    """A bot talking to any Bot API server: Telegram's, a self-hosted one, or a test fake."""
    # `loads`: an update nested too deep must not make the whole getUpdates answer unreadable.
    session = AiohttpSession(
        api=TelegramAPIServer.from_base(api_base.rstrip("/")), json_loads=loads
    )
    return Bot(token=token, session=session)


def webhook_secret(secret_key: str) -> str:
    """The `X-Telegram-Bot-Api-Secret-Token` value, derived from the installation's secret."""
    return hmac.new(secret_key.encode(), b"telegram-webhook", hashlib.sha256).hexdigest()


def build_dispatcher(context: BotContext) -> Dispatcher:
    storage = SQLStorage(context.sessions, clock=context.clock)
    # aiogram's own FSM middleware reads the state once per update and the handlers read it again;
    # `BatchStates` reads state and data once, and knows what the batch has used up.
    dp = Dispatcher(storage=storage, disable_fsm=True)
    dp["context"] = context
    dp.update.outer_middleware(BatchStates(storage))
    dp.update.outer_middleware(feedback.UpdateLedger())
    # Commands and buttons first; whatever else a person writes is feedback. The handlers that
    # answer the person commit their update as done before they act (`ClaimFirst`).
    checkins = checkin.make_router()
    checkins.callback_query.middleware(feedback.ClaimFirst())
    conversation_router = conversation.make_router()
    conversation_router.message.middleware(feedback.ClaimFirst())
    conversation_router.callback_query.middleware(feedback.ClaimFirst())
    dp.include_router(checkins)
    dp.include_router(conversation_router)
    dp.include_router(feedback.make_router())
    return dp


def lenient(value: Any) -> Any:
    """A copy aiogram can validate: fills in what older updates lack (`file_unique_id`, …).

    Only for reading the update; the ledger keeps it as it came.
    """
    if isinstance(value, list):
        return [lenient(v) for v in value]
    if not isinstance(value, dict):
        return value
    copy = {k: lenient(v) for k, v in value.items()}
    if "file_id" in copy and "file_unique_id" not in copy:
        copy["file_unique_id"] = copy["file_id"]
    if "data" in copy and "id" in copy and "from" in copy and "chat_instance" not in copy:
        copy["chat_instance"] = ""  # a callback query from before chat_instance existed
    for key in ("from", "forward_from"):
        person = copy.get(key)
        if isinstance(person, dict) and "is_bot" not in person and "first_name" in person:
            person["is_bot"] = False
    chat = copy.get("chat")
    if isinstance(chat, dict) and "type" not in chat:
        chat["type"] = "private"
    return copy


def _chat_of(raw: dict[str, Any]) -> Any:
    """The chat an update belongs to, for ordering; None when it names none it can be read from."""
    for value in raw.values():
        if isinstance(value, dict):
            for holder in (value, value.get("message")):
                chat = holder.get("chat") if isinstance(holder, dict) else None
                if isinstance(chat, dict) and isinstance(chat.get("id"), int | str):
                    return chat["id"]
            person = value.get("from")
            if isinstance(person, dict) and isinstance(person.get("id"), int | str):
                return person["id"]
    return None


def update_id_of(raw: Any) -> int | None:
    """The update's id, when it has a usable one (a JSON integer, not a boolean)."""
    if isinstance(raw, dict):
        value = raw.get("update_id")
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def _external_id(raw: Any) -> str:
    """The ledger key: the update id, or for an update without one a digest of its JSON."""
    update_id = update_id_of(raw)
    if update_id is not None:
        return str(update_id)
    digest = hashlib.sha256(json.dumps(raw, sort_keys=True, default=str).encode()).hexdigest()
    return f"invalid-{digest[:32]}"


class TelegramBot:
    """One bot: handles updates from polling or the webhook with the same dispatcher."""

    def __init__(
        self,
        bot: Bot,
        context: BotContext,
        *,
        polling_timeout: int = 25,
        give_up_after: int = GIVE_UP_AFTER,
    ) -> None:
        self.bot = bot
        self.context = context
        self.dispatcher = build_dispatcher(context)
        self._storage = cast(SQLStorage, self.dispatcher.storage)
        self._polling_timeout = polling_timeout
        self._give_up_after = give_up_after
        self._tries: dict[str, int] = {}  # failed tries per update, while it keeps failing

    @property
    def status(self) -> dict[str, Any]:
        return self.context.status.as_dict()

    def _failed(self, what: str, exc: BaseException) -> None:
        self.context.status.last_error = f"{what}: {type(exc).__name__}: {exc}"[:500]
        self.context.status.last_error_at = self.context.clock()

    async def handle_batch(self, raws: list[Any]) -> None:
        """Handles one `getUpdates` answer (or one webhook update); raises if any update failed or
        the ledger commit did, and then nothing of the batch may be confirmed.

        One ledger read up front (which updates it holds), the handlers (chats side by side, each
        chat's updates in order), then one transaction with every row they produced.
        """
        batch = LedgerBatch(self.context.sessions, self._storage)
        await batch.load([_external_id(raw) for raw in raws])
        by_chat: dict[Any, list[Any]] = defaultdict(list)
        for raw in raws:
            by_chat[_chat_of(raw) if isinstance(raw, dict) else None].append(raw)
        settled: list[str] = []  # handled or given up: their tries are forgotten once committed

        async def one_chat(items: list[Any]) -> None:
            for raw in items:
                await self._handle_one(raw, batch)
                settled.append(_external_id(raw))

        results = await asyncio.gather(
            *(one_chat(items) for items in by_chat.values()), return_exceptions=True
        )
        # What the others produced is kept even when one update failed: it comes again, and they
        # are then skipped as seen. A failed commit raises: the whole batch comes again.
        if await batch.commit(now=self.context.clock()):
            self.context.wake()
        for key in settled:
            self._tries.pop(key, None)
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            raise errors[0]

    async def _handle_one(self, raw: Any, batch: LedgerBatch) -> None:
        """Handles an update as received; raises only when it must come again.

        One seen before is skipped. One aiogram cannot read is kept as feedback when our own
        parser reads it, else as a failed ledger row; one whose handling fails `GIVE_UP_AFTER`
        times in a row is kept as a failed row too.
        """
        key = _external_id(raw)
        if not batch.take(key):
            return
        try:
            await self._dispatch(raw, batch)
        except Exception as exc:
            batch.drop(key)  # nothing of it is stored: it comes again whole
            tries = self._tries.get(key, 0) + 1
            if tries < self._give_up_after:
                if len(self._tries) >= 10_000:  # a bound, not a cache: forget the oldest
                    self._tries.pop(next(iter(self._tries)))
                self._tries[key] = tries
                raise
            log.warning("telegram update %s failed %d times; kept as failed", key, tries)
            self._keep_failed(
                batch, raw, error=f"handling failed {tries} times: {type(exc).__name__}: {exc}"
            )

    async def _dispatch(self, raw: Any, batch: LedgerBatch) -> None:
        if update_id_of(raw) is None:
            self._keep_failed(batch, raw, error="not a Telegram update: no update_id")
            return
        if too_deep(raw):  # decoded by `loads`, which cut it short: nobody could read it
            self._keep_failed(batch, raw, error=NESTED_TOO_DEEP)
            return
        try:
            update = Update.model_validate(lenient(raw), context={"bot": self.bot})
        except ValidationError as exc:
            log.warning(
                "telegram update %s is not valid (%d errors)", raw["update_id"], exc.error_count()
            )
            if is_feedback(raw):  # our parser reads what aiogram will not: keep it as feedback
                await feedback.store_feedback(self.bot, raw, state=None, batch=batch)
                return
            self._keep_failed(batch, raw, error=f"not a valid Telegram update: {exc}")
            return
        await self.dispatcher.feed_update(self.bot, update, raw_update=raw, batch=batch)

    def _keep_failed(self, batch: LedgerBatch, raw: Any, *, error: str) -> None:
        """Keeps the update as it came as a failed ledger row, for staff (with the batch)."""
        batch.add(_external_id(raw), feedback.encode(raw), status=IntakeStatus.FAILED, error=error)

    async def poll(self, stop: asyncio.Event) -> None:
        """Long-polls `getUpdates` until `stop`; confirms updates only once they are handled."""
        self.context.status.mode = "polling"
        await self._retrying(stop, "deleteWebhook", self.bot.delete_webhook)
        offset: int | None = None
        delay = 1.0
        while not stop.is_set():
            try:
                raws = await self._until(
                    stop,
                    self.bot(
                        RawGetUpdates(
                            offset=offset,
                            timeout=self._polling_timeout,
                            allowed_updates=ALLOWED_UPDATES,
                        ),
                        request_timeout=self._polling_timeout + 10,
                    ),
                )
                if raws is None:
                    return
                self.context.status.last_ok_at = self.context.clock()
                if raws:
                    ids = [i for i in map(update_id_of, raws) if i is not None]
                    await self.handle_batch(raws)
                    if not ids:
                        raise ValueError("getUpdates answered updates without update ids")
                    offset = max(ids) + 1
                delay = 1.0
            except Exception as exc:
                log.warning(
                    "telegram polling: %s: %s; retrying in %.0f s", type(exc).__name__, exc, delay
                )
                self._failed("polling", exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                delay = min(delay * 2, 60.0)

    async def _until(self, stop: asyncio.Event, work: Any) -> Any:
        """Runs `work` unless `stop` is set first (then cancels it and returns None)."""
        task = asyncio.ensure_future(work)
        stopper = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopper.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            return None
        return task.result()

    async def _retrying(self, stop: asyncio.Event, what: str, call: Any) -> None:
        delay = 1.0
        while not stop.is_set():
            try:
                await call()
                return
            except Exception as exc:
                log.warning("telegram %s failed: %s", what, exc)
                self._failed(what, exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                delay = min(delay * 2, 60.0)

    async def register_webhook(self, *, url: str, secret: str) -> None:
        self.context.status.mode = "webhook"
        await self.bot.set_webhook(url=url, secret_token=secret, allowed_updates=ALLOWED_UPDATES)

    async def close(self) -> None:
        await self.bot.session.close()
