"""Decode e-mail header text and bytes the way real mail needs, not the way the RFCs hope.

Mail in the wild mislabels charsets (GBK sent as GB2312), uses labels Python does not know
(`iso-gb2312`, `unicode-1-1-utf-7`, `ks_c_5601-1987`), puts raw 8-bit or ISO-2022-JP bytes in
headers, and builds addresses out of encoded words. These helpers decode all of it and never raise;
a label that names no character encoding (`punycode`, `base64`, `undefined`) is treated as unknown,
and every scan here is linear in its input.
"""

from __future__ import annotations

import binascii
import codecs
import re
from bisect import bisect_left
from collections.abc import Iterator
from email import quoprimime
from email.message import Message
from functools import lru_cache

# Labels seen in real mail mapped to the codec that actually decodes them. The GB family maps to
# gb18030, a strict superset, because "GB2312" mail is nearly always GBK in practice.
_CHARSET_ALIASES = {
    "gb2312": "gb18030",
    "iso-gb2312": "gb18030",
    "x-gbk": "gb18030",
    "gbk": "gb18030",
    "cp936": "gb18030",
    "x-euc-cn": "gb18030",
    "euc-cn": "gb18030",
    "chinese": "gb18030",
    "unicode-1-1-utf-7": "utf-7",
    "x-unicode-2-0-utf-7": "utf-7",
    "ks_c_5601-1987": "cp949",
    "ks_c_5601": "cp949",
    "euc-kr": "cp949",
    "x-sjis": "cp932",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "windows-31j": "cp932",
    "iso-2022-jp": "iso2022_jp_ext",
    "big5": "big5hkscs",
    "x-mac-roman": "mac_roman",
    "us-ascii": "utf-8",  # many "ascii" labels hide UTF-8 or Latin-1; decoding tries both
    "ascii": "utf-8",
    "iso-8859-1": "cp1252",  # cp1252 is what Windows clients mean by Latin-1
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "8bit": "utf-8",
    "unknown-8bit": "utf-8",
    "x-unknown": "utf-8",
    "default": "utf-8",
}

# Unlabelled 8-bit header bytes in a mail whose body is in one of these is most likely in a sibling
# encoding of the same script (Japanese mail: ISO-2022-JP body, Shift_JIS headers).
_RELATED_CODECS = {
    # Japanese clients send NEC/IBM extensions (circled digits) that plain ISO-2022-JP lacks.
    "iso2022_jp_ext": ("iso2022_jp_2004", "iso2022_jp_3", "cp932", "euc_jp"),
    "iso2022_jp": ("iso2022_jp_ext", "iso2022_jp_2004", "iso2022_jp_3", "cp932", "euc_jp"),
    "euc_jp": ("cp932",),
    "cp932": ("euc_jp",),
    "iso2022_kr": ("cp949",),
}
# Undeclared 8-bit text in pairs: tried after every labelled and hinted codec, before the
# single-byte fallbacks (`_undeclared_double_byte`).
_DOUBLE_BYTE = "double-byte"
# A run of 8-bit bytes of odd length: the run starts after a byte under 0x80 (or the start), takes
# pairs, one more, and ends. Each run is tried once from its start, so the search is linear.
_ODD_HIGH_RUN = re.compile(rb"(?<![\x80-\xff])(?:[\x80-\xff]{2})*[\x80-\xff](?![\x80-\xff])")
_PRIVATE_USE = re.compile("[\ue000-\uf8ff]")
# Python codecs that are no character encoding of mail text, though `codecs.lookup` finds them:
# transforms (base64, zlib, rot13 …) are caught by `_is_text_encoding`; these are not. Punycode
# and IDNA are for domain names (and Python's punycode decoder is quadratic), `undefined` always
# raises, the escape codecs read Python literals, and `charmap` without a table is Latin-1.
_NOT_CHARSETS = frozenset(
    {"punycode", "idna", "undefined", "unicode-escape", "raw-unicode-escape", "charmap"}
)
# A charset label is a short token (RFC 2978); anything else (NUL, spaces, a megabyte) is unknown.
_LABEL = re.compile(r"[A-Za-z0-9!#$%&'+^_`{}~.:()-]{1,64}")
# The start of an encoded word; its end is the first `?=` after it (see `encoded_words`).
_WORD_OPEN = re.compile(r"=\?([^?\s]+)\?([qQbB])\?")
_FOLD = re.compile(r"\r?\n(?=[ \t])")
_ISO2022 = re.compile(r"\x1b[$(][@ABDJ]")
# The longest address a mailbox can have (RFC 5321: 64 + 1 + 255), and the contact column's size.
MAX_ADDRESS_CHARS = 320
_NOT_IN_ADDRESS = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")
# An 8-bit byte the parser could not decode, kept as a lone surrogate (`raw_header_bytes`).
_UNDECODED = re.compile("[\udc80-\udcff]")


