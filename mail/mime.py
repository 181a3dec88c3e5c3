"""Walk a parsed e-mail's MIME tree into body text, HTML and attachments.

Decides which parts a reader would call "the message" (text/plain preferred inside an
alternative, text siblings of a mixed joined in order) and keeps everything else, including
forwarded mails, signatures and encrypted blobs, as attachments with a usable file name.
"""

from __future__ import annotations

import binascii
import io
import mimetypes
import re
from dataclasses import dataclass, field
from email.generator import BytesGenerator
from email.message import Message
from email.policy import compat32
from email.utils import unquote
from html import unescape
from urllib.parse import unquote_to_bytes

from inbox.core.inbound import InboundAttachment
from mail.headers import Hint, decode_bytes, decode_header_value, unfold
from mail.html import html_to_text
from mail.quotes import remove_html_quotes

_EXTENSIONS = {
    "message/rfc822": ".eml",
    "message/delivery-status": ".txt",
    "text/rfc822-headers": ".txt",
    "text/plain": ".txt",
    "image/jpeg": ".jpg",
    "image/pjpeg": ".jpg",
    "image/jpg": ".jpg",
    "application/octet-stream": ".bin",
    "application/ms-tnef": ".dat",
    "application/pkcs7-signature": ".p7s",
    "application/x-pkcs7-signature": ".p7s",
    "application/pkcs7-mime": ".p7m",
    "application/pgp-signature": ".asc",
    "application/pgp-encrypted": ".asc",
}
# A uuencoded block opens with a `begin` line and ends at the first `end` line after it. The
# lines are matched one at a time (see `_uudecode`): a regex spanning the block rescans the rest
# of the text from every `begin` that has no `end`, which is quadratic.
_UU_BEGIN = re.compile(r"begin [0-7]{3,4} (.+)")
_UU_END = re.compile(r"end[ \t]*")
_EXTENSION = re.compile(r"\.[A-Za-z0-9]{1,5}$")
_UNDECODED = re.compile("[\udc80-\udcff]")  # an 8-bit byte kept as a lone surrogate
_BODY_TYPES = ("text/plain", "text/html")
# Attachments kept as files of one message (MIME parts and uuencoded blocks together). Real mail
# has a handful; each one kept is a row and a file for staff to scroll past. The rest are counted
# (`Body.skipped`) and stay in the raw message, which is always kept.
MAX_ATTACHMENTS = 1_000
MAX_FILENAME_CHARS = 255  # the attachment table's column
# Charset and language are bounded: unbounded, every `name*=` without quotes after it rescans the
# rest of the header.
_EXTENDED_PARAM = re.compile(r"(?:file)?name\*=\s*([^']{0,64})'[^']{0,64}'([^;]+)", re.IGNORECASE)
_PLAIN_PARAM = re.compile(r'(?:^|;)\s*(?:file)?name\s*=\s*(?:"([^"]*)"|([^;]+))', re.IGNORECASE)


@dataclass
class Body:
    """What one MIME subtree contributes: text segments in order and attachments."""

    # (kind, text): "plain", "html", or "alt-html" (an HTML alternative shown but not the text).
    segments: list[tuple[str, str]] = field(default_factory=list)
    attachments: list[InboundAttachment] = field(default_factory=list)
    skipped: int = 0  # attachments over `MAX_ATTACHMENTS`, not kept (set on the whole message)

    def extend(self, other: Body) -> None:
        self.segments.extend(other.segments)
        self.attachments.extend(other.attachments)

    @property
    def text(self) -> str:
        return self._text(strip_html_quotes=False)

    @property
    def text_without_html_quotes(self) -> str:
        """The text with HTML quote blocks removed before rendering, for display."""
        return self._text(strip_html_quotes=True)

    def _text(self, *, strip_html_quotes: bool) -> str:
        parts = [
            text
            if kind == "plain"
            else html_to_text(remove_html_quotes(text) if strip_html_quotes else text)
            for kind, text in self.segments
            if kind != "alt-html"
        ]
        return "\n\n".join(part.strip("\n") for part in parts if part.strip())

    @property
    def html(self) -> str | None:
        htmls = [t for kind, t in self.segments if kind in ("html", "alt-html") and t.strip()]
        return "\n".join(htmls) if htmls else None


