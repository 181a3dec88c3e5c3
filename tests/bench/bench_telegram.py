"""Telegram benchmark: (a) updates a second from arrival to a committed case with its acknowledgement
sent, against the fake Bot API's own round-trip rate, and its two halves one after the other: the
bot alone (update → committed ledger row, with the ledger transactions it took) and the worker
alone (committed row → case → acknowledgement sent); (b) outbox throughput to many chats against
the 30-a-second limit, with a fake that enforces the limits (and counts its 429s).

Run: `.venv/bin/python -m tests.bench telegram` (SQLite in a temporary folder; about a minute).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiogram import Bot
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

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


@dataclass
class Intake:
    """(a) and its halves: updates a second, and the bot's ledger commits."""

    both: float
    bot: float
    worker: float
    commits: int


def _worker(sessions: async_sessionmaker[AsyncSession], fake: FakeBotApi) -> tuple[Worker, Bot]:
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
    return worker, sending


async def _until(check: Callable[[], bool]) -> None:
    while not check():  # noqa: ASYNC110 (the fake has no event for this)
        await asyncio.sleep(0.01)


def _queue(fake: FakeBotApi, first_chat: int) -> int:
    """Queues UPDATES messages from as many chats; returns the last update id."""
    return max(
        fake.add_update(message_update(first_chat + i, f"Synpunkt nummer {i}"))["update_id"]
        for i in range(UPDATES)
    )


def _confirmed(fake: FakeBotApi, last: int) -> bool:
    """Whether polling asked past `last`: it does so only once that update's row is committed."""
    return any(int(c.params.get("offset") or 0) > last for c in fake.calls_to("getUpdates"))


async def intake_rate(url: str, fake: FakeBotApi) -> Intake:
    engine = create_engine(url)
    sessions = session_factory(engine)
    worker, sending = _worker(sessions, fake)
    context = BotContext(sessions=sessions, clock=utcnow, wake=worker.wake)
    the_bot = TelegramBot(make_bot(TOKEN, fake.url), context, polling_timeout=1)
    try:
        # (a) Both at once, as `synpunkt serve` runs them.
        stop = asyncio.Event()
        start = time.perf_counter()
        _queue(fake, 10_000)
        tasks = [asyncio.create_task(the_bot.poll(stop)), asyncio.create_task(worker.run(stop))]
        await _until(lambda: len(fake.sent()) >= UPDATES)
        both = UPDATES / (time.perf_counter() - start)
        stop.set()
        await asyncio.gather(*tasks)
        # The bot alone, until its last commit (polling confirms it only with its next long
        # poll, which the fake answers when that ends).
        commits: list[float] = []

        def committed(_connection: Any) -> None:
            commits.append(time.perf_counter())

        event.listen(engine.sync_engine, "commit", committed)
        stop = asyncio.Event()
        start = time.perf_counter()
        last = _queue(fake, 30_000)
        task = asyncio.create_task(the_bot.poll(stop))
        await _until(lambda: _confirmed(fake, last))
        bot = UPDATES / (commits[-1] - start)
        event.remove(engine.sync_engine, "commit", committed)
        stop.set()
        await task
        # The worker alone, on the rows the bot committed.
        stop = asyncio.Event()
        sent = len(fake.sent())
        start = time.perf_counter()
        task = asyncio.create_task(worker.run(stop))
        await _until(lambda: len(fake.sent()) - sent >= UPDATES)
        alone = UPDATES / (time.perf_counter() - start)
        stop.set()
        await task
        async with sessions() as session:
            cases = (await session.execute(select(func.count()).select_from(Case))).scalar_one()
        assert cases == 2 * UPDATES, cases
        return Intake(both, bot, alone, len(commits))
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
            intake = await intake_rate(url, fake)
            sent, limited = await outbox_rate(url, fake)
        finally:
            await fake.stop()
    print("| measure | rate | against |")
    print("|---|---|---|")
    print(f"| fake Bot API round trips (getMe, sequential) | {baseline:.0f}/s | baseline |")
    print(
        f"| (a) update → case → acknowledgement sent | {intake.both:.0f}/s | "
        f"{intake.both / baseline:.2f} × the round-trip rate |"
    )
    print(
        f"| (a) the bot alone: update → committed ledger row | {intake.bot:.0f}/s | "
        f"{intake.commits} ledger commits for {UPDATES} updates (up to 100 an answer) |"
    )
    print(
        f"| (a) the worker alone: ledger row → case → acknowledgement sent | {intake.worker:.0f}/s"
        " | |"
    )
    print(
        f"| (b) outbox to {OUTBOX} chats, limits enforced | {sent:.1f}/s | "
        f"{sent / 30:.0%} of 30/s; 429s from the fake: {limited} |"
    )


def main() -> None:
    asyncio.run(_main())