def codec_for(charset: str | None) -> str | None:
    """Return a Python codec name for a MIME charset label, or None when unknown.

    Only character encodings count: a label naming a transform or a codec that is not a charset
    (`base64`, `punycode`, `undefined`) is unknown, so the text is decoded by the fallbacks.
    """
    if not charset:
        return None
    # A message asks about its few labels a dozen times (each part, each encoded word, each
    # decode); the answers are kept for short labels (longer ones are rare, and mostly junk).
    return _known_codec(charset) if len(charset) <= 64 else _codec(charset)


@lru_cache(maxsize=256)
def _known_codec(charset: str) -> str | None:
    return _codec(charset)


def _codec(charset: str) -> str | None:
    label = charset.strip().strip("\"'").lower()
    label = label.split("*", 1)[0]  # RFC 2231 language suffix: "utf-8*de"
    if not _LABEL.fullmatch(label):
        return None
    label = _CHARSET_ALIASES.get(label, label)
    try:
        info = codecs.lookup(label)
    except (LookupError, ValueError):
        return None
    if not info._is_text_encoding or info.name in _NOT_CHARSETS:
        return None
    return info.name


def charset_defect(charset: str | None) -> str | None:
    """Why a declared charset label cannot be used, as a defect to note on the message; else None."""
    if charset is None or codec_for(charset) is not None:
        return None
    shown = charset if len(charset) <= 40 else charset[:40] + "…"
    shown = "".join(ch if ch.isprintable() else "?" for ch in shown)
    return f"unknown or unusable charset {shown!r}: decoded as UTF-8, else Windows-1252 or Latin-1"


# The charsets a message declares (its parts' `charset=` labels, in order), for decoding what it
# does not label: raw 8-bit header bytes, a part without a label. One label or several.
Hint = str | tuple[str, ...] | None


def decode_bytes(data: bytes, charset: str | None = None, *, hint: Hint = None) -> str:
    """Decode `data` labelled `charset`, guessing sensibly when the label is missing or wrong."""
    if not data:
        return ""
    # A label is trusted first; unlabelled bytes try strict UTF-8 before the hints, because UTF-8
    # rarely decodes by accident while legacy multibyte codecs decode almost anything. The hints
    # come before Windows-1252 and Latin-1, which decode any bytes at all.
    hints = (hint,) if isinstance(hint, str) else hint or ()
    labels = [charset, "utf-8", *hints] if charset else ["utf-8", *hints]
    candidates: list[str] = []
    for label in labels:
        codec = codec_for(label)
        for name in (codec, *_RELATED_CODECS.get(codec or "", ())):
            if name and name not in candidates:
                candidates.append(name)
    if b"\x1b" in data and _ISO2022.search(data.decode("latin-1")):
        # 7-bit ISO-2022-JP also "decodes" as UTF-8, escape codes and all: try it first.
        candidates[:0] = ["iso2022_jp_ext", "iso2022_jp_2004", "iso2022_jp_3"]
    for fallback in (_DOUBLE_BYTE, "cp1252", "latin-1"):
        if fallback not in candidates:
            candidates.append(fallback)
    for codec in candidates:
        if codec == "cp932" and b"\x1b" in data:
            decoded = _jis_via_cp932(data)
            if decoded is not None:
                return decoded
        if codec == _DOUBLE_BYTE:
            decoded = _undeclared_double_byte(data)
            if decoded is not None:
                return decoded
            continue
        try:
            return data.decode(codec)
        except (ValueError, LookupError):  # UnicodeError is a ValueError
            continue
    # Not reached (Latin-1 decodes any bytes); kept so that this function can never raise.
    return data.decode("latin-1", errors="replace")


