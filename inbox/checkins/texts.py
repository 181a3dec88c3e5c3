"""What a check-in says, in Swedish and English: the questions, their answers, the email and the
Telegram message.

Neutral by rule (OSL 26 kap. 1 §, JO 1376-2013): the mail and the chat come from the
organisation and ask how the person found their latest contact with us; they never name the unit,
a decision, its content or its reference. Only the page behind the personal link says what the
questions are about, so the questions that speak of the decision are asked there alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from inbox.core.time import STOCKHOLM

LANGUAGES = ("sv", "en")
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
    "sv": {
        "rating": (
            "Hur upplevde du din senaste kontakt med oss? "
            "Välj från 1 (mycket dåligt) till 5 (mycket bra)."
        ),
        "understood": "Förstod du beslutet?",
        "knows_appeal": "Vet du hur du överklagar beslutet?",
        "knows_feedback": "Vet du var du kan lämna synpunkter eller klagomål?",
        "wants_contact": "Vill du att någon av oss kontaktar dig?",
        "other_handler": (
            "Vill du hellre prata med någon annan än den du senast hade kontakt med hos oss?"
        ),
        "comment": "Vill du lägga till något? (frivilligt)",
    },
    "en": {
        "rating": (
            "How did you find your latest contact with us? "
            "Choose from 1 (very poor) to 5 (very good)."
        ),
        "understood": "Did you understand the decision?",
        "knows_appeal": "Do you know how to appeal the decision?",
        "knows_feedback": "Do you know where you can give feedback or make a complaint?",
        "wants_contact": "Would you like one of us to contact you?",
        "other_handler": (
            "Would you rather talk to someone other than the person you were last in contact "
            "with here?"
        ),
        "comment": "Would you like to add anything? (optional)",
    },
}
# The page may say what the questions are about.
_PAGE_QUESTION = {
    "sv": {
        "other_handler": (
            "Om du vill att vi kontaktar dig: vill du hellre prata med någon annan än den som "
            "handlade ditt ärende?"
        ),
    },
    "en": {
        "other_handler": (
            "If you would like us to contact you: would you rather talk to someone other than "
            "the person who handled your case?"
        ),
    },
}
_CHOICE = {
    "sv": {"yes": "Ja", "partly": "Delvis", "no": "Nej"},
    "en": {"yes": "Yes", "partly": "Partly", "no": "No"},
}

_APPEAL = {
    "sv": (
        "Så överklagar du: Skriv till oss, {organisation}, och berätta vilket beslut det "
        "gäller, vad du vill ändra och varför. Vi måste ha fått ditt överklagande inom tre veckor från den "
        "dag du fick beslutet. Vi skickar det sedan vidare till förvaltningsrätten. Din "
        "handläggare kan hjälpa dig. Hur du gör står också sist i beslutet. "
        "Mer information: {url}"
    ),
    "en": (
        "How to appeal: Write to us, {organisation}, and say which decision it is about, what "
        "you want changed and why. We must receive your appeal within three weeks of the day you "
        "got the decision. We then send it on to the administrative court (förvaltningsrätten). "
        "Your caseworker can help you. How to do it is also explained at the end of the "
        "decision. More information: {url}"
    ),
}
_FEEDBACK = {
    "sv": {
        "email": "Synpunkter och klagomål kan du lämna till oss när du vill, till exempel genom "
        "att svara på mejlet från oss.",
        "telegram": "Synpunkter och klagomål kan du lämna till oss när du vill, till exempel "
        "genom att skriva till oss här i chatten.",
        "page": " En synpunkt är inte ett överklagande: vill du att ett beslut ändras, behöver "
        "du överklaga det.",
    },
    "en": {
        "email": "You can give us feedback or make a complaint whenever you like, for example "
        "by replying to our email.",
        "telegram": "You can give us feedback or make a complaint whenever you like, for "
        "example by writing to us here in the chat.",
        "page": " Feedback is not an appeal: if you want a decision changed, you need to appeal "
        "against it.",
    },
}
_MONTHS = {
    "sv": (
        "januari februari mars april maj juni juli augusti september oktober november december"
    ).split(),
    "en": (
        "January February March April May June July August September October November December"
    ).split(),
}


def language_of(value: str | None) -> str:
    return value if value in LANGUAGES else "sv"


def public_date(day: date, language: str) -> str:
    """A date as the public reads it: `16 december 2026`, `16 December 2026`."""
    return f"{day.day} {_MONTHS[language_of(language)][day.month - 1]} {day.year}"


def last_day(closes_at: datetime) -> date:
    """The last whole day (Stockholm) a link closing at `closes_at` works."""
    return (closes_at.astimezone(STOCKHOLM) - timedelta(days=1)).date()


def question_text(question: str, language: str, *, page: bool = False) -> str:
    lang = language_of(language)
    if page and question in _PAGE_QUESTION[lang]:
        return _PAGE_QUESTION[lang][question]
    return _QUESTION[lang][question]


def choice_label(question: str, answer: str, language: str) -> str:
    if question == "rating":
        return answer
    return _CHOICE[language_of(language)][answer]


def appeal_explanation(language: str, *, appeal_url: str, organisation: str) -> str:
    """How to appeal: to the authority that decided, within three weeks (FL 43-46 §§)."""
    return _APPEAL[language_of(language)].format(url=appeal_url, organisation=organisation)


def feedback_explanation(language: str, *, channel: str, page: bool = False) -> str:
    """Where feedback goes; the page adds that feedback is not an appeal."""
    texts = _FEEDBACK[language_of(language)]
    return texts["telegram" if channel == "telegram" else "email"] + (texts["page"] if page else "")


def answered_line(question: str, answer: str, language: str) -> str:
    """What a Telegram question's message is edited to once answered: the question and the answer."""
    return f"{question_text(question, language)}\n→ {choice_label(question, answer, language)}"


