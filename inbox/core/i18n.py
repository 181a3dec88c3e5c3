"""The languages citizens read: gettext catalogues (Babel) and how a request's language is chosen.

Every citizen text is written in Swedish in the code and the templates (the msgid) and translated
in `inbox/locale/<catalogue>/LC_MESSAGES/messages.po`, compiled to `.mo` by `make messages`; both
are committed, so an installed wheel has them without a build step. A language is offered when its
catalogue is there. Each catalogue's header says who translated it (`Last-Translator`) and whether
an authorised translator has reviewed it (`X-Review-Status`, `X-Reviewed-By` in its header
comment): `/sprak` shows it.

Lättläst svenska is the catalogue `sv@easy`: a POSIX locale modifier, as gettext names `sr@latin`,
which Babel parses (`Locale('sv', modifier='easy')`) where it refuses `sv_LL` and `sv-x-easy`. Its
code in addresses and cookies is `sv-easy`, and the page says `lang="sv"`: it is Swedish.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
DOMAIN = "messages"
DEFAULT = "sv"
REVIEWED = "reviewed"  # X-Review-Status of a catalogue an authorised translator has checked


@dataclass(frozen=True, slots=True)
class Language:
    code: str  # in `?lang=` and the cookie
    catalogue: str  # the folder under inbox/locale
    html: str  # the page's lang attribute (BCP 47)
    name: str  # in the language itself, as the menu shows it
    swedish: str  # its Swedish name, for /sprak
    rtl: bool = False

    @property
    def dir(self) -> str:
        return "rtl" if self.rtl else "ltr"


# Every language the issue names, offered or not (see `offered`), in the menu's order.
LANGUAGES: tuple[Language, ...] = (
    Language("sv", "sv", "sv", "Svenska", "svenska"),
    Language("sv-easy", "sv@easy", "sv", "Lättläst svenska", "lättläst svenska"),
    Language("en", "en", "en", "English", "engelska"),
    Language("fi", "fi", "fi", "Suomi", "finska"),
    Language("fit", "fit", "fit", "Meänkieli", "meänkieli"),
    Language("se", "se", "se", "Davvisámegiella", "nordsamiska"),
    Language("ar", "ar", "ar", "العربية", "arabiska", rtl=True),
    Language("so", "so", "so", "Soomaali", "somaliska"),
    Language("ti", "ti", "ti", "ትግርኛ", "tigrinja"),
    Language("prs", "prs", "prs", "دری", "dari", rtl=True),
    Language("fa", "fa", "fa", "فارسی", "persiska", rtl=True),
)
BY_CODE = {language.code: language for language in LANGUAGES}


def _compiled(language: Language) -> Path:
    return LOCALE_DIR / language.catalogue / "LC_MESSAGES" / f"{DOMAIN}.mo"


def offered() -> tuple[Language, ...]:
    """The languages with a compiled catalogue: the ones a citizen can choose."""
    return tuple(language for language in LANGUAGES if _compiled(language).is_file())


def offered_codes() -> tuple[str, ...]:
    """The codes of the offered languages: what a decision's language and a chat's may be."""
    return tuple(one.code for one in offered())


def language(code: str | None) -> Language | None:
    """The offered language with this code (`sv-easy`, `ar`), or None."""
    found = BY_CODE.get((code or "").strip())
    return found if found is not None and found in offered() else None


def negotiate(*, chosen: str | None, saved: str | None, accept_language: str | None) -> Language:
    """The language of a request: the one chosen now (`?lang=`), the one chosen before (the
    cookie), the browser's preference (Accept-Language, by quality), Swedish."""
    for code in (chosen, saved):
        found = language(code)
        if found is not None:
            return found
    for tag in _preferred(accept_language or ""):
        primary = tag.split("-")[0]
        for candidate in offered():
            if candidate.html == tag or candidate.code == tag or candidate.html == primary:
                return candidate
    return BY_CODE[DEFAULT]


def _preferred(header: str) -> list[str]:
    """Accept-Language's tags, lower case, best first (a quality of 0 means "not this")."""
    weighted: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if tag and tag != "*" and quality > 0:
            weighted.append((-quality, index, tag.lower()))
    return [tag for _, _, tag in sorted(weighted)]


