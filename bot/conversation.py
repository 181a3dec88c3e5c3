"""The conversation: commands, the optional questions as buttons, STOPP, and membership changes.

Feedback itself is not handled here but in `bot.intake` (the ledger). The questions come after the
acknowledgement (the sender adds the first one to it, see `decorate`); every answer updates the
case, leaves an audit event, and replaces the question with the next one in the same message.
"""

from __future__ import annotations

from typing import Any

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import (
    CallbackQuery,
    ChatMemberUpdated,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)

from bot.context import BotContext
from bot.texts import guess_language, language_names, languages, text
from inbox.cases.access import active_units
from inbox.cases.contacts import find_contact, find_or_create_contact
from inbox.cases.triage import SENDER_FIELDS, TriageError, update_case
from inbox.checkins.plan import opt_out
from inbox.core.audit import Actor
from inbox.core.db import unit_of_work
from inbox.core.inbound import Channel
from inbox.core.models import Case, CaseKind, Contact, OutboxItem, SubmitterRole, Unit
from inbox.core.privacy import privacy_url
from inbox.intake.acknowledgement import ACK_KIND

KINDS = (CaseKind.COMPLAINT, CaseKind.PRAISE, CaseKind.SUGGESTION, CaseKind.QUESTION)
ROLES = (
    SubmitterRole.CLIENT,
    SubmitterRole.RELATIVE,
    SubmitterRole.CITIZEN,
    SubmitterRole.PROFESSIONAL,
)
STEPS = ("k", "u", "r", "w")  # kind, unit, role, wants reply: the order of the questions
_QUESTION = {"k": "ask_kind", "u": "ask_unit", "r": "ask_role", "w": "ask_reply"}


class Conversation(StatesGroup):
    new_case = State()  # "Ny synpunkt" pressed: the next message opens a case of its own


async def language(state: FSMContext, language_code: str | None) -> str:
    """The chat's language: chosen with the button, else guessed from Telegram's app language."""
    lang = (await state.get_data()).get("lang")
    return lang if lang in languages() else guess_language(language_code)


def _button(label: str, data: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=label, callback_data=data)


def _rows(buttons: list[InlineKeyboardButton], width: int = 2) -> list[list[InlineKeyboardButton]]:
    return [buttons[i : i + width] for i in range(0, len(buttons), width)]


def question(
    lang: str,
    case_id: int,
    step: str,
    units: list[tuple[int, str]] = (),  # type: ignore[assignment]
) -> tuple[str, InlineKeyboardMarkup]:
    """The text and buttons of one optional question about case `case_id`."""
    if step == "k":
        options = [(str(k), text(lang, f"kind:{k}")) for k in KINDS]
    elif step == "u":
        options = [(str(unit_id), name) for unit_id, name in units]
    elif step == "r":
        options = [(str(r), text(lang, f"role:{r}")) for r in ROLES]
    else:
        options = [("1", text(lang, "reply:yes")), ("0", text(lang, "reply:no"))]
    buttons = [_button(label, f"q:{case_id}:{step}:{value}") for value, label in options]
    skip = [_button(text(lang, "skip"), f"q:{case_id}:{step}:-")]
    return text(lang, _QUESTION[step]), InlineKeyboardMarkup(
        inline_keyboard=[*_rows(buttons), skip]
    )


def decorate(item: OutboxItem) -> tuple[str, InlineKeyboardMarkup | None]:
    """For the sender: the acknowledgement of a new case carries the first question."""
    if item.kind != ACK_KIND or item.case_id is None:
        return "", None
    languages = (item.payload or {}).get("languages") or ["sv"]
    return question(str(languages[-1]), item.case_id, "k")


def _start_keyboard(lang: str) -> InlineKeyboardMarkup:
    """The buttons "Byt språk" (in the chat's language, with a globe anyone recognises) and
    "Ny synpunkt"."""
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [_button(f"🌐 {text(lang, 'languages')}", "langs"), _button(text(lang, "new"), "new")]
        ]
    )


def _language_keyboard() -> InlineKeyboardMarkup:
    """Every offered language, by its name in itself: a person who cannot read the chat's
    language still finds their own."""
    buttons = [_button(name, f"lang:{code}") for code, name in language_names()]
    return InlineKeyboardMarkup(inline_keyboard=_rows(buttons))


def _greeting(context: BotContext, lang: str) -> str:
    web = text(lang, "web", url=context.web_url) if context.web_url else ""
    return text(
        lang,
        "start",
        organisation=context.organisation,
        days=context.response_days,
        privacy=privacy_url(context.public_url, language=lang),
        email=context.email,
        web=web,
        emergency=f" {' '.join(context.emergency_text.split())}".rstrip(),
    )


async def on_start(message: Message, state: FSMContext, context: BotContext) -> None:
    user = message.from_user
    lang = await language(state, user.language_code if user else None)
    await state.update_data(lang=lang)
    await message.answer(_greeting(context, lang), reply_markup=_start_keyboard(lang))


async def on_help(message: Message, state: FSMContext) -> None:
    user = message.from_user
    lang = await language(state, user.language_code if user else None)
    await message.answer(text(lang, "help"), reply_markup=_start_keyboard(lang))


async def on_stop(message: Message, state: FSMContext, context: BotContext) -> None:
    user = message.from_user
    lang = await language(state, user.language_code if user else None)
    now = context.clock()
    async with unit_of_work(context.sessions) as session:
        contact, _ = await find_or_create_contact(
            session,
            channel=Channel.TELEGRAM,
            address=str(message.chat.id),
            display_name=user.full_name if user else None,
            language=lang,
            now=now,
        )
        await opt_out(session, contact=contact, now=now)  # cancels queued check-ins too
    await state.set_state(None)
    await message.answer(text(lang, "stopped"))


