"""The check-in conversation in Telegram, on SQLite and PostgreSQL, against the fake Bot API: one
question at a time with buttons, the message edited to show the answers, the optional comment; and
nothing in the chat that says there was a decision or names the unit (issue 14)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from inbox.core.models import Case, OutboxItem, OutboxStatus, Unit
from tests.bot.conftest import Telegram
from tests.bot.fake_bot_api import callback_update, message_update

CHAT = 5150


def buttons(markup: dict[str, Any] | None) -> dict[str, str]:
    """The answer buttons: label → callback data."""
    rows = (markup or {}).get("inline_keyboard") or []
    return {b["text"]: b["callback_data"] for row in rows for b in row if "callback_data" in b}


def page_links(markup: dict[str, Any] | None) -> dict[str, str]:
    """The URL buttons (the personal page): label → URL."""
    rows = (markup or {}).get("inline_keyboard") or []
    return {b["text"]: b["url"] for row in rows for b in row if "url" in b}


async def assert_neutral(telegram: Telegram, text: str) -> None:
    """No unit's name or code, no decision, no case: a chat is not where that is said."""
    async with telegram.db.sessions() as session:
        units = (await session.execute(select(Unit))).scalars().all()
    words = [w for u in units for w in (u.name, u.code)]
    for word in [*words, "beslut", "decision", "ärende", "case", "EB-2026"]:
        assert word.lower() not in text.lower(), f"{word!r} in {text!r}"


def chat_texts(telegram: Telegram, chat: int = CHAT) -> list[str]:
    """Everything the bot wrote in the chat: messages, edits and the answers to taps."""
    calls = [
        c.params
        for method in ("sendMessage", "editMessageText", "answerCallbackQuery")
        for c in telegram.fake.calls_to(method)
    ]
    return [str(p.get("text") or "") for p in calls if str(p.get("chat_id", chat)) == str(chat)]


async def register(telegram: Telegram, chat: int = CHAT, **fields: Any) -> dict[str, Any]:
    body = {
        "unit": "ekonomiskt-bistand",
        "channel": "telegram",
        "address": str(chat),
        "language": "sv",
        "decided_on": telegram.clock().date().isoformat(),
        "reference": f"EB-2026-{chat}",
    } | fields
    response = await telegram.api.post("/api/decisions", json=body)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def asked(telegram: Telegram, chat: int = CHAT) -> tuple[dict[str, Any], dict[str, Any]]:
    """Registers a decision, runs the worker when its check-in is due; the message and decision."""
    decision = await register(telegram, chat)
    telegram.clock.now = datetime.fromisoformat(decision["checkin"]["ask_at"])
    await telegram.worker.drain()
    [ask] = telegram.fake.sent(chat)
    return ask, decision


class Chat:
    """Taps buttons in the message the check-in was sent as, as Telegram would show it."""

    def __init__(self, telegram: Telegram, ask: dict[str, Any], chat: int = CHAT) -> None:
        self.telegram = telegram
        self.chat = chat
        self.markup = ask.get("reply_markup")
        self.shown: dict[str, Any] = {"message_id": 9, "date": 1, "text": ask["text"]}
        if self.markup:
            self.shown["reply_markup"] = self.markup

    async def tap(self, label: str, *, chat: int | None = None) -> dict[str, Any]:
        data = buttons(self.markup)[label]
        edits = len(self.telegram.fake.calls_to("editMessageText"))
        await self.telegram.feed(callback_update(chat or self.chat, data, message=self.shown))
        answer: dict[str, Any] = self.telegram.fake.calls_to("answerCallbackQuery")[-1].params
        new_edits = self.telegram.fake.calls_to("editMessageText")[edits:]
        if new_edits:
            edit = new_edits[-1].params
            self.shown["text"] = edit["text"]
            self.markup = edit.get("reply_markup")
            self.shown.pop("reply_markup", None)
            if self.markup:
                self.shown["reply_markup"] = self.markup
        return answer


