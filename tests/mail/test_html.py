"""E-mail HTML is made safe to show and readable as text, whatever its size or state."""

from __future__ import annotations

from mail.html import MAX_HTML_CHARS, html_to_text, sanitize_html


def test_sanitising_removes_everything_that_runs() -> None:
    html = (
        '<body onload="x()"><p onclick="y()">Hej <a href="javascript:alert(1)">a</a>'
        '<a href="https://kommun.se">b</a><img src="cid:logo@x"></p>'
        "<script>alert(1)</script><style>p{}</style></body>"
    )
    clean = sanitize_html(html)
    for banned in ("onload", "onclick", "javascript:", "<script", "<style", "alert"):
        assert banned not in clean
    assert 'href="https://kommun.se"' in clean
    assert 'src="cid:logo@x"' in clean


def test_html_becomes_readable_text() -> None:
    html = "<?xml version='1.0' encoding='utf-8'?><p>Hej</p><ul><li>ett</li></ul>"
    assert html_to_text(html) == "Hej\n\n  * ett"


def test_empty_html_is_empty_text() -> None:
    assert html_to_text("   ") == ""
    assert sanitize_html("") == ""


def test_huge_html_is_stripped_crudely_but_kept() -> None:
    html = "<p>Hej</p><script>bad()</script>" + "<div>rad</div>" * (MAX_HTML_CHARS // 10)
    text = html_to_text(html)
    assert text.startswith("Hej")
    assert "bad()" not in text
    assert sanitize_html(html).startswith("<pre>")
