"""The conversation in-process, on SQLite and PostgreSQL: intake, questions, replies, STOPP, failures."""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import timedelta

import pytest
from aiogram.exceptions import TelegramServerError
from sqlalchemy import select

from inbox.core.models import Attachment, AuditEvent, IntakeRecord, Message, OutboxStatus
from tests.bot.conftest import Telegram
from tests.bot.fake_bot_api import callback_update, message_update

CHAT = 4711


def buttons(markup: dict) -> list[tuple[str, str]]:  # type: ignore[type-arg]
    return [(b["text"], b["callback_data"]) for row in markup["inline_keyboard"] for b in row]


async def test_a_message_without_start_opens_a_case_and_the_ack_carries_its_reference(
    telegram: Telegram,
) -> None:
    await telegram.feed(message_update(CHAT, "Min handläggare svarar aldrig i telefon."))
    [case] = await telegram.cases()
    assert case.channel == "telegram" and case.kind == "other"
    [ack] = telegram.fake.sent(CHAT)
    assert case.reference in ack["text"]
    assert "personnummer" in ack["text"] and "överklagande" in ack["text"]
    assert "mejl" not in ack["text"]  # a chat acknowledgement, not the email one
    labels = [label for label, _ in buttons(ack["reply_markup"])]
    assert labels == ["Kritik", "Beröm", "Förslag", "Fråga", "Hoppa över"]
    [item] = await telegram.outbox()
    assert item.status == OutboxStatus.SENT
    assert set(item.payload) == {"text", "languages", "chat_id"}  # no email-only fields


async def test_start_greets_in_the_app_language_and_the_button_switches_it(
    telegram: Telegram,
) -> None:
    await telegram.feed(message_update(CHAT, "/start", lang="en"))
    [greeting] = telegram.fake.sent(CHAT)
    text = greeting["text"]
    for needle in ("public record", "personal identity numbers", "Telegram name", "not an appeal"):
        assert needle in text
    assert "s@kommun.example" in text
    assert ("🌐 Change language", "langs") in buttons(greeting["reply_markup"])
    await telegram.feed(callback_update(CHAT, "langs"))  # every offered language, by its own name
    [menu] = telegram.fake.calls_to("editMessageReplyMarkup")
    offered = buttons(menu.params["reply_markup"])
    assert {("Svenska", "lang:sv"), ("Suomi", "lang:fi"), ("العربية", "lang:ar")} <= set(offered)
    assert ("Lättläst svenska", "lang:sv-easy") in offered and ("دری", "lang:prs") in offered
    await telegram.feed(callback_update(CHAT, "lang:sv"))
    [edit] = telegram.fake.calls_to("editMessageText")
    assert "allmän handling" in edit.params["text"] and "personnummer" in edit.params["text"]
    assert telegram.fake.calls_to("answerCallbackQuery")
    assert await telegram.cases() == []  # commands and buttons are not feedback
    # The choice is kept: the acknowledgement's questions follow it, /hjalp too.
    await telegram.feed(message_update(CHAT, "/hjalp", lang="en"))
    assert "Så fungerar det" in telegram.fake.sent(CHAT)[-1]["text"]


