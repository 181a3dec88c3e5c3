"""Quote stripping within its limits: the library sees only the top of a text, and what it does
there is the same as before; HTML quote removal keeps the text around the quotes it drops."""

from __future__ import annotations

from mail.html import html_to_text
from mail.quotes import LIBRARY_LINE_CHARS, LIBRARY_LINES, remove_html_quotes, strip_quotes

LONG = "Jag skriver om hemtjänsten, som inte kom i tisdags och inte heller i onsdags. " * 5


def test_sign_off_after_a_long_line_is_still_recognised() -> None:
    assert len(LONG) > LIBRARY_LINE_CHARS
    text = f"{LONG}\n\nMed vänliga hälsningar\nAnna"
    assert strip_quotes(text) == LONG.strip()


def test_long_lines_come_back_whole() -> None:
    text = f"{LONG}\n{LONG}\n\nDen 12 mars 2024 kl. 10:15 skrev Eva <eva@example.se>:\n> Hej"
    assert strip_quotes(text) == f"{LONG.strip()}\n{LONG.strip()}"


def test_quote_header_near_the_top_of_a_long_text_cuts_it() -> None:
    text = "Tack för svaret.\n\nOn Mon, 1 Jan 2024, Eva wrote:\n" + "Citat.\n" * 5_000
    assert strip_quotes(text) == "Tack för svaret."


def test_quote_header_past_the_top_is_found_by_the_line_pass() -> None:
    reply = "\n".join(f"Rad {n}." for n in range(LIBRARY_LINES + 50))
    text = f"{reply}\n\nFrom: Eva <eva@example.se>\nSent: den 1 mars 2024\n\nCitat."
    assert strip_quotes(text) == reply


def test_private_use_characters_in_the_text_are_kept() -> None:
    text = "Hej \ue000 0 \ue001 då\n\nOn Mon, Eva wrote:\n> x"
    assert strip_quotes(text) == "Hej \ue000 0 \ue001 då"


def test_text_between_dropped_html_quotes_is_kept() -> None:
    html = (
        "<div><p>Svar</p><blockquote>citat 1</blockquote>mellan"
        "<blockquote>citat 2</blockquote>efter</div>"
    )
    text = html_to_text(remove_html_quotes(html))
    assert "citat" not in text
    assert text.split() == ["Svar", "mellanefter"]


def test_rule_before_a_from_line_among_many_rules_is_found() -> None:
    rules = "".join(f"<hr><p>Avsnitt {n}</p>" for n in range(5))
    html = f"<div><p>Svar</p>{rules}<hr><p>From: Eva</p><p>Citat</p></div>"
    text = html_to_text(remove_html_quotes(html))
    assert "Avsnitt 4" in text
    assert "Citat" not in text
