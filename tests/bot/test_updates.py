"""The update parser on the real samples (Zammad's and Telegram's own), and through the webhook route."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from bot.app import TelegramBot, make_bot
from bot.context import BotContext
from bot.updates import OURS, parse_update
from bot.webhook import WebhookEndpoint
from inbox.core.inbound import UnparsableMessage
from inbox.core.models import IntakeRecord
from inbox.web.app import create_app
from tests.bot.fake_bot_api import TOKEN, FakeBotApi
from tests.conftest import CORPORA, SECRET_KEY, Clock, Database

TELEGRAM = CORPORA / "telegram"
SAMPLES = sorted(TELEGRAM.rglob("*.json"))
NOT_FEEDBACK = {
    "start.json", "start2.json", "end.json", "my_chat_member.json",
    "11_inline_query.json", "12_chosen_inline_result.json", "13_callback_query.json",
}  # fmt: skip


def is_command(path: Path) -> bool:
    update = json.loads(path.read_bytes())
    message = update.get("message") or update.get("channel_post") or {}
    return str(message.get("text", "")).startswith("/")


def load(name: str) -> bytes:
    return next(p for p in SAMPLES if p.relative_to(TELEGRAM).as_posix() == name).read_bytes()


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.relative_to(TELEGRAM).as_posix())
def test_every_sample_parses_or_is_clearly_not_feedback(path: Path) -> None:
    if path.name in NOT_FEEDBACK or is_command(path):
        with pytest.raises(UnparsableMessage, match="not feedback"):
            parse_update(path.read_bytes())
        return
    msg = parse_update(path.read_bytes())
    update = json.loads(path.read_bytes())
    assert msg.external_id == str(update["update_id"])
    assert msg.chat_id and msg.sender_address == msg.chat_id
    assert msg.text or msg.defects  # words, or a file noted as not (yet) downloaded


def test_zammad_expectations_where_they_apply() -> None:
    text = parse_update(load("zammad/private/text.json"))
    assert text.text == "Hello, I need your Help" and text.subject == "Hello, I need your Help"
    assert text.sender_name == "Test Firstname Test Lastname (@Testusername)"
    channel = parse_update(load("zammad/channel/text.json"))  # no `from`: the channel is the sender
    assert channel.sender_name == "ZBotChannel" and channel.chat_id == "123456789"
    sticker = parse_update(load("zammad/private/sticker.json"))
    assert sticker.subject == "😄"
    # Files are named as Zammad names them once the bot has downloaded them.
    for name, file_id, expected in (
        ("zammad/private/document.json", "documentfileid", "document.pdf"),
        ("zammad/private/video.json", "videofileid", "video-videofileid.mp4"),
        ("zammad/private/voice.json", "voicefileid", "audio-voicefileid.ogg"),
        ("zammad/private/sticker.json", "stickerfileid", "HotCherry.webp"),
    ):
        update = json.loads(load(name))
        update[OURS] = {"files": {file_id: {"data": base64.b64encode(b"x").decode()}}}
        [attachment] = parse_update(json.dumps(update).encode()).attachments
        assert attachment.filename == expected and attachment.data == b"x"


def test_garbage_gets_a_clear_error() -> None:
    with pytest.raises(UnparsableMessage, match="invalid JSON"):
        parse_update(b"\xff not json")
    with pytest.raises(UnparsableMessage, match="no update_id"):
        parse_update(b'{"message": {}}')


async def test_every_sample_is_accepted_by_the_webhook_route(
    db: Database, clock: Clock, fake: FakeBotApi
) -> None:
    the_bot = TelegramBot(make_bot(TOKEN, fake.url), BotContext(sessions=db.sessions, clock=clock))
    app = create_app(
        secret_key=SECRET_KEY,
        sessions=db.sessions,
        clock=clock,
        telegram_webhook=WebhookEndpoint(the_bot, secret="s3cret"),
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        wrong = await client.post("/telegram/webhook", content=load("zammad/private/text.json"))
        assert wrong.status_code == 401
        garbage = await client.post(
            "/telegram/webhook",
            content=b"nope",
            headers={"X-Telegram-Bot-Api-Secret-Token": "s3cret"},
        )
        assert garbage.status_code == 400
        for index, path in enumerate(SAMPLES):
            update = json.loads(path.read_bytes())
            update["update_id"] = 10_000 + index  # the samples share ids; here each is new
            response = await client.post(
                "/telegram/webhook",
                json=update,
                headers={"X-Telegram-Bot-Api-Secret-Token": "s3cret"},
            )
            assert response.status_code == 200, (path, response.text)
    await the_bot.close()
    async with db.sessions() as session:
        rows = (await session.execute(select(IntakeRecord))).scalars().all()
    assert len(rows) == len(SAMPLES)  # every one kept, feedback pending for the worker
    pending = {r.external_id for r in rows if r.status == "pending"}
    expected = [p for p in SAMPLES if p.name not in NOT_FEEDBACK and not is_command(p)]
    assert len(pending) == len(expected)


def test_what_no_database_column_takes_is_dropped_and_an_odd_date_ignored() -> None:
    update = {
        "update_id": 9,
        "message": {
            "message_id": 1,
            "date": 10**20,
            "chat": {"id": 5, "type": "private"},
            "from": {"id": 5, "first_name": "An\u0000na"},
            "text": "Hej\u0000 d\ud800är",
        },
    }
    msg = parse_update(json.dumps(update).encode())
    assert msg.text == "Hej där" and msg.sender_name == "Anna"
    assert msg.sent_at is None
    assert b"\\u0000" in msg.raw  # the original is kept as it came
