"""What a check-in says, in the decision's language: the questions, their answers, the email and
the Telegram message. The texts are Swedish msgids of the gettext catalogues (`inbox.core.i18n`),
translated where they are used; the language is the decision's, by `i18n.sender_language`.

Neutral by rule (OSL 26 kap. 1 §, JO 1376-2013): the mail and the chat come from the
organisation and ask how the person found their latest contact with us; they never name the unit,
a decision, its content or its reference. Only the page behind the personal link says what the
questions are about, so the questions that speak of the decision are asked there alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from inbox.core import i18n
from inbox.core.i18n import N_
from inbox.core.time import STOCKHOLM

# The codes a decision's language may have: the offered catalogues'.
languages = i18n.offered_codes


# In the order the page asks them; then an optional comment.
QUESTIONS = (
    "rating",
    "understood",
    "knows_appeal",
    "knows_feedback",
    "wants_contact",
    "other_handler",
)
# What the chat may ask: nothing in them says that there was a decision. "other_handler" only
# follows a "yes" to "wants_contact".
CHAT_QUESTIONS = ("rating", "knows_feedback", "wants_contact", "other_handler")
CHOICES: dict[str, tuple[str, ...]] = {
    "rating": ("1", "2", "3", "4", "5"),
    "understood": ("yes", "partly", "no"),
    "knows_appeal": ("yes", "no"),
    "knows_feedback": ("yes", "no"),
    "wants_contact": ("yes", "no"),
    "other_handler": ("yes", "no"),
}

_QUESTION = {
    "rating": N_(
        "Hur upplevde du din senaste kontakt med oss? "
        "Välj från 1 (mycket dåligt) till 5 (mycket bra)."
    ),
    "understood": N_("Förstod du beslutet?"),
    "knows_appeal": N_("Vet du hur du överklagar beslutet?"),
    "knows_feedback": N_("Vet du var du kan lämna synpunkter eller klagomål?"),
    "wants_contact": N_("Vill du att någon av oss kontaktar dig?"),
    "other_handler": N_(
        "Vill du hellre prata med någon annan än den du senast hade kontakt med hos oss?"
    ),
    "comment": N_("Vill du lägga till något? (frivilligt)"),
}
# The page may say what the questions are about.
_PAGE_QUESTION = {
    "other_handler": N_(
        "Om du vill att vi kontaktar dig: vill du hellre prata med någon annan än den som "
        "handlade ditt ärende?"
    ),
}
_CHOICE = {"yes": N_("Ja"), "partly": N_("Delvis"), "no": N_("Nej")}

_APPEAL = N_(
    "Så överklagar du: Skriv till oss, {organisation}, och berätta vilket beslut det "
    "gäller, vad du vill ändra och varför. Vi måste ha fått ditt överklagande inom tre veckor "
    "från den dag du fick beslutet. Vi skickar det sedan vidare till förvaltningsrätten. Din "
    "handläggare kan hjälpa dig. Hur du gör står också sist i beslutet. "
    "Mer information: {url}"
)
_FEEDBACK = {
    "email": N_(
        "Synpunkter och klagomål kan du lämna till oss när du vill, till exempel genom "
        "att svara på mejlet från oss."
    ),
    "telegram": N_(
        "Synpunkter och klagomål kan du lämna till oss när du vill, till exempel "
        "genom att skriva till oss här i chatten."
    ),
    "page": N_(
        "En synpunkt är inte ett överklagande: vill du att ett beslut ändras, behöver "
        "du överklaga det."
    ),
}


def language_of(value: str | None) -> str:
    """The code of the offered language a decision's `language` names; Swedish when none."""
    return i18n.sender_language(decision=value).code


def _(language: str, message: str) -> str:
    return i18n.gettext(language_of(language), message)


def public_date(day: date, language: str) -> str:
    """A date as the public reads it: `16 december 2026`, `16 December 2026`."""
    return i18n.written_date(day, language_of(language))


