"""A small Bot API server for tests: the real HTTP API on loopback, with scripted updates.

It speaks the methods the bot uses (getMe, getUpdates with long polling, sendMessage,
editMessageText, answerCallbackQuery, getFile and file download, setWebhook, deleteWebhook),
records every call, and can be told to fail: the next N calls with 403/429/5xx, a blocked chat,
and Telegram's rate limits (30 messages a second overall, one a second per chat) enforced with 429.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

BOT_ID = 123456
TOKEN = f"{BOT_ID}:TEST-token_for-the-fake-api"


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    status: int
    at: float


@dataclass
class Failure:
    status: int
    description: str
    retry_after: int | None = None
    method: str | None = None


@dataclass
class FakeBotApi:
    enforce_limits: bool = False
    global_limit: int = 30
    per_chat_interval: float = 1.0
    calls: list[Call] = field(default_factory=list)
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # file_id → (path, data)
    blocked: set[str] = field(default_factory=set)
    webhook: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._updates: list[dict[str, Any]] = []
        self._arrived = asyncio.Event()
        self._failures: deque[Failure] = deque()
        self._sent_window: deque[float] = deque()
        self._last_by_chat: dict[str, float] = {}
        self._ids = itertools.count(1000)
        self._update_ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.url = ""
        self.rate_limited = 0  # 429s answered because a limit was exceeded

    # Running ----------------------------------------------------------------------------------

    async def start(self) -> str:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._api)
        app.router.add_get("/file/bot{token}/{path:.*}", self._file)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        self._arrived.set()
        if self._runner is not None:
            await self._runner.cleanup()

    # Scripting --------------------------------------------------------------------------------

    def next_update_id(self) -> int:
        return next(self._update_ids)

    def add_update(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queues an update for getUpdates (an `update_id` is assigned when missing)."""
        update = dict(update)
        update.setdefault("update_id", self.next_update_id())
        self._updates.append(update)
        self._arrived.set()
        return update

    def add_file(self, file_id: str, data: bytes, path: str | None = None) -> None:
        self.files[file_id] = (path or f"documents/{file_id}", data)

    def fail_next(
        self,
        count: int,
        status: int,
        description: str = "",
        *,
        retry_after: int | None = None,
        method: str | None = "sendMessage",
    ) -> None:
        for _ in range(count):
            self._failures.append(
                Failure(status, description or f"Error {status}", retry_after, method)
            )

    def block(self, chat_id: int | str) -> None:
        self.blocked.add(str(chat_id))

    def sent(self, chat_id: int | str | None = None) -> list[dict[str, Any]]:
        """Successful sendMessage calls (to one chat, when given)."""
        return [
            c.params
            for c in self.calls
            if c.method == "sendMessage"
            and c.status == 200
            and (chat_id is None or str(c.params.get("chat_id")) == str(chat_id))
        ]

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    async def wait_for(self, check: Any, *, timeout: float = 30.0) -> Any:  # noqa: ASYNC109
        """Polls `check()` until it returns something truthy; fails after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            result = check()
            if result:
                return result
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting; calls: {[c.method for c in self.calls]}")
            await asyncio.sleep(0.05)

    # The API ----------------------------------------------------------------------------------

    async def _params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json":
            params.update(await request.json())
        elif request.can_read_body:
            for key, value in (await request.post()).items():
                params[key] = value if isinstance(value, str) else value.file.read()
        for key in ("reply_markup", "allowed_updates"):
            if isinstance(params.get(key), str):
                params[key] = json.loads(params[key])
        return params

    def _answer(self, call: Call, result: Any = None, *, failure: Failure | None = None) -> Any:
        if failure is None:
            self.calls.append(call)
            return web.json_response({"ok": True, "result": result})
        call.status = failure.status
        self.calls.append(call)
        body: dict[str, Any] = {
            "ok": False,
            "error_code": failure.status,
            "description": failure.description,
        }
        if failure.retry_after is not None:
            body["parameters"] = {"retry_after": failure.retry_after}
        return web.json_response(body, status=failure.status)

    def _limited(self, chat: str, now: float) -> Failure | None:
        if not self.enforce_limits:
            return None
        while self._sent_window and self._sent_window[0] <= now - 1.0:
            self._sent_window.popleft()
        if len(self._sent_window) >= self.global_limit:
            self.rate_limited += 1
            return Failure(429, "Too Many Requests: retry after 1", 1)
        last = self._last_by_chat.get(chat)
        if last is not None and now - last < self.per_chat_interval:
            self.rate_limited += 1
            return Failure(429, "Too Many Requests: retry after 1", 1)
        self._sent_window.append(now)
        self._last_by_chat[chat] = now
        return None

    async def _api(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        params = await self._params(request)
        now = time.monotonic()
        call = Call(method, params, 200, now)
        if self._failures and self._failures[0].method in (None, method):
            return self._answer(call, failure=self._failures.popleft())
        handler = getattr(self, f"_m_{method}", None)
        if handler is None:
            return self._answer(call, failure=Failure(404, "Not Found: method not found"))
        return await handler(call)  # type: ignore[no-any-return]

    async def _m_getMe(self, call: Call) -> Any:
        return self._answer(
            call,
            {"id": BOT_ID, "is_bot": True, "first_name": "Synpunkt", "username": "SynpunktBot"},
        )

    async def _m_getUpdates(self, call: Call) -> Any:
        offset = int(call.params.get("offset") or 0)
        timeout = float(call.params.get("timeout") or 0)
        self._updates = [u for u in self._updates if u["update_id"] >= offset]
        if not self._updates and timeout:
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), min(timeout, 2.0))
            except TimeoutError:
                pass
        self._updates = [u for u in self._updates if u["update_id"] >= offset]
        return self._answer(call, self._updates[:100])

    def _message(self, chat: str, text: str | None, markup: Any = None) -> dict[str, Any]:
        chat_value: int | str = int(chat) if chat.lstrip("-").isdigit() else chat
        result: dict[str, Any] = {
            "message_id": next(self._ids),
            "date": int(time.time()),
            "chat": {"id": chat_value, "type": "private"},
            "from": {"id": BOT_ID, "is_bot": True, "first_name": "Synpunkt"},
        }
        if text is not None:
            result["text"] = text
        if markup:
            result["reply_markup"] = markup
        return result

    async def _m_sendMessage(self, call: Call) -> Any:
        chat = str(call.params.get("chat_id"))
        if chat in self.blocked:
            return self._answer(
                call, failure=Failure(403, "Forbidden: bot was blocked by the user")
            )
        limited = self._limited(chat, call.at)
        if limited is not None:
            return self._answer(call, failure=limited)
        text = call.params.get("text")
        if not text:
            return self._answer(call, failure=Failure(400, "Bad Request: message text is empty"))
        return self._answer(call, self._message(chat, text, call.params.get("reply_markup")))

    async def _m_editMessageText(self, call: Call) -> Any:
        chat = str(call.params.get("chat_id"))
        return self._answer(
            call, self._message(chat, call.params.get("text"), call.params.get("reply_markup"))
        )

    async def _m_editMessageReplyMarkup(self, call: Call) -> Any:
        chat = str(call.params.get("chat_id"))
        return self._answer(call, self._message(chat, None, call.params.get("reply_markup")))

    async def _m_answerCallbackQuery(self, call: Call) -> Any:
        return self._answer(call, True)

    async def _m_getFile(self, call: Call) -> Any:
        file_id = str(call.params.get("file_id"))
        if file_id not in self.files:
            return self._answer(call, failure=Failure(400, "Bad Request: invalid file_id"))
        path, data = self.files[file_id]
        return self._answer(
            call,
            {
                "file_id": file_id,
                "file_unique_id": file_id,
                "file_size": len(data),
                "file_path": path,
            },
        )

    async def _m_setWebhook(self, call: Call) -> Any:
        self.webhook = dict(call.params)
        return self._answer(call, True)

    async def _m_deleteWebhook(self, call: Call) -> Any:
        self.webhook = {}
        return self._answer(call, True)

    async def _file(self, request: web.Request) -> web.StreamResponse:
        path = request.match_info["path"]
        self.calls.append(Call("download", {"path": path}, 200, time.monotonic()))
        for stored_path, data in self.files.values():
            if stored_path == path:
                return web.Response(body=data)
        return web.Response(status=404, text="Not Found")


# Scripted updates ---------------------------------------------------------------------------------


def person(chat_id: int, *, first: str = "Anna", last: str = "Svensson", lang: str = "sv") -> dict:  # type: ignore[type-arg]
    return {
        "id": chat_id,
        "is_bot": False,
        "first_name": first,
        "last_name": last,
        "username": f"{first.lower()}{chat_id}",
        "language_code": lang,
    }


def message_update(chat_id: int, text: str | None = None, **extra: Any) -> dict[str, Any]:
    message: dict[str, Any] = {
        "message_id": extra.pop("message_id", 1),
        "date": 1773135000,
        "chat": {"id": chat_id, "type": "private", "first_name": "Anna"},
        "from": person(chat_id, lang=extra.pop("lang", "sv")),
    }
    if text is not None:
        message["text"] = text
        if text.startswith("/"):
            message["entities"] = [
                {"type": "bot_command", "offset": 0, "length": len(text.split()[0])}
            ]
    message.update(extra)
    return {"message": message}


def callback_update(chat_id: int, data: str, *, message: dict[str, Any] | None = None) -> dict:  # type: ignore[type-arg]
    shown = message or {"message_id": 1, "date": 1773135000, "text": "…"}
    return {
        "callback_query": {
            "id": f"cb{chat_id}{data}"[:60],
            "from": person(chat_id),
            "chat_instance": "1",
            "data": data,
            "message": {**shown, "chat": {"id": chat_id, "type": "private"}},
        }
    }
