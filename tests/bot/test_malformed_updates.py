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
from aiohttp import web
from sqlalchemy import select

from bot.app import TelegramBot
from bot.updates import (
    MAX_JSON_DEPTH,
    NESTED_TOO_DEEP,
    TOO_DEEP,
    loads,
    parse_update,
    too_deep,
)
from bot.webhook import WebhookEndpoint
from inbox.core.db import unit_of_work
from inbox.core.inbound import UnparsableMessage
from inbox.core.models import Case, IntakeRecord, IntakeStatus
from inbox.intake import ledger
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


# --- JSON nested too deep ------------------------------------------------------------------------
#
# `json`, pydantic and every walk of an update recurse once per level of nesting, so 100,000 nested
# arrays raised RecursionError wherever such an update was read: getUpdates (polling stalled on
# it for ever), the webhook and the worker's parser. Now it is kept as a failed row like any
# other update nobody can read. The JSON is written by hand: `json.dumps` cannot write it either.

LEVELS = 100_000


def _nested(kind: str) -> str:
    if kind == "arrays":
        return "[" * LEVELS + "]" * LEVELS
    if kind == "objects":
        return '{"a":' * LEVELS + "1" + "}" * LEVELS
    return '[{"b":' * (LEVELS // 2) + "2" + "}]" * (LEVELS // 2)


def _deep_update(update_id: int, where: str, kind: str = "arrays") -> str:
    """A text message from BAD_CHAT with `kind` nested LEVELS deep at `where`."""
    update = {"update_id": update_id, **message_update(BAD_CHAT, "Synpunkt med djup")}
    marker = "@@nested@@"
    if where == "text":
        update["message"]["text"] = marker
    elif where == "unknown key":
        update["message"]["x_extension"] = marker
    elif where == "top level":
        update["x_extension"] = marker
    else:  # inside a button press's message
        update = {"update_id": update_id, **callback_update(BAD_CHAT, "lang:sv")}
        update["callback_query"]["message"]["entities"] = marker
    return json.dumps(update).replace(json.dumps(marker), _nested(kind))


DEEP_PLACES = ["text", "unknown key", "top level", "button press"]


@pytest.mark.parametrize("where", DEEP_PLACES)
async def test_polling_keeps_an_update_nested_too_deep_as_failed_and_reads_the_next(
    telegram: Telegram, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    fake = telegram.fake
    deep_id, good_id = fake.next_update_id(), fake.next_update_id()
    good = {"update_id": good_id, **message_update(GOOD_CHAT, "Vanlig synpunkt")}
    answer = '{"ok":true,"result":[' + _deep_update(deep_id, where) + "," + json.dumps(good) + "]}"
    serve_queue = fake._m_getUpdates
    served = []

    async def get_updates(call: Any) -> Any:
        if served:
            return await serve_queue(call)
        served.append(call)
        fake.calls.append(call)
        return web.Response(text=answer, content_type="application/json")

    monkeypatch.setattr(fake, "_m_getUpdates", get_updates)
    stop = asyncio.Event()
    task = asyncio.create_task(telegram.bot.poll(stop))
    try:
        await fake.wait_for(
            lambda: any(
                int(c.params.get("offset") or 0) > good_id for c in fake.calls_to("getUpdates")
            )
        )
    finally:
        stop.set()
        await task
    await telegram.worker.drain()
    rows = await _ledger(telegram)
    assert rows[str(deep_id)].status == FAILED
    assert rows[str(deep_id)].error == NESTED_TOO_DEEP
    kept = json.loads(rows[str(deep_id)].raw or b"")
    assert kept["update_id"] == deep_id and "[" * 1000 in json.dumps(kept)  # all of it is kept
    assert rows[str(good_id)].status == DONE
    assert "Vanlig synpunkt" in await _case_texts(telegram)
    assert telegram.bot.context.status.last_error is None


@pytest.mark.parametrize("kind", ["arrays", "objects", "both"])
@pytest.mark.parametrize("where", DEEP_PLACES)
async def test_the_webhook_keeps_an_update_nested_too_deep_as_failed(
    telegram: Telegram, where: str, kind: str
) -> None:
    app = create_app(
        secret_key=SECRET_KEY,
        sessions=telegram.db.sessions,
        clock=telegram.clock,
        telegram_webhook=WebhookEndpoint(telegram.bot, secret="s3cret"),
    )
    headers = {"X-Telegram-Bot-Api-Secret-Token": "s3cret", "Content-Type": "application/json"}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        for body in (
            _deep_update(1, where, kind),
            json.dumps({"update_id": 2, **message_update(GOOD_CHAT, "Vanlig synpunkt")}),
        ):
            response = await client.post("/telegram/webhook", content=body, headers=headers)
            assert response.status_code == 200, response.text
    await telegram.worker.drain()
    rows = await _ledger(telegram)
    assert (rows["1"].status, rows["1"].error) == (FAILED, NESTED_TOO_DEEP)
    assert rows["2"].status == DONE
    assert "Vanlig synpunkt" in await _case_texts(telegram)


@pytest.mark.parametrize("kind", ["arrays", "objects", "both"])
async def test_a_stored_update_nested_too_deep_is_failed_by_the_worker(
    telegram: Telegram, kind: str
) -> None:
    """A row stored as it came (before this check existed, or by another version)."""
    deep = _deep_update(900, "text", kind).encode()
    with pytest.raises(UnparsableMessage, match="nested deeper than"):
        parse_update(deep)
    async with unit_of_work(telegram.db.sessions) as session:
        for external_id, raw in (
            ("900", deep),
            ("901", json.dumps({"update_id": 901, **message_update(GOOD_CHAT, "Vanlig")}).encode()),
        ):
            await ledger.record(
                session, channel="telegram", external_id=external_id, raw=raw, now=telegram.clock()
            )
    await telegram.worker.drain()
    rows = await _ledger(telegram)
    assert rows["900"].status == FAILED and "nested deeper than" in (rows["900"].error or "")
    assert rows["900"].raw == deep
    assert rows["901"].status == DONE


def test_json_nested_within_the_limit_reads_as_json_and_brackets_in_strings_are_text() -> None:
    within = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    assert loads(within) == json.loads(within) and not too_deep(loads(within))
    text = '{"t": "' + "[{" * LEVELS + '\\"]"}'
    assert loads(text) == json.loads(text)
    over = "[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1)
    cut: Any = {TOO_DEEP: "[]"}  # the level over the limit, kept as its text
    for _ in range(MAX_JSON_DEPTH):
        cut = [cut]
    assert loads(over) == cut and too_deep(cut)
    with pytest.raises(ValueError):
        loads("[" * LEVELS)  # never closed: invalid, as json.loads says of shorter ones
