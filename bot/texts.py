"""What the bot says, in every offered language, and the labels of its buttons.

The texts are Swedish msgids of the gettext catalogues (`inbox.core.i18n`), translated where
they are used: `text(lang, name, **values)` picks the language (Swedish when it is not offered)
and fills in the values.
"""

from __future__ import annotations

from typing import Any

from inbox.core import i18n
from inbox.core.i18n import N_

# The codes the person can choose in the chat: the offered catalogues'.
languages = i18n.offered_codes


def language_names() -> list[tuple[str, str]]:
    """Each offered language's code and its name in itself, in the menu's order."""
    return [(one.code, one.name) for one in i18n.offered()]


def guess_language(language_code: str | None) -> str:
    """Telegram's `language_code` is the app's language: a first guess, which the person can
    switch; the rule is `i18n.sender_language`'s (Swedish when it names no offered language)."""
    return i18n.sender_language(telegram=language_code).code


# In Swedish: the msgids of the catalogues (`inbox.core.i18n`), translated by `text`.
_TEXTS = {
    "start": N_(
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
    "web": N_(" eller på webben: {url}"),
    "help": N_(
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
    "stopped": N_(
        "Klart. Vi skickar inga fler automatiska meddelanden till dig här. Svar på det du "
        "skriver till oss får du fortfarande."
    ),
    "new_case": N_("Skriv din nya synpunkt, så får den ett eget ärendenummer."),
    "received": N_("Tack, vi har tagit emot ditt meddelande."),
    "ask_kind": N_("Frivilligt: vad gäller det?"),
    "ask_unit": N_("Frivilligt: vilken verksamhet gäller det?"),
    "ask_role": N_("Frivilligt: vem är du?"),
    "ask_reply": N_("Frivilligt: vill du ha svar?"),
    "thanks": N_("Tack! Det hjälper oss att få ditt ärende till rätt person."),
    "skipped": N_("Okej. Du kan skriva mer när du vill."),
    "not_yours": N_("Den här knappen hör inte till ditt ärende."),
    "switched": N_("Nu skriver jag på svenska."),
    "unknown_command": N_("Det kommandot känner jag inte till. /hjalp visar vad jag kan."),
    "kind:complaint": N_("Kritik"),
    "kind:praise": N_("Beröm"),
    "kind:suggestion": N_("Förslag"),
    "kind:question": N_("Fråga"),
    "role:client": N_("Brukare"),
    "role:relative": N_("Anhörig"),
    "role:citizen": N_("Invånare"),
    "role:professional": N_("Yrkesperson"),
    "reply:yes": N_("Ja, gärna"),
    "reply:no": N_("Nej tack"),
    "skip": N_("Hoppa över"),
    "new": N_("Ny synpunkt"),
    "languages": N_("Byt språk"),
    "choose": N_("Välj språk:"),
}


def text(lang: str | None, name: str, **values: Any) -> str:
    """The text `name` in the language with code `lang` (Swedish when it is not offered), with
    `values` filled in."""
    template = i18n.gettext(guess_language(lang), _TEXTS[name])
    return template.format(**values) if values else template