async def on_unknown_command(message: Message, state: FSMContext) -> None:
    user = message.from_user
    lang = await language(state, user.language_code if user else None)
    await message.answer(text(lang, "unknown_command"))


async def on_languages(query: CallbackQuery, state: FSMContext) -> None:
    """The button "Byt språk": the message's buttons become the list of languages."""
    lang = await language(state, query.from_user.language_code)
    await query.answer(text(lang, "choose"))
    if isinstance(query.message, Message):
        await query.message.edit_reply_markup(reply_markup=_language_keyboard())


async def on_language(query: CallbackQuery, state: FSMContext, context: BotContext) -> None:
    lang = (query.data or "").partition(":")[2]
    lang = lang if lang in languages() else "sv"
    await state.update_data(lang=lang)
    await query.answer(text(lang, "switched"))
    if isinstance(query.message, Message):
        await query.message.edit_text(_greeting(context, lang), reply_markup=_start_keyboard(lang))


async def on_new_case(query: CallbackQuery, state: FSMContext) -> None:
    lang = await language(state, query.from_user.language_code)
    await state.set_state(Conversation.new_case)
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.answer(text(lang, "new_case"))


async def on_answer(query: CallbackQuery, state: FSMContext, context: BotContext, bot: Bot) -> None:
    lang = await language(state, query.from_user.language_code)
    parts = (query.data or "").split(":")
    if len(parts) != 4 or not parts[1].isdigit() or parts[2] not in STEPS:
        await query.answer()
        return
    case_id, step, value = int(parts[1]), parts[2], parts[3]
    chat = query.message.chat.id if query.message else query.from_user.id
    now = context.clock()
    async with unit_of_work(context.sessions) as session:
        contact = await find_contact(session, channel=Channel.TELEGRAM, address=str(chat))
        case = await session.get(Case, case_id)
        if case is None or contact is None or case.contact_id != contact.id:
            await query.answer(text(lang, "not_yours"), show_alert=True)
            return
        if value != "-":
            actor = Actor(name=f"contact:{contact.id}")
            await _apply(session, case, step, value, actor=actor, now=now)
        units = [(u.id, u.name) for u in await active_units(session) if u.id is not None]
    await query.answer()
    following = STEPS[STEPS.index(step) + 1 :]
    if following and following[0] == "u" and not units:
        following = following[1:]
    if isinstance(query.message, Message) and query.message.text is not None:
        base = query.message.text.rsplit("\n\n", 1)[0]
        if following:
            prompt, markup = question(lang, case_id, following[0], units)
        else:
            prompt = text(lang, "thanks")
            markup = InlineKeyboardMarkup(inline_keyboard=[[_button(text(lang, "new"), "new")]])
        await query.message.edit_text(f"{base}\n\n{prompt}", reply_markup=markup)


async def _apply(
    session: Any, case: Case, step: str, value: str, *, actor: Actor, now: Any
) -> bool:
    """Stores one answer on the case through triage (the rules staff changes follow, audited as
    the sender's classification); False when the answer is not valid.

    The unit only while staff have not placed the case themselves."""
    changes: dict[str, Any]
    if step == "k" and value in set(KINDS):  # only the choices the bot offers
        changes = {"kind": value}
    elif step == "r" and value in set(ROLES):
        changes = {"submitter_role": value}
    elif step == "u" and value.isdigit():
        unit = await session.get(Unit, int(value))
        if unit is None or case.unit_id is not None:
            return False
        changes = {"unit": unit.code}
    elif step == "w" and value in ("0", "1"):
        changes = {"wants_reply": value == "1"}
    else:
        return False
    try:
        await update_case(
            session,
            case=case,
            changes=changes,
            actor=actor,
            now=now,
            oidc=False,  # the sender's fields never give the case to anyone
            fields=SENDER_FIELDS,
            action="case.classified",
        )
    except TriageError:
        return False
    return True


async def on_other_button(query: CallbackQuery) -> None:
    """Buttons from elsewhere (an inline message, an old keyboard): answered, nothing else."""
    await query.answer()


async def on_membership(event: ChatMemberUpdated, context: BotContext) -> None:
    """Blocked (kicked) → the contact is unreachable; unblocked → reachable again. No message."""
    status = event.new_chat_member.status
    now = context.clock()
    async with unit_of_work(context.sessions) as session:
        contact: Contact | None = await find_contact(
            session, channel=Channel.TELEGRAM, address=str(event.chat.id)
        )
        if contact is None:
            return
        if status in ("kicked", "left"):
            contact.unreachable_at = now
            contact.unreachable_reason = "the person blocked the bot (my_chat_member: kicked)"
        elif status == "member" and contact.unreachable_at is not None:
            contact.unreachable_at = None
            contact.unreachable_reason = None


def _is_stop_word(value: str | None) -> bool:
    return value is not None and value.strip().strip(".!").lower() in ("stopp", "stop")


def make_router() -> Router:
    """The conversation's handlers (a new router per dispatcher: aiogram attaches it once)."""
    router = Router(name="conversation")
    router.message.register(on_start, Command("start"))
    router.message.register(on_help, Command("hjalp", "help", "hjälp"))
    router.message.register(on_stop, Command("stopp", "stop"))
    router.message.register(on_stop, F.text.func(_is_stop_word))
    router.message.register(on_unknown_command, F.text.startswith("/"))
    router.callback_query.register(on_languages, F.data == "langs")
    router.callback_query.register(on_language, F.data.startswith("lang:"))
    router.callback_query.register(on_new_case, F.data == "new")
    router.callback_query.register(on_answer, F.data.startswith("q:"))
    router.callback_query.register(on_other_button)
    router.my_chat_member.register(on_membership)
    return router