def last_day(closes_at: datetime) -> date:
    """The last whole day (Stockholm) a link closing at `closes_at` works."""
    return (closes_at.astimezone(STOCKHOLM) - timedelta(days=1)).date()


def question_text(question: str, language: str, *, page: bool = False) -> str:
    if page and question in _PAGE_QUESTION:
        return _(language, _PAGE_QUESTION[question])
    return _(language, _QUESTION[question])


def choice_label(question: str, answer: str, language: str) -> str:
    if question == "rating":
        return answer
    return _(language, _CHOICE[answer])


def appeal_explanation(language: str, *, appeal_url: str, organisation: str) -> str:
    """How to appeal: to the authority that decided, within three weeks (FL 43-46 §§)."""
    return _(language, _APPEAL).format(url=appeal_url, organisation=organisation)


def feedback_explanation(language: str, *, channel: str, page: bool = False) -> str:
    """Where feedback goes; the page adds that feedback is not an appeal."""
    where = _(language, _FEEDBACK["telegram" if channel == "telegram" else "email"])
    return f"{where} {_(language, _FEEDBACK['page'])}" if page else where


def answered_line(question: str, answer: str, language: str) -> str:
    """What a Telegram question's message is edited to once answered: the question and the answer."""
    return f"{question_text(question, language)}\n→ {choice_label(question, answer, language)}"


# Email -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MailText:
    subject: str
    text: str


_MAIL = {
    "subject": N_("Hur upplevde du din senaste kontakt med oss?"),
    "reminder_subject": N_("Påminnelse: Hur upplevde du din senaste kontakt med oss?"),
    "body": N_(
        "Hej!\n\n"
        "{reminder}Vi vill gärna veta hur du upplevde din senaste kontakt med oss, så att vi "
        "kan bli bättre.\n\n"
        "Svara på några korta frågor på den här sidan. Det tar några minuter och du behöver "
        "inte logga in:\n{link}\n"
        "Länken är personlig och gäller till och med {last_day}. Dela den inte med någon "
        "annan.\n\n"
        "Du kan också svara på det här mejlet med en siffra från 1 till 5. 1 betyder mycket "
        "dåligt och 5 betyder mycket bra.\n\n"
        "Det är frivilligt att svara. Skriv inte ditt personnummer eller andra känsliga "
        "uppgifter om dig själv i ett mejl. På sidan kan du läsa hur vi tar hand om dina "
        "svar. Så behandlar vi dina personuppgifter: {privacy}\n\n"
        "Vill du inte få fler sådana frågor från oss? Svara STOPP på det här mejlet eller "
        "öppna den här länken:\n{stop}\n\n"
        "Med vänlig hälsning\n{organisation}\n"
    ),
    "reminder": N_("Vi skickar frågan en gång till, eftersom vi inte har fått något svar."),
}


def checkin_mail(
    *,
    organisation: str,
    link: str,
    stop_link: str,
    privacy_link: str,
    closes_at: datetime,
    language: str,
    reminder: bool,
) -> MailText:
    lang = language_of(language)
    body = _(lang, _MAIL["body"]).format(
        organisation=organisation,
        link=link,
        stop=stop_link,
        privacy=privacy_link,
        last_day=public_date(last_day(closes_at), lang),
        reminder=_(lang, _MAIL["reminder"]) + " " if reminder else "",
    )
    return MailText(
        subject=_(lang, _MAIL["reminder_subject" if reminder else "subject"]), text=body
    )


# Telegram ----------------------------------------------------------------------------------------

_CHAT_INTRO = N_(
    "Hej från {organisation}! Vi vill gärna veta hur du upplevde din senaste kontakt med "
    "oss, så att vi kan bli bättre. Det är frivilligt att svara. Fler frågor finns på en "
    "personlig sida bakom knappen ”Fler frågor”. Skriv STOPP om du inte vill få sådana "
    "frågor. Så behandlar vi dina personuppgifter: {privacy}"
)
_CHAT_REMINDER = N_("Påminnelse: vi har inte fått något svar på vår fråga.")
_PAGE_BUTTON = N_("Fler frågor")