def _undeclared_double_byte(data: bytes) -> str | None:
    """`data` as GB18030 when its 8-bit bytes all come in pairs and decode cleanly so, else None.

    Text that no label or hint could decode and that is not UTF-8 is most often Windows-1252 or
    Latin-1, where an 8-bit letter stands alone among ASCII ones ("Hej då"). In a double-byte
    encoding every character outside ASCII is two 8-bit bytes, so a run of them is never of odd
    length; and undeclared double-byte mail is nearly always Chinese. A pair that decodes into a
    private-use area (GBK's user-defined rows, where "üß" lands) is not Chinese text.
    """
    if _ODD_HIGH_RUN.search(data) is not None:
        return None
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError:
        return None
    return None if _PRIVATE_USE.search(text) else text


def _jis_via_cp932(data: bytes) -> str | None:
    """ISO-2022-JP with Microsoft's extensions (CP50220), which no stdlib codec reads.

    Each JIS pair is moved to its Shift_JIS position and decoded as cp932, which has the NEC
    rows (circled digits and the like) Japanese mail clients use.
    """
    out = bytearray()
    jis = False
    index = 0
    while index < len(data):
        if data[index] == 0x1B:
            sequence = data[index + 1 : index + 3]
            if sequence in (b"$B", b"$@"):
                jis, index = True, index + 3
                continue
            if sequence in (b"(B", b"(J"):
                jis, index = False, index + 3
                continue
            return None
        byte = data[index]
        if jis and 0x21 <= byte <= 0x7E and index + 1 < len(data):
            first, second = byte, data[index + 1]
            if not 0x21 <= second <= 0x7E:
                return None  # not a JIS pair: a broken sequence, decoded by the fallbacks
            if first & 1:
                second += 0x1F + (1 if second >= 0x60 else 0)
            else:
                second += 0x7E
            lead = ((first - 0x21) >> 1) + 0x81
            out += bytes((lead + 0x40 if lead > 0x9F else lead, second))
            index += 2
            continue
        out.append(byte)
        index += 1
    try:
        return bytes(out).decode("cp932")
    except UnicodeDecodeError:
        return None


# --- The header block as a sender meant it ------------------------------------------------------

# A line the MIME parser reads as part of a header block (`email.feedparser.headerRE`): a field
# (`Name:`), a folded continuation (leading white space) or an mbox `From ` line. The first other
# line ends the block for it: the rest, however many fields follow, is read as body.
_PARSER_HEADER_LINE = re.compile(rb"From |[\x21-\x39\x3b-\x7e]*:|[ \t]")
# The first line of a header block that is blank (its end) or that the parser would stop at.
_BLANK_OR_BREAK = re.compile(rb"^(?:\r?\n|\r|(?!From |[\x21-\x39\x3b-\x7e]*:|[ \t])[^\r\n])", re.M)
# The next line that is a field (or an mbox line) or blank, from a line that broke the block.
_FIELD_OR_BLANK = re.compile(rb"^(?:From |[\x21-\x39\x3b-\x7e]*:|\r?\n|\r)", re.M)
_LINE_START = re.compile(rb"^(?=[^ \t\r\n])", re.M)  # of a line that is not folded or blank
_INNER_SPACE = re.compile(rb"\S[ \t]+\S")  # two words on one line: prose, not a token
_LINE = re.compile(rb"[^\r\n]*(?:\r\n|\r|\n)?")
# Fields that real mail carries, to tell a header block going on (after lines that broke it) or
# starting (after a forwarding banner) from body text that happens to hold a colon ("Obs: …").
_KNOWN_FIELD = re.compile(
    rb"(?:(?:x|content|list|resent|arc)-[\x21-\x39\x3b-\x7e]*|from|sender|reply-to|to|cc|bcc"
    rb"|subject|date|message-id|in-reply-to|references|return-path|received|delivered-to"
    rb"|mime-version|dkim-signature|domainkey-signature|authentication-results|received-spf"
    rb"|thread-topic|thread-index|importance|priority|precedence|auto-submitted|organization"
    rb"|user-agent|disposition-notification-to|keywords|comments|envelope-to|errors-to"
    rb"|feedback-id|accept-language|autocrypt|sensitivity)[ \t]*:",
    re.IGNORECASE,
)
# A forwarding banner is a line or a few above the header block, each short, and a blank line or
# a few may part it from the headers.
_BANNER_LINES = 3
_BANNER_CHARS = 200