# Email -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MailText:
    subject: str
    text: str


_MAIL = {
    "sv": {
        "subject": "Hur upplevde du din senaste kontakt med oss?",
        "reminder_subject": "Påminnelse: Hur upplevde du din senaste kontakt med oss?",
        "body": (
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
        "reminder": "Vi skickar frågan en gång till, eftersom vi inte har fått något svar. ",
    },
    "en": {
        "subject": "How did you find your latest contact with us?",
        "reminder_subject": "Reminder: How did you find your latest contact with us?",
        "body": (
            "Hello,\n\n"
            "{reminder}We would like to know how you found your latest contact with us, so "
            "that we can do better.\n\n"
            "Please answer a few short questions on this page. It takes a few minutes and you "
            "do not need to sign in:\n{link}\n"
            "The link is personal and works until {last_day}. Please do not share it.\n\n"
            "You can also reply to this email with a number from 1 to 5. 1 means very poor and "
            "5 means very good.\n\n"
            "Answering is voluntary. Please do not write your personal identity number or "
            "other sensitive details about yourself in an email. The page tells you how we "
            "handle your answers. How we handle your personal data: {privacy}\n\n"
            "Would you rather not get questions like this from us? Reply STOP to this email or "
            "open this link:\n{stop}\n\n"
            "Kind regards\n{organisation}\n"
        ),
        "reminder": "We are sending this question once more, as we have not had an answer. ",
    },
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
    texts = _MAIL[lang]
    body = texts["body"].format(
        organisation=organisation,
        link=link,
        stop=stop_link,
        privacy=privacy_link,
        last_day=public_date(last_day(closes_at), lang),
        reminder=texts["reminder"] if reminder else "",
    )
    return MailText(subject=texts["reminder_subject" if reminder else "subject"], text=body)


# Telegram ----------------------------------------------------------------------------------------

_CHAT_INTRO = {
    "sv": (
        "Hej från {organisation}! Vi vill gärna veta hur du upplevde din senaste kontakt med "
        "oss, så att vi kan bli bättre. Det är frivilligt att svara. Fler frågor finns på en "
        "personlig sida bakom knappen ”Fler frågor”. Skriv STOPP om du inte vill få sådana "
        "frågor. Så behandlar vi dina personuppgifter: {privacy}"
    ),
    "en": (
        "Hello from {organisation}! We would like to know how you found your latest contact "
        "with us, so that we can do better. Answering is voluntary. There are more questions "
        "on a personal page behind the button “More questions”. Write STOP if you would rather "
        "not get questions like this. How we handle your personal data: {privacy}"
    ),
}
_CHAT_REMINDER = {
    "sv": "Påminnelse: vi har inte fått något svar på vår fråga. ",
    "en": "Reminder: we have not had an answer to our question. ",
}
_PAGE_BUTTON = {"sv": "Fler frågor", "en": "More questions"}


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
    return [{"text": _PAGE_BUTTON[language_of(language)], "url": link}]


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
    intro = (_CHAT_REMINDER[lang] if reminder else "") + _CHAT_INTRO[lang].format(
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
    "sv": {
        "recorded": "Tack, svaret är sparat.",
        "unchanged": "Det svaret har vi redan.",
        "already": "Du har redan svarat på den frågan.",
        "closed": "Tack! Frågorna är tyvärr stängda nu, så svaret sparades inte.",
        "withdrawn": "Tack! Frågorna gäller inte längre, så svaret sparades inte.",
        "not_yours": "Den här frågan hör inte till den här chatten.",
        "comment": (
            "Vill du lägga till något? Skriv det i ett meddelande här (frivilligt). Skriv inte "
            "ditt personnummer eller andra känsliga uppgifter om dig själv."
        ),
        "comment_saved": "Tack för din kommentar! Den är sparad tillsammans med dina svar.",
        "callback": "Du har bett att någon av oss kontaktar dig. Vi hör av oss.",
        "other_handler": "Vi har noterat att du hellre vill prata med någon annan.",
    },
    "en": {
        "recorded": "Thank you, your answer is saved.",
        "unchanged": "We already have that answer.",
        "already": "You have already answered that question.",
        "closed": "Thank you! The questions have closed, so the answer was not saved.",
        "withdrawn": "Thank you! These questions no longer apply, so the answer was not saved.",
        "not_yours": "This question does not belong to this chat.",
        "comment": (
            "Would you like to add anything? Write it in a message here (optional). Please do "
            "not write your personal identity number or other sensitive details about yourself."
        ),
        "comment_saved": "Thank you for your comment! It is saved with your answers.",
        "callback": "You have asked for one of us to contact you. We will be in touch.",
        "other_handler": "We have noted that you would rather talk to someone else.",
    },
}


def chat_text(key: str, language: str) -> str:
    """A short line of the Telegram check-in conversation (a button's answer, the comment invite)."""
    return _CHAT[language_of(language)][key]
