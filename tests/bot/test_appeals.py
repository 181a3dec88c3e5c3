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


async def test_an_english_appeal_in_the_chat_is_answered_flagged_and_put_first(
    telegram: Telegram,
) -> None:
    # Something already waiting in the unit, due later: a decision not executed (30 April).
    await telegram.feed(message_update(CHAT + 5, "Jag har väntat på min hemtjänst i fyra månader."))
    [waiting] = await telegram.cases()
    for body in ({"unit": "aldreomsorg"}, {"flags": {"decision_not_executed": True}}):
        patched = await telegram.api.patch(f"/api/cases/{waiting.reference}", json=body)
        assert patched.status_code == 200
    telegram.clock.advance(hours=2)

    text = "I want to appeal the decision to cut my home care hours. I think it is wrong."
    await telegram.feed(message_update(CHAT, text, lang="en"))
    [_, case] = await telegram.cases()
    assert case.flag_appeal_intent and case.language == "en"
    [ack] = telegram.fake.sent(CHAT)
    assert case.reference in ack["text"]
    for phrase in (
        "Ditt meddelande kan vara ett överklagande.",
        "som kom in till Socialtjänsten den 10 mars 2026",
        "Your message may be an appeal.",
        "received by Socialtjänsten on 10 March 2026",
        "rättidsprövning",
        "Vid akut fara, ring 112.",
        "In an emergency, call 112.",
    ):
        assert phrase in ack["text"], phrase
    assert "inte ett överklagande" not in ack["text"] and "not an appeal" not in ack["text"]

    patched = await telegram.api.patch(f"/api/cases/{case.reference}", json={"unit": "aldreomsorg"})
    assert patched.status_code == 200
    items = (await telegram.api.get("/api/tasks", params={"unit": "aldreomsorg"})).json()["items"]
    assert [(i["case"], i["kind"], i["due_on"]) for i in items] == [
        (case.reference, "appeal_intent", "2026-03-11"),
        (waiting.reference, "decision_not_executed", "2026-04-30"),
    ]
