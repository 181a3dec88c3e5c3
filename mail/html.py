"""Make e-mail HTML safe to show and readable as plain text.

`sanitize_html` keeps layout and links but drops anything that runs or phones home (nh3, an
allow-list sanitiser); `html_to_text` renders HTML the way a reader sees it (inscriptis, which
keeps tables and lists readable). Both accept any input, however broken, and never raise. HTML too
big or too complex for the libraries to handle in bounded time (`within_budget`) gets a crude,
linear rendering instead, and `budget_defect` says so for the message's defects.
"""

from __future__ import annotations

import html as html_lib
import re
from functools import lru_cache

import nh3
from inscriptis import get_text
from inscriptis.model.config import ParserConfig

# Spam and newsletters can carry megabytes of markup. Rendering costs about 2 s per MB (tables
# are the slow part); beyond this a crude, linear tag strip is good enough for a reader.
MAX_HTML_CHARS = 500_000
# Measured: inscriptis spends about 0.1 ms on each element and 0.2 ms on each table cell, and
# nh3 (html5ever) checks each tag against the stack of open elements, so its time grows with
# tags × nesting depth (8,000 nested `<div>`: 1 s; 16,000: 4 s). These bound either to about a
# second. Real mail stays far below (the corpora: at most 7,400 tags and 1,500 cells, in a
# 250 KB newsletter).
MAX_HTML_TAGS = 10_000
MAX_HTML_CELLS = 2_500

_URL_SCHEMES = frozenset({"http", "https", "mailto", "tel", "cid"})
_GENERIC_ATTRIBUTES = frozenset({"title", "lang", "dir", "alt"})
# Attributes a browser fetches by itself when it shows the element. Only `cid:` (a part of the
# mail itself) may stay: anything else tells the sender when, where and by whom the mail was read.
_FETCHED = frozenset({"src", "srcset", "background", "poster", "lowsrc", "dynsrc", "data"})
_LINKS = frozenset({"a", "area"})
# Browsers drop ASCII tabs and newlines inside URLs and ignore leading spaces and controls.
_URL_NOISE = re.compile(r"[\x00-\x20]+")
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>", re.IGNORECASE)
# The crude rendering: a block whose content is never shown, and tags that break a line. A tag
# is at most this long (a stray `<` in text is not the start of a tag that eats the page).
_HIDDEN_OPEN = re.compile(r"<(script|style|head|title)\b", re.IGNORECASE)
_HIDDEN_CLOSE = {
    name: re.compile(rf"</{name}\s*>", re.IGNORECASE)
    for name in ("script", "style", "head", "title")
}
_MAX_TAG_CHARS = 2000
_TAG_NAME = re.compile(r"/?\w+")
_BREAKING = frozenset({"br", "hr", "/p", "/div", "/tr", "/li", *(f"/h{n}" for n in range(1, 7))})
_BLANK_RUNS = re.compile(r"\n[ \t]*(?:\n[ \t]*){2,}")


def within_budget(html: str) -> bool:
    """Whether the libraries can render and sanitise `html` in bounded time (see the limits)."""
    return budget_defect(html) is None


def budget_defect(html: str) -> str | None:
    """Why `html` gets the crude, linear rendering instead of the libraries', or None."""
    if len(html) > MAX_HTML_CHARS:
        return (
            f"HTML of {len(html):,} characters (over {MAX_HTML_CHARS:,}): shown as plain text"
            " without layout"
        )
    tags = html.count("<")
    if tags > MAX_HTML_TAGS:
        return (
            f"HTML with {tags:,} tags (over {MAX_HTML_TAGS:,}): shown as plain text without layout"
        )
    lowered = html.lower()
    cells = lowered.count("<td") + lowered.count("<th")
    if cells > MAX_HTML_CELLS:
        return (
            f"HTML with {cells:,} table cells (over {MAX_HTML_CELLS:,}): shown as plain text"
            " without layout"
        )
    return None


