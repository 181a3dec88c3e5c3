"""What a check-in says, in Swedish and English: the questions, their answers, the email and the
Telegram message. Neutral by rule: it names the unit and asks; it never states the decision, its
content or its reference.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

LANGUAGES = ("sv", "en")
QUESTIONS = ("understood", "knows_appeal", "rating", "wants_contact")  # then an optional comment
CHOICES: dict[str, tuple[str, ...]] = {
    "understood": ("yes", "partly", "no"),
    "knows_appeal": ("yes", "no"),
    "rating": ("1", "2", "3", "4", "5"),
    "wants_contact": ("yes", "no"),
}

_QUESTION = {
    "sv": {
        "understood": "Förstod du beslutet?",
        "knows_appeal": "Vet du hur du överklagar beslutet och var du kan lämna synpunkter?",
        "rating": "Vilket betyg ger du oss i det här ärendet, från 1 (mycket dåligt) till 5 (mycket bra)?",
        "wants_contact": "Vill du att en handläggare kontaktar dig?",
        "comment": "Vill du lägga till något? (frivilligt)",
    },
    "en": {
        "understood": "Did you understand the decision?",
        "knows_appeal": "Do you know how to appeal the decision and where to make a complaint?",
        "rating": "How would you rate us in this matter, from 1 (very poor) to 5 (very good)?",
        "wants_contact": "Would you like a caseworker to contact you?",
        "comment": "Would you like to add anything? (optional)",
    },
}
_CHOICE = {
    "sv": {"yes": "Ja", "partly": "Delvis", "no": "Nej"},
    "en": {"yes": "Yes", "partly": "Partly", "no": "No"},
}

_APPEAL = {
    "sv": (
        "Så överklagar du: skriv till förvaltningsrätten, men skicka överklagandet till den "
        "verksamhet som fattade beslutet. Det ska ha kommit in inom tre veckor från den dag du "
        "fick del av beslutet. Hur du gör står sist i beslutet. Mer information: {url}\n"
        "Synpunkter och klagomål kan du alltid lämna till oss genom att mejla eller skriva till "
        "verksamheten; det är inte ett överklagande."
    ),
    "en": (
        "How to appeal: write to the administrative court (förvaltningsrätten), but send the "
        "appeal to the unit that made the decision. It must arrive within three weeks of the day "
        "you were told of the decision. How to do it is explained at the end of the decision. "
        "More information: {url}\n"
        "You can always give us feedback or make a complaint by email or by writing to the unit; "
        "that is not an appeal."
    ),
}


def language_of(value: str | None) -> str:
    return value if value in LANGUAGES else "sv"


def question_text(question: str, language: str) -> str:
    return _QUESTION[language_of(language)][question]


def choice_label(question: str, answer: str, language: str) -> str:
    if question == "rating":
        return answer
    return _CHOICE[language_of(language)][answer]


def appeal_explanation(language: str, *, appeal_url: str) -> str:
    return _APPEAL[language_of(language)].format(url=appeal_url)


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
        "subject": "En fråga från {unit}",
        "reminder_subject": "Påminnelse: en fråga från {unit}",
        "body": (
            "Hej!\n\n"
            "{reminder}Du har nyligen fått ett beslut från {unit}. Vi vill gärna veta hur det "
            "var för dig: om beslutet gick att förstå, om du vet hur du överklagar och var du kan "
            "lämna synpunkter, och om du vill att en handläggare kontaktar dig.\n\n"
            "Svara här – det tar någon minut och ingen inloggning behövs:\n{link}\n\n"
            "Du kan också svara på det här mejlet med bara en siffra från 1 (mycket dåligt) till "
            "5 (mycket bra), eller med ja, delvis eller nej på frågan om du förstod beslutet.\n\n"
            "Det är frivilligt att svara. Svaren används för att förbättra verksamheten och "
            "hamnar inte i din akt. Skriv inte personnummer eller detaljer om ditt ärende i ett "
            "mejl.\n\n"
            "Vill du inte få fler sådana frågor från oss? {stop}\n\n"
            "Med vänlig hälsning\n{organisation}\n"
        ),
        "reminder": "Vi skickar den här frågan en gång till, eftersom vi inte har fått något svar. ",
    },
    "en": {
        "subject": "A question from {unit}",
        "reminder_subject": "Reminder: a question from {unit}",
        "body": (
            "Hello,\n\n"
            "{reminder}You recently received a decision from {unit}. We would like to know how "
            "it was for you: whether the decision was clear, whether you know how to appeal and "
            "where to make a complaint, and whether you would like a caseworker to contact you.\n\n"
            "Answer here – it takes a minute and no sign-in is needed:\n{link}\n\n"
            "You can also reply to this email with just a number from 1 (very poor) to 5 (very "
            "good), or with yes, partly or no to whether you understood the decision.\n\n"
            "Answering is voluntary. The answers are used to improve the service and are not "
            "added to your case file. Please do not write your personal identity number or "
            "details of your case in an email.\n\n"
            "Would you rather not get questions like this from us? {stop}\n\n"
            "Kind regards\n{organisation}\n"
        ),
        "reminder": "We are sending this question once more, as we have not had an answer. ",
    },
}


def checkin_mail(
    *, unit: str, organisation: str, link: str, stop_link: str, language: str, reminder: bool
) -> MailText:
    texts = _MAIL[language_of(language)]
    subject = texts["reminder_subject" if reminder else "subject"].format(unit=unit)
    body = texts["body"].format(
        unit=unit,
        organisation=organisation,
        link=link,
        stop=stop_link,
        reminder=texts["reminder"] if reminder else "",
    )
    return MailText(subject=subject, text=body)


# Telegram ----------------------------------------------------------------------------------------

_CHAT_INTRO = {
    "sv": (
        "Hej! Du har nyligen fått ett beslut från {unit}. Vi vill gärna veta hur det var för "
        "dig – det är frivilligt och tar en minut. Svaren hamnar inte i din akt. "
        "Skriv STOPP om du inte vill få sådana frågor."
    ),
    "en": (
        "Hello! You recently received a decision from {unit}. We would like to know how it was "
        "for you – it is voluntary and takes a minute. The answers are not added to your case "
        "file. Write STOP if you would rather not get questions like this."
    ),
}
_CHAT_REMINDER = {
    "sv": "Påminnelse: vi har inte fått något svar på vår fråga. ",
    "en": "Reminder: we have not had an answer to our question. ",
}


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


def telegram_question(
    *, checkin_id: int, chat_id: str, question: str, language: str, intro: str = ""
) -> dict[str, Any]:
    """The payload of a Telegram message asking one question with inline buttons."""
    text = question_text(question, language)
    return {
        "chat_id": chat_id,
        "text": f"{intro}\n\n{text}" if intro else text,
        "inline_keyboard": inline_keyboard(checkin_id, question, language)
        if question in CHOICES
        else [],
        "checkin_id": checkin_id,
        "question": question,
        "languages": [language_of(language)],
    }


def telegram_ask(
    *, checkin_id: int, chat_id: str, unit: str, language: str, reminder: bool
) -> dict[str, Any]:
    """The first Telegram message of a check-in (or its reminder): the intro and question one."""
    lang = language_of(language)
    intro = (_CHAT_REMINDER[lang] if reminder else "") + _CHAT_INTRO[lang].format(unit=unit)
    return telegram_question(
        checkin_id=checkin_id, chat_id=chat_id, question=QUESTIONS[0], language=lang, intro=intro
    )


_CHAT = {
    "sv": {
        "recorded": "Tack, svaret är sparat.",
        "unchanged": "Det svaret har vi redan.",
        "already": "Du har redan svarat på den frågan.",
        "closed": "Tack! Frågorna är tyvärr stängda nu, så svaret sparades inte.",
        "withdrawn": "Tack! Den här uppföljningen gäller inte längre, så svaret sparades inte.",
        "not_yours": "Den här frågan hör inte till den här chatten.",
        "comment": (
            "Vill du lägga till något? Skriv det i ett meddelande här (frivilligt). "
            "Skriv inte personnummer eller detaljer om ditt ärende."
        ),
        "comment_saved": "Tack för din kommentar! Den är sparad tillsammans med dina svar.",
        "callback": "En handläggare kommer att kontakta dig.",
    },
    "en": {
        "recorded": "Thank you, your answer is saved.",
        "unchanged": "We already have that answer.",
        "already": "You have already answered that question.",
        "closed": "Thank you! The questions have closed, so the answer was not saved.",
        "withdrawn": "Thank you! This follow-up no longer applies, so the answer was not saved.",
        "not_yours": "This question does not belong to this chat.",
        "comment": (
            "Would you like to add anything? Write it in a message here (optional). "
            "Please do not write your personal identity number or details of your case."
        ),
        "comment_saved": "Thank you for your comment! It is saved with your answers.",
        "callback": "A caseworker will contact you.",
    },
}


def chat_text(key: str, language: str) -> str:
    """A short line of the Telegram check-in conversation (a button's answer, the comment invite)."""
    return _CHAT[language_of(language)][key]
