"""One `getUpdates` answer, one ledger transaction: counted on the engine, on SQLite and PostgreSQL,
with repeats, a failing update and a failing commit in the batch."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiogram.exceptions import TelegramServerError
from sqlalchemy import event, select

from bot.conversation import Conversation
from inbox.core.models import IntakeRecord, IntakeStatus, Message, TelegramConversation
from tests.bot.conftest import Telegram
from tests.bot.fake_bot_api import callback_update, message_update
from tests.factories import eventually


class CommitRefused(Exception):
    """What the engine raises instead of adding the batch's rows, when told to."""


@dataclass
class Engine:
    """What the bot did on the database: commits, statements, and at each commit the file
    downloads done so far; `refuse` makes the batch's ledger insert fail that many times."""

    telegram: Telegram
    commits: int = 0
    statements: list[str] = field(default_factory=list)
    downloads_at_commit: list[int] = field(default_factory=list)
    refuse: int = 0

    def on_commit(self, _connection: Any) -> None:
        self.commits += 1
        self.downloads_at_commit.append(len(self.telegram.fake.calls_to("download")))

    def before_execute(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        self.statements.append(statement)
        returning = statement.rpartition("RETURNING")[2]
        if self.refuse and statement.startswith("INSERT INTO intake_ledger"):
            # The batch's insert (`ledger.record_each`) returns each row's status as well; a
            # command's own claim (`ledger.record`) returns its id and external id alone.
            columns = [c.strip().removeprefix("intake_ledger.") for c in returning.split(",")]
            if "status" in columns:
                self.refuse -= 1
                raise CommitRefused("the database refused the batch")

    def reading(self, table: str) -> int:
        return sum(1 for s in self.statements if s.startswith("SELECT") and f"FROM {table}" in s)


@contextmanager
def watched(telegram: Telegram) -> Iterator[Engine]:
    engine = Engine(telegram)
    sync = telegram.db.engine.sync_engine
    event.listen(sync, "commit", engine.on_commit)
    event.listen(sync, "before_cursor_execute", engine.before_execute)
    try:
        yield engine
    finally:
        event.remove(sync, "commit", engine.on_commit)
        event.remove(sync, "before_cursor_execute", engine.before_execute)


def update(telegram: Telegram, chat: int, text: str | None, **extra: Any) -> dict[str, Any]:
    return {"update_id": telegram.fake.next_update_id(), **message_update(chat, text, **extra)}


async def ledger(telegram: Telegram) -> dict[str, IntakeRecord]:
    async with telegram.db.sessions() as session:
        rows = (await session.execute(select(IntakeRecord))).scalars().all()
    return {r.external_id: r for r in rows}


async def inbound(telegram: Telegram, case_id: int | None) -> list[str]:
    async with telegram.db.sessions() as session:
        texts = await session.execute(
            select(Message.text)
            .where(Message.case_id == case_id, Message.direction == "inbound")
            .order_by(Message.id)
        )
        return list(texts.scalars())


async def state_of(telegram: Telegram, chat: int) -> str | None:
    async with telegram.db.sessions() as session:
        row = (
            await session.execute(
                select(TelegramConversation).where(TelegramConversation.chat_id == chat)
            )
        ).scalar_one_or_none()
    return row.state if row else None


async def test_a_batch_of_feedback_commits_in_one_transaction_after_its_downloads(
    telegram: Telegram,
) -> None:
    telegram.fake.add_file("photo-1", b"\xff\xd8jpeg", "photos/photo-1.jpg")
    photo = [{"file_id": "photo-1", "file_size": 4, "width": 9, "height": 9}]
    batch = [update(telegram, 3000 + n % 4, f"Synpunkt {n}", message_id=n) for n in range(12)]
    batch.append(update(telegram, 3010, None, caption="Bild", photo=photo))
    with watched(telegram) as engine:
        await telegram.bot.handle_batch(batch)
    assert engine.commits == 1
    assert engine.downloads_at_commit == [1]  # the file was fetched before the commit
    assert engine.reading("telegram_fsm") == len(batch)  # state and data: one read per update
    assert engine.reading("intake_ledger") == 1  # which of them it holds: one read for all
    rows = await ledger(telegram)
    assert sorted(rows) == sorted(str(u["update_id"]) for u in batch)
    assert {r.status for r in rows.values()} == {IntakeStatus.PENDING}
    await telegram.worker.drain()
    assert len(await telegram.cases()) == 5  # four chats and the photo's
    assert len(telegram.fake.sent()) == 5  # one acknowledgement per new case


async def test_repeats_within_a_batch_and_across_batches_are_skipped(telegram: Telegram) -> None:
    first, second, third = (update(telegram, 3100 + n, f"Synpunkt {n}") for n in range(3))
    with watched(telegram) as engine:
        await telegram.bot.handle_batch([first, second, first, second])
    assert engine.commits == 1
    await telegram.bot.handle_batch([second, first, third, third])
    await telegram.worker.drain()
    assert len(await telegram.cases()) == 3
    for chat in (3100, 3101, 3102):
        assert len(telegram.fake.sent(chat)) == 1
    with watched(telegram) as engine:
        await telegram.bot.handle_batch([first, second, third])  # all seen: nothing to write
    assert engine.commits == 0
    assert len(await ledger(telegram)) == 3


async def test_a_failing_update_keeps_the_others_and_its_chat_keeps_its_order(
    telegram: Telegram,
) -> None:
    telegram.fake.add_file("doc-1", b"data", "documents/doc-1.txt")
    failing = update(telegram, 3200, None, document={"file_id": "doc-1", "file_name": "a.txt"})
    after = update(telegram, 3200, "Och en sak till", message_id=2)
    others = [update(telegram, 3201, "Från en annan"), update(telegram, 3202, "Och en tredje")]
    batch = [failing, *others, after]
    telegram.fake.fail_next(1, 502, "Bad Gateway", method="getFile")
    with watched(telegram) as engine, pytest.raises(TelegramServerError):
        await telegram.bot.handle_batch(batch)
    assert engine.commits == 1  # the other chats' rows are kept
    assert sorted(await ledger(telegram)) == sorted(str(u["update_id"]) for u in others)
    await telegram.bot.handle_batch(batch)  # not confirmed, so it comes again
    await telegram.worker.drain()
    assert len(await telegram.cases()) == 3
    rows = await ledger(telegram)
    case_id = rows[str(after["update_id"])].case_id
    assert rows[str(failing["update_id"])].case_id == case_id
    texts = await inbound(telegram, case_id)
    assert len(texts) == 2 and texts[1] == "Och en sak till"  # in the order they were sent


async def test_a_failed_batch_commit_confirms_nothing_and_each_update_becomes_one_case(
    telegram: Telegram,
) -> None:
    sent = [telegram.fake.add_update(message_update(3300 + n, f"Synpunkt {n}")) for n in range(5)]
    last = sent[-1]["update_id"]
    stop = asyncio.Event()
    with watched(telegram) as engine:
        engine.refuse = 1
        task = asyncio.create_task(telegram.bot.poll(stop))
        try:
            await eventually(
                lambda: any(
                    int(c.params.get("offset") or 0) > last
                    for c in telegram.fake.calls_to("getUpdates")
                ),
                "the updates are confirmed",
            )
        finally:
            stop.set()
            await task
    offsets = [int(c.params.get("offset") or 0) for c in telegram.fake.calls_to("getUpdates")]
    assert offsets[:2] == [0, 0]  # the failed batch was asked for again, not confirmed
    assert offsets[2] == last + 1
    assert "the database refused the batch" in (telegram.bot.status["last_error"] or "")
    await telegram.worker.drain()
    assert len(await telegram.cases()) == 5
    for n in range(5):
        assert len(telegram.fake.sent(3300 + n)) == 1


async def test_a_command_is_answered_once_even_when_its_batch_commit_fails(
    telegram: Telegram,
) -> None:
    start = update(telegram, 3400, "/start")
    words = update(telegram, 3400, "Och så min synpunkt", message_id=2)
    with watched(telegram) as engine:
        engine.refuse = 1
        with pytest.raises(CommitRefused):
            await telegram.bot.handle_batch([start, words])
    [greeting] = telegram.fake.sent(3400)
    rows = await ledger(telegram)
    assert rows[str(start["update_id"])].status == IntakeStatus.DONE  # claimed before it answered
    assert str(words["update_id"]) not in rows
    await telegram.feed(start, words)
    assert len(await telegram.cases()) == 1
    texts = [m["text"] for m in telegram.fake.sent(3400)]
    assert texts.count(greeting["text"]) == 1 and len(texts) == 2  # the greeting, the ack


async def test_a_new_case_within_one_batch_is_opened_once_and_the_state_cleared_with_it(
    telegram: Telegram,
) -> None:
    chat = 3500
    await telegram.feed(update(telegram, chat, "Ett första ärende", message_id=1))
    await telegram.bot.handle_batch(
        [
            {"update_id": telegram.fake.next_update_id(), **callback_update(chat, "new")},
            update(telegram, chat, "Något helt annat", message_id=2),
            update(telegram, chat, "Tillägg", message_id=3),
        ]
    )
    assert await state_of(telegram, chat) is None
    await telegram.worker.drain()
    first, second = await telegram.cases()
    assert await inbound(telegram, first.id) == ["Ett första ärende"]
    assert await inbound(telegram, second.id) == ["Något helt annat", "Tillägg"]


async def test_the_new_case_state_survives_a_failed_commit(telegram: Telegram) -> None:
    chat = 3600
    await telegram.feed(update(telegram, chat, "Ett första ärende", message_id=1))
    await telegram.feed(
        {"update_id": telegram.fake.next_update_id(), **callback_update(chat, "new")}
    )
    assert await state_of(telegram, chat) == Conversation.new_case.state
    other = update(telegram, chat, "Något helt annat", message_id=2)
    with watched(telegram) as engine:
        engine.refuse = 1
        with pytest.raises(CommitRefused):
            await telegram.bot.handle_batch([other])
    assert await state_of(telegram, chat) == Conversation.new_case.state  # cleared only with it
    await telegram.feed(other)
    assert await state_of(telegram, chat) is None
    first, second = await telegram.cases()
    assert await inbound(telegram, first.id) == ["Ett första ärende"]
    assert await inbound(telegram, second.id) == ["Något helt annat"]