def sanitize_html(html: str) -> str:
    """Return `html` with scripts, styles, event handlers, unsafe URLs and remote images removed.

    Images stay only when they are parts of the mail (`cid:`). Remote ones (`http:`, `https:`,
    protocol-relative `//host/x`, relative paths that would hit whoever shows the mail, `srcset`,
    `background`) go, and styles, the other way to load a URL, are not kept at all. `data:` images
    go too: they leak nothing, but mail clients send pictures as `cid:` parts (kept as
    attachments), `data:` images in mail are mostly a way to slip past filters, and allowing the
    scheme would also let `data:` links through.
    """
    if not html.strip():
        return ""
    html = _XML_DECLARATION.sub("", html.replace("\x00", ""))
    if not within_budget(html):
        # Too big to sanitise in bounded time; keep a safe, escaped text version instead.
        return "<pre>" + html_lib.escape(html_to_text(html)) + "</pre>"
    attributes = {tag: set(attrs) for tag, attrs in nh3.ALLOWED_ATTRIBUTES.items()}
    attributes["*"] = set(_GENERIC_ATTRIBUTES)
    return nh3.clean(
        html,
        clean_content_tags={"script", "style", "title", "noscript", "template"},
        attributes=attributes,
        attribute_filter=_no_remote_content,
        url_schemes=set(_URL_SCHEMES),
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )


def _no_remote_content(element: str, attribute: str, value: str) -> str | None:
    """nh3's per-attribute hook: drops every URL the browser would fetch on its own but `cid:`."""
    if attribute in _FETCHED or (attribute == "href" and element not in _LINKS):
        return value if _URL_NOISE.sub("", value).lower().startswith("cid:") else None
    return value


def html_to_text(html: str) -> str:
    """Render `html` as plain text with paragraphs, lists and tables kept readable."""
    return _render(html)


@lru_cache(maxsize=8)
def _render(html: str) -> str:
    # Cached: one mail's HTML is rendered for its text, its display text and its language.
    if not html.strip():
        return ""
    html = _XML_DECLARATION.sub("", html.replace("\x00", ""))
    text: str
    if not within_budget(html):
        text = _strip_tags(html)
    else:
        try:
            text = get_text(html, ParserConfig(display_links=False))
        except Exception:  # lxml rejects some inputs outright; a crude strip still reads well
            text = _strip_tags(html)
    return _tidy(text)


def _strip_tags(html: str) -> str:
    """A crude rendering in one linear pass: hidden blocks dropped, tags removed, lines broken."""
    html = _drop_hidden_blocks(html)
    pieces: list[str] = []
    position = 0
    close = -1  # the first `>` after the current `<`; reused while it still is
    while True:
        start = html.find("<", position)
        if start == -1:
            break
        if close <= start:
            close = html.find(">", start + 1)
        if close == -1:
            break  # no tag can end any more: the rest is text
        opener = html[start + 1 : start + 2]
        if close - start - 1 > _MAX_TAG_CHARS or not (
            opener.isalpha() or opener in ("/", "!", "?")
        ):
            pieces.append(html[position : start + 1])  # a stray `<`: text, as browsers read it
            position = start + 1
            continue
        pieces.append(html[position:start])
        name = _TAG_NAME.match(html, start + 1, close)
        if name is not None and name.group().lower() in _BREAKING:
            pieces.append("\n")
        position = close + 1
    pieces.append(html[position:])
    return html_lib.unescape("".join(pieces))


def _drop_hidden_blocks(html: str) -> str:
    """Replace each closed `<script>`, `<style>`, `<head>` or `<title>` block with a space.

    A block without its closing tag is left for the tag strip (its text stays). Once a name has
    no closing tag after some point, no later block of that name has one either: remembering
    that keeps this linear, where a regex would search to the end from every opening tag.
    """
    pieces: list[str] = []
    position = search_from = 0
    close = -1
    unclosed: set[str] = set()
    while True:
        opening = _HIDDEN_OPEN.search(html, search_from)
        if opening is None:
            break
        if close < opening.end():
            close = html.find(">", opening.end())
        if close == -1:
            break
        name = opening.group(1).lower()
        closing = None if name in unclosed else _HIDDEN_CLOSE[name].search(html, close + 1)
        if closing is None:
            unclosed.add(name)
            search_from = opening.start() + 1
            continue
        pieces.append(html[position : opening.start()])
        pieces.append(" ")
        position = search_from = closing.end()
    pieces.append(html[position:])
    return "".join(pieces)


def _tidy(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\xa0", " ")
    # Per line, not `[ \t]+\n`: that regex rescans a long run of spaces from each of its spaces.
    text = "\n".join(line.rstrip(" \t") for line in text.split("\n"))
    return _BLANK_RUNS.sub("\n\n", text).strip("\n").rstrip()