def extract(
    message: Message, *, hint: Hint, linesep: str = "\n", source: bytes | None = None
) -> Body:
    """Body segments and attachments of `message`, attachments numbered from 1. With `source`,
    the bytes the parser read `message` from, forwarded mails and delivery reports are kept
    byte for byte as they stand there (`as_sent`)."""
    walker = _Walker(hint, linesep, source)
    walker.root = message
    body = walker.walk(message)
    body.skipped = walker.skipped
    return body


class _Walker:
    def __init__(self, hint: Hint, linesep: str, source: bytes | None = None) -> None:
        self.hint = hint
        self.linesep = linesep
        self.source = source
        self.as_sent: dict[int, bytes] | None = None  # by id(part), found at the first need
        self.root: Message | None = None
        self.count = 0  # attachments seen, for generated names
        self.skipped = 0  # attachments seen over MAX_ATTACHMENTS

    def _keep(self) -> bool:
        """Counts one more attachment; whether it is still within `MAX_ATTACHMENTS`."""
        self.count += 1
        if self.count > MAX_ATTACHMENTS:
            self.skipped += 1
            return False
        return True

    def walk(self, part: Message) -> Body:
        ctype = _content_type(part)
        if ctype.startswith("message/"):
            # Forwarded mails and delivery reports are kept whole, never read as our body.
            return self._attachment(part, ctype)
        if part.is_multipart():
            payload = part.get_payload()
            if not isinstance(payload, list):
                payload = []
            children = [c for c in payload if isinstance(c, Message)]
            if ctype == "multipart/alternative":
                return self._alternative(children)
            body = Body()
            for child in children:
                body.extend(self.walk(child))
            return body
        if ctype.startswith("multipart/") or (ctype in _BODY_TYPES and not _is_attachment(part)):
            # A multipart without a usable boundary is read as text, like mail clients do.
            return self._text(part, "html" if ctype == "text/html" else "plain")
        return self._attachment(part, ctype)

    def _alternative(self, children: list[Message]) -> Body:
        bodies = [self.walk(child) for child in children]
        plain = next((b for b in bodies if _has(b, "plain") and b.text.strip()), None)
        rich = next((b for b in reversed(bodies) if _has(b, "html")), None)
        if plain is not None and rich is not None and not _renders(plain, rich):
            # A stub or another text: the HTML is what the sender's readers saw, if it shows any.
            shown = Body(segments=[("html", t) for k, t in rich.segments if k != "plain"])
            plain = None if shown.text.strip() else plain
        result = Body()
        if plain is not None:
            result.segments.extend(s for s in plain.segments if s[0] == "plain")
        if rich is not None:
            # The HTML alternative is kept for display; it only becomes the text without a plain.
            kind = "alt-html" if plain is not None else "html"
            result.segments.extend((kind, t) for k, t in rich.segments if k in ("html", "alt-html"))
        if plain is None and rich is None and bodies:
            result.segments.extend(bodies[0].segments)
        for body in bodies:
            result.attachments.extend(body.attachments)
        return result

    def _text(self, part: Message, kind: str) -> Body:
        payload = _payload(part)
        text = decode_bytes(payload, _charset(part), hint=self.hint)
        text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
        body = Body()
        if kind == "plain" and "\nbegin " in "\n" + text:
            text = self._uudecode(text, body)
        body.segments.insert(0, (kind, text))
        return body

    def _uudecode(self, text: str, body: Body) -> str:
        """Move each uuencoded block that decodes into an attachment; the rest stays text."""
        lines = text.split("\n")
        ends = [i for i, line in enumerate(lines) if _UU_END.fullmatch(line)]
        kept: list[str] = []
        next_end = 0  # index into `ends`; only moves forward, so the scan stays linear
        index = 0
        while index < len(lines):
            begin = _UU_BEGIN.fullmatch(lines[index]) if lines[index][:6] == "begin " else None
            # The begin line needs a line break after it, and an end line after that.
            while begin and next_end < len(ends) and ends[next_end] <= index:
                next_end += 1
            if begin is None or index + 1 >= len(lines) or next_end == len(ends):
                kept.append(lines[index])
                index += 1
                continue
            end = ends[next_end]
            data = _uu_lines(lines[index + 1 : end])
            if data is None:  # not uuencoded after all: keep the block as text
                kept.extend(lines[index : end + 1])
            else:
                if self._keep():
                    name = _fit_name(_safe_name(begin.group(1).strip()))
                    name = name or f"attachment-{self.count}.bin"
                    ctype = mimetypes.guess_type(name)[0] or "application/octet-stream"
                    attachment = InboundAttachment(filename=name, content_type=ctype, data=data)
                    body.attachments.append(attachment)
                if end == len(lines) - 1:
                    kept.append("")  # the line break before `begin` stays, as the text's last
            index = end + 1
        return "\n".join(kept)

    def _attachment(self, part: Message, ctype: str) -> Body:
        """A body holding `part` as its one attachment, or none over `MAX_ATTACHMENTS`."""
        if not self._keep():
            return Body()
        data = self._message_bytes(part) if ctype.startswith("message/") else None
        data = _payload(part, self.linesep) if data is None else data
        name = self._filename(part, ctype)
        content_id = _header(part, "Content-ID")
        content_id = content_id.strip().strip("<>").strip() or None if content_id else None
        disposition = (_header(part, "Content-Disposition") or "").split(";", 1)[0].strip().lower()
        inline = disposition == "inline" or (not disposition and content_id is not None)
        attachment = InboundAttachment(
            filename=name, content_type=ctype, data=data, content_id=content_id, inline=inline
        )
        return Body(attachments=[attachment])

    def _message_bytes(self, part: Message) -> bytes | None:
        """A message/* part's payload as it stands in the source, when it can be found there."""
        if self.source is None:
            return None
        if self.as_sent is None:
            self.as_sent = as_sent(self.root, self.source) if self.root is not None else {}
        return self.as_sent.get(id(part))

    def _filename(self, part: Message, ctype: str) -> str:
        name: str | None
        try:
            name = self._param_filename(part)
        except Exception:  # broken RFC 2231 parameters; the generated name below still works
            name = None
        if not name or "\ufffd" in name or _has_surrogates(name):
            # Python replaces bytes it cannot decode; the raw parameter often decodes fine.
            name = self._raw_filename(part) or name
        if name:
            name = decode_header_value(str(name), hint=self.hint)
        if not name and ctype == "message/rfc822" and part.is_multipart():
            inner = part.get_payload()
            inner_message = inner[0] if isinstance(inner, list) and inner else None
            if isinstance(inner_message, Message):
                subject = _header(inner_message, "Subject")
                name = decode_header_value(subject, hint=self.hint) if subject else None
        if not name:
            description = _header(part, "Content-Description")
            name = decode_header_value(description, hint=self.hint) if description else None
        name = _safe_name(name or "")
        extension = _EXTENSIONS.get(ctype) or mimetypes.guess_extension(ctype) or ".bin"
        if not name:
            return f"attachment-{self.count}{extension}"
        if not _EXTENSION.search(name) and ctype != "application/octet-stream":
            name += extension
        elif ctype == "message/rfc822" and not name.lower().endswith(".eml"):
            name += ".eml"
        return _fit_name(name)

    def _param_filename(self, part: Message) -> str | None:
        """`Message.get_filename()`, but an RFC 2231 value is decoded by `decode_bytes`: the stdlib
        decodes it by whatever codec its charset names (punycode garbles, `undefined` raises)."""
        for param, header in (("filename", "content-disposition"), ("name", "content-type")):
            value = part.get_param(param, None, header)
            if value is None:
                continue
            if isinstance(value, tuple):
                charset, _language, text = value
                data = bytes(str(text), "raw-unicode-escape")
                return decode_bytes(data, str(charset or "us-ascii"), hint=self.hint).strip()
            return unquote(str(value)).strip()
        return None

    def _raw_filename(self, part: Message) -> str | None:
        for header in ("Content-Disposition", "Content-Type"):
            raw = unfold(_header(part, header) or "")
            for pattern in (_EXTENDED_PARAM, _PLAIN_PARAM):
                match = pattern.search(raw)
                if not match:
                    continue
                if pattern is _EXTENDED_PARAM:
                    data = unquote_to_bytes(match.group(2).strip('"'))
                    return decode_bytes(data, match.group(1) or None, hint=self.hint)
                value = match.group(1) if match.group(1) is not None else match.group(2)
                return decode_header_value(value.strip(), hint=self.hint)
        return None