def header_start(source: bytes) -> int:
    """Where the header block of `source` starts: after a forwarding banner at the top of the
    message (`---- Original email message ----`, `Begin forwarded message:`), else 0.

    Some gateways and clients save or pass on a message with such a line above its headers; the
    parser would read no header at all and the message would be refused as not an e-mail. Only a
    few short lines count as a banner, and only when a field real mail carries follows them.
    """
    mbox = _LINE.match(source) if source.startswith(b"From ") else None
    skip = mbox.end() if mbox else 0  # an mbox separator line: the banner may follow it
    banner = blank = 0
    for match in _LINE.finditer(source, skip):
        line = match.group()
        if not line.strip():
            blank += 1  # blank lines between the banner and the headers
            if not (banner and line) or blank > _BANNER_LINES:
                return 0
            continue
        if _PARSER_HEADER_LINE.match(line):
            return match.start() if banner and _KNOWN_FIELD.match(line) else 0
        banner += 1
        if banner > _BANNER_LINES or len(line) > _BANNER_CHARS:
            return 0
    return 0


def repair_continuations(source: bytes) -> tuple[bytes, int]:
    """`source` with lines that broke its header block indented as continuation lines, and how
    many there were.

    Some gateways write long header values (base64 tracking data) over lines without the leading
    white space that marks a continuation. The parser ends the header block at the first such
    line, and `From`, `Subject` and `Message-ID` below it are lost in the body. A run of lines
    without a colon is a continuation when header fields follow it: a field real mail carries, or
    any field after lines of one token each (encoded data, not prose). A run followed by a blank
    line, or by text that only looks like a field, stays where the parser ends the headers (mail
    with no blank line after its headers). One pass over the header block, and nothing is copied
    when no line broke it.
    """
    run = _BLANK_OR_BREAK.search(source)
    indent: list[int] = []
    # Each step jumps from a line that broke the block to the next field or blank line after it
    # (the regexes, anchored at line starts, read each line once), so the pass stays linear.
    while run is not None and run.group()[:1] not in (b"\r", b"\n"):
        field = _FIELD_OR_BLANK.search(source, run.start())
        if field is None or field.group()[:1] in (b"\r", b"\n"):
            break  # the run goes on to a blank line or the end: the parser's body starts there
        if not _KNOWN_FIELD.match(source, field.start()) and _INNER_SPACE.search(
            source, run.start(), field.start()
        ):
            break  # prose before text that only looks like a field: the body starts at the run
        indent.extend(m.start() for m in _LINE_START.finditer(source, run.start(), field.start()))
        run = _BLANK_OR_BREAK.search(source, field.start())
    if not indent:
        return source, 0  # the common case: the block ends at a blank line, unbroken
    pieces: list[bytes] = []
    copied = 0
    for start in indent:
        pieces += (source[copied:start], b" ")
        copied = start
    pieces.append(source[copied:])
    return b"".join(pieces), len(indent)


