"""Fall back, don't fail: hostile or unknown charset labels and broken encoded data still parse.

Each of these made the whole message `failed` (no case, no acknowledgement) before issue 11. Now
the text is decoded by the fallbacks (UTF-8, else Windows-1252 or Latin-1), and a label that could
not be used is noted in the message's defects.
"""

from __future__ import annotations

import pytest

from inbox.core.inbound import InboundMessage
from mail.headers import charset_defect, codec_for, decode_bytes
from mail.parse import parse_email


def mail(body: bytes, *, ctype: str, headers: bytes = b"") -> bytes:
    head = b"From: Anna <anna@example.se>\nSubject: Synpunkt\n" + headers
    return head + b"Content-Type: " + ctype.encode() + b"\n\n" + body


def charset_notes(message: InboundMessage) -> list[str]:
    return [d for d in message.defects if d.startswith("unknown or unusable charset")]


# Codecs Python finds that are no character encoding of text: transforms (base64, zlib, …) and
# codecs for other things (punycode and IDNA for domain names; `undefined` always raises).
NOT_CHARSETS = [
    "punycode",
    "idna",
    "undefined",
    "rot13",
    "base64",
    "zlib",
    "hex",
    "uu",
    "bz2",
    "quopri",
    "unicode_escape",
    "raw_unicode_escape",
    "charmap",
]


@pytest.mark.parametrize("label", NOT_CHARSETS)
def test_a_codec_that_is_not_a_charset_is_an_unknown_label(label: str) -> None:
    assert codec_for(label) is None
    assert decode_bytes("Hej då".encode(), label) == "Hej då"


@pytest.mark.parametrize("label", NOT_CHARSETS)
def test_body_labelled_with_a_codec_that_is_not_a_charset_becomes_text(label: str) -> None:
    raw = mail("Hej då, hemtjänsten kom inte.".encode(), ctype=f"text/plain; charset={label}")
    message = parse_email(raw)
    assert message.text == "Hej då, hemtjänsten kom inte."
    assert charset_notes(message) == [
        f"unknown or unusable charset {label!r}: decoded as UTF-8, else Windows-1252 or Latin-1"
    ]


def test_ascii_body_labelled_punycode_is_not_decoded_as_punycode() -> None:
    # Punycode "decodes" plain ASCII into other letters; it used to raise on spaces.
    message = parse_email(mail(b"Hej da", ctype="text/plain; charset=punycode"))
    assert message.text == "Hej da"


@pytest.mark.parametrize(
    ("body", "label", "text"),
    [
        (b"Hej d\xe5", "x-no-such-charset", "Hej då"),
        ("Hej då".encode(), '"utf\x00-8"', "Hej då"),
        (b"Hej d\xe5", '"utf 8"', "Hej då"),
        ("Hej då".encode(), "utf-8" * 20, "Hej då"),
    ],
    ids=["unknown name", "NUL in the label", "space in the label", "100-character label"],
)
def test_unknown_or_malformed_label_falls_back_and_is_noted(
    body: bytes, label: str, text: str
) -> None:
    message = parse_email(mail(body, ctype=f"text/plain; charset={label}"))
    assert message.text == text
    assert len(charset_notes(message)) == 1


def test_html_body_labelled_undefined_becomes_text() -> None:
    message = parse_email(mail(b"<p>Hej d\xe5</p>", ctype="text/html; charset=undefined"))
    assert message.text == "Hej då"
    assert message.html == "<p>Hej då</p>"
    assert charset_notes(message)


def test_subject_in_an_encoded_word_labelled_undefined_is_decoded() -> None:
    raw = mail(b"Hej", ctype="text/plain", headers=b"X-Note: =?undefined?b?SGVq?=\n")
    raw = raw.replace(b"Subject: Synpunkt", b"Subject: =?undefined?q?Synpunkt_p=E5?=")
    message = parse_email(raw)
    assert message.subject == "Synpunkt på"
    assert charset_notes(message) == [
        "unknown or unusable charset 'undefined': decoded as UTF-8, else Windows-1252 or Latin-1"
    ]


def test_sender_name_in_an_encoded_word_labelled_punycode_is_decoded() -> None:
    raw = mail(b"Hej", ctype="text/plain").replace(
        b"From: Anna", b"From: =?punycode?q?Anna_Andersson?="
    )
    message = parse_email(raw)
    assert message.sender_name == "Anna Andersson"
    assert message.sender_address == "anna@example.se"