async def test_the_whole_flow_one_question_at_a_time_then_a_comment(telegram: Telegram) -> None:
    ask, decision = await asked(telegram)
    assert ask["text"].startswith("Hej från Socialtjänsten! Vi vill gärna veta hur du upplevde")
    assert "Hur upplevde du din senaste kontakt med oss?" in ask["text"]
    assert "Så behandlar vi dina personuppgifter: http" in ask["text"]
    assert "/integritet" in ask["text"]
    assert list(buttons(ask["reply_markup"])) == ["1", "2", "3", "4", "5"]
    [link] = page_links(ask["reply_markup"]).values()  # "Fler frågor": the personal page
    chat = Chat(telegram, ask)
    answer = await chat.tap("4")
    assert "sparat" in answer["text"]
    assert "(mycket bra).\n→ 4" in chat.shown["text"]
    assert "Vet du var du kan lämna synpunkter eller klagomål?" in chat.shown["text"]
    assert list(buttons(chat.markup)) == ["Ja", "Nej"]
    assert list(page_links(chat.markup).values()) == [link]  # kept under every question
    await chat.tap("Ja")
    assert "Synpunkter och klagomål kan du lämna" not in chat.shown["text"]  # only after "nej"
    assert "Vill du att någon av oss kontaktar dig?" in chat.shown["text"]
    await chat.tap("Nej")
    assert "Vill du lägga till något?" in chat.shown["text"]
    assert buttons(chat.markup) == {} and list(page_links(chat.markup).values()) == [link]
    assert "någon annan" not in chat.shown["text"]  # asked only of those who want contact
    for line in ("→ 4", "→ Ja", "→ Nej"):
        assert line in chat.shown["text"]
    await telegram.feed(message_update(CHAT, "Bra bemötande, men brevet var svårt.", message_id=5))
    assert "Tack för din kommentar" in telegram.fake.sent(CHAT)[-1]["text"]
    assert await telegram.cases() == []  # the comment is an answer, not new feedback
    for text in chat_texts(telegram):
        await assert_neutral(telegram, text)
    view = (await telegram.api.get(f"/api/decisions/{decision['id']}")).json()["checkin"]
    # The questions about the decision are asked on the page only.
    assert view["state"] == "partly-answered" and view["answered_via"] == "telegram"
    assert view["answers"] == {
        "rating": 4,
        "understood": None,
        "knows_appeal": None,
        "knows_feedback": "yes",
        "wants_contact": "no",
        "other_handler": None,
        "comment": "Bra bemötande, men brevet var svårt.",
    }
    # The page behind the button says what it is about and asks what the chat did not.
    page = (await telegram.api.get(link.split("8000", 1)[1])).text
    assert "Frågorna gäller beslutet i ditt ärende från den" in page
    assert "Förstod du beslutet?" in page and "Vet du hur du överklagar beslutet?" in page
    assert 'name="rating"' not in page  # answered in the chat already
    # The next message is ordinary feedback again.
    await telegram.feed(message_update(CHAT, "En helt ny synpunkt om hemtjänsten.", message_id=6))
    assert len(await telegram.cases()) == 1


async def test_the_english_message_and_its_reminder_are_neutral_too(telegram: Telegram) -> None:
    decision = await register(telegram, language="en")
    for moment in ("ask_at", "reminder_at"):
        telegram.clock.now = datetime.fromisoformat(decision["checkin"][moment])
        await telegram.worker.drain()
    ask, reminder = telegram.fake.sent(CHAT)
    assert reminder["text"].startswith("Reminder: we have not had an answer to our question.")
    for message in (ask, reminder):
        assert "How did you find your latest contact with us?" in message["text"]
        assert list(page_links(message["reply_markup"])) == ["More questions"]
        await assert_neutral(telegram, message["text"])
        for label in (*buttons(message["reply_markup"]), *page_links(message["reply_markup"])):
            await assert_neutral(telegram, label)


async def test_not_knowing_where_to_give_feedback_says_where_in_english(
    telegram: Telegram,
) -> None:
    decision = await register(telegram, language="en")
    telegram.clock.now = datetime.fromisoformat(decision["checkin"]["ask_at"])
    await telegram.worker.drain()
    [ask] = telegram.fake.sent(CHAT)
    chat = Chat(telegram, ask)
    await chat.tap("3")
    await chat.tap("No")
    assert "by writing to us here in the chat" in chat.shown["text"]
    assert (
        "→ No" in chat.shown["text"]
        and "Would you like one of us to contact you?" in (chat.shown["text"])
    )
    for text in chat_texts(telegram):
        await assert_neutral(telegram, text)


async def test_a_finnish_decision_asks_and_answers_in_finnish(telegram: Telegram) -> None:
    decision = await register(telegram, language="fi")
    telegram.clock.now = datetime.fromisoformat(decision["checkin"]["ask_at"])
    await telegram.worker.drain()
    [ask] = telegram.fake.sent(CHAT)
    assert ask["text"].startswith("Hei, täällä ")
    assert "Millainen oli viimeisin yhteydenottosi meihin?" in ask["text"]
    assert list(page_links(ask["reply_markup"])) == ["Lisää kysymyksiä"]
    await assert_neutral(telegram, ask["text"])
    chat = Chat(telegram, ask)
    await chat.tap("4")
    await chat.tap("Ei")
    assert "kirjoittamalla meille tänne chattiin" in chat.shown["text"]
    assert "→ Ei" in chat.shown["text"] and "Haluatko, että joku meistä" in chat.shown["text"]


async def test_a_repeated_tap_changes_nothing_and_says_so(telegram: Telegram) -> None:
    ask, decision = await asked(telegram)
    chat = Chat(telegram, ask)
    first = dict(chat.shown)
    await chat.tap("4")
    edits = len(telegram.fake.calls_to("editMessageText"))
    # The same old button again (a double tap), then a different one on the old keyboard.
    old = Chat(telegram, ask)
    old.shown = first
    answer = await old.tap("4")
    assert "redan" in answer["text"]
    answer = await old.tap("1")
    assert "redan svarat" in answer["text"]
    assert len(telegram.fake.calls_to("editMessageText")) == edits
    view = (await telegram.api.get(f"/api/decisions/{decision['id']}")).json()["checkin"]
    assert view["answers"]["rating"] == 4
    assert await telegram.cases() == []