Headers = dict[str, list[str]]


def header_table(msg: Message) -> Headers:
    """Every header of `msg` by lower-case name, its raw values in order: read once, so that each
    lookup after it is a dict access instead of a walk over all headers."""
    table: Headers = {}
    for key, value in msg.raw_items():
        table.setdefault(key.lower(), []).append(str(value))
    return table


def first(headers: Headers, name: str) -> str | None:
    """The first raw value of the header `name` (lower case), or None."""
    values = headers.get(name)
    return values[0] if values else None


def unfold(value: str) -> str:
    return _FOLD.sub("", value)


def raw_header_bytes(value: str) -> bytes:
    """Bytes of a header value as the parser read it (it keeps 8-bit bytes as surrogates)."""
    return value.encode("utf-8", "surrogateescape")


def encoded_words(value: str) -> Iterator[tuple[int, int, str, str, str]]:
    """(start, end, charset, encoding, payload) of each RFC 2047 encoded word, left to right.

    A word runs from `=?charset?q?` to the first `?=` after it, as the regex
    `=\\?([^?\\s]+?)\\?([qQbB])\\?(.*?)\\?=` finds them, but in linear time: that regex scans to
    the end of the value from every `=?` that has no end, which is quadratic.
    """
    closes = _closes(value)
    position = 0
    while True:
        word = _word_at(value, _WORD_OPEN.search(value, position), closes)
        if word is None:
            return
        yield word
        position = word[1]


def _closes(value: str) -> list[int]:
    """Positions of every `?=` in `value` (they cannot overlap)."""
    found: list[int] = []
    position = value.find("?=")
    while position != -1:
        found.append(position)
        position = value.find("?=", position + 2)
    return found


def _word_at(
    value: str, opening: re.Match[str] | None, closes: list[int]
) -> tuple[int, int, str, str, str] | None:
    if opening is None:
        return None
    index = bisect_left(closes, opening.end())
    if index == len(closes):
        return None
    close = closes[index]
    charset, encoding = opening.group(1), opening.group(2)
    return opening.start(), close + 2, charset, encoding, value[opening.end() : close]


def decode_header_value(value: str, *, hint: Hint = None) -> str:
    """Decode an unstructured header value: encoded words, raw 8-bit and ISO-2022-JP text."""
    value = unfold(value)
    if _UNDECODED.search(value) or "\x1b" in value:
        value = decode_bytes(raw_header_bytes(value), None, hint=hint)
    if "=?" not in value:
        return value
    pieces: list[str] = []
    # Adjacent encoded words in one charset are joined as bytes first: senders split multibyte
    # characters across words.
    pending: bytearray = bytearray()
    pending_charset: str | None = None
    position = 0

    def flush() -> None:
        nonlocal pending, pending_charset
        if pending:
            pieces.append(decode_bytes(bytes(pending), pending_charset, hint=hint))
        pending = bytearray()
        pending_charset = None

    for start, end, charset, encoding, payload in encoded_words(value):
        between = value[position:start]
        encoding = encoding.lower()
        # Whitespace between two encoded words is folding, not content (RFC 2047 section 6.2).
        if between and not (between.isspace() and pending):
            flush()
            pieces.append(between)
        data = _decode_word(encoding, payload)
        if pending and charset.lower() != (pending_charset or "").lower():
            flush()
        pending_charset = charset
        pending.extend(data)
        position = end
    flush()
    pieces.append(value[position:])
    return "".join(pieces)


def _decode_word(encoding: str, payload: str) -> bytes:
    if encoding == "q":
        return quoprimime.header_decode(payload).encode("latin-1", "replace")
    cleaned = re.sub(r"[^A-Za-z0-9+/]", "", payload)
    cleaned += "=" * (-len(cleaned) % 4)
    try:
        return binascii.a2b_base64(cleaned)
    except (binascii.Error, ValueError):
        return payload.encode("ascii", "replace")