async def test_an_arabic_app_gets_the_bot_and_the_acknowledgement_in_arabic_and_swedish(
    telegram: Telegram,
) -> None:
    """Telegram's `language_code=ar` picks the Arabic catalogue: the greeting and the buttons
    are Arabic; the acknowledgement is Swedish first, then Arabic, and its questions Arabic."""
    await telegram.feed(message_update(CHAT, "/start", lang="ar"))
    [greeting] = telegram.fake.sent(CHAT)
    assert "وثيقة عامة (allmän handling)" in greeting["text"] and "112" in greeting["text"]
    assert "allmän handling när" not in greeting["text"]  # not the Swedish text
    assert ("🌐 تغيير اللغة", "langs") in buttons(greeting["reply_markup"])

    await telegram.feed(message_update(CHAT, "الموظف لا يرد على الهاتف أبدًا.", lang="ar"))
    [case] = await telegram.cases()
    ack = telegram.fake.sent(CHAT)[-1]
    swedish, arabic = ack["text"].split("\n---\n")
    assert "Tack! Vi har tagit emot ditt meddelande" in swedish and case.reference in swedish
    assert "شكرًا! لقد تلقينا رسالتك" in arabic and case.reference in arabic
    assert "(rättidsprövning)" not in arabic  # not an appeal: the note on appealing instead
    assert "الملاحظة ليست طعنًا" in arabic
    labels = [label for label, _ in buttons(ack["reply_markup"])]
    assert "نقد" in labels and "Kritik" not in labels  # the first question, in Arabic
    async with telegram.db.sessions() as session:
        [stored] = (
            await session.execute(select(Message).where(Message.kind == "case.ack"))
        ).scalars()
    assert ack["text"].startswith(stored.text.rstrip())  # then the question, in Arabic
    assert stored.language == "sv"  # the letter's first language


async def test_the_optional_questions_classify_the_case_with_audit_events(
    telegram: Telegram,
) -> None:
    await telegram.feed(message_update(CHAT, "Hemtjänsten kommer alltid sent."))
    [case] = await telegram.cases()
    ack = telegram.fake.sent(CHAT)[0]
    shown = {"message_id": 77, "date": 1, "text": ack["text"]}

    async def press(data: str) -> dict:  # type: ignore[type-arg]
        await telegram.feed(callback_update(CHAT, data, message=shown))
        edit = telegram.fake.calls_to("editMessageText")[-1].params
        shown["text"] = edit["text"]
        return edit  # type: ignore[no-any-return]

    kind = dict(buttons(ack["reply_markup"]))["Kritik"]
    edit = await press(kind)
    assert "Frivilligt: vilken verksamhet" in edit["text"] and case.reference in edit["text"]
    units = dict(buttons(edit["reply_markup"]))
    edit = await press(units["Äldreomsorg"])
    edit = await press(dict(buttons(edit["reply_markup"]))["Anhörig"])
    edit = await press(dict(buttons(edit["reply_markup"]))["Ja, gärna"])
    assert "Tack!" in edit["text"] and ("Ny synpunkt", "new") in buttons(edit["reply_markup"])
    assert edit["text"].count("Frivilligt") == 0  # each question replaced the one before

    [case] = await telegram.cases()
    assert (case.kind, case.submitter_role, case.wants_reply) == ("complaint", "relative", True)
    assert case.unit_id is not None
    async with telegram.db.sessions() as session:
        events = (
            await session.execute(select(AuditEvent).where(AuditEvent.action == "case.classified"))
        ).scalars()
        fields = [e.detail["field"] for e in events]
    # One event per change, through triage (this unit's response time keeps the due date).
    assert fields == ["kind", "unit_id", "submitter_role", "wants_reply"]


async def test_a_button_for_someone_elses_case_changes_nothing(telegram: Telegram) -> None:
    await telegram.feed(message_update(CHAT, "Bra bemötande på mottagningen!"))
    [case] = await telegram.cases()
    await telegram.feed(callback_update(9999, f"q:{case.id}:k:complaint"))
    [case] = await telegram.cases()
    assert case.kind == "other"
    answer = telegram.fake.calls_to("answerCallbackQuery")[-1].params
    assert "hör inte till" in answer["text"]


