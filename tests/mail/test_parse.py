"""parse_email and message_key on small hand-written mails, one rule per test."""

from __future__ import annotations

import base64
import binascii
import hashlib
from datetime import UTC, datetime

import pytest

from inbox.core.inbound import Automation, Channel, UnparsableMessage
from mail.parse import message_key, parse_email


def mail(headers: str, body: str = "Hej, jag vill lämna en synpunkt på hemtjänsten.") -> bytes:
    return f"{headers}\n\n{body}\n".encode()


def test_plain_mail_is_normalised() -> None:
    raw = mail(
        "From: Anna Andersson <anna@example.se>\nTo: synpunkt@kommun.se\nCc: b@example.se\n"
        "Subject: =?utf-8?q?Synpunkt_p=C3=A5_hemtj=C3=A4nsten?=\n"
        "Message-ID: <abc@example.se>\nDate: Tue, 12 Mar 2024 10:15:00 +0100"
    )
    message = parse_email(raw)
    assert message.channel is Channel.EMAIL
    assert message.external_id == "abc@example.se" == message.message_id
    assert message.sender_address == "anna@example.se"
    assert message.sender_name == "Anna Andersson"
    assert message.subject == "Synpunkt på hemtjänsten"
    assert message.recipients == ("synpunkt@kommun.se", "b@example.se")
    assert message.sent_at == datetime(2024, 3, 12, 9, 15, tzinfo=UTC)
    assert message.language == "sv"
    assert message.automation is Automation.NONE
    assert message.raw == raw


def test_message_key_without_message_id_hashes_the_bytes() -> None:
    raw = mail("From: a@example.se\nSubject: x")
    assert message_key(raw) == "sha256:" + hashlib.sha256(raw).hexdigest()
    assert parse_email(raw).external_id == message_key(raw)


def test_message_key_takes_the_id_without_angle_brackets() -> None:
    assert message_key(mail("Message-ID:\n <id-1@example.se>\nFrom: a@example.se")) == (
        "id-1@example.se"
    )


@pytest.mark.parametrize(
    "raw",
    [
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600,
        b"\x00" * 2000,
        b"",
        b"Just some text without any headers.\n",
    ],
    ids=["outlook-msg", "nul-bytes", "empty", "no-headers"],
)
def test_non_messages_are_rejected(raw: bytes) -> None:
    with pytest.raises(UnparsableMessage):
        parse_email(raw)


def test_in_reply_to_takes_the_first_id_and_references_keep_order() -> None:
    message = parse_email(
        mail("From: a@example.se\nIn-Reply-To: <one@x> <two@x>\nReferences: <r1@x>\n <r2@x> <r1@x>")
    )
    assert message.in_reply_to == "one@x"
    assert message.references == ("r1@x", "r2@x")


def test_empty_from_does_not_fall_back_to_reply_to() -> None:
    message = parse_email(mail('From: "Someone" <>\nReply-To: real@example.se'))
    assert message.sender_address is None and message.sender_name == "Someone"
    assert message.extra["reply_to"] == "real@example.se"


@pytest.mark.parametrize(
    "header",
    [
        "X-Original-Sender: victim@example.org",
        "Reply-To: victim@example.org",
        "Sender: victim@example.org",
        "Return-Path: <victim@example.org>",
    ],
)
def test_only_from_decides_who_is_answered(header: str) -> None:
    message = parse_email(mail(f"From: Anna <anna@example.se>\n{header}"))
    assert message.sender_address == "anna@example.se"


def test_no_usable_sender_at_all_gives_none() -> None:
    assert parse_email(mail("From: [??????]\nSubject: x")).sender_address is None


def test_encoded_words_are_never_decoded_inside_an_address() -> None:
    message = parse_email(mail("From: =?utf-8?Q?attacker?Q?agent?=@victim.example"))
    assert message.sender_address != "agent@victim.example"
    assert message.sender_address == "=?utf-8?Q?attacker?Q?agent?=@victim.example"


def test_unknown_and_lying_charsets_are_decoded() -> None:
    gbk = "內應力".encode("gbk")
    subject = "=?iso-gb2312?B?" + base64.b64encode(gbk).decode() + "?="
    assert parse_email(mail(f"From: a@example.se\nSubject: {subject}")).subject == "內應力"


def test_html_only_mail_is_sanitised_and_converted() -> None:
    raw = mail(
        "From: a@example.se\nContent-Type: text/html; charset=utf-8",
        '<p onclick="x()">Hej <a href="javascript:alert(1)">här</a></p><script>bad()</script>',
    )
    message = parse_email(raw)
    assert message.text == "Hej här"
    assert message.html is not None
    assert "script" not in message.html and "onclick" not in message.html
    assert "javascript" not in message.html