def mailboxes(raw_values: list[str], *, hint: Hint = None) -> list[tuple[str, str]]:
    """(display name, address) pairs of address headers, in order, addresses as written.

    A small lenient parser rather than the stdlib's strict one: real mail has unquoted `|`, `[`
    and spaces in names and addresses, and the strict parser then drops or rewrites mailboxes.
    Encoded words are decoded in display names only: RFC 2047 forbids them in an address, and
    decoding them there lets an attacker build a different-looking address (Zammad mail117).
    """
    found: list[tuple[str, str]] = []
    for raw in raw_values:
        value = unfold(raw).replace("\r", " ").replace("\n", " ")
        if _UNDECODED.search(value):
            value = decode_bytes(raw_header_bytes(value), None, hint=hint)
        for chunk in _split_addresses(value):
            mailbox = _mailbox(chunk, hint)
            if mailbox != ("", ""):
                found.append(mailbox)
    return found


def usable_address(address: str) -> bool:
    """Whether a reply could be addressed to `address`: a local part and a domain, no brackets,
    no control characters or undecoded bytes, and no longer than an address can be."""
    if len(address) > MAX_ADDRESS_CHARS or _NOT_IN_ADDRESS.search(address):
        return False
    local, _, domain = address.rpartition("@")
    return bool(local.strip().strip('"') and domain.strip() and "<" not in address)


def _split_addresses(value: str) -> list[str]:
    """Split on commas outside quotes, angle brackets, comments and encoded words."""
    if "," not in value:  # nothing to split on (the common case: one mailbox)
        return [value.strip()] if value.strip() else []
    chunks: list[str] = []
    current: list[str] = []
    quoted = False
    angle = comment = 0
    index = 0
    closes = _closes(value)
    while index < len(value):
        char = value[index]
        if not quoted and value.startswith("=?", index):
            word = _word_at(value, _WORD_OPEN.match(value, index), closes)
            if word is not None:
                current.append(value[index : word[1]])
                index = word[1]
                continue
        if char == "\\" and index + 1 < len(value):
            current.append(value[index : index + 2])
            index += 2
            continue
        if char == '"' and not comment:
            quoted = not quoted
        elif not quoted:
            if char == "(":
                comment += 1
            elif char == ")" and comment:
                comment -= 1
            elif char == "<" and not comment:
                angle += 1
            elif char == ">" and angle and not comment:
                angle -= 1
            elif char == "," and not (angle or comment):
                chunks.append("".join(current))
                current = []
                index += 1
                continue
        current.append(char)
        index += 1
    chunks.append("".join(current))
    return [chunk.strip() for chunk in chunks if chunk.strip()]


_GROUP_PREFIX = re.compile(r'^[^"<>@(]*:(?!//)')
_COMMENT = re.compile(r"\(([^()]*)\)")


def _mailbox(chunk: str, hint: Hint) -> tuple[str, str]:
    chunk = _GROUP_PREFIX.sub("", chunk, count=1).strip().rstrip(";").strip()
    if not chunk:
        return "", ""
    open_at = chunk.rfind("<")
    close_at = chunk.find(">", open_at + 1) if open_at != -1 else -1
    if open_at != -1 and close_at != -1:
        address = chunk[open_at + 1 : close_at].strip()
        name = chunk[:open_at].strip() or " ".join(_COMMENT.findall(chunk[close_at + 1 :]))
    else:
        name = " ".join(_COMMENT.findall(chunk))
        address = _COMMENT.sub(" ", chunk).strip()
        if len(address) > 1 and address[0] == address[-1] == '"' and "@" in address:
            address = address[1:-1].strip()  # the whole address quoted: what a reader sees
    address = address.removeprefix("mailto:") if address.startswith("mailto:") else address
    return _display_name(name, hint), address


def _display_name(name: str, hint: Hint) -> str:
    name = name.strip()
    if len(name) > 1 and name[0] == name[-1] == '"':
        name = name[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return decode_header_value(name, hint=hint).strip()