@pytest.mark.parametrize("label", ["punycode", "undefined", "idna"])
def test_attachment_name_in_a_hostile_rfc2231_charset_is_decoded(label: str) -> None:
    body = (
        f"--b\nContent-Type: text/plain\n\nSe bilagan.\n--b\n"
        f"Content-Type: application/pdf\n"
        f"Content-Disposition: attachment; filename*={label}''beslut%20mars.pdf\n\n"
        "%PDF-1.4\n--b--\n"
    ).encode()
    message = parse_email(mail(body, ctype="multipart/mixed; boundary=b"))
    assert message.text == "Se bilagan."
    assert [a.filename for a in message.attachments] == ["beslut mars.pdf"]


def test_8bit_part_with_a_hostile_charset_inside_a_forwarded_mail_is_kept() -> None:
    inner = b"From: b@example.se\nContent-Type: text/plain; charset=undefined\n\nHej d\xe5\n"
    body = b"--b\nContent-Type: text/plain\n\nVidarebefordrat.\n--b\n"
    body += b"Content-Type: message/rfc822\n\n" + inner + b"--b--\n"
    message = parse_email(mail(body, ctype="multipart/mixed; boundary=b"))
    assert message.text == "Vidarebefordrat."
    assert [a.content_type for a in message.attachments] == ["message/rfc822"]
    assert b"Hej d\xe5" in message.attachments[0].data


@pytest.mark.parametrize(
    "block",
    ["begin 644 brev.txt\nMåndag och tisdag\n`\nend\n", "begin 644 x\n#86)Cå\n`\nend\n"],
    ids=["non-ASCII line", "non-ASCII in a short line"],
)
def test_non_ascii_in_a_uuencoded_block_keeps_the_block_as_text(block: str) -> None:
    message = parse_email(mail(f"Hej\n{block}".encode(), ctype="text/plain; charset=utf-8"))
    assert message.attachments == ()
    assert message.text == f"Hej\n{block}".strip("\n")


@pytest.mark.parametrize(
    ("body", "label"),
    [
        (b"\x1b$B\x21\xff\x1b(B Hej", "iso-2022-jp"),
        (b"Hej \x1b$B\x30\x80", "shift_jis"),
        (b"\x1b$B\x7f\x7f\x1b(B Hej", "iso-2022-jp"),
        (b"\x1b$(Q\x21\x21\x1b(B Hej", "iso-2022-jp"),
    ],
    ids=["second byte out of range", "high second byte", "DEL pair", "unknown escape"],
)
def test_bad_iso_2022_jp_sequence_still_decodes(body: bytes, label: str) -> None:
    message = parse_email(mail(body, ctype=f"text/plain; charset={label}"))
    assert "Hej" in message.text


def test_bad_iso_2022_jp_sequence_in_a_raw_subject_still_decodes() -> None:
    raw = mail(b"Hej", ctype="text/plain; charset=iso-2022-jp")
    raw = raw.replace(b"Subject: Synpunkt", b"Subject: \x1b$B\x21\xff\x1b(B fr\xe5ga")
    assert "fr" in parse_email(raw).subject


def test_a_usable_label_is_no_defect() -> None:
    assert charset_defect("utf-8") is None
    assert charset_defect("ISO-8859-1") is None
    assert charset_defect("gb2312") is None
    assert charset_defect(None) is None
    message = parse_email(mail("Hej då".encode(), ctype="text/plain; charset=utf-8"))
    assert charset_notes(message) == []


# --- Undeclared double-byte text ---------------------------------------------------------------


def test_undeclared_chinese_text_is_read_as_gb18030() -> None:
    text = "机房环境法规：关于家庭护理服务的投诉，温度25°C。"
    raw = b"From: a@example.org\nSubject: x\n\n" + text.encode("gbk") + b"\nMessage-ID: <x@y>\n"
    message = parse_email(raw)
    assert message.text == f"{text}\nMessage-ID: <x@y>"
    assert charset_notes(message) == []


def test_an_undeclared_raw_chinese_subject_is_read_as_gb18030() -> None:
    raw = b"From: a@example.org\nSubject: " + "投诉".encode("gbk") + b"\n\nHello\n"
    assert parse_email(raw).subject == "投诉"


@pytest.mark.parametrize(
    "text",
    ["Hej då, vården var bra.", "Grüße", "Mit freundlichen Grüßen, für Sie", "ÅÄÖ åäö"],
    ids=["swedish", "a pair in a private-use row", "german", "odd runs"],
)
def test_undeclared_latin_1_text_stays_latin_1(text: str) -> None:
    assert decode_bytes(text.encode("latin-1")) == text