def _has_surrogates(text: str) -> bool:
    return _UNDECODED.search(text) is not None


def _renders(plain: Body, rich: Body) -> bool:
    """Whether the text/plain alternative says what the HTML one says: a fifth of the words the
    HTML shows are in it, at least (`RENDERED_SHARE`).

    A mail client writes its plain part from the same text as the HTML, so it has nearly all of
    its words (in the corpora 70-100 %; a quarter to a third where a client left the quoted
    history out of the plain part, or a test wrote two texts); the text/plain part is preferred
    then, as quote stripping and language detection read it best. Newsletter tools and spam send a
    stub ("read this newsletter in your browser: …") or another text altogether (2-10 %): read as
    the message, it would show staff nothing the sender's readers saw. An HTML part of fewer than
    `MIN_HTML_WORDS` words decides nothing.
    """
    shown = _visible_words("\n".join(t for k, t in rich.segments if k in ("html", "alt-html")))
    if len(shown) < MIN_HTML_WORDS:
        return True
    return len(shown & _words(plain.text)) >= RENDERED_SHARE * len(shown)


RENDERED_SHARE = 0.2
MIN_HTML_WORDS = 3
_HIDDEN_OPEN = re.compile(r"<(style|script|head|title)\b", re.IGNORECASE)
_HIDDEN_CLOSE = {
    name: re.compile(f"</{name}", re.IGNORECASE) for name in ("style", "script", "head", "title")
}
_TAG = re.compile(r"<[^<>]*>")


