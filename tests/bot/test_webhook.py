"""The webhook route checks Telegram's secret header before it reads a byte of the body."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import select

from bot.app import TelegramBot, make_bot
from bot.context import BotContext
from bot.webhook import WebhookEndpoint
from inbox.core.models import IntakeRecord
from inbox.web.app import create_app
from tests.bot.fake_bot_api import TOKEN, FakeBotApi, message_update
from tests.conftest import SECRET_KEY, Clock, Database

SECRET = "s3cret"


class Body:
    """A streamed body that records whether anyone started to read it."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.read = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        self.read += len(self.data)
        yield self.data


@pytest.mark.parametrize("secret", [None, "wrong", SECRET + "x"])
async def test_a_wrong_or_missing_secret_is_refused_without_reading_the_body(
    db: Database, clock: Clock, fake: FakeBotApi, secret: str | None
) -> None:
    the_bot = TelegramBot(make_bot(TOKEN, fake.url), BotContext(sessions=db.sessions, clock=clock))
    app = create_app(
        secret_key=SECRET_KEY,
        sessions=db.sessions,
        clock=clock,
        telegram_webhook=WebhookEndpoint(the_bot, secret=SECRET),
    )
    body = Body(json.dumps({"update_id": 1, **message_update(5, "Hej")}).encode())
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test"
        ) as client:
            response = await client.post("/telegram/webhook", content=body, headers=headers)
    finally:
        await the_bot.close()
    assert response.status_code == 401
    assert body.read == 0
    async with db.sessions() as session:
        assert (await session.execute(select(IntakeRecord))).first() is None


async def test_the_right_secret_reads_the_update_and_stores_it(
    db: Database, clock: Clock, fake: FakeBotApi
) -> None:
    the_bot = TelegramBot(make_bot(TOKEN, fake.url), BotContext(sessions=db.sessions, clock=clock))
    app = create_app(
        secret_key=SECRET_KEY,
        sessions=db.sessions,
        clock=clock,
        telegram_webhook=WebhookEndpoint(the_bot, secret=SECRET),
    )
    body = Body(json.dumps({"update_id": 2, **message_update(5, "Hej")}).encode())
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test"
        ) as client:
            response = await client.post(
                "/telegram/webhook",
                content=body,
                headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
            )
    finally:
        await the_bot.close()
    assert response.status_code == 200, response.text
    assert body.read == len(body.data)
    async with db.sessions() as session:
        [row] = (await session.execute(select(IntakeRecord))).scalars().all()
    assert row.channel == "telegram"
