"""The check-in conversation in Telegram: a tap on a `ci:` button records the answer, and the same
message is edited to show what was answered and ask the next question; then an optional comment.

The chat asks only the neutral questions (`CHAT_QUESTIONS`): a chat is no place to say that there
was a decision. The button to the personal page, where the rest are asked, stays under every
question. Contact is promised only after a "Ja" to it.

Answers go through `inbox.checkins.answers.record_answer`, checked against the chat the buttons were sent to.
After the last question the chat's state (in `telegram_fsm`) waits for a comment: the next text
message within the check-in's open period is stored as the comment, not as new feedback.
"""

from __future__ import annotations

from typing import Any

from aiogram import Bot, F, Router
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

from bot import feedback
from bot.batch import CHANNEL, BatchState, LedgerBatch
from bot.context import BotContext
from bot.conversation import language
from inbox.checkins.answers import AnswerResult, Outcome, record_answer
from inbox.checkins.texts import (
    answered_line,
    chat_text,
    feedback_explanation,
    parse_callback_data,
    telegram_question,
)
from inbox.core.db import unit_of_work
from inbox.core.models import CheckIn, IntakeStatus
from inbox.intake import ledger

_REFUSED = {
    Outcome.UNCHANGED: "unchanged",
    Outcome.ALREADY_ANSWERED: "already",
    Outcome.CLOSED: "closed",
    Outcome.WITHDRAWN: "withdrawn",
    Outcome.NOT_FOUND: "not_yours",
}


class CheckinFlow(StatesGroup):
    comment = State()  # all questions answered: the next text is the check-in's comment


def link_rows(markup: InlineKeyboardMarkup | None) -> list[list[dict[str, str]]]:
    """The rows of URL buttons (the page's) in a message's keyboard, to keep them in the edit."""
    rows = markup.inline_keyboard if markup is not None else []
    return [
        [{"text": b.text, "url": b.url} for b in row if b.url]
        for row in rows
        if any(b.url for b in row)
    ]


def follow_up_text(
    shown: str,
    *,
    checkin_id: int,
    question: str,
    answer: str,
    result: AnswerResult,
    lang: str,
    links: list[list[dict[str, str]]] | None = None,
) -> tuple[str, InlineKeyboardMarkup | None]:
    """The edited message: what came before, the answer given, and the next question's buttons
    (and the page's button, `links`, kept under them)."""
    before = shown.rsplit("\n\n", 1)[0] if "\n\n" in shown else ""
    parts = [p for p in (before, answered_line(question, answer, lang)) if p]
    if question == "knows_feedback" and answer == "no":
        parts.append(feedback_explanation(lang, channel="telegram"))
    if question == "wants_contact" and answer == "yes" and result.case_reference:
        parts.append(chat_text("callback", lang))
    if question == "other_handler" and answer == "yes" and result.case_reference:
        parts.append(chat_text("other_handler", lang))
    nxt = result.next_question
    rows = links or []
    if nxt == "comment":
        parts.append(chat_text("comment", lang))
    elif nxt is not None:
        ask = telegram_question(
            checkin_id=checkin_id, chat_id="", question=nxt, language=lang, more=rows
        )
        parts.append(ask["text"])
        rows = ask["inline_keyboard"]
    markup = InlineKeyboardMarkup.model_validate({"inline_keyboard": rows}) if rows else None
    return "\n\n".join(parts)[:4096], markup


async def on_checkin_button(
    query: CallbackQuery, state: FSMContext, context: BotContext, bot: Bot
) -> None:
    parsed = parse_callback_data(query.data or "")
    chat = query.message.chat.id if query.message else query.from_user.id
    if parsed is None:
        await query.answer()
        return
    checkin_id, question, answer = parsed
    lang = await language(state, query.from_user.language_code)
    async with unit_of_work(context.sessions) as session:
        try:
            result = await record_answer(
                session,
                checkin_id=checkin_id,
                question=question,
                answer=answer,
                channel_address=str(chat),
                now=context.clock(),
                policy=context.checkins,
            )
        except ValueError:  # not one of the question's answers: a forged button
            result = AnswerResult(Outcome.NOT_FOUND, question)
        checkin = await session.get(CheckIn, checkin_id)
        if result.outcome is not Outcome.NOT_FOUND and checkin is not None:
            lang = checkin.language
    if result.outcome is not Outcome.RECORDED:
        await query.answer(
            chat_text(_REFUSED[result.outcome], lang),
            show_alert=result.outcome is Outcome.NOT_FOUND,
        )
        if result.outcome in (Outcome.CLOSED, Outcome.WITHDRAWN) and isinstance(
            query.message, Message
        ):
            # The buttons go: they can no longer be answered.
            await query.message.edit_reply_markup(reply_markup=None)
        return
    await query.answer(chat_text("recorded", lang))
    if result.next_question == "comment":
        await state.set_state(CheckinFlow.comment)
        await state.update_data(checkin=checkin_id)
    if isinstance(query.message, Message):
        text, markup = follow_up_text(
            query.message.text or "",
            checkin_id=checkin_id,
            question=question,
            answer=answer,
            result=result,
            lang=lang,
            links=link_rows(query.message.reply_markup),
        )
        await query.message.edit_text(text, reply_markup=markup)


async def on_comment(
    message: Message,
    state: BatchState,
    context: BotContext,
    bot: Bot,
    raw_update: dict[str, Any],
    batch: LedgerBatch,
) -> None:
    """The comment after the last question; too late, it is ordinary feedback instead."""
    checkin_id = (await state.get_data()).get("checkin")
    await state.set_state(None)
    now = context.clock()
    stored = False
    lang = "sv"
    if isinstance(checkin_id, int):
        async with unit_of_work(context.sessions) as session:
            checkin = await session.get(CheckIn, checkin_id)
            if checkin is not None and checkin.comment is None:
                lang = checkin.language
                result = await record_answer(
                    session,
                    checkin_id=checkin_id,
                    question="comment",
                    answer=(message.text or "")[:2000],
                    channel_address=str(message.chat.id),
                    now=now,
                    policy=context.checkins,
                )
                stored = result.outcome is Outcome.RECORDED
                # A repeat of this update is then skipped, not taken as feedback; committed with
                # the answer, and before the reply (which is sent once, like every reply).
                if stored:
                    await ledger.record(
                        session,
                        channel=CHANNEL,
                        external_id=str(raw_update["update_id"]),
                        raw=feedback.encode(raw_update),
                        now=now,
                        status=IntakeStatus.DONE,
                    )
    if not stored:
        await feedback.store_feedback(bot, raw_update, state=state, batch=batch)
        return
    await message.answer(chat_text("comment_saved", lang))


def _plain_text(value: str | None) -> bool:
    if value is None or value.startswith("/"):
        return False
    return value.strip().strip(".!").lower() not in ("stopp", "stop")


def make_router() -> Router:
    router = Router(name="checkin")
    router.callback_query.register(on_checkin_button, F.data.startswith("ci:"))
    router.message.register(on_comment, StateFilter(CheckinFlow.comment), F.text.func(_plain_text))
    return router