def _visible_words(html: str) -> set[str]:
    """The words of an HTML text a reader sees, lower case: a rough cut, cheaper than laying
    the page out (`mail.html.html_to_text`). Each step reads the text once."""
    shown: list[str] = []
    position = 0
    while (opening := _HIDDEN_OPEN.search(html, position)) is not None:
        shown.append(html[position : opening.start()])
        close = _HIDDEN_CLOSE[opening.group(1).lower()].search(html, opening.end())
        position = len(html) if close is None else close.start()
    shown.append(html[position:])
    return _words(unescape(_TAG.sub(" ", "".join(shown))))


def _words(text: str) -> set[str]:
    # Split at white space only: a third of the cost of a word regex, and both sides keep the
    # same punctuation at the same words.
    return set(text.lower().split())


def _has(body: Body, kind: str) -> bool:
    return any(k == kind for k, _ in body.segments)


def _content_type(part: Message) -> str:
    try:
        return part.get_content_type()
    except Exception:
        return "application/octet-stream"


def _is_attachment(part: Message) -> bool:
    disposition = (_header(part, "Content-Disposition") or "").split(";", 1)[0].strip().lower()
    if disposition == "attachment":
        return True
    try:
        return bool(part.get_filename())
    except Exception:
        return False


def _charset(part: Message) -> str | None:
    try:
        return part.get_content_charset()
    except Exception:
        return None