def test_attachment_names_from_rfc2231_or_generated() -> None:
    raw = mail(
        'From: a@example.se\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="b"',
        "--b\nContent-Type: text/plain\n\nText\n"
        "--b\nContent-Type: application/pdf\n"
        "Content-Disposition: attachment; filename*=utf-8''Beslut%20%C3%A4ndrat.pdf\n\n%PDF\n"
        "--b\nContent-Type: application/pdf\nContent-Disposition: attachment\n\n%PDF\n"
        "--b--",
    )
    names = [a.filename for a in parse_email(raw).attachments]
    assert names == ["Beslut ändrat.pdf", "attachment-2.pdf"]


def test_inline_uuencode_becomes_an_attachment() -> None:
    line = binascii.b2a_uu(b"Hello Zammad").decode()
    raw = mail("From: a@example.se", f"See file.\n\nbegin 644 note.txt\n{line}`\nend\n")
    message = parse_email(raw)
    assert [(a.filename, a.data) for a in message.attachments] == [("note.txt", b"Hello Zammad")]
    assert "begin 644" not in message.text


def test_quoted_history_is_only_stripped_for_display() -> None:
    body = "Tack, det blev bra.\n\nDen 12 mars 2024 kl. 10:15 skrev Kommunen <k@kommun.se>:\n> Hej"
    message = parse_email(mail("From: a@example.se", body))
    assert message.display_text == "Tack, det blev bra."
    assert "> Hej" in message.text


def test_broken_date_gives_none() -> None:
    assert parse_email(mail("From: a@example.se\nDate: yesterday-ish")).sent_at is None


# --- The language: the opening decides, Swedish and English settled cheaply, lingua for the rest


SWEDISH = (
    "Hej! Jag vill lämna en synpunkt på hur min ansökan hanterades. Det tog flera månader innan "
    "någon hörde av sig, och när jag väl fick svar var det svårt att förstå vad beslutet innebar "
    "för oss. Vi har ringt många gånger men inte fått någon hjälp. "
)
ENGLISH = (
    "Hello, I would like to complain about the way my application was handled. It took several "
    "months before anyone got in touch, and when they did it was hard to understand what the "
    "decision meant for us. We have called many times but this has not been answered. "
)


@pytest.mark.parametrize(
    ("body", "language"),
    [
        (SWEDISH * 2, "sv"),
        (ENGLISH * 2, "en"),
        (SWEDISH + '"The patient should not be left alone at any time." ' + SWEDISH, "sv"),
        (
            "Hej, jeg vil gerne klage over den måde min sagsbehandler behandlede mig på i sidste "
            "uge. Jeg har ringet flere gange, men ingen har svaret, og jeg er meget utilfreds med "
            "det. Det er ikke i orden at man skal vente så længe på et svar fra kommunen.",
            "da",
        ),
        (
            "Guten Tag, ich möchte mich über die Behandlung durch das Sozialamt beschweren. Ich "
            "habe mehrmals angerufen, aber niemand hat geantwortet, und ich bin sehr unzufrieden.",
            "de",
        ),
    ],
    ids=["swedish", "english", "swedish-quoting-english", "danish", "german"],
)
def test_the_language_of_a_mail_is_guessed(body: str, language: str) -> None:
    assert parse_email(mail("From: a@example.se", body)).language == language


def test_only_the_opening_of_a_long_mail_decides_its_language() -> None:
    # A Swedish reply above a long forwarded English thread is a Swedish mail.
    body = SWEDISH * 3 + "\n\n---------- Forwarded message ----------\n" + ENGLISH * 40
    assert parse_email(mail("From: a@example.se", body)).language == "sv"


# --- Which alternative is the text ---------------------------------------------------------------


def alternative(plain: str, html: str) -> bytes:
    return mail(
        "From: a@example.se\nMIME-Version: 1.0\nContent-Type: multipart/alternative; boundary=b",
        f"--b\nContent-Type: text/plain; charset=utf-8\n\n{plain}\n"
        f"--b\nContent-Type: text/html; charset=utf-8\n\n{html}\n--b--",
    )


NEWS = (
    "<html><head><style>p {{ color: red }}</style></head><body><h1>Nyheter från förvaltningen"
    "</h1><p>Nu öppnar vi en ny mottagning för äldreomsorg i centrum, med längre öppettider "
    "och fler handläggare på plats varje vardag.</p></body></html>"
)


