"""Malformed Telegram updates, by polling and by webhook: each is kept (a case, or a failed ledger
row staff can see) and confirmed, and the next chat's message still becomes a case."""

from __future__ import annotations

import asyncio
import copy
import json
from typing import Any

import httpx
import pytest
from aiogram.exceptions import TelegramServerError
from sqlalchemy import select

from bot.app import TelegramBot
from bot.webhook import WebhookEndpoint
from inbox.core.models import Case, IntakeRecord, IntakeStatus
from inbox.web.app import create_app
from tests.bot.conftest import Telegram
from tests.bot.fake_bot_api import callback_update, message_update
from tests.conftest import SECRET_KEY

BAD_CHAT, GOOD_CHAT = 6001, 6002
DONE, FAILED = IntakeStatus.DONE, IntakeStatus.FAILED


def _message(**changes: Any) -> dict[str, Any]:
    """A text message from BAD_CHAT with `changes` applied (None removes a key)."""
    update = message_update(BAD_CHAT, "Synpunkt med konstig form")
    for key, value in changes.items():
        if value is None:
            update["message"].pop(key, None)
        else:
            update["message"][key] = value
    return update


def _callback_with_message(message: Any) -> dict[str, Any]:
    update = callback_update(BAD_CHAT, "lang:sv")
    update["callback_query"]["message"] = message
    return update


# name → (update, how it ends: DONE with a case when our parser reads it, else FAILED)
SHAPES: dict[str, tuple[dict[str, Any], IntakeStatus]] = {
    "message without chat": (_message(chat=None), FAILED),
    "text that is a number": (_message(text=12345), FAILED),
    "text that is an object": (_message(text={"b": "fet"}), FAILED),
    "photo without file_unique_id": (
        _message(text=None, caption="Se bild", photo=[{"file_id": "p1", "width": 9, "height": 9}]),
        DONE,
    ),
    "date that is a string": (_message(date="igår"), DONE),
    "sender without first_name": (_message(**{"from": {"id": BAD_CHAT}}), DONE),
    "chat that is a string": (_message(chat="kanal"), FAILED),
    "caption that is a list": (_message(text=None, caption=["a"]), FAILED),
    "document with a numeric mime_type": (
        _message(text=None, document={"file_id": "d1", "file_unique_id": "d1", "mime_type": 5}),
        DONE,
    ),
    "message that is a string": ({"message": "hej"}, FAILED),
    "button press whose message is a string": (_callback_with_message("borta"), FAILED),
    "button press with odd digits": (callback_update(BAD_CHAT, "ci:²:rating:5"), DONE),
}


async def _ledger(telegram: Telegram) -> dict[str, IntakeRecord]:
    async with telegram.db.sessions() as session:
        rows = (await session.execute(select(IntakeRecord))).scalars().all()
    return {r.external_id: r for r in rows}


async def _case_texts(telegram: Telegram) -> list[str]:
    async with telegram.db.sessions() as session:
        return [c.subject for c in (await session.execute(select(Case))).scalars()]


async def test_polling_keeps_each_malformed_update_and_the_next_chat_still_gets_a_case(
    telegram: Telegram,
) -> None:
    """Each shape is followed by a normal message from another chat, all in one getUpdates."""
    queued: list[tuple[str, int, int]] = []  # shape, its update id, the next chat's update id
    for n, (shape, (update, _ends)) in enumerate(SHAPES.items()):
        bad = telegram.fake.add_update(copy.deepcopy(update))
        good = telegram.fake.add_update(message_update(GOOD_CHAT + n, f"Vanlig synpunkt {n}"))
        queued.append((shape, bad["update_id"], good["update_id"]))
    last = queued[-1][2]
    stop = asyncio.Event()
    task = asyncio.create_task(telegram.bot.poll(stop))
    try:
        await telegram.fake.wait_for(
            lambda: any(
                int(c.params.get("offset") or 0) > last
                for c in telegram.fake.calls_to("getUpdates")
            )
        )
    finally:
        stop.set()
        await task
    await telegram.worker.drain()
    subjects = await _case_texts(telegram)
    rows = await _ledger(telegram)
    for n, (shape, bad_id, good_id) in enumerate(queued):
        row = rows[str(bad_id)]
        assert row.status == SHAPES[shape][1], (shape, row.status, row.error)
        if row.status == FAILED:
            assert row.error, shape
            assert json.loads(row.raw or b"")["update_id"] == bad_id  # kept as it came
        assert rows[str(good_id)].status == DONE and f"Vanlig synpunkt {n}" in subjects, shape


@pytest.mark.parametrize("shape", SHAPES, ids=str)
async def test_the_webhook_keeps_a_malformed_update_and_confirms_it(
    telegram: Telegram, shape: str
) -> None:
    update, ends = SHAPES[shape]
    app = create_app(
        secret_key=SECRET_KEY,
        sessions=telegram.db.sessions,
        clock=telegram.clock,
        telegram_webhook=WebhookEndpoint(telegram.bot, secret="s3cret"),
    )
    headers = {"X-Telegram-Bot-Api-Secret-Token": "s3cret"}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        for update_id, body in (
            (1, update),
            (2, message_update(GOOD_CHAT, "Vanlig synpunkt")),
        ):
            response = await client.post(
                "/telegram/webhook", json={"update_id": update_id, **body}, headers=headers
            )
            assert response.status_code == 200, response.text
    await telegram.worker.drain()
    assert "Vanlig synpunkt" in await _case_texts(telegram)
    rows = await _ledger(telegram)
    assert rows["1"].status == ends, (rows["1"].status, rows["1"].error)
    assert rows["2"].status == DONE


async def test_an_update_whose_handling_keeps_failing_is_kept_as_failed_after_a_few_tries(
    telegram: Telegram,
) -> None:
    the_bot = TelegramBot(telegram.bot.bot, telegram.bot.context, give_up_after=3)
    update = {
        "update_id": 700,
        **message_update(BAD_CHAT, text=None, document={"file_id": "doc-9", "file_name": "a.txt"}),
    }
    telegram.fake.add_file("doc-9", b"data", "documents/doc-9.txt")
    telegram.fake.fail_next(10, 502, "Bad Gateway", method="getFile")
    for _ in range(2):  # not confirmed: it comes again
        with pytest.raises(TelegramServerError):
            await telegram.feed(update, bot=the_bot)
    await telegram.feed(update, message_update(GOOD_CHAT, "Vanlig synpunkt"), bot=the_bot)
    rows = await _ledger(telegram)
    assert rows["700"].status == FAILED
    assert "handling failed 3 times" in (rows["700"].error or "")
    assert "Vanlig synpunkt" in await _case_texts(telegram)