async def test_later_messages_join_the_open_case_and_new_feedback_opens_another(
    telegram: Telegram,
) -> None:
    await telegram.feed(message_update(CHAT, "Första meddelandet", message_id=1))
    await telegram.feed(message_update(CHAT, "Och en sak till", message_id=2))
    assert len(await telegram.cases()) == 1
    await telegram.feed(callback_update(CHAT, "new"))
    assert "nya synpunkt" in telegram.fake.sent(CHAT)[-1]["text"]
    await telegram.feed(message_update(CHAT, "Något helt annat", message_id=3))
    first, second = await telegram.cases()
    assert first.reference != second.reference
    assert second.reference in telegram.fake.sent(CHAT)[-1]["text"]
    # …and after that, messages go to the new case.
    await telegram.feed(message_update(CHAT, "Tillägg", message_id=4))
    async with telegram.db.sessions() as session:
        texts = (
            await session.execute(
                select(Message.text).where(
                    Message.case_id == second.id, Message.direction == "inbound"
                )
            )
        ).scalars()
        assert list(texts) == ["Något helt annat", "Tillägg"]


async def test_a_restart_in_the_middle_keeps_the_conversation_state(telegram: Telegram) -> None:
    await telegram.feed(message_update(CHAT, "/start", lang="en"))
    await telegram.feed(callback_update(CHAT, "lang:sv"))
    await telegram.feed(message_update(CHAT, "Ett första ärende", message_id=2))
    await telegram.feed(callback_update(CHAT, "new"))
    await telegram.bot.close()
    restarted = telegram.new_bot()  # a new Bot and Dispatcher: only the database remembers
    try:
        await telegram.feed(message_update(CHAT, "Ett andra ärende", message_id=3), bot=restarted)
        await telegram.feed(message_update(CHAT, "/hjalp", lang="en"), bot=restarted)
    finally:
        await restarted.close()
    assert len(await telegram.cases()) == 2  # "Ny synpunkt" survived the restart
    assert "Så fungerar det" in telegram.fake.sent(CHAT)[-1]["text"]  # and so did the language


async def test_a_repeated_update_is_stored_once(telegram: Telegram) -> None:
    update = {"update_id": 500, **message_update(CHAT, "Dubbelt levererad")}
    await telegram.feed(update)
    await telegram.feed(update)
    await telegram.feed(update, update)
    assert len(await telegram.cases()) == 1
    assert len(telegram.fake.sent(CHAT)) == 1
    start = {"update_id": 501, **message_update(CHAT, "/start")}
    await telegram.feed(start)
    await telegram.feed(start)
    assert len(telegram.fake.sent(CHAT)) == 2  # one acknowledgement, one greeting


async def test_photos_and_documents_are_downloaded_into_the_case(telegram: Telegram) -> None:
    telegram.fake.add_file("big-photo", b"\xff\xd8jpeg-bytes", "photos/file_1.jpg")
    telegram.fake.add_file("doc-1", b"%PDF-1.7 brev", "documents/file_2.pdf")
    photo = [
        {"file_id": "small-photo", "file_size": 10, "width": 90, "height": 90},
        {"file_id": "big-photo", "file_size": 900, "width": 1280, "height": 960},
    ]
    await telegram.feed(message_update(CHAT, photo=photo, caption="Så här ser det ut"))
    await telegram.feed(
        message_update(
            CHAT,
            message_id=2,
            document={
                "file_id": "doc-1",
                "file_name": "beslut.pdf",
                "mime_type": "application/pdf",
            },
        )
    )
    async with telegram.db.sessions() as session:
        rows = (await session.execute(select(Attachment).order_by(Attachment.id))).scalars().all()
        ledger = (await session.execute(select(IntakeRecord))).scalars().all()
    assert [(a.filename, a.content_type, a.data) for a in rows] == [
        ("photo-big-photo.jpg", "image/jpeg", b"\xff\xd8jpeg-bytes"),
        ("beslut.pdf", "application/pdf", b"%PDF-1.7 brev"),
    ]
    assert len(await telegram.cases()) == 1
    stored = json.loads(ledger[0].raw or b"")
    assert stored["message"]["caption"] == "Så här ser det ut"  # the original is kept
    assert (
        base64.b64decode(stored["synpunkt"]["files"]["big-photo"]["data"]) == b"\xff\xd8jpeg-bytes"
    )


