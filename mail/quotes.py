"""Strip quoted history and signatures from a reply, for display only.

mail-parser-reply knows the quote headers of Swedish, English and a dozen other languages; a small
line-based pass adds the languages of our clients it lacks (Finnish, Arabic, Persian, Somali) and
`>`-quoted blocks. The stored text is never changed: this only decides what staff see first. The
library's patterns backtrack badly, so it only ever sees a bounded top of the text (see
`LIBRARY_LINES`); everything here is linear in the text. Its patterns are built once, not per
message, and searched only where they can match: the same result, in a fraction of the time.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import lxml.html
from lxml import etree
from mailparser_reply.constants import (
    MAIL_LANGUAGES,
    NOLIST_SIGNATURE_REGEX,
    OUTLOOK_MAIL_SEPARATOR,
    QUOTED_MATCH_INCLUDE,
)
from mailparser_reply.parser import EmailMessage

from mail.html import within_budget

# mail-parser-reply's patterns are super-linear: 4,000 blank lines take it 2 s, and one 4,000-
# character line of "Den skrev skrev …" 36 s. A reply's end (a quote header or a sign-off) is near
# its top and is recognised by how a line starts, so the library sees only the first
# LIBRARY_LINES lines, each cut to LIBRARY_LINE_CHARS characters (the cut-off rest is put back in
# its result), which bounds its time. Past that the linear line pass below does the work alone.
LIBRARY_LINES = 200
LIBRARY_LINE_CHARS = 160
# Stand-ins for the cut-off rest of a long line: private-use characters no pattern matches.
_REST = re.compile("\ue000([0-9]+)\ue001")
# A quote header ("On Mon, X wrote:") is sometimes wrapped over a few lines by the mail client.
HEADER_MAX_LINES = 3

_ATTRIBUTION_ENDINGS = (
    r"wrote:",  # English
    r"skrev:",  # Swedish, Danish, Norwegian
    r"schrieb:",  # German
    r"kirjoitti:",  # Finnish
    r"كتب[^\n]{0,120}:",  # Arabic (the name may follow the verb)
    r"نوشت[^\n]{0,120}:",  # Persian
    r"ayaa\s+qoray\s*:",  # Somali
    r"escribió:",
    r"napisał\(a\):|napisał:|napisała:",  # Polish
    r"написал\(а\):|написал:|написала:",  # Russian
    r"yazdı:",  # Turkish
    r"a écrit\s*:",
)
_ATTRIBUTION = re.compile(r"(?:" + "|".join(_ATTRIBUTION_ENDINGS) + r")\s*$", re.IGNORECASE)
# The first line of an Outlook-style header block, in our clients' languages.
# `\s*(?:\*\s*)?` rather than `\s*\*?\s*`: two adjacent `\s*` split a run of spaces in every
# possible way before failing, which is quadratic in the run.
_FROM_LINE = re.compile(
    r"^\s*\*?(?:From|Från|Von|Lähettäjä|Lähetetty|من|از|Ka|Kimden|Od|От)"
    r"\s*(?:\*\s*)?:\s*(?:\*\s*)?\S",
    re.IGNORECASE,
)
_HEADER_FIELD = re.compile(
    r"^\s*\*?(?:Sent|Skickat|Gesendet|Date|Datum|To|Till|An|Subject|Ämne|Betreff|Cc|Kopia"
    r"|Vastaanottaja|Aihe|Päivämäärä|تاريخ الإرسال|إلى|الموضوع|ارسال شده|به|موضوع"
    r"|Loo diray|Mawduuca|Taariikh|Wysłano|Do|Temat|Отправлено|Кому|Тема)\s*(?:\*\s*)?:",
    re.IGNORECASE,
)
_SEPARATOR = re.compile(
    r"^\s*(?:-{3,}\s*(?:Original Message|Ursprungligt meddelande|Ursprüngliche Nachricht"
    r"|Alkuperäinen viesti|Forwarded message|Vidarebefordrat meddelande)\s*-{3,}"
    r"|_{20,}|-{20,})\s*$",
    re.IGNORECASE,
)
# Lines that can open a quote header wrapped over several lines ("On Mon, 1 Jan 2024, Anna").
_OPENER = re.compile(
    r"^\s*(?:On|Den|Am|Le|El|Il|Op|W dniu|في|در|\d|(?:ma|ti|ke|to|pe|la|su)\s)", re.IGNORECASE
)
_SIGNATURE_DELIMITER = re.compile(r"^-- ?$")
_SENT_FROM = re.compile(
    r"^\s*(?:Sent from my|Sent from|Sent with|Get Outlook for|Skickat från|Hämta Outlook för"
    r"|Lähetetty (?:iPhonesta|Android)|Von meinem|Gesendet von)\b[\w .()/:<>-]{0,60}$",
    re.IGNORECASE,
)


def strip_quotes(text: str, *, language_hint: str | None = None) -> str:
    """Return the new part of a reply: without quoted history and signature, never empty."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        return text
    stripped = text
    if _interleaved(text):
        # Answers written between quoted lines: the line pass keeps them, the library would not.
        stripped = _strip_lines(text)
    else:
        stripped = _library_reply(text, language_hint) or text
    stripped = _strip_lines(stripped)
    if not stripped.strip():
        # Everything looked like a quote (a bottom-posted or forward-only mail): show it all.
        stripped = _strip_lines(text) or text
    return stripped.strip() or text.strip() or text