@cache
def translations(catalogue: str) -> NullTranslations:
    """The compiled catalogue, loaded once; Swedish (the msgids) when there is none."""
    if catalogue == DEFAULT:
        return NullTranslations()
    return Translations.load(str(LOCALE_DIR), [catalogue], DOMAIN)


def gettext(code: str, message: str) -> str:
    """`message` (Swedish) in the language with this code."""
    found = BY_CODE.get(code, BY_CODE[DEFAULT])
    return translations(found.catalogue).gettext(message)


def N_(message: str) -> str:
    """Marks a Swedish text for the catalogues where it is defined; it is translated where shown."""
    return message


@dataclass(frozen=True, slots=True)
class CatalogueStatus:
    """What a catalogue's header says of its translation, for `/sprak`."""

    language: Language
    translator: str
    reviewed: bool
    reviewed_by: str | None


def statuses(languages: Iterable[Language] | None = None) -> list[CatalogueStatus]:
    """The translation status of every offered language but Swedish, from the `.po` files: the
    translator in `Last-Translator`, the review in the header comment's `X-Review-Status:` and
    `X-Reviewed-By:` lines (a comment, since `pybabel update` keeps comments and drops unknown
    header fields)."""
    result = []
    for one in languages if languages is not None else offered():
        if one.code == DEFAULT:
            continue
        po = LOCALE_DIR / one.catalogue / "LC_MESSAGES" / f"{DOMAIN}.po"
        with po.open("rb") as handle:
            catalogue = read_po(handle)
        review = _review_lines(catalogue.header_comment)
        reviewed_by = review.get("x-reviewed-by") or None
        result.append(
            CatalogueStatus(
                language=one,
                translator=catalogue.last_translator or "",
                reviewed=review.get("x-review-status") == REVIEWED and reviewed_by is not None,
                reviewed_by=reviewed_by,
            )
        )
    return result


def _review_lines(comment: str) -> dict[str, str]:
    """`# X-Name: value` lines of a catalogue's header comment, by lower-case name."""
    found = {}
    for line in comment.splitlines():
        name, colon, value = line.lstrip("# ").partition(":")
        if colon and name.lower().startswith("x-"):
            found[name.strip().lower()] = value.strip()
    return found


# --- the sender's language ---------------------------------------------------------------------

# Tags that name an offered catalogue other than by its code: Dari is Persian as written in
# Afghanistan (`fa-AF`); lättläst svenska may come as its catalogue's name.
_ALIASES = {"fa-af": "prs", "sv@easy": "sv-easy"}


def offered_for(tag: str | None) -> Language | None:
    """The offered language a language tag names (`ar`, `fi-FI`, `sv_SE`, `fa-AF`, `sv-easy`),
    by the whole tag, then by its primary subtag; None for a language not offered."""
    cleaned = (tag or "").strip().replace("_", "-").lower()
    if not cleaned:
        return None
    for candidate in (_ALIASES.get(cleaned, cleaned), cleaned.split("-")[0]):
        found = language(candidate)
        if found is not None:
            return found
    return None


def sender_language(
    *,
    form: str | None = None,
    telegram: str | None = None,
    decision: str | None = None,
    detected: str | None = None,
) -> Language:
    """The language to write to a person in, the one rule for every citizen text: their choice
    on the web form, their Telegram app's `language_code` (or the language they chose in the
    bot), a decision's `language` (check-ins), the detected language of their mail, in that
    order; the first that names an offered catalogue wins, and Swedish when none does."""
    for tag in (form, telegram, decision, detected):
        found = offered_for(tag)
        if found is not None:
            return found
    return BY_CODE[DEFAULT]


# The CLDR locale whose month names a language's dates use, where it is not the code itself.
_CLDR = {"sv-easy": "sv", "en": "en_GB", "prs": "fa_AF"}


def written_date(day: date, code: str) -> str:
    """A date as the public reads it, in the language with this code: "16 december 2026",
    "16 December 2026", "16. joulukuuta 2026" (CLDR's long date, with Western digits, as the
    reference and the other numbers in the same text are written)."""
    try:
        locale = Locale.parse(_CLDR.get(code, code))
    except (ValueError, UnknownLocaleError):
        locale = Locale.parse(DEFAULT)
    return _western_digits(format_date(day, "long", locale=locale))


_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")


def _western_digits(text: str) -> str:
    return text.translate(_DIGITS)