async def test_a_failed_download_loses_nothing_and_the_retry_stores_it(
    telegram: Telegram,
) -> None:
    telegram.fake.add_file("doc-2", b"data", "documents/doc-2.txt")
    update = {
        "update_id": 600,
        **message_update(CHAT, document={"file_id": "doc-2", "file_name": "a.txt"}),
    }
    telegram.fake.fail_next(1, 502, "Bad Gateway", method="getFile")
    # The update fails, so polling does not confirm it (and a webhook answers 500).
    with pytest.raises(TelegramServerError, match="Bad Gateway"):
        await telegram.feed(update)
    assert await telegram.cases() == []
    await telegram.feed(update)
    async with telegram.db.sessions() as session:
        [attachment] = (await session.execute(select(Attachment))).scalars().all()
    assert attachment.data == b"data"


async def test_a_staff_reply_is_delivered_to_the_chat(telegram: Telegram) -> None:
    await telegram.feed(message_update(CHAT, "Hur ansöker jag om färdtjänst?"))
    [case] = await telegram.cases()
    response = await telegram.api.post(
        f"/api/cases/{case.reference}/replies", json={"text": "Hej! Du ansöker hos kommunen."}
    )
    assert response.status_code in (200, 201), response.text
    await telegram.worker.drain()
    assert telegram.fake.sent(CHAT)[-1]["text"] == "Hej! Du ansöker hos kommunen."
    assert "reply_markup" not in telegram.fake.sent(CHAT)[-1]  # no questions on a reply


async def test_a_blocked_bot_kills_the_row_and_marks_the_contact_unreachable(
    telegram: Telegram,
) -> None:
    telegram.fake.block(CHAT)
    await telegram.feed(message_update(CHAT, "Skriver och blockerar sedan"))
    [item] = await telegram.outbox()
    assert item.status == OutboxStatus.DEAD and "blocked" in (item.last_error or "")
    contact = await telegram.contact(CHAT)
    assert contact is not None and contact.unreachable_at is not None
    [case] = await telegram.cases()
    shown = (await telegram.api.get(f"/api/cases/{case.reference}")).json()
    assert shown["contact_unreachable"] is True


async def test_my_chat_member_kicked_marks_unreachable_without_sending(telegram: Telegram) -> None:
    await telegram.feed(message_update(CHAT, "Hej"))
    sent = len(telegram.fake.sent())
    await telegram.feed(
        {
            "my_chat_member": {
                "chat": {"id": CHAT, "type": "private"},
                "from": {"id": CHAT, "is_bot": False, "first_name": "A"},
                "date": 1,
                "old_chat_member": {
                    "user": {"id": 1, "is_bot": True, "first_name": "B"},
                    "status": "member",
                },
                "new_chat_member": {
                    "user": {"id": 1, "is_bot": True, "first_name": "B"},
                    "status": "kicked",
                    "until_date": 0,
                },
            }
        }
    )
    contact = await telegram.contact(CHAT)
    assert contact is not None and contact.unreachable_at is not None
    assert len(telegram.fake.sent()) == sent


async def test_429_is_honoured_and_5xx_backs_off(telegram: Telegram) -> None:
    telegram.fake.fail_next(1, 429, "Too Many Requests: retry after 7", retry_after=7)
    await telegram.feed(message_update(CHAT, "Hej igen"))
    [item] = await telegram.outbox()
    assert item.status == OutboxStatus.PENDING
    assert item.run_at == telegram.clock.now + timedelta(seconds=7)
    telegram.fake.fail_next(1, 502, "Bad Gateway")
    telegram.clock.advance(seconds=7)
    await telegram.worker.drain()
    [item] = await telegram.outbox()
    assert item.status == OutboxStatus.PENDING and "Bad Gateway" in (item.last_error or "")
    assert item.run_at > telegram.clock.now
    telegram.clock.now = item.run_at
    await telegram.worker.drain()
    [item] = await telegram.outbox()
    assert item.status == OutboxStatus.SENT
    assert len(telegram.fake.sent(CHAT)) == 1