def _library_reply(text: str, language_hint: str | None) -> str | None:
    """The reply as mail-parser-reply finds it in the top of `text`, or None to leave it to us."""
    if "\ue000" in text or "\ue001" in text:
        return None  # the stand-ins for cut-off lines would be ambiguous
    lines = text.split("\n")
    rests: list[str] = []
    top: list[str] = []
    for line in lines[:LIBRARY_LINES]:
        line = line.strip()  # as the library does with every line
        if len(line) > LIBRARY_LINE_CHARS:
            top.append(f"{line[:LIBRARY_LINE_CHARS]}\ue000{len(rests)}\ue001")
            rests.append(line[LIBRARY_LINE_CHARS:])
        else:
            top.append(line)
    languages = ["sv", "en"]
    if language_hint and language_hint in MAIL_LANGUAGES and language_hint not in languages:
        languages.append(language_hint)
    top_text = "\n".join(top)
    try:
        header, disclaimer, signature = _library_patterns(tuple(languages))
        message = EmailMessage(
            text=top_text,
            languages=languages,
            keep_hyphen_lists=True,
            _header_regex=header if _may_have_header(top_text, languages) else _NEVER,
            _disclaimers_regex=disclaimer if _may_have_disclaimer(top_text) else _NEVER,
            _signature_regex=signature,
        )
        message.read()
    except Exception:  # a library failure must never lose the message text
        return None
    if not message.replies:
        return None
    first = message.replies[0]
    if len(lines) > LIBRARY_LINES and len(message.replies) == 1 and not first.signatures:
        # The reply goes on past what the library saw: the line pass finds its end. Lines are
        # stripped as the library strips them, so long and short texts read alike.
        return "\n".join(line.strip() for line in lines).strip() or None
    if first.headers and not first.content.replace(first.headers, "").strip():
        # Text begins with a quote header: a bottom-post, handled by the line pass instead.
        return None
    body = _REST.sub(lambda match: rests[int(match.group(1))], first.body)
    return body or None


# The library builds its three patterns for each message it reads; they depend only on the
# languages, so they are built once per set of languages and handed to it.
@cache
def _library_patterns(languages: tuple[str, ...]) -> tuple[re.Pattern[str], re.Pattern[str], Any]:
    probe = EmailMessage(text="", languages=list(languages), keep_hyphen_lists=True)
    signature = _SignatureSearch.of(probe) or probe.SIGNATURE_REGEX
    return probe.HEADER_REGEX, probe.DISCLAIMERS_REGEX, signature


class _SignatureSearch:
    """The library's signature pattern, searched from the first place a match can start.

    Searched from the top, that pattern tries its four alternatives at every character of the
    text, which makes it most of the library's time. Every match starts at a line that opens with
    a signature delimiter, a "Sent from" line or a greeting ("Med vänliga hälsningar"), or in the
    whitespace just before such a line, or at a blank line before a rule of underscores. `opening`
    finds the first such line quickly (it fails at once anywhere but a line start or a newline), and
    the pattern is searched from the whitespace before it: the same match as from the top.
    """

    def __init__(self, pattern: re.Pattern[str], opening: re.Pattern[str]) -> None:
        self.pattern = pattern
        self.opening = opening

    @classmethod
    def of(cls, probe: EmailMessage) -> _SignatureSearch | None:
        """The faster search for `probe`'s signature pattern, or None if the pattern is not built
        the way this reasons about (another version of the library)."""
        sent_from, signatures = (
            "|".join(
                part
                for language in probe.languages
                if (part := probe._get_language_regex(language=language, regex_key=key))
            )
            for key in ("sent_from", "signatures")
        )
        # The library's own construction, character for character (its `{1,3}` is an f-string
        # field, so the pattern says "(1, 3)").
        expected = (
            rf"(({NOLIST_SIGNATURE_REGEX}|{OUTLOOK_MAIL_SEPARATOR}|"
            rf"\s*^{QUOTED_MATCH_INCLUDE}(?:{sent_from}) ?(?:(?:[\w.<>:// ]+)|(?:\w+ )(1, 3))$|"
            rf"(?<!\A)^{QUOTED_MATCH_INCLUDE}(?:{signatures}))(.|\s)*)"
        )
        pattern = probe.SIGNATURE_REGEX
        flags = re.MULTILINE | re.IGNORECASE
        if pattern.pattern != expected or pattern.flags & flags != flags:
            return None
        opening = re.compile(
            rf"^{QUOTED_MATCH_INCLUDE}(?:[-_]{{2}}\n|(?:{sent_from})|(?:{signatures}))"
            rf"|\n{{2,}} ?[_-]{{32,}}",
            flags,
        )
        return cls(pattern, opening)

    def search(self, text: str) -> re.Match[str] | None:
        opening = self.opening.search(text)
        if opening is None:
            return None  # no match can start anywhere
        start = opening.start()
        while start and text[start - 1].isspace():  # what `\s*` before the line start takes
            start -= 1
        return self.pattern.search(text, start)


