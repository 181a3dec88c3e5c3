"""Make e-mail HTML safe to show and readable as plain text.

`sanitize_html` keeps layout and links but drops anything that runs or phones home (nh3, an
allow-list sanitiser); `html_to_text` renders HTML the way a reader sees it (inscriptis, which
keeps tables and lists readable). Both accept any input, however broken, and never raise.
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

_URL_SCHEMES = frozenset({"http", "https", "mailto", "tel", "cid"})
_GENERIC_ATTRIBUTES = frozenset({"title", "lang", "dir", "alt"})
# Attributes a browser fetches by itself when it shows the element. Only `cid:` (a part of the
# mail itself) may stay: anything else tells the sender when, where and by whom the mail was read.
_FETCHED = frozenset({"src", "srcset", "background", "poster", "lowsrc", "dynsrc", "data"})
_LINKS = frozenset({"a", "area"})
# Browsers drop ASCII tabs and newlines inside URLs and ignore leading spaces and controls.
_URL_NOISE = re.compile(r"[\x00-\x20]+")
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>", re.IGNORECASE)
_DROP_BLOCKS = re.compile(
    r"<(script|style|head|title)\b[^>]*>.*?</\1\s*>", re.IGNORECASE | re.DOTALL
)
_TAG = re.compile(r"<[^>]{0,2000}>")
_BREAKING_TAG = re.compile(r"<(?:br|/p|/div|/tr|/li|/h[1-6]|hr)\b[^>]{0,2000}>", re.IGNORECASE)
_BLANK_RUNS = re.compile(r"\n[ \t]*(?:\n[ \t]*){2,}")
_TRAILING_SPACE = re.compile(r"[ \t]+\n")


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
    if len(html) > MAX_HTML_CHARS:
        # Too big to render usefully; keep a safe, escaped text version instead of dropping it.
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
    if len(html) > MAX_HTML_CHARS:
        text = _strip_tags(html)
    else:
        try:
            text = get_text(html, ParserConfig(display_links=False))
        except Exception:  # lxml rejects some inputs outright; a crude strip still reads well
            text = _strip_tags(html)
    return _tidy(text)


def _strip_tags(html: str) -> str:
    html = _DROP_BLOCKS.sub(" ", html)
    html = _BREAKING_TAG.sub("\n", html)
    return html_lib.unescape(_TAG.sub("", html))


def _tidy(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\xa0", " ")
    text = _TRAILING_SPACE.sub("\n", text)
    return _BLANK_RUNS.sub("\n\n", text).strip("\n").rstrip()