async def test_stopp_opts_out_but_answers_still_arrive(telegram: Telegram) -> None:
    await telegram.feed(message_update(CHAT, "STOPP"))
    contact = await telegram.contact(CHAT)
    assert contact is not None and contact.opted_out
    assert "inga fler automatiska" in telegram.fake.sent(CHAT)[-1]["text"]
    assert await telegram.cases() == []  # the word is an instruction, not feedback
    await telegram.feed(message_update(CHAT, "/stopp", message_id=2))
    await telegram.feed(message_update(CHAT, "Men jag vill klaga", message_id=3))
    [case] = await telegram.cases()
    assert case.reference in telegram.fake.sent(CHAT)[-1]["text"]  # the ack answers them


async def test_eight_people_writing_at_once_get_eight_cases(telegram: Telegram) -> None:
    chats = [1000 + i for i in range(8)]
    await telegram.feed(*(message_update(chat, f"Synpunkt från {chat}") for chat in chats))
    cases = await telegram.cases()
    assert len({c.reference for c in cases}) == 8
    for chat in chats:
        [ack] = telegram.fake.sent(chat)
        assert any(c.reference in ack["text"] for c in cases)


async def test_polling_confirms_updates_only_after_handling(telegram: Telegram) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(telegram.bot.poll(stop))
    try:
        update = telegram.fake.add_update(message_update(CHAT, "Via getUpdates"))
        # The next getUpdates confirms the update only once its ledger row is committed.
        await telegram.fake.wait_for(
            lambda: any(
                int(c.params.get("offset") or 0) > update["update_id"]
                for c in telegram.fake.calls_to("getUpdates")
            )
        )
        async with telegram.db.sessions() as session:
            rows = (await session.execute(select(IntakeRecord))).scalars().all()
        assert [r.external_id for r in rows] == [str(update["update_id"])]
    finally:
        stop.set()
        await task
    assert telegram.fake.calls_to("deleteWebhook")  # polling turns a webhook off first
    await telegram.worker.drain()
    [case] = await telegram.cases()
    assert case.reference in telegram.fake.sent(CHAT)[0]["text"]
    assert telegram.bot.status["last_ok_at"] is not None


async def test_the_unit_button_places_the_case_through_triage(telegram: Telegram) -> None:
    """The unit a client picks goes through triage: a new due date from the unit's target, an
    inactive unit refused, and a case staff have already placed is not moved by the client."""
    from inbox.core.db import unit_of_work
    from inbox.core.models import Case, Unit

    await telegram.feed(message_update(CHAT, "Hemtjänsten kommer alltid sent."))
    [case] = await telegram.cases()
    async with unit_of_work(telegram.db.sessions) as session:
        units = {u.code: u for u in (await session.execute(select(Unit))).scalars()}
        units["aldreomsorg"].response_days = 2
        units["vuxen"].active = False
        inactive, slow = units["vuxen"].id, units["aldreomsorg"].id
    due_before = case.due_on
    await telegram.feed(callback_update(CHAT, f"q:{case.id}:u:{inactive}"))
    [case] = await telegram.cases()
    assert case.unit_id is None and case.due_on == due_before
    await telegram.feed(callback_update(CHAT, f"q:{case.id}:u:{slow}"))
    [case] = await telegram.cases()
    assert case.unit_id == slow and case.due_on != due_before
    async with telegram.db.sessions() as session:
        updates = (
            await session.execute(select(AuditEvent).where(AuditEvent.action == "case.classified"))
        ).scalars()
        assert {e.detail["field"] for e in updates} >= {"unit_id", "due_on"}
    mottagning = units["mottagning"].id
    await telegram.feed(callback_update(CHAT, f"q:{case.id}:u:{mottagning}"))
    async with telegram.db.sessions() as session:
        again = await session.get(Case, case.id)
        assert again is not None and again.unit_id == slow
