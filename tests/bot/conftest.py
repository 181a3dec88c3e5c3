"""The bot wired as the composition root wires it, in-process, against the fake Bot API server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from bot.app import TelegramBot, make_bot
from bot.context import BotContext
from bot.conversation import decorate
from bot.sender import Pacer, TelegramSender
from bot.updates import parse_update
from inbox.core.db import unit_of_work
from inbox.core.models import Case, Contact, OutboxItem
from inbox.intake.receive import IntakePolicy
from inbox.runners.intake_runner import IntakeRunner
from inbox.runners.outbox_runner import OutboxRunner
from inbox.runners.worker import Worker
from inbox.staff.tokens import create_token
from inbox.web.app import create_app
from tests.bot.fake_bot_api import TOKEN, FakeBotApi
from tests.conftest import SECRET_KEY, Clock, Database

POLICY = IntakePolicy(case_prefix="SP", mail_domain="kommun.example")


@dataclass
class Telegram:
    fake: FakeBotApi
    db: Database
    clock: Clock
    bot: TelegramBot
    worker: Worker
    api: httpx.AsyncClient

    def new_bot(self) -> TelegramBot:
        """A second bot instance on the same database: what a restart or another process sees."""
        context = BotContext(sessions=self.db.sessions, clock=self.clock, email="s@kommun.example")
        return TelegramBot(make_bot(TOKEN, self.fake.url), context)

    async def feed(self, *updates: dict[str, Any], bot: TelegramBot | None = None) -> None:
        """Delivers updates as polling would, then lets the worker do its rounds."""
        raws = [
            u if "update_id" in u else {**u, "update_id": self.fake.next_update_id()}
            for u in updates
        ]
        await (bot or self.bot).handle_batch(raws)
        await self.worker.drain()

    async def cases(self) -> list[Case]:
        async with self.db.sessions() as session:
            return list((await session.execute(select(Case).order_by(Case.id))).scalars())

    async def contact(self, chat_id: int) -> Contact | None:
        async with self.db.sessions() as session:
            return (
                await session.execute(select(Contact).where(Contact.address == str(chat_id)))
            ).scalar_one_or_none()

    async def outbox(self) -> list[OutboxItem]:
        async with self.db.sessions() as session:
            return list(
                (await session.execute(select(OutboxItem).order_by(OutboxItem.id))).scalars()
            )


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotApi]:
    server = FakeBotApi()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def telegram(db: Database, clock: Clock, fake: FakeBotApi) -> AsyncIterator[Telegram]:
    context = BotContext(sessions=db.sessions, clock=clock, email="s@kommun.example")
    the_bot = TelegramBot(make_bot(TOKEN, fake.url), context)
    sending = make_bot(TOKEN, fake.url)
    worker = Worker(
        IntakeRunner(db.sessions, parsers={"telegram": parse_update}, policy=POLICY, clock=clock),
        OutboxRunner(
            db.sessions,
            senders={
                "telegram": TelegramSender(
                    sending,
                    pacer=Pacer(rate=1000, per_chat_interval=0, clock=lambda: clock().timestamp()),
                    decorate=decorate,
                )
            },
            clock=clock,
        ),
    )
    context.wake = worker.wake
    async with unit_of_work(db.sessions) as session:
        _row, token = await create_token(session, name="test", now=clock(), all_units=True)
    app = create_app(
        secret_key=SECRET_KEY,
        sessions=db.sessions,
        clock=clock,
        policy=POLICY,
        wake_worker=worker.wake,
    )
    api = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://test",
        headers={"Authorization": f"Bearer {token}"},
    )
    yield Telegram(fake, db, clock, the_bot, worker, api)
    await api.aclose()
    await the_bot.close()
    await sending.session.close()
