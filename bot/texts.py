"""What the bot says, in Swedish and English, and the labels of its buttons.

`text(lang, name, **values)` picks the language (Swedish when unknown) and fills in the values.
"""

from __future__ import annotations

from typing import Any

LANGUAGES = ("sv", "en")
# Telegram's language_code is the app's language: a first guess, which the person can switch.
_NORDIC = {"sv", "nb", "nn", "no", "da"}


def guess_language(language_code: str | None) -> str:
    if not language_code:
        return "sv"
    base = language_code.split("-")[0].lower()
    return "sv" if base in _NORDIC else "en"


_TEXTS: dict[str, dict[str, str]] = {
    "sv": {
        "start": (
            "Hej! Här kan du lämna en synpunkt till {organisation}: kritik, beröm, förslag eller "
            "en fråga.\n\n"
            "Vid akut fara, ring 112.{emergency}\n\n"
            "Skriv ditt meddelande här, så registrerar vi det direkt och du får ett "
            "ärendenummer. Vi strävar efter att svara inom {days} arbetsdagar.\n\n"
            "Bra att veta\n"
            "- Ditt meddelande blir en allmän handling när det kommer in till oss.\n"
            "- Skicka inte personnummer, uppgifter om hälsa eller detaljer om ett ärende här.\n"
            "- Vi ser ditt namn och användarnamn på Telegram.\n"
            "- En synpunkt är inte ett överklagande. Vill du överklaga ett beslut, skicka ett "
            "skriftligt överklagande till {organisation} inom tre veckor från den dag du fick ta "
            "del av beslutet. Din handläggare hjälper dig gärna.\n"
            "- Så behandlar vi dina personuppgifter: {privacy}\n"
            "- Du kan också skriva till oss via e-post ({email}){web}.\n\n"
            "/hjalp visar hjälpen, /stopp stänger av automatiska meddelanden."
        ),
        "web": " eller på webben: {url}",
        "help": (
            "Så fungerar det\n"
            "- Skriv ditt meddelande, så blir det ett ärende med ett ärendenummer. Foton och "
            "dokument sparas i ärendet.\n"
            "- Det du skriver senare hamnar i samma ärende. Vill du lämna en ny synpunkt, tryck "
            'på "Ny synpunkt".\n'
            "- Frågorna efteråt är frivilliga.\n"
            "- /stopp (eller STOPP) stänger av automatiska meddelanden. Svar på det du skriver "
            "får du ändå.\n"
            "- /start visar informationen om tjänsten igen.\n\n"
            "Skicka inte personnummer, uppgifter om hälsa eller detaljer om ett ärende här."
        ),
        "stopped": (
            "Klart. Vi skickar inga fler automatiska meddelanden till dig här. Svar på det du "
            "skriver till oss får du fortfarande."
        ),
        "new_case": "Skriv din nya synpunkt, så får den ett eget ärendenummer.",
        "received": "Tack, vi har tagit emot ditt meddelande.",
        "ask_kind": "Frivilligt: vad gäller det?",
        "ask_unit": "Frivilligt: vilken verksamhet gäller det?",
        "ask_role": "Frivilligt: vem är du?",
        "ask_reply": "Frivilligt: vill du ha svar?",
        "thanks": "Tack! Det hjälper oss att få ditt ärende till rätt person.",
        "skipped": "Okej. Du kan skriva mer när du vill.",
        "not_yours": "Den här knappen hör inte till ditt ärende.",
        "switched": "Nu skriver jag på svenska.",
        "unknown_command": "Det kommandot känner jag inte till. /hjalp visar vad jag kan.",
        "kind:complaint": "Kritik",
        "kind:praise": "Beröm",
        "kind:suggestion": "Förslag",
        "kind:question": "Fråga",
        "role:client": "Brukare",
        "role:relative": "Anhörig",
        "role:citizen": "Invånare",
        "role:professional": "Yrkesperson",
        "reply:yes": "Ja, gärna",
        "reply:no": "Nej tack",
        "skip": "Hoppa över",
        "new": "Ny synpunkt",
        "switch": "English",
    },
    "en": {
        "start": (
            "Hello! Here you can give feedback to {organisation}: criticism, praise, suggestions "
            "or a question.\n\n"
            "In an emergency, call 112.{emergency}\n\n"
            "Write your message here: we register it at once and you get a case number. We aim "
            "to reply within {days} working days.\n\n"
            "Good to know\n"
            "- Your message becomes a public record (allmän handling) when it reaches us.\n"
            "- Please do not send personal identity numbers, health information or details of "
            "a case here.\n"
            "- We see your Telegram name and username.\n"
            "- Feedback is not an appeal. If you want to appeal a decision, send your appeal in "
            "writing to {organisation} within three weeks of the day you were informed of the "
            "decision. Your caseworker is glad to help.\n"
            "- How we handle your personal data: {privacy}\n"
            "- You can also write to us by email ({email}){web}.\n\n"
            "/hjalp shows the help, /stopp turns off automatic messages."
        ),
        "web": " or on the web: {url}",
        "help": (
            "How it works\n"
            "- Write your message and it becomes a case with a case number. Photos and "
            "documents are kept with the case.\n"
            "- What you write later is added to the same case. To give new feedback, press "
            '"New feedback".\n'
            "- The questions afterwards are optional.\n"
            "- /stopp (or STOPP) turns off automatic messages. You still get answers to what "
            "you write.\n"
            "- /start shows the information about the service again.\n\n"
            "Please do not send personal identity numbers, health information or case details "
            "here."
        ),
        "stopped": (
            "Done. We will send you no more automatic messages here. You will still get answers "
            "to what you write to us."
        ),
        "new_case": "Write your new feedback and it will get a case number of its own.",
        "received": "Thank you, we have received your message.",
        "ask_kind": "Optional: what is it about?",
        "ask_unit": "Optional: which service is it about?",
        "ask_role": "Optional: who are you?",
        "ask_reply": "Optional: would you like a reply?",
        "thanks": "Thank you! This helps us get your case to the right person.",
        "skipped": "All right. You can write more whenever you like.",
        "not_yours": "This button does not belong to your case.",
        "switched": "I will write in English now.",
        "unknown_command": "I do not know that command. /hjalp shows what I can do.",
        "kind:complaint": "Criticism",
        "kind:praise": "Praise",
        "kind:suggestion": "Suggestion",
        "kind:question": "Question",
        "role:client": "Client",
        "role:relative": "Relative",
        "role:citizen": "Resident",
        "role:professional": "Professional",
        "reply:yes": "Yes, please",
        "reply:no": "No, thanks",
        "skip": "Skip",
        "new": "New feedback",
        "switch": "Svenska",
    },
}


def text(lang: str | None, name: str, **values: Any) -> str:
    table = _TEXTS.get(lang or "sv", _TEXTS["sv"])
    template = table.get(name, _TEXTS["sv"][name])
    return template.format(**values) if values else template
