"""The citizen texts' catalogues: the template holds every text the code and templates mark, every
offered catalogue translates every one of them with the same placeholders, each committed `.mo`
is its `.po` compiled (`make messages`), and a request's language is negotiated as documented."""

from __future__ import annotations

import re
import shutil
from configparser import ConfigParser
from gettext import GNUTranslations
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po

from bot import texts as bot_texts
from inbox.checkins import texts as checkin_texts
from inbox.core import i18n
from inbox.intake import acknowledgement
from inbox.web.pages import checkin as checkin_page

ROOT = i18n.LOCALE_DIR.parent.parent
PLACEHOLDER = re.compile(r"%\(\w+\)s|\{\w+\}")
TRANSLATED = [one for one in i18n.offered() if one.code != i18n.DEFAULT]


def _po(catalogue: str) -> object:
    with (i18n.LOCALE_DIR / catalogue / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        return read_po(handle)


def _marked() -> set[str]:
    """What `make messages` would extract now (babel.cfg, the Makefile's keywords)."""
    config = ConfigParser()
    config.read(ROOT / "babel.cfg")
    method_map = [
        (section.split(":", 1)[1].strip(), section.split(":", 1)[0].strip())
        for section in config.sections()
    ]
    options = {pattern: dict(config[f"{method}: {pattern}"]) for pattern, method in method_map}
    keywords = DEFAULT_KEYWORDS | {"N_": None, "gettext": (2,), "i18n.gettext": (2,)}
    return {
        message if isinstance(message, str) else message[0]
        for _, _, message, _, _ in extract_from_dir(
            str(ROOT), method_map, options, keywords=keywords
        )
    }


def test_the_template_holds_every_marked_text() -> None:
    template = {m.id for m in _po_template() if m.id}
    assert _marked() == template


def _po_template() -> list:  # type: ignore[type-arg]
    with (i18n.LOCALE_DIR / "messages.pot").open("rb") as handle:
        return list(read_po(handle))


@pytest.mark.parametrize("language", TRANSLATED, ids=lambda one: one.code)
def test_every_offered_catalogue_translates_every_text(language: i18n.Language) -> None:
    catalogue = _po(language.catalogue)
    wanted = {m.id for m in _po_template() if m.id}
    strings = {m.id: m.string for m in catalogue if m.id}  # type: ignore[attr-defined]
    assert set(strings) == wanted
    for msgid, string in strings.items():
        assert string, f"{language.code}: {msgid!r} is not translated"
        assert sorted(PLACEHOLDER.findall(msgid)) == sorted(PLACEHOLDER.findall(string)), msgid


@pytest.mark.parametrize("language", i18n.offered(), ids=lambda one: one.code)
def test_each_compiled_catalogue_is_its_po_compiled(language: i18n.Language) -> None:
    folder = i18n.LOCALE_DIR / language.catalogue / "LC_MESSAGES"
    with (folder / "messages.mo").open("rb") as handle:
        compiled = GNUTranslations(handle)
    catalogue = _po(language.catalogue)
    for message in catalogue:  # type: ignore[attr-defined]
        if message.id and message.string:
            assert compiled.gettext(message.id) == message.string, "run make messages"


def test_every_translation_says_honestly_that_no_authorised_translator_reviewed_it() -> None:
    statuses = i18n.statuses()
    assert {s.language.code for s in statuses} == {one.code for one in TRANSLATED}
    assert all(s.translator and not s.reviewed for s in statuses)


def test_the_language_is_the_choice_then_the_cookie_then_the_browser_then_swedish() -> None:
    def pick(chosen: str | None, saved: str | None, header: str | None) -> str:
        return i18n.negotiate(chosen=chosen, saved=saved, accept_language=header).code

    assert pick("fi", "ar", "en") == "fi"
    assert pick("xx", "ar", "en") == "ar"
    assert pick(None, None, "de-DE, fa;q=0.9, en;q=0.8") == "fa"
    assert pick(None, None, "en;q=0, fi;q=0.1") == "fi"
    assert pick(None, None, None) == "sv"
    assert pick(None, None, "ti-ER, en;q=0.5") == "ti"
    assert pick(None, None, "se-NO, nb;q=0.8") == "se"
    assert pick(None, None, "so") == "so"
    assert pick("fit", None, "fi-SE") == "fit"  # meänkieli by choice: browsers rarely send `fit`
    assert [one.code for one in i18n.offered() if one.rtl] == ["ar", "prs", "fa"]


def test_every_language_the_issue_names_is_offered() -> None:
    assert i18n.offered() == i18n.LANGUAGES


def test_a_language_without_its_compiled_catalogue_is_not_offered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copytree(i18n.LOCALE_DIR / "fi", tmp_path / "fi")
    shutil.copytree(i18n.LOCALE_DIR / "ti", tmp_path / "ti")
    (tmp_path / "ti" / "LC_MESSAGES" / "messages.mo").unlink()  # translated, never compiled
    monkeypatch.setattr(i18n, "LOCALE_DIR", tmp_path)
    assert i18n.offered() == (i18n.BY_CODE["fi"],)
    assert i18n.language("ti") is None
    chosen = i18n.negotiate(chosen="ti", saved=None, accept_language="ti, fi;q=0.5")
    assert chosen.code == "fi"


def _strings(*values: object) -> set[str]:
    """Every string in `values`, however deep in dicts."""
    found: set[str] = set()
    for value in values:
        if isinstance(value, str):
            found.add(value)
        elif isinstance(value, dict):
            found |= _strings(*value.values())
    return found


# What a citizen receives from code, not from a template: the acknowledgement, the check-ins
# (mail, Telegram, the link page) and the Telegram bot.
SENT_TEXTS = sorted(
    _strings(
        acknowledgement._PARTS,
        acknowledgement._EMERGENCY,
        acknowledgement._SUBJECT,
        checkin_texts._QUESTION,
        checkin_texts._PAGE_QUESTION,
        checkin_texts._CHOICE,
        checkin_texts._APPEAL,
        checkin_texts._FEEDBACK,
        checkin_texts._MAIL,
        checkin_texts._CHAT_INTRO,
        checkin_texts._CHAT_REMINDER,
        checkin_texts._PAGE_BUTTON,
        checkin_texts._CHAT,
        checkin_page._T,
        bot_texts._TEXTS,
    )
)


@pytest.mark.parametrize("language", TRANSLATED, ids=lambda one: one.code)
def test_the_acknowledgement_check_ins_and_bot_are_translated_in_every_catalogue(
    language: i18n.Language,
) -> None:
    """Every text these modules send is in the catalogue with a translation (no empty msgstr,
    nothing fuzzy), its placeholders and line breaks kept: a missing one would reach the person
    in Swedish, a lost placeholder would break the text."""
    assert len(SENT_TEXTS) > 100
    messages = {m.id: m for m in _po(language.catalogue) if m.id}  # type: ignore[attr-defined]
    for msgid in SENT_TEXTS:
        message = messages.get(msgid)
        assert message is not None, f"{msgid!r} is not in the catalogue: run make messages"
        assert message.string and not message.fuzzy, f"{language.code}: {msgid!r}"
        assert sorted(PLACEHOLDER.findall(msgid)) == sorted(PLACEHOLDER.findall(message.string))
        assert msgid.count("\n") == message.string.count("\n"), f"{language.code}: {msgid!r}"
        assert i18n.gettext(language.code, msgid) == message.string
