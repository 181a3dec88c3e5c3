"""`synpunkt serve` as a subprocess against the fake Bot API: polling, then the webhook route."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.app import webhook_secret
from tests.bot.fake_bot_api import TOKEN, FakeBotApi, callback_update, message_update
from tests.conftest import SECRET_KEY

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Serve:
    def __init__(self, tmp_path: Path, fake: FakeBotApi, **env: str) -> None:
        self.web = free_port()
        self.env = {
            **os.environ,
            "SYNPUNKT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/serve.db",
            "SYNPUNKT_WEB_LISTEN": f"127.0.0.1:{self.web}",
            "SYNPUNKT_SMTP_LISTEN": f"127.0.0.1:{free_port()}",
            "SYNPUNKT_MAIL_TRANSPORT": f"file://{tmp_path}/mail",
            "SYNPUNKT_TELEGRAM_TOKEN": TOKEN,
            "SYNPUNKT_TELEGRAM_API_BASE": fake.url,
            "SYNPUNKT_PARSE_PROCESSES": "0",
            "SYNPUNKT_SECRET_KEY": SECRET_KEY,
            **env,
        }
        self.cwd = tmp_path
        self.process: subprocess.Popen[bytes] | None = None
        self.token = (
            self.run("tokens", "create", "tests", "--all-units").stdout.strip().splitlines()[-1]
        )

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        self.run_checked = subprocess.run(
            [sys.executable, "-m", "inbox.cli", *args],
            env=self.env, cwd=self.cwd, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        if args[0] == "tokens" and self.run_checked.returncode != 0:
            subprocess.run(
                [sys.executable, "-m", "inbox.cli", "db", "upgrade"],
                env=self.env, cwd=self.cwd, check=True, timeout=120,
            )  # fmt: skip
            return self.run(*args)
        return self.run_checked

    def start(self) -> None:
        # The log goes to a file: a pipe nobody reads while the test runs fills up and stops the
        # process at its next log line.
        self.log = self.cwd / f"serve-{time.monotonic_ns()}.log"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "inbox.cli", "serve"],
                env=self.env, cwd=self.cwd, stdout=subprocess.DEVNULL, stderr=log,
            )  # fmt: skip

    def stop(self) -> str:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        return self.log.read_text(errors="replace")

    async def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{self.web}") as client:
            return await client.request(
                method, path, headers={"Authorization": f"Bearer {self.token}"}, **kwargs
            )

    async def wait_web(self) -> None:
        """Until the web part answers ready (up, its database at the migration head); /healthz
        may rightly say 503 for a moment while the other parts write their first beat."""
        assert self.process is not None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                if (await self.api("GET", "/readyz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
        raise AssertionError(f"synpunkt serve did not start: {self.log.read_text()[-2000:]}")

    async def references(self) -> list[str]:
        items = (await self.api("GET", "/api/cases")).json()["items"]
        return sorted(item["reference"] for item in items)


@pytest.fixture
def served(tmp_path: Path, fake: FakeBotApi) -> Iterator[Serve]:
    serve = Serve(tmp_path, fake)
    yield serve
    if serve.process is not None and serve.process.poll() is None:
        serve.stop()


def with_reference(fake: FakeBotApi, chat: int, count: int = 1) -> Any:
    return lambda: (
        len([m for m in fake.sent(chat) if "SP-" in m["text"]]) >= count and fake.sent(chat)
    )


async def test_the_whole_conversation_through_serve_in_polling_mode(
    served: Serve, fake: FakeBotApi
) -> None:
    served.start()
    await served.wait_web()
    chat = 501
    fake.add_update(message_update(chat, "/start"))
    await fake.wait_for(lambda: fake.sent(chat))
    assert "allmän handling" in fake.sent(chat)[0]["text"]
    fake.fail_next(1, 429, "Too Many Requests: retry after 1", retry_after=1)
    repeated = fake.add_update(message_update(chat, "Jag vill lämna kritik", message_id=2))
    fake.add_update(repeated)  # delivered twice: stored once
    ack = (await fake.wait_for(with_reference(fake, chat)))[-1]
    assert [c.status for c in fake.calls_to("sendMessage")].count(429) == 1  # honoured, retried
    [reference] = await served.references()
    assert reference in ack["text"]
    kind = next(
        b["callback_data"] for row in ack["reply_markup"]["inline_keyboard"] for b in row
        if b["text"] == "Kritik"
    )  # fmt: skip
    fake.add_update(
        callback_update(chat, kind, message={"message_id": 9, "date": 1, "text": ack["text"]})
    )
    await fake.wait_for(lambda: fake.calls_to("editMessageText"))
    assert (await served.api("GET", f"/api/cases/{reference}")).json()["kind"] == "complaint"

    reply = await served.api(
        "POST", f"/api/cases/{reference}/replies", json={"text": "Vi ringer dig."}
    )
    assert reply.status_code in (200, 201), reply.text
    await fake.wait_for(lambda: any(m["text"] == "Vi ringer dig." for m in fake.sent(chat)))

    blocked = 502
    fake.block(blocked)
    fake.add_update(message_update(blocked, "Och sedan blockerar jag boten"))

    async def unreachable() -> bool:
        refs = await served.references()
        for ref in refs:
            case = (await served.api("GET", f"/api/cases/{ref}")).json()
            if case.get("contact_unreachable"):
                return True
        return False

    deadline = time.monotonic() + 30
    while not await unreachable():
        assert time.monotonic() < deadline, "the blocked contact was never marked unreachable"
        await __import__("asyncio").sleep(0.2)

    # A restart in the middle: "Ny synpunkt" pressed, then the process stops and starts again.
    fake.add_update(callback_update(chat, "new"))
    await fake.wait_for(lambda: "nya synpunkt" in fake.sent(chat)[-1]["text"])
    served.stop()
    served.start()
    await served.wait_web()
    fake.add_update(message_update(chat, "En helt ny sak", message_id=3))
    await fake.wait_for(with_reference(fake, chat, 2))

    # Eight people at once.
    chats = list(range(600, 608))
    for other in chats:
        fake.add_update(message_update(other, f"Synpunkt från {other}"))
    for other in chats:
        await fake.wait_for(with_reference(fake, other))
    assert len(await served.references()) == 2 + 1 + 8  # chat 501 twice, the blocked one, eight
    health = (await served.api("GET", "/healthz")).json()
    assert health["channels"]["telegram"]["mode"] == "polling"
    assert health["channels"]["telegram"]["last_ok_at"]
    live = {name for name, part in health["parts"].items() if part["status"] == "live"}
    assert live == {"web", "worker", "smtp", "bot"}  # every part of `serve` beats
    served.stop()


async def test_serve_in_webhook_mode_sets_the_webhook_and_takes_updates(
    tmp_path: Path, fake: FakeBotApi
) -> None:
    web = free_port()
    serve = Serve(
        tmp_path,
        fake,
        SYNPUNKT_TELEGRAM_MODE="webhook",
        SYNPUNKT_PUBLIC_URL=f"http://127.0.0.1:{web}",
    )
    serve.web = web
    serve.env["SYNPUNKT_WEB_LISTEN"] = f"127.0.0.1:{web}"
    serve.start()
    try:
        await serve.wait_web()
        await fake.wait_for(lambda: fake.webhook)
        assert fake.webhook["url"] == f"http://127.0.0.1:{web}/telegram/webhook"
        secret = webhook_secret(SECRET_KEY)
        assert fake.webhook["secret_token"] == secret
        update = {"update_id": 77, **message_update(701, "Via webhook")}
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{web}") as telegram:
            wrong = await telegram.post("/telegram/webhook", json=update)
            assert wrong.status_code == 401
            for _ in range(2):  # Telegram retries: the second delivery is a no-op
                ok = await telegram.post(
                    "/telegram/webhook",
                    json=update,
                    headers={"X-Telegram-Bot-Api-Secret-Token": secret},
                )
                assert ok.status_code == 200
        await fake.wait_for(with_reference(fake, 701))
        assert len(await serve.references()) == 1
        assert not fake.calls_to("getUpdates")
    finally:
        serve.stop()
