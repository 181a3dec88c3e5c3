"""Quoted history and signatures are stripped for display, in our clients' languages too."""

from __future__ import annotations

import random
import re
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from mailparser_reply.parser import EmailMessage as LibraryMessage

from mail.html import html_to_text
from mail.quotes import (
    _library_patterns,
    _may_have_disclaimer,
    _may_have_header,
    _SignatureSearch,
    remove_html_quotes,
    strip_quotes,
)

CORPORA = Path(__file__).resolve().parents[1] / "corpora" / "email"
TALON = CORPORA / "talon"
ZAPIER = CORPORA / "email-reply-parser-zapier"
GITHUB = CORPORA / "email_reply_parser-github"

# talon keeps "Sent from my iPhone" and Sparrow's signature; our display text drops signatures.
TALON_OUR_RULE = {"iphone.eml": "Hello", "sparrow.eml": "Hello"}


def first_plain_text(path: Path) -> str:
    msg = message_from_bytes(path.read_bytes(), policy=policy.default)
    assert isinstance(msg, EmailMessage)
    part = msg.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


@pytest.mark.parametrize(
    "path", sorted((TALON / "standard_replies").glob("*.eml")), ids=lambda p: p.name
)
def test_talon_standard_reply_is_just_the_reply(path: Path) -> None:
    expected_file = path.with_name(path.stem + "_reply_text")
    expected = expected_file.read_text() if expected_file.exists() else "Hello"
    expected = TALON_OUR_RULE.get(path.name, expected)
    assert strip_quotes(first_plain_text(path)) == expected.strip()


@pytest.mark.parametrize(
    "path", sorted((TALON / "html_replies").glob("*.html")), ids=lambda p: p.name
)
def test_talon_html_reply_keeps_only_the_reply(path: Path) -> None:
    html = path.read_text(encoding="utf-8", errors="replace")
    text = strip_quotes(html_to_text(remove_html_quotes(html)))
    # talon keeps the sign-off "Thanks, Alex"; our display text drops sign-offs.
    assert re.sub(r"\s+", "", text) == "Hi.Iamfine."


def test_talon_outlook_source_body_section_is_cut() -> None:
    html = (TALON / "OLK_SRC_BODY_SECTION.html").read_text()
    assert html_to_text(remove_html_quotes(html)).strip() == "Reply"


def test_talon_reply_separated_by_a_rule_loses_the_quoted_part() -> None:
    text = html_to_text(remove_html_quotes((TALON / "reply-separated-by-hr.html").read_text()))
    assert "Hi" in text
    assert "there" in text
    assert "From:" not in text
    assert "Hello" not in text


def read(folder: Path, name: str) -> str:
    return (folder / f"{name}.txt").read_text(encoding="utf-8", errors="replace")


@pytest.mark.parametrize(
    ("name", "reply"),
    [
        ("email_2_1", "Outlook with a reply"),
        ("email_2_2", "Outlook with a reply directly above line"),
        ("email_2_3", "Outlook with a reply above headers using unusual format"),
        ("email_gmail", "This is a test for inbox replying to a github message."),
        ("email_headers_no_delimiter", "And another reply!"),
    ],
)
def test_reply_parser_exact_replies(name: str, reply: str) -> None:
    assert strip_quotes(read(ZAPIER, name)) == reply


def test_reply_parser_inline_answer_after_a_quote_is_kept() -> None:
    assert "You can list the keys for the bucket" in strip_quotes(read(ZAPIER, "email_1_2"))


def test_reply_parser_iphone_signature_is_dropped() -> None:
    assert "Sent from my iPhone" not in strip_quotes(read(ZAPIER, "email_iPhone"))


def test_reply_parser_quote_header_is_dropped() -> None:
    text = strip_quotes(read(ZAPIER, "email_one_is_not_on"))
    assert "On Oct 1, 2012, at 11:55 PM, Dave Tapley wrote:" not in text


@pytest.mark.parametrize("name", ["email_partial_quote_header", "greedy_on"])
def test_reply_parser_a_line_starting_with_on_is_not_a_quote_header(name: str) -> None:
    text = strip_quotes(read(ZAPIER, name))
    assert text.startswith("On your remote host you can run:")
    assert "telnet 127.0.0.1 52698" in text


def test_reply_parser_double_dash_inside_a_line_is_not_a_signature() -> None:
    text = strip_quotes(read(ZAPIER, "email_sig_delimiter_in_middle_of_line"))
    assert text.endswith("kthxbai")


def test_reply_parser_sent_from_my_desk_is_not_a_signature() -> None:
    text = strip_quotes(read(ZAPIER, "email_sent_from_my_not_signature"))
    assert "Sent from my desk" in text


@pytest.mark.parametrize("folder", [ZAPIER, GITHUB], ids=["zapier", "github"])
def test_reply_parser_pathological_input_is_parsed(folder: Path) -> None:
    assert strip_quotes(read(folder, "pathological")).startswith("I think you're onto something")


def test_reply_parser_long_quote_keeps_the_reply() -> None:
    assert strip_quotes(read(GITHUB, "email_long_quote")).startswith("Hi folks")


