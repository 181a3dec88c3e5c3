"""The check-in conversation in Telegram, on SQLite and PostgreSQL, against the fake Bot API: one
question at a time with buttons, the message edited to show the answers, the optional comment."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from inbox.core.models import Case, OutboxItem, OutboxStatus
from tests.bot.conftest import Telegram
from tests.bot.fake_bot_api import callback_update, message_update

CHAT = 5150


def buttons(markup: dict[str, Any] | None) -> dict[str, str]:
    rows = (markup or {}).get("inline_keyboard") or []
    return {b["text"]: b["callback_data"] for row in rows for b in row}


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
        self.shown: dict[str, Any] = {"message_id": 9, "date": 1, "text": ask["text"]}
        self.markup = ask.get("reply_markup")

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
        return answer


async def test_the_whole_flow_one_question_at_a_time_then_a_comment(telegram: Telegram) -> None:
    ask, decision = await asked(telegram)
    assert "Förstod du beslutet?" in ask["text"]
    assert decision["reference"] not in ask["text"]  # neutral: never the decision's id
    assert list(buttons(ask["reply_markup"])) == ["Ja", "Delvis", "Nej"]
    chat = Chat(telegram, ask)
    answer = await chat.tap("Delvis")
    assert "sparat" in answer["text"]
    assert "Förstod du beslutet?\n→ Delvis" in chat.shown["text"]
    assert "Vet du hur du överklagar" in chat.shown["text"]
    assert list(buttons(chat.markup)) == ["Ja", "Nej"]
    await chat.tap("Ja")
    assert "Så överklagar du" not in chat.shown["text"]  # only after "nej"
    assert list(buttons(chat.markup)) == ["1", "2", "3", "4", "5"]
    await chat.tap("4")
    await chat.tap("Nej")
    assert "Vill du lägga till något?" in chat.shown["text"] and chat.markup is None
    for line in ("→ Delvis", "→ Ja", "→ 4", "→ Nej"):
        assert line in chat.shown["text"]
    await telegram.feed(message_update(CHAT, "Bra bemötande, men brevet var svårt.", message_id=5))
    assert "Tack för din kommentar" in telegram.fake.sent(CHAT)[-1]["text"]
    assert await telegram.cases() == []  # the comment is an answer, not new feedback
    view = (await telegram.api.get(f"/api/decisions/{decision['id']}")).json()["checkin"]
    assert view["state"] == "answered" and view["answered_via"] == "telegram"
    assert view["answers"] == {
        "understood": "partly",
        "knows_appeal": "yes",
        "rating": 4,
        "wants_contact": "no",
        "comment": "Bra bemötande, men brevet var svårt.",
    }
    # The next message is ordinary feedback again.
    await telegram.feed(message_update(CHAT, "En helt ny synpunkt om hemtjänsten.", message_id=6))
    assert len(await telegram.cases()) == 1


async def test_not_knowing_how_to_appeal_adds_the_explanation_in_english(
    telegram: Telegram,
) -> None:
    decision = await register(telegram, language="en")
    telegram.clock.now = datetime.fromisoformat(decision["checkin"]["ask_at"])
    await telegram.worker.drain()
    [ask] = telegram.fake.sent(CHAT)
    assert "Did you understand the decision?" in ask["text"]
    chat = Chat(telegram, ask)
    await chat.tap("Yes")
    await chat.tap("No")
    assert "How to appeal" in chat.shown["text"] and "three weeks" in chat.shown["text"]
    assert "→ No" in chat.shown["text"] and "How would you rate us" in chat.shown["text"]


async def test_a_repeated_tap_changes_nothing_and_says_so(telegram: Telegram) -> None:
    ask, decision = await asked(telegram)
    chat = Chat(telegram, ask)
    first = dict(chat.shown)
    await chat.tap("Ja")
    edits = len(telegram.fake.calls_to("editMessageText"))
    # The same old button again (a double tap), then a different one on the old keyboard.
    old = Chat(telegram, ask)
    old.shown = first
    answer = await old.tap("Ja")
    assert "redan" in answer["text"]
    answer = await old.tap("Nej")
    assert "redan svarat" in answer["text"]
    assert len(telegram.fake.calls_to("editMessageText")) == edits
    view = (await telegram.api.get(f"/api/decisions/{decision['id']}")).json()["checkin"]
    assert view["answers"]["understood"] == "yes"
    assert await telegram.cases() == []


async def test_a_tap_from_another_chat_is_refused(telegram: Telegram) -> None:
    ask, decision = await asked(telegram)
    chat = Chat(telegram, ask)
    answer = await chat.tap("Nej", chat=CHAT + 1)
    assert "hör inte till" in answer["text"] and answer["show_alert"] in (True, "true")
    view = (await telegram.api.get(f"/api/decisions/{decision['id']}")).json()["checkin"]
    assert view["answers"]["understood"] is None
    assert await telegram.cases() == []


async def test_a_poor_answer_opens_a_case_for_the_unit(telegram: Telegram) -> None:
    ask, decision = await asked(telegram)
    chat = Chat(telegram, ask)
    await chat.tap("Nej")  # did not understand the decision
    [case] = await telegram.cases()
    assert case.origin == "checkin" and case.flag_callback and case.unit_id is not None
    await chat.tap("Ja")
    await chat.tap("1")
    await chat.tap("Ja")
    assert "En handläggare kommer att kontakta dig." in chat.shown["text"]
    await telegram.feed(message_update(CHAT, "Ring efter klockan tio.", message_id=3))
    [case] = await telegram.cases()  # the comment joins the same case
    view = (await telegram.api.get(f"/api/decisions/{decision['id']}")).json()["checkin"]
    assert (
        view["case"] == case.reference and view["answers"]["comment"] == "Ring efter klockan tio."
    )
    response = await telegram.api.get(f"/api/cases/{case.reference}")
    texts = " ".join(m["text"] for m in response.json()["messages"])
    assert "förstod inte beslutet" in texts and "Ring efter klockan tio." in texts
    assert not [s for s in telegram.fake.sent(CHAT) if case.reference in s["text"]]  # no ack


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
    assert not [s for s in telegram.fake.sent(CHAT) if "Förstod du beslutet" in s["text"]]
    view = (await telegram.api.get(f"/api/decisions/{decision['id']}")).json()["checkin"]
    assert view["opted_out"] is True and view["state"] == "cancelled"


async def test_a_late_answer_is_answered_politely_and_not_stored(telegram: Telegram) -> None:
    ask, decision = await asked(telegram)
    telegram.clock.now = datetime.fromisoformat(decision["checkin"]["closes_at"]) + timedelta(
        hours=1
    )
    chat = Chat(telegram, ask)
    answer = await chat.tap("Nej")
    assert "stängda" in answer["text"] and answer.get("show_alert") in (None, False, "false")
    [removal] = telegram.fake.calls_to("editMessageReplyMarkup")
    assert "reply_markup" not in removal.params or not removal.params["reply_markup"]
    view = (await telegram.api.get(f"/api/decisions/{decision['id']}")).json()["checkin"]
    assert view["answers"]["understood"] is None
    async with telegram.db.sessions() as session:
        assert (await session.execute(select(Case))).first() is None
