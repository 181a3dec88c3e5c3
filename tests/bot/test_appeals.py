"""The bot's greeting carries the emergency line; a message in English that may be an appeal is
answered as one, flagged, and put first on its unit's list of tasks."""

from __future__ import annotations

from bot.app import TelegramBot, make_bot
from bot.context import BotContext
from tests.bot.conftest import Telegram
from tests.bot.fake_bot_api import TOKEN, message_update

CHAT = 4711
ON_CALL = "Socialjouren: 010-123 45 67."


async def test_the_greeting_says_call_112_and_gives_the_on_call_service(
    telegram: Telegram,
) -> None:
    context = BotContext(
        sessions=telegram.db.sessions,
        clock=telegram.clock,
        email="s@kommun.example",
        emergency_text=ON_CALL,
    )
    configured = TelegramBot(make_bot(TOKEN, telegram.fake.url), context)
    try:
        await telegram.feed(message_update(CHAT, "/start"), bot=configured)
        await telegram.feed(message_update(CHAT + 1, "/start", lang="en"), bot=configured)
    finally:
        await configured.close()
    [swedish] = telegram.fake.sent(CHAT)
    [english] = telegram.fake.sent(CHAT + 1)
    assert f"Vid akut fara, ring 112. {ON_CALL}\n" in swedish["text"]
    assert f"In an emergency, call 112. {ON_CALL}\n" in english["text"]
    # Unconfigured: the line is 112 alone.
    await telegram.feed(message_update(CHAT + 2, "/start"))
    [plain] = telegram.fake.sent(CHAT + 2)
    assert "\n\nVid akut fara, ring 112.\n\n" in plain["text"]