def test_a_plain_alternative_saying_what_the_html_says_is_the_text() -> None:
    plain = "Nyheter från förvaltningen\n\nNu öppnar vi en ny mottagning för äldreomsorg i centrum."
    message = parse_email(alternative(plain, NEWS))
    assert message.text == plain
    assert message.html is not None and "mottagning" in message.html


@pytest.mark.parametrize(
    "stub",
    [
        "This is an HTML message. Please use an HTML capable mail program to read it.",
        "HTML newsletter could be read here: http://news.example.com/view/123",
        "Ett helt annat meddelande om något annat.",
    ],
    ids=["html-only-notice", "read-online-link", "another-text"],
)
def test_a_plain_alternative_that_is_a_stub_gives_way_to_the_html(stub: str) -> None:
    message = parse_email(alternative(stub, NEWS))
    assert message.text.startswith("Nyheter från förvaltningen")
    assert "ny mottagning för äldreomsorg" in message.text
    assert stub not in message.text


def test_a_stub_stays_the_text_when_the_html_shows_nothing() -> None:
    html = "<html><body>" + "<div>" * 2_000 + "Ord i djupet " * 20 + "</div>" * 2_000 + "</body>"
    message = parse_email(alternative("Greetings! This is a test.", html))
    assert message.text == "Greetings! This is a test."


# --- Forwarded mails and delivery reports, kept as they came -------------------------------------

FORWARDED = (
    b"Return-Path: <b@example.org>\r\n"
    b"Received-SPF: Pass (mailfrom) identity=mailfrom; client-ip=127.0.0.1; helo=mx.example.org;"
    b" envelope-from=b@example.org; receiver=<UNKNOWN> \r\n"
    b"DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=s1;\r\n\tbh=abc=; b=def\r\n"
    b"From: B <b@example.org>\r\nSubject: Ursprungligt\r\n\r\n"
    b"F\xc3\xb6rsta raden.\r\n\r\n\r\nSista raden.\r\n"
)
REPORT = (
    b"Reporting-MTA: dns; mx.example.org\r\n\r\n"
    b"Final-Recipient: rfc822; nobody@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n"
    b"Diagnostic-Code: smtp; 550 5.1.1 <nobody@example.org>:\r\n    Recipient address rejected\r\n"
)


def test_a_forwarded_mail_and_a_delivery_report_are_kept_byte_for_byte() -> None:
    raw = (
        b"From: MAILER-DAEMON@example.org\r\nSubject: Undelivered\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="r"\r\n\r\n'
        b"--r\r\nContent-Type: text/plain\r\n\r\nIt could not be delivered.\r\n"
        b"--r\r\nContent-Type: message/delivery-status\r\n\r\n" + REPORT + b"\r\n"
        b"--r\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        + FORWARDED
        + b"\r\n--r--\r\n"
    )
    attachments = parse_email(raw).attachments
    assert [a.content_type for a in attachments] == ["message/delivery-status", "message/rfc822"]
    # Not written out again: no header refolded, no blank line added between report blocks.
    assert attachments[0].data == REPORT
    assert attachments[1].data == FORWARDED
    assert attachments[1].filename == "Ursprungligt.eml"


def test_a_forwarded_mail_in_a_forwarded_mail_is_kept_byte_for_byte_too() -> None:
    inner = b"From: c@example.org\nSubject: Inre\nContent-Type: text/plain\n\nHej\n"
    middle = (
        b"From: b@example.org\nSubject: Mitten\nMIME-Version: 1.0\n"
        b"Content-Type: multipart/mixed; boundary=m\n\n--m\nContent-Type: text/plain\n\nSe nedan.\n"
        b"--m\nContent-Type: message/rfc822\n\n" + inner + b"--m--\n"
    )
    raw = mail(
        "From: a@example.se\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=o",
        "--o\nContent-Type: text/plain\n\nVidarebefordrar.\n"
        "--o\nContent-Type: message/rfc822\n\n" + middle.decode() + "--o--",
    )
    [forwarded] = parse_email(raw).attachments
    assert forwarded.data == middle.removesuffix(b"\n")  # that line break is the boundary's


def test_a_forwarded_mail_whose_place_is_unclear_is_still_kept() -> None:
    # The outer boundary again inside the part: the pieces and the parsed parts disagree.
    raw = mail(
        "From: a@example.se\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=o",
        "--o\nContent-Type: text/plain\n\nHej\n--o\nContent-Type: message/rfc822\n\n"
        "From: b@example.org\nSubject: Inre\n\nText\n--o\n--o--",
    )
    message = parse_email(raw)
    assert [a.content_type for a in message.attachments] == ["message/rfc822"]
    assert b"Subject: Inre" in message.attachments[0].data