async def test_a_tap_from_another_chat_is_refused(telegram: Telegram) -> None:
    ask, decision = await asked(telegram)
    chat = Chat(telegram, ask)
    answer = await chat.tap("1", chat=CHAT + 1)
    assert "hör inte till" in answer["text"] and answer["show_alert"] in (True, "true")
    view = (await telegram.api.get(f"/api/decisions/{decision['id']}")).json()["checkin"]
    assert view["answers"]["rating"] is None
    assert await telegram.cases() == []


async def test_a_nej_to_contact_opens_nothing_and_promises_nothing(telegram: Telegram) -> None:
    ask, _decision = await asked(telegram)
    chat = Chat(telegram, ask)
    await chat.tap("1")  # a poor experience
    await chat.tap("Nej")
    await chat.tap("Nej")  # but no contact, thank you
    assert await telegram.cases() == []
    for text in chat_texts(telegram):
        assert "hör av oss" not in text and "kontaktar dig." not in text


async def test_a_ja_to_contact_opens_a_case_and_someone_else_flags_it(telegram: Telegram) -> None:
    ask, decision = await asked(telegram)
    chat = Chat(telegram, ask)
    await chat.tap("1")
    await chat.tap("Ja")
    assert await telegram.cases() == []  # a poor rating alone calls nobody back
    await chat.tap("Ja")  # "Vill du att någon av oss kontaktar dig?"
    [case] = await telegram.cases()
    assert case.origin == "checkin" and case.flag_callback and case.unit_id is not None
    assert not case.flag_other_handler
    assert "Du har bett att någon av oss kontaktar dig. Vi hör av oss." in chat.shown["text"]
    assert "någon annan än den du senast hade kontakt med hos oss?" in chat.shown["text"]
    await chat.tap("Ja")
    assert "Vi har noterat att du hellre vill prata med någon annan." in chat.shown["text"]
    [case] = await telegram.cases()
    assert case.flag_other_handler
    await telegram.feed(message_update(CHAT, "Ring efter klockan tio.", message_id=3))
    [case] = await telegram.cases()  # the comment joins the same case
    view = (await telegram.api.get(f"/api/decisions/{decision['id']}")).json()["checkin"]
    assert (
        view["case"] == case.reference and view["answers"]["comment"] == "Ring efter klockan tio."
    )
    response = await telegram.api.get(f"/api/cases/{case.reference}")
    texts = " ".join(m["text"] for m in response.json()["messages"])
    assert "vill bli kontaktad" in texts and "lågt betyg (1)" in texts
    assert "Ring efter klockan tio." in texts
    # Registered through the API, not by a handläggare: staff are told to find out who it was.
    assert "ta reda på vem som handlade ärendet" in texts
    assert not [s for s in telegram.fake.sent(CHAT) if case.reference in s["text"]]  # no ack
    for text in chat_texts(telegram):
        await assert_neutral(telegram, text)


async def test_stopp_cancels_the_pending_check_in(telegram: Telegram) -> None:
    decision = await register(telegram)
    await telegram.feed(message_update(CHAT, "STOPP"))
    assert "inga fler automatiska meddelanden" in telegram.fake.sent(CHAT)[-1]["text"]
    async with telegram.db.sessions() as session:
        rows = list((await session.execute(select(OutboxItem).order_by(OutboxItem.id))).scalars())
    checkin_rows = [r for r in rows if r.kind.startswith("checkin.")]
    assert {r.status for r in checkin_rows} == {OutboxStatus.CANCELLED}
    assert len(checkin_rows) == 2  # the ask and the reminder
    telegram.clock.now = datetime.fromisoformat(decision["checkin"]["ask_at"]) + timedelta(days=9)
    await telegram.worker.drain()
    assert not [s for s in telegram.fake.sent(CHAT) if "Hur upplevde du" in s["text"]]
    view = (await telegram.api.get(f"/api/decisions/{decision['id']}")).json()["checkin"]
    assert view["opted_out"] is True and view["state"] == "cancelled"


async def test_a_late_answer_is_answered_politely_and_not_stored(telegram: Telegram) -> None:
    ask, decision = await asked(telegram)
    telegram.clock.now = datetime.fromisoformat(decision["checkin"]["closes_at"]) + timedelta(
        hours=1
    )
    chat = Chat(telegram, ask)
    answer = await chat.tap("1")
    assert "stängda" in answer["text"] and answer.get("show_alert") in (None, False, "false")
    [removal] = telegram.fake.calls_to("editMessageReplyMarkup")
    assert "reply_markup" not in removal.params or not removal.params["reply_markup"]
    view = (await telegram.api.get(f"/api/decisions/{decision['id']}")).json()["checkin"]
    assert view["answers"]["rating"] is None
    async with telegram.db.sessions() as session:
        assert (await session.execute(select(Case))).first() is None