def _header(part: Message, name: str) -> str | None:
    """A header's raw text, without the header registry (which can raise on broken input)."""
    lowered = name.lower()
    for key, value in part.raw_items():
        if key.lower() == lowered:
            return str(value)
    return None


def _payload(part: Message, linesep: str = "\n") -> bytes:
    try:
        data = part.get_payload(decode=True)
    except Exception:
        data = None
    if isinstance(data, bytes):
        return data
    if not part.is_multipart():
        # The payload as the parser stored it. Not `get_payload()`: on 8-bit text that decodes by
        # the declared charset, whatever codec it names (punycode is quadratic, `undefined` raises).
        stored = getattr(part, "_payload", None)
        return stored.encode("utf-8", "surrogateescape") if isinstance(stored, str) else b""
    payload = part.get_payload()
    if isinstance(payload, list):
        # message/rfc822 and delivery reports: keep the enclosed blocks as bytes, as written.
        blocks = [_message_bytes(m, linesep) for m in payload if isinstance(m, Message)]
        data = linesep.encode().join(blocks)
        doubled = linesep.encode() * 2
        return data[: -len(linesep)] if data.endswith(doubled) else data
    return b""


# Where a part's body starts: after the blank line that ends its header block, or at the first
# line that is no header line (the parser reads that as body), as `email.feedparser` does.
_PART_LINE = re.compile(rb"[^\r\n]*(?:\r\n|\r|\n)?")
_HEADER_LINE = re.compile(rb"From |[\x21-\x39\x3b-\x7e]*:|[ \t]")
_SAFE_ENCODINGS = frozenset({"", "7bit", "8bit", "binary"})  # the bytes are the payload


def as_sent(message: Message, source: bytes) -> dict[int, bytes]:
    """The payload of each message/* part of `message` (a forwarded mail, a delivery report) as
    it stands in `source`, by `id(part)`: the parser rebuilds those parts into objects, and
    writing them out again refolds headers and respaces blocks, which breaks the signatures of a
    forwarded mail and changes what staff keep as received.

    The source is split at each multipart's boundary lines the way the parser splits it (the line
    break before a boundary is the boundary's, repeated boundary lines make no part), only down the
    branches that hold a message/* part. Where the pieces and the parsed parts do not agree in
    number (a boundary reused inside a part, say), that part is left out and written out as
    before. Each level reads its own stretch of the source once.
    """
    wanted: set[int] = set()  # parts with a message/* part in or under them
    order: list[tuple[Message, Message | None]] = []
    stack: list[tuple[Message, Message | None]] = [(message, None)]
    while stack:  # every part, parents before children
        part, parent = stack.pop()
        order.append((part, parent))
        payload = part.get_payload() if part.is_multipart() else None
        if isinstance(payload, list):
            stack.extend((child, part) for child in payload if isinstance(child, Message))
    by_id = {id(part): parent for part, parent in order}
    for part, _ in order:
        if _maintype(part) == "message":
            here: Message | None = part
            while here is not None and id(here) not in wanted:
                wanted.add(id(here))
                here = by_id.get(id(here))
    found: dict[int, bytes] = {}
    regions = [(message, 0, len(source))]
    while regions:
        part, start, end = regions.pop()
        if id(part) not in wanted:
            continue
        body = _body_start(source, start, end)
        payload = part.get_payload() if part.is_multipart() else None
        children = (
            [c for c in payload if isinstance(c, Message)] if isinstance(payload, list) else []
        )
        if _maintype(part) == "message":
            if _transfer_encoding(part) not in _SAFE_ENCODINGS:
                continue  # encoded: the bytes there are not the payload
            found[id(part)] = source[body:end]
            if len(children) == 1 and _content_type(part) == "message/rfc822":
                regions.append((children[0], body, end))  # a forwarded mail's own parts
            continue
        boundary = _boundary(part)
        pieces = _split(source, body, end, boundary) if boundary else None
        if pieces is not None and len(pieces) == len(children):
            regions.extend((child, a, b) for child, (a, b) in zip(children, pieces, strict=True))
    return found


