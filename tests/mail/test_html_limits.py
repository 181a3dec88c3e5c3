"""HTML too big or too complex for the libraries: a crude, linear rendering, noted as a defect."""

from __future__ import annotations

from mail.html import (
    MAX_HTML_CELLS,
    MAX_HTML_CHARS,
    MAX_HTML_TAGS,
    budget_defect,
    html_to_text,
    sanitize_html,
    within_budget,
)
from mail.parse import parse_email

PADDING = "<p>" + "Lorem ipsum dolor sit amet. " * 20 + "</p>\n"
BIG = PADDING * (MAX_HTML_CHARS // len(PADDING) + 1)


def test_ordinary_html_is_within_budget() -> None:
    assert within_budget("<p>Hej</p>" * 100)
    assert budget_defect("<table>" + "<tr><td>x</td></tr>" * 100 + "</table>") is None


def test_too_many_characters_tags_or_cells_are_each_over_budget() -> None:
    assert "characters" in (budget_defect(BIG) or "")
    assert "tags" in (budget_defect("<b>x</b>" * MAX_HTML_TAGS) or "")
    assert "cells" in (budget_defect("<td>" * (MAX_HTML_CELLS + 1)) or "")


def test_crude_rendering_drops_closed_hidden_blocks_and_breaks_lines() -> None:
    html = (
        "<html><head><title>Nyhetsbrev</title><style>p { color: red }</style></head>"
        "<body><p>Hej&amp;hå</p><div>Rad två<br>Rad tre</div><script>x()</script></body></html>"
    )
    text = html_to_text(html + "<!-- -->" * MAX_HTML_TAGS)
    assert text.strip() == "Hej&hå\nRad två\nRad tre"


def test_crude_rendering_keeps_the_text_of_an_unclosed_style() -> None:
    text = html_to_text(BIG + "<style>p { color: red }<p>Sista raden</p>")
    assert text.endswith("p { color: red }Sista raden")


def test_stray_angle_brackets_are_text() -> None:
    assert html_to_text(BIG + "<p>1 < 2 och 3 <<b>4</b></p>").endswith("1 < 2 och 3 <4")


def test_sanitised_html_over_budget_is_escaped_text() -> None:
    html = sanitize_html(BIG + "<p><a href='javascript:x()'>länk</a></p>")
    assert html.startswith("<pre>")
    assert "<a" not in html
    assert html.endswith("länk</pre>")


def test_message_with_html_over_budget_becomes_text_with_a_defect() -> None:
    raw = b"From: a@example.se\nSubject: Nyhetsbrev\nContent-Type: text/html; charset=utf-8\n\n"
    message = parse_email(raw + BIG.encode())
    assert message.text.startswith("Lorem ipsum")
    assert any("shown as plain text without layout" in d for d in message.defects)