def callback_data(checkin_id: int, question: str, answer: str) -> str:
    """`ci:<checkin>:<question>:<answer>` (at most 64 bytes, the Bot API's limit)."""
    return f"ci:{checkin_id}:{question}:{answer}"


def parse_callback_data(data: str) -> tuple[int, str, str] | None:
    parts = data.split(":")
    # Only ASCII digits within the id column's range: `int("²")` raises, and PostgreSQL refuses
    # an id past 2**31 - 1; the data comes from the client, so either is a button press to ignore.
    if len(parts) != 4 or parts[0] != "ci" or not (parts[1].isascii() and parts[1].isdigit()):
        return None
    if len(parts[1]) > 10 or int(parts[1]) > 2**31 - 1:
        return None
    return int(parts[1]), parts[2], parts[3]


def inline_keyboard(checkin_id: int, question: str, language: str) -> list[list[dict[str, str]]]:
    """One row of buttons for a question (Bot API `InlineKeyboardMarkup.inline_keyboard`)."""
    return [
        [
            {
                "text": choice_label(question, answer, language),
                "callback_data": callback_data(checkin_id, question, answer),
            }
            for answer in CHOICES[question]
        ]
    ]


def page_button(link: str, language: str) -> list[dict[str, str]]:
    """The row with the button that opens the page (a URL button: Telegram shows no preview)."""
    return [{"text": _(language, _PAGE_BUTTON), "url": link}]


def telegram_question(
    *,
    checkin_id: int,
    chat_id: str,
    question: str,
    language: str,
    intro: str = "",
    more: list[list[dict[str, str]]] | None = None,
) -> dict[str, Any]:
    """The payload of a Telegram message asking one question with inline buttons; `more` rows
    (the page's button) follow the answers."""
    text = question_text(question, language)
    rows = inline_keyboard(checkin_id, question, language) if question in CHOICES else []
    return {
        "chat_id": chat_id,
        "text": f"{intro}\n\n{text}" if intro else text,
        "inline_keyboard": rows + (more or []),
        "checkin_id": checkin_id,
        "question": question,
        "languages": [language_of(language)],
    }


def telegram_ask(
    *,
    checkin_id: int,
    chat_id: str,
    organisation: str,
    link: str,
    privacy_link: str,
    language: str,
    reminder: bool,
) -> dict[str, Any]:
    """The first Telegram message of a check-in (or its reminder): the intro, the first question
    and the button to the page."""
    lang = language_of(language)
    intro = (_(lang, _CHAT_REMINDER) + " " if reminder else "") + _(lang, _CHAT_INTRO).format(
        organisation=organisation, privacy=privacy_link
    )
    return telegram_question(
        checkin_id=checkin_id,
        chat_id=chat_id,
        question=CHAT_QUESTIONS[0],
        language=lang,
        intro=intro,
        more=[page_button(link, lang)],
    )


_CHAT = {
    "recorded": N_("Tack, svaret är sparat."),
    "unchanged": N_("Det svaret har vi redan."),
    "already": N_("Du har redan svarat på den frågan."),
    "closed": N_("Tack! Frågorna är tyvärr stängda nu, så svaret sparades inte."),
    "withdrawn": N_("Tack! Frågorna gäller inte längre, så svaret sparades inte."),
    "not_yours": N_("Den här frågan hör inte till den här chatten."),
    "comment": N_(
        "Vill du lägga till något? Skriv det i ett meddelande här (frivilligt). Skriv inte "
        "ditt personnummer eller andra känsliga uppgifter om dig själv."
    ),
    "comment_saved": N_("Tack för din kommentar! Den är sparad tillsammans med dina svar."),
    "callback": N_("Du har bett att någon av oss kontaktar dig. Vi hör av oss."),
    "other_handler": N_("Vi har noterat att du hellre vill prata med någon annan."),
}


def chat_text(key: str, language: str) -> str:
    """A short line of the Telegram check-in conversation (a button's answer, the comment invite)."""
    return _(language, _CHAT[key])