def _maintype(part: Message) -> str:
    return _content_type(part).partition("/")[0]


def _transfer_encoding(part: Message) -> str:
    return (_header(part, "Content-Transfer-Encoding") or "").strip().lower()


def _boundary(part: Message) -> bytes | None:
    try:
        boundary = part.get_boundary()
    except Exception:
        return None
    return boundary.encode("ascii", "surrogateescape") if boundary else None


def _body_start(source: bytes, start: int, end: int) -> int:
    for match in _PART_LINE.finditer(source, start, end):
        line = match.group()
        if not line.strip(b"\r\n"):
            return match.end()  # the blank line ending the header block (or the end)
        if not _HEADER_LINE.match(line):
            return match.start()  # no blank line after the headers: the body starts here
    return end


def _split(source: bytes, start: int, end: int, boundary: bytes) -> list[tuple[int, int]]:
    """(start, end) of each part between `boundary` lines in source[start:end]: the preamble
    before the first and anything after the closing one left out."""
    line = re.compile(rb"^--" + re.escape(boundary) + rb"(--)?[ \t]*(\r\n|\r|\n|\Z)", re.M)
    pieces: list[tuple[int, int]] = []
    opened: int | None = None  # where the part after the last boundary line starts
    for match in line.finditer(source, start, end):
        if opened is not None and match.start() > opened:
            before = match.start()  # the line break before a boundary line is the boundary's
            before -= 2 if source[before - 2 : before] == b"\r\n" else 1
            pieces.append((opened, max(before, opened)))
        opened = None if match.group(1) else match.end()
        if match.group(1):
            return pieces
    if opened is not None:
        pieces.append((opened, end))  # no closing boundary: the last part runs to the end
    return pieces


def _message_bytes(message: Message, linesep: str) -> bytes:
    buffer = io.BytesIO()
    try:
        # compat32 writes header values back verbatim instead of refolding them.
        generator = BytesGenerator(buffer, mangle_from_=False, policy=compat32)
        generator.flatten(message, linesep=linesep)
        return buffer.getvalue()
    except Exception:
        return str(message).encode("utf-8", "surrogateescape")


def _uu_lines(lines: list[str]) -> bytes | None:
    """The bytes of a uuencoded block's lines, or None when they are not uuencoded."""
    out = bytearray()
    for line in lines:
        if not line.strip() or line.strip() == "`":
            continue
        if not line.isascii():
            return None  # a2b_uu raises ValueError (not binascii.Error) on other characters
        try:
            out.extend(binascii.a2b_uu(line))
        except binascii.Error:
            try:
                # Some encoders pad lines short; decode by the length byte only.
                length = ((ord(line[0]) - 32) & 63) * 4 // 3
                out.extend(binascii.a2b_uu(line[: length + 1]))
            except (binascii.Error, IndexError):
                return None
    return bytes(out)


def _fit_name(name: str) -> str:
    """`name` cut to `MAX_FILENAME_CHARS` (the column's size), its extension kept."""
    if len(name) <= MAX_FILENAME_CHARS:
        return name
    match = _EXTENSION.search(name)
    extension = match.group() if match else ""
    return name[: MAX_FILENAME_CHARS - len(extension) - 1].rstrip() + "…" + extension


def _safe_name(name: str) -> str:
    # A file name is only a label here; never let it carry a path or control characters.
    name = re.sub(r"[\x00-\x1f\x7f]", "", name).strip()
    return re.split(r"[\\/]", name)[-1].strip()
