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


def decode_bytes(data: bytes, charset: str | None = None, *, hint: str | None = None) -> str:
    """Decode `data` labelled `charset`, guessing sensibly when the label is missing or wrong."""
    if not data:
        return ""
    # A label is trusted first; unlabelled bytes try strict UTF-8 before the hint, because UTF-8
    # rarely decodes by accident while legacy multibyte codecs decode almost anything.
    labels = [charset, "utf-8", hint] if charset else ["utf-8", hint]
    candidates: list[str] = []
    for label in labels:
        codec = codec_for(label)
        for name in (codec, *_RELATED_CODECS.get(codec or "", ())):
            if name and name not in candidates:
                candidates.append(name)
    if b"\x1b" in data and _ISO2022.search(data.decode("latin-1")):
        # 7-bit ISO-2022-JP also "decodes" as UTF-8, escape codes and all: try it first.
        candidates[:0] = ["iso2022_jp_ext", "iso2022_jp_2004", "iso2022_jp_3"]
    for fallback in ("cp1252", "latin-1"):
        if fallback not in candidates:
            candidates.append(fallback)
    for codec in candidates:
        if codec == "cp932" and b"\x1b" in data:
            decoded = _jis_via_cp932(data)
            if decoded is not None:
                return decoded
        try:
            return data.decode(codec)
        except (ValueError, LookupError):  # UnicodeError is a ValueError
            continue
    # Not reached (Latin-1 decodes any bytes); kept so that this function can never raise.
    return data.decode("latin-1", errors="replace")


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


def decode_header_value(value: str, *, hint: str | None = None) -> str:
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


def mailboxes(raw_values: list[str], *, hint: str | None = None) -> list[tuple[str, str]]:
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


def _mailbox(chunk: str, hint: str | None) -> tuple[str, str]:
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


def _display_name(name: str, hint: str | None) -> str:
    name = name.strip()
    if len(name) > 1 and name[0] == name[-1] == '"':
        name = name[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return decode_header_value(name, hint=hint).strip()