# Given to the library in place of a pattern that cannot match a text, which it would otherwise
# search from every position (its header pattern alone is a third of a normal parse's quote time).
# Anchored, so that its search gives up at the first position instead of trying them all.
_NEVER = re.compile(r"\A(?!)")
# Languages whose quote headers in the library all contain a colon ("skrev:", "From:", "Am …
# schrieb …:") or are a line of dashes ("-----Original Message-----"). Not Chinese, for one: its
# header ends in a full-width colon.
_COLON_HEADER_LANGUAGES = frozenset({"sv", "en", "de", "da", "es", "pl"})
# `re.IGNORECASE` matches İ and ı to "i" and ſ to "s", which `str.lower` leaves as they are: in a
# text with one of them a lower-cased search can miss what the library's patterns find.
_CASE_TRAPS = re.compile("[\u0130\u0131\u017f]")


def _may_have_header(text: str, languages: list[str]) -> bool:
    """False only when none of the library's quote headers can be in `text`."""
    if not _COLON_HEADER_LANGUAGES.issuperset(languages):
        return True
    return ":" in text or "-----" in text


def _may_have_disclaimer(text: str) -> bool:
    """False only when the library's disclaimer pattern cannot match: each of its matches has the
    word "mail" in it, in any case."""
    return "mail" in text.lower() or _CASE_TRAPS.search(text) is not None


def _strip_lines(text: str) -> str:
    """Linear pass: drop `>` blocks with their attribution, cut at headers and signatures."""
    lines = text.split("\n")
    kept: list[str] = []
    # True while only blank lines were kept since `_drop_attribution` last found no attribution:
    # it would find none again, and each try joins and searches the last kept lines, so trying
    # again on every line of a long quote is quadratic. The blank lines are dropped all the same.
    settled = False
    # The last line of reply (not blank, not quoted): a header is a bottom-post's when one follows.
    last_reply = max(
        (i for i, line in enumerate(lines) if line.strip() and not _is_quoted(line)), default=-1
    )
    index = 0
    while index < len(lines):
        line = lines[index]
        if not line.strip():  # a blank line is neither quote, header nor signature
            kept.append(line)
            index += 1
            continue
        if _is_quoted(line):
            if settled:
                _drop_blank_tail(kept)
            else:
                settled = not _drop_attribution(kept)
            index += 1
            continue
        header_end = _header_block_end(lines, index)
        if header_end is not None:
            after = lines[header_end : header_end + 3]
            if any(_is_quoted(next_line) for next_line in after) and last_reply >= header_end:
                # Bottom-posting: the header introduces a quote that the reply then follows.
                index = header_end
                continue
            break
        if _SIGNATURE_DELIMITER.match(line.rstrip()):
            break
        if _SENT_FROM.match(line):
            index += 1
            continue
        kept.append(line)
        settled = False
        index += 1
    return "\n".join(kept).strip()


def _interleaved(text: str) -> bool:
    """True when unquoted text both precedes and follows a `>` block (an inline answer)."""
    lines = [line for line in text.split("\n") if line.strip()]
    quoted = [i for i, line in enumerate(lines) if _is_quoted(line)]
    if not quoted:
        return False
    after = [line for line in lines[quoted[-1] + 1 :] if not _SIGNATURE_DELIMITER.match(line)]
    between = [i for i in range(quoted[0], quoted[-1]) if not _is_quoted(lines[i])]
    return quoted[0] > 0 and (len(after) >= 2 or len(between) >= 2)


def _is_quoted(line: str) -> bool:
    return line.lstrip().startswith(">")


def _drop_attribution(kept: list[str]) -> bool:
    """Remove blank lines and an "X wrote:" line right above a quote block; True if any went."""
    dropped = _drop_blank_tail(kept)
    for size in range(1, HEADER_MAX_LINES + 1):
        if len(kept) >= size and _is_attribution(" ".join(kept[-size:]).strip()):
            del kept[-size:]
            return True
    return dropped