@pytest.mark.parametrize(
    ("language", "header"),
    [
        ("sv", "Den 12 mars 2024 kl. 10:15 skrev Anna Andersson <anna@example.se>:"),
        ("en", "On Tue, 12 Mar 2024 at 10:15, Anna Andersson <anna@example.se> wrote:"),
        ("fi", "ti 12.3.2024 klo 10.15 Matti Meikäläinen <matti@example.fi> kirjoitti:"),
        ("ar", "في الثلاثاء، 12 مارس 2024، كتب أحمد <ahmed@example.com>:"),
        ("fa", "در تاریخ سه‌شنبه ۱۲ مارس ۲۰۲۴، علی <ali@example.com> نوشت:"),
        ("so", "Talaado, 12 Maarso 2024, Cali <cali@example.com> ayaa qoray:"),
    ],
)
def test_quote_header_in_our_clients_languages_cuts_the_history(language: str, header: str) -> None:
    text = f"Tack för svaret, jag kommer på mötet.\n\n{header}\n> Hej, välkommen på möte.\n"
    assert strip_quotes(text, language_hint=language) == "Tack för svaret, jag kommer på mötet."


@pytest.mark.parametrize(
    "header_block",
    [
        "Från: Anna <anna@example.se>\nSkickat: den 12 mars 2024 10:15\nÄmne: Möte",
        "Lähettäjä: Matti <matti@example.fi>\nLähetetty: 12. maaliskuuta 2024\nAihe: Tapaaminen",
        "-----Original Message-----\nFrom: Anna <anna@example.se>",
    ],
)
def test_outlook_style_header_blocks_cut_the_history(header_block: str) -> None:
    text = f"Jag kommer.\n\n{header_block}\n\nHej, välkommen på möte.\n"
    assert strip_quotes(text) == "Jag kommer."


def test_bottom_posted_reply_keeps_the_answer_after_the_quote() -> None:
    text = "Anna <anna@example.se> kirjoitti:\n> Tuletko?\n\nKyllä tulen."
    assert strip_quotes(text) == "Kyllä tulen."


def test_text_that_is_all_quote_is_shown_rather_than_emptied() -> None:
    text = "> only a quote\n> nothing else"
    assert strip_quotes(text).strip() != ""


def test_huge_text_is_stripped_by_the_linear_pass() -> None:
    text = "Mitt svar.\n\nOn Mon, Anna wrote:\n" + "> quoted line\n" * 100_000
    assert strip_quotes(text) == "Mitt svar."


def test_html_reply_without_quotes_is_returned_unchanged() -> None:
    html = "<p>Hej</p>"
    assert remove_html_quotes(html) is html


# --- The library's patterns, searched only where they can match, find what it finds itself -----

# Pieces of what the patterns look for, and of what surrounds it.
_PIECES = [
    "\n",
    "\n\n",
    " ",
    "\t",
    "\u00a0",
    "-- ",
    "--\n",
    "__",
    "_" * 33,
    "-----",
    "-----Original Message-----",
    "> ",
    ">> ",
    "Sent from my iPhone",
    "Skickat från min iPhone",
    "Get Outlook for iOS",
    "Gesendet von",
    "Med vänliga hälsningar",
    "Mvh",
    "Thanks,",
    "Best regards",
    "Mit freundlichen Grüßen",
    "Pozdrawiam",
    "Saludos,",
    "Hilsen",
    "/usr/bin",
    "Hej",
    "text",
    "mail",
    "MAİL",
    "Disclaimer:",
    "Från: Anna",
    "From: Anna",
    "Den 12 mars skrev Anna:",
    "On Mon, Anna wrote:",
    ":",
]


def _library_texts() -> list[str]:
    """Every e-mail of the corpora (up to 64 KB) as the library reads it, and 1,000 texts built
    from the pieces above (a fixed seed)."""
    texts = [
        path.read_bytes().decode("utf-8", "replace")
        for path in sorted(CORPORA.rglob("*"))
        if path.is_file() and path.stat().st_size <= 64 * 1024
    ]
    pick = random.Random(12)
    texts += [
        "".join(pick.choice(_PIECES) for _ in range(pick.randint(1, 12))) for _ in range(1_000)
    ]
    return [LibraryMessage(text=text).text for text in texts] + texts


@pytest.mark.parametrize(
    "languages",
    [("sv", "en"), ("sv", "en", "de"), ("sv", "en", "da"), ("sv", "en", "es"), ("sv", "en", "pl")],
    ids="+".join,
)
def test_the_library_patterns_match_only_where_a_full_search_matches(
    languages: tuple[str, ...],
) -> None:
    library = LibraryMessage(text="", languages=list(languages), keep_hyphen_lists=True)
    signature = _library_patterns(languages)[2]
    assert isinstance(signature, _SignatureSearch)  # this version of the library is understood
    for text in _library_texts():
        fast, full = signature.search(text), library.SIGNATURE_REGEX.search(text)
        assert (fast and (fast.span(), fast.group())) == (full and (full.span(), full.group()))
        if not _may_have_header(text, list(languages)):
            assert not library.HEADER_REGEX.search(text), text
        if not _may_have_disclaimer(text):
            assert not library.DISCLAIMERS_REGEX.search(text), text
