"""Telegram benchmark: (a) updates a second from arrival to a committed case with its acknowledgement
sent, against the fake Bot API's own round-trip rate; (b) outbox throughput to many chats against
the 30-a-second limit, with a fake that enforces the limits (and counts its 429s).

Run: `.venv/bin/python -m tests.bench telegram` (SQLite in a temporary folder; about a minute).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select

from bot.app import TelegramBot, make_bot
from bot.context import BotContext
from bot.conversation import decorate
from bot.sender import Pacer, TelegramSender
from bot.updates import parse_update
from inbox.core import outbox
from inbox.core.db import create_engine, session_factory, unit_of_work
from inbox.core.migrate import upgrade
from inbox.core.models import Case
from inbox.intake.receive import IntakePolicy
from inbox.runners.intake_runner import IntakeRunner
from inbox.runners.outbox_runner import OutboxRunner
from inbox.runners.worker import Worker
from tests.bot.fake_bot_api import TOKEN, FakeBotApi, message_update

UPDATES = 300
OUTBOX = 600  # to as many chats: twenty seconds at the limit


def utcnow() -> datetime:
    return datetime.now(UTC)


async def round_trips(fake: FakeBotApi, count: int) -> float:
    """The fake's own rate: sequential getMe calls through aiogram, per second."""
    bot = make_bot(TOKEN, fake.url)
    try:
        start = time.perf_counter()
        for _ in range(count):
            await bot.get_me()
        return count / (time.perf_counter() - start)
    finally:
        await bot.session.close()


async def intake_rate(url: str, fake: FakeBotApi) -> float:
    engine = create_engine(url)
    sessions = session_factory(engine)
    sending = make_bot(TOKEN, fake.url)
    worker = Worker(
        IntakeRunner(
            sessions, parsers={"telegram": parse_update}, policy=IntakePolicy(), clock=utcnow
        ),
        OutboxRunner(
            sessions,
            senders={
                "telegram": TelegramSender(sending, pacer=Pacer(rate=10_000), decorate=decorate)
            },
            clock=utcnow,
        ),
        poll_interval=0.05,
    )
    context = BotContext(sessions=sessions, clock=utcnow, wake=worker.wake)
    the_bot = TelegramBot(make_bot(TOKEN, fake.url), context, polling_timeout=1)
    stop = asyncio.Event()
    try:
        start = time.perf_counter()
        for i in range(UPDATES):
            fake.add_update(message_update(10_000 + i, f"Synpunkt nummer {i}"))
        tasks = [asyncio.create_task(the_bot.poll(stop)), asyncio.create_task(worker.run(stop))]
        while len(fake.sent()) < UPDATES:  # noqa: ASYNC110 (the fake has no event for this)
            await asyncio.sleep(0.02)
        elapsed = time.perf_counter() - start
        stop.set()
        await asyncio.gather(*tasks)
        async with sessions() as session:
            cases = (await session.execute(select(func.count()).select_from(Case))).scalar_one()
        assert cases == UPDATES, cases
        return UPDATES / elapsed
    finally:
        await the_bot.close()
        await sending.session.close()
        await engine.dispose()


async def outbox_rate(url: str, fake: FakeBotApi) -> tuple[float, int]:
    engine = create_engine(url)
    sessions = session_factory(engine)
    sending = make_bot(TOKEN, fake.url)
    worker = Worker(
        IntakeRunner(sessions, parsers={}, policy=IntakePolicy(), clock=utcnow),
        OutboxRunner(
            sessions, senders={"telegram": TelegramSender(sending, pacer=Pacer())}, clock=utcnow
        ),
        poll_interval=0.05,
    )
    try:
        async with unit_of_work(sessions) as session:
            for i in range(OUTBOX):
                chat = str(20_000 + i)
                await outbox.enqueue(
                    session,
                    kind="bench",
                    channel="telegram",
                    recipient=chat,
                    payload={"chat_id": chat, "text": f"Meddelande {i}"},
                    idempotency_key=f"bench:{i}",
                    now=utcnow(),
                )
        fake.enforce_limits = True
        before = len(fake.sent())
        stop = asyncio.Event()
        start = time.perf_counter()
        task = asyncio.create_task(worker.run(stop))
        while len(fake.sent()) - before < OUTBOX:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        elapsed = time.perf_counter() - start
        stop.set()
        await task
        return (OUTBOX - 1) / elapsed, fake.rate_limited
    finally:
        await sending.session.close()
        await engine.dispose()


async def _main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
        await asyncio.to_thread(upgrade, url)
        fake = FakeBotApi()
        await fake.start()
        try:
            baseline = await round_trips(fake, 300)
            rate = await intake_rate(url, fake)
            sent, limited = await outbox_rate(url, fake)
        finally:
            await fake.stop()
    print("| measure | rate | against |")
    print("|---|---|---|")
    print(f"| fake Bot API round trips (getMe, sequential) | {baseline:.0f}/s | baseline |")
    print(
        f"| (a) update → case → acknowledgement sent | {rate:.0f}/s | "
        f"{rate / baseline:.2f} × the round-trip rate |"
    )
    print(
        f"| (b) outbox to {OUTBOX} chats, limits enforced | {sent:.1f}/s | "
        f"{sent / 30:.0%} of 30/s; 429s from the fake: {limited} |"
    )


def main() -> None:
    asyncio.run(_main())