def _is_attribution(text: str) -> bool:
    # Every attribution ends in a colon: a line without one needs no search with the pattern (from
    # every position, which is most of this pass's time on ordinary text).
    return ":" in text and _ATTRIBUTION.search(text) is not None


def _drop_blank_tail(kept: list[str]) -> bool:
    dropped = False
    while kept and not kept[-1].strip():
        kept.pop()
        dropped = True
    return dropped


def _header_block_end(lines: list[str], index: int) -> int | None:
    """If a quote header starts at `index`, return the index of the line after it."""
    line = lines[index]
    if _SEPARATOR.match(line):
        return index + 1
    if _FROM_LINE.match(line):
        fields = 0
        for offset in range(1, 5):
            if index + offset < len(lines) and _HEADER_FIELD.match(lines[index + offset]):
                fields += 1
        if fields >= 1:
            return index + 1 + fields
    stripped = line.strip()
    if not stripped or len(stripped) > 300:
        return None
    joined = stripped
    wrapped_lines = HEADER_MAX_LINES if _OPENER.match(stripped) else 1
    for extra in range(wrapped_lines):
        if _is_attribution(joined):
            return index + 1 + extra
        if index + extra + 1 >= len(lines) or not lines[index + extra + 1].strip():
            return None
        joined += " " + lines[index + extra + 1].strip()
    return None


# Where mail clients put the quoted message in HTML replies.
_HTML_QUOTE_XPATH = (
    "//blockquote"
    " | //*[contains(concat(' ', normalize-space(@class), ' '), ' gmail_quote ')]"
    " | //*[contains(@class, 'yahoo_quoted')] | //*[contains(@class, 'moz-cite-prefix')]"
    " | //*[@id='OLK_SRC_BODY_SECTION'] | //*[@id='divRplyFwdMsg'] | //*[@id='appendonsend']"
)
_CUT_AFTER_IDS = ("OLK_SRC_BODY_SECTION", "divRplyFwdMsg", "appendonsend")
# A rule that starts the quoted part is one of the first few; looking at what follows every rule
# of a page of rules is quadratic. Only the start of what follows a rule is read.
MAX_RULES = 20
_FOLLOWING_CHARS = 300


def remove_html_quotes(html: str) -> str:
    """Remove quoted history from an HTML reply (blockquotes, client quote blocks, after `<hr>`)."""
    if not html.strip() or not within_budget(html):
        return html  # too big to parse in bounded time; the plain-text pass still runs
    try:
        root = lxml.html.document_fromstring(html)
    except (etree.ParserError, ValueError):
        return html
    body_text_before = root.text_content().strip()
    changed = False
    for element in root.xpath(_HTML_QUOTE_XPATH):
        changed = True
        if element.get("id") in _CUT_AFTER_IDS or element.tag == "hr":
            _drop_following(element)
        _drop(element)
    for rule in root.xpath("//hr")[:MAX_RULES]:
        # A rule followed by a "From:" line starts Outlook's and Windows Mail's quoted part.
        following = _text_after(rule)
        if _FROM_LINE.match(following.strip()) or re.match(r"\s*\*?From:", following):
            changed = True
            _drop_following(rule)
            _drop(rule, keep_tail=False)
    if not changed:
        return html  # the same object, so its rendering is reused from the cache
    result = lxml.html.tostring(root, encoding="unicode")
    if body_text_before and not root.text_content().strip():
        return html  # everything was a quote: show it all rather than nothing
    return result


def _text_after(rule: lxml.html.HtmlElement) -> str:
    """The start of the text of the elements after `rule` in its parent (not their tails)."""
    pieces: list[str] = []
    size = 0
    for sibling in rule.itersiblings():
        text = sibling.text_content()
        pieces.append(text)
        size += len(text.strip())
        if size > _FOLLOWING_CHARS:
            break
    return "".join(pieces)


def _drop_following(element: lxml.html.HtmlElement) -> None:
    element.tail = None
    for sibling in list(element.itersiblings()):
        _drop(sibling, keep_tail=False)


def _drop(element: lxml.html.HtmlElement, *, keep_tail: bool = True) -> None:
    parent = element.getparent()
    if parent is None:
        return
    # Keep the text that follows the element inside its parent (lxml stores it on the element):
    # the element is emptied in place, as an inline `<span>` that renders as nothing. Moving the
    # text onto the node before it would copy an ever longer string for each quote in a row.
    if keep_tail and element.tail and element.tail.strip():
        element.clear(keep_tail=True)
        element.tag = "span"
        return
    parent.remove(element)
