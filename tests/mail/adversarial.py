"""About 1 MB of adversarial input for every entry point that reads mail, form, Telegram or API text.

Each shape is one that made a pattern or a library backtrack, recurse or rescan (see issue 11):
lines that open something and never close it, runs of one character, deep nesting, many small
things. `CASES` maps a name to a function that runs one entry point on one shape and checks its
result; `serve` runs them on request in a separate process, for `test_linear.py`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from typing import cast

from sqlalchemy.ext.asyncio import AsyncSession

from bot.updates import loads, parse_update, too_deep
from inbox.cases.access import EVERYTHING
from inbox.checkins.decisions import DecisionError, check_input
from inbox.core.audit import Actor
from inbox.core.inbound import InboundMessage, UnparsableMessage
from inbox.core.personnummer import contains_personnummer, find_personnummer, mask_personnummer
from inbox.intake.receive import IntakePolicy
from inbox.intake.registration import Registration, RegistrationError, register_case
from mail.html import html_to_text, sanitize_html
from mail.parse import message_key, parse_email
from mail.quotes import remove_html_quotes, strip_quotes

MB = 1_000_000
NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def repeat(unit: str, size: int = MB) -> str:
    return unit * max(1, size // len(unit))


def mail(body: str | bytes, headers: str = "", ctype: str = "text/plain; charset=utf-8") -> bytes:
    head = f"From: Anna <anna@example.se>\nTo: synpunkt@kommun.se\nSubject: Hej\n{headers}"
    data = body.encode("utf-8", "surrogateescape") if isinstance(body, str) else body
    return f"{head}Content-Type: {ctype}\n\n".encode() + data


def parsed(raw: bytes) -> InboundMessage:
    message = parse_email(raw)
    assert message.external_id == message_key(raw)
    assert message.raw == raw
    return message


def _mails() -> dict[str, Callable[[], object]]:
    part = "--b\nContent-Type: text/plain; charset=utf-8\n\n" + repeat("Hej hej. ", 400) + "\n"
    nested = "Content-Type: message/rfc822\n\n"
    return {
        "uuencode begin lines without end": lambda: parsed(mail(repeat("begin 644 x\n"))),
        "uuencode block with non-ASCII lines": lambda: parsed(
            mail("begin 644 x.bin\n" + repeat("Måndag\n") + "end\n")
        ),
        "HTML over the size limit with unclosed styles": lambda: parsed(
            mail(repeat("<style>p{}"), ctype="text/html")
        ),
        "HTML under the size limit nested deeply": lambda: parsed(
            mail(repeat("<div>", 490_000), ctype="text/html")
        ),
        "HTML under the size limit with one row of many cells": lambda: parsed(
            mail("<table><tr>" + repeat("<td>x", 490_000), ctype="text/html")
        ),
        "HTML over the size limit with runs of spaces": lambda: parsed(
            mail("<pre>" + " " * MB + "x</pre>", ctype="text/html")
        ),
        "body labelled punycode": lambda: parsed(
            mail(repeat("Hej då! "), ctype="text/plain; charset=punycode")
        ),
        "body labelled with a NUL in its charset": lambda: parsed(
            mail(repeat("Hej då! "), ctype='text/plain; charset="utf\x00-8"')
        ),
        "subject of encoded words that never end": lambda: parsed(
            mail("Hej", headers="X-Note: " + repeat("=?utf-8?q?a ") + "\n")
        ),
        "sender of encoded words that never end": lambda: parsed(
            mail("Hej", headers="Cc: " + repeat("=?utf-8?q?a, ") + "\n")
        ),
        "content type with a megabyte of parameters": lambda: parsed(
            mail("Hej", ctype="text/plain; " + repeat("a=b; "))
        ),
        "file name parameters that never quote": lambda: parsed(
            mail("x", ctype="application/pdf; " + repeat("name*="))
        ),
        "header block broken by a line between every field": lambda: parsed(
            mail("Hej", headers=repeat("X-A: b\nQUFB\n"))
        ),
        "header block broken by a megabyte of token lines": lambda: parsed(
            mail("Hej", headers="X-A: b\n" + repeat("QUFBQUFB\n"))
        ),
        "header block broken by one line of a megabyte": lambda: parsed(
            mail("Hej", headers="X-A: b\n" + "Q" * MB + "\n")
        ),
        "header block of prose lines and no blank line": lambda: parsed(
            ("From: a@example.se\nSubject: Hej\n" + repeat("Hej hej\n") + "Obs:x\n").encode()
        ),
        "banner lines above a megabyte of blank lines": lambda: _refused(
            ("---- Original email message ----\n" + "\n" * MB + "From: a@example.se\n").encode()
        ),
        "undeclared 8-bit text in pairs": lambda: parsed(
            mail(repeat(b"\xb0\xa1a"), ctype="text/plain")
        ),
        "undeclared 8-bit text in long even runs": lambda: parsed(
            mail(b"\xb0" * MB + b"a\xa1", ctype="text/plain")
        ),
        "stub text beside HTML of unclosed styles and tags": lambda: parsed(
            mail(_alternative(repeat("<style>x<p") + repeat("<a")), ctype=_ALTERNATIVE)
        ),
        "forwarded mail among a megabyte of boundary lines": lambda: parsed(
            mail(repeat("--b\n") + _FORWARD + "--b--\n", ctype=_MIXED)
        ),
        "forwarded mail at the bottom of nested multiparts": lambda: parsed(
            mail(_nested_multipart(45, _FORWARD + "x" * MB), ctype=_MIXED)
        ),
        "attribution line of many skrev": lambda: parsed(mail("Den " + repeat("skrev "))),
        "blank lines": lambda: parsed(mail("Hej\n" + "\n" * MB + "då")),
        "quote header line of spaces": lambda: parsed(mail("Hej\nFrom" + " " * MB + "x")),
        "long line then a long quote": lambda: parsed(
            mail("x" * (MB // 2) + "\n" + repeat(">\n", MB // 2))
        ),
        "message in a message, deeply": lambda: parsed(mail(repeat(nested), ctype=nested[14:])),
        "multipart in a multipart, deeply": lambda: parsed(mail(_nested_multipart(), ctype=_MIXED)),
        "two thousand text parts": lambda: parsed(mail(repeat(part), ctype=_MIXED)),
        "ten thousand attachments": lambda: parsed(attachments(10_000)),
        "a megabyte of tiny parts": lambda: parsed(
            mail(repeat("--b\n\nx\n") + "--b--\n", ctype=_MIXED)
        ),
    }


def _refused(raw: bytes) -> None:
    try:
        message_key(raw)  # the SMTP edge keys whatever it is given
        parse_email(raw)
    except UnparsableMessage:
        return
    raise AssertionError("that is not an e-mail")


def attachments(count: int, size: int = 100) -> bytes:
    """A short text and `count` PDF attachments of about `size` bytes each (base64)."""
    data = repeat("QUFB", size * 4 // 3)
    parts = ["--b\nContent-Type: text/plain; charset=utf-8\n\nHej, se bilagorna.\n"]
    parts += (
        f'--b\nContent-Type: application/pdf; name="bilaga-{i}.pdf"\n'
        f'Content-Disposition: attachment; filename="bilaga-{i}.pdf"\n'
        f"Content-Transfer-Encoding: base64\n\n{data}\n"
        for i in range(count)
    )
    return mail("".join(parts) + "--b--\n", "MIME-Version: 1.0\n", ctype=_MIXED)


_MIXED = "multipart/mixed; boundary=b"


_ALTERNATIVE = "multipart/alternative; boundary=b"
_FORWARD = "--b\nContent-Type: message/rfc822\n\nFrom: a@example.se\nSubject: Hej\n\nText\n"


def _alternative(html: str) -> str:
    plain = "--b\nContent-Type: text/plain\n\nLäs det här brevet i en webbläsare.\n"
    return plain + "--b\nContent-Type: text/html\n\n" + html + "\n--b--\n"


def _nested_multipart(depth: int = 20_000, bottom: str = "") -> str:
    """Each part a multipart with a boundary of its own, `depth` levels deep (about 20,000 by
    default), and `bottom` in the last one (its boundary is `b` followed by the depth)."""
    levels = (f"--b{'' if i == 0 else i}\nContent-Type: {_MIXED}{i + 1}\n\n" for i in range(depth))
    return "".join(levels) + bottom.replace("--b\n", f"--b{depth}\n")


def _html() -> dict[str, Callable[[], object]]:
    # Within the size and tag limits that the libraries get to see.
    rules = "<div>" + "".join(f"<hr><p>{i}{'x' * 100}</p>" for i in range(3_000)) + "</div>"
    quotes = "<p>x</p>" + "".join(f"<blockquote>{i}</blockquote>{'t' * 90}" for i in range(4_000))
    return {
        "sanitise: nested divs": lambda: sanitize_html(repeat("<div>", 490_000)),
        "sanitise: unclosed styles": lambda: sanitize_html(repeat("<style>x")),
        "sanitise: stray angle brackets": lambda: sanitize_html(repeat("<")),
        "to text: unclosed styles": lambda: html_to_text(repeat("<style>x")),
        "to text: unclosed scripts over the limit": lambda: html_to_text(repeat("<script>")),
        "to text: stray angle brackets": lambda: html_to_text(repeat("<")),
        "to text: many list items": lambda: html_to_text("<ul>" + repeat("<li>", 490_000)),
        "HTML quotes: a page of rules": lambda: remove_html_quotes(rules),
        "HTML quotes: many quotes with tails": lambda: remove_html_quotes(quotes),
    }


def _text() -> dict[str, Callable[[], object]]:
    return {
        "quotes: one line of skrev": lambda: strip_quotes("Den " + repeat("skrev ")),
        "quotes: one line of wrote": lambda: strip_quotes("On " + repeat("On wrote ")),
        "quotes: schrieb in German": lambda: strip_quotes(
            "Am " + repeat("Am schrieb "), language_hint="de"
        ),
        "quotes: blank lines": lambda: strip_quotes("a" + "\n" * MB + "b"),
        "quotes: lines of a single space": lambda: strip_quotes(repeat("\n ")),
        "quotes: spaces in one line": lambda: strip_quotes("a" + " " * MB + "b"),
        "quotes: header field of spaces": lambda: strip_quotes("Hej\nFrom: a\nTo" + " " * MB),
        "quotes: long line then many quote lines": lambda: strip_quotes(
            "x" * (MB // 2) + "\n" + repeat(">\n", MB // 2)
        ),
        "quotes: many attribution lines": lambda: strip_quotes(repeat("Anna wrote:\n> x\n")),
        "personnummer: digits": lambda: mask_personnummer(repeat("1")),
        "personnummer: separated dates": lambda: find_personnummer(repeat("85-01-01-")),
        "personnummer: many numbers": lambda: contains_personnummer(repeat("850101-1236 x ")),
    }


def _forms() -> dict[str, Callable[[], object]]:
    return {
        "registration: e-mail of dots": lambda: _registration("a@" + repeat(".") + "<"),
        "registration: e-mail of at signs": lambda: _registration(repeat("a@")),
        "decision: e-mail of dots": lambda: _decision("a@" + repeat(".") + "<"),
        "decision: reference of separators": lambda: _decision("a@example.se", repeat("1-")),
        "Telegram: a megabyte of text": lambda: _telegram({"text": repeat("Hej ")}),
        "Telegram: text of line breaks": lambda: _telegram({"text": "x" + "\n" * MB}),
        "Telegram: many photo sizes": lambda: _telegram(
            {"caption": "x", "photo": [{"file_id": str(i), "width": i} for i in range(50_000)]}
        ),
        "Telegram: arrays nested deeply": lambda: _too_deep("[", "", "]", MB // 2),
        "Telegram: objects nested deeply": lambda: _too_deep('{"a":', "1", "}", MB // 6),
        "Telegram: brackets in a string": lambda: _telegram({"text": repeat("[{")}),
        "Telegram: escaped quotes in a string": lambda: _telegram({"text": repeat('\\"[')}),
        "Telegram: a string that never ends": lambda: _invalid('{"a": "' + repeat("[\\")),
    }


def _registration(email: str) -> None:
    registration = Registration(
        channel="phone", subject="Samtal", text="Om hemtjänsten", contact_email=email
    )
    try:
        # The form is checked before anything touches the database: no session is needed.
        asyncio.run(
            register_case(
                cast(AsyncSession, None),
                registration=registration,
                scope=EVERYTHING,
                actor=Actor("user:1"),
                policy=IntakePolicy(),
                now=NOW,
            )
        )
    except RegistrationError:
        return
    raise AssertionError("an address like that is not valid")


def _decision(address: str, reference: str = "VUX-2026-1") -> None:
    raw = {
        "unit": "vuxen",
        "channel": "email",
        "address": address,
        "language": "sv",
        "decided_on": "2026-03-01",
        "reference": reference,
    }
    try:
        check_input(raw, now=NOW)
    except DecisionError:
        return
    raise AssertionError("input like that is not valid")


def _telegram(message: dict[str, object]) -> None:
    update = {"update_id": 1, "message": {"message_id": 1, "date": 1, "chat": {"id": 5}, **message}}
    assert parse_update(json.dumps(update).encode()).chat_id == "5"


def _too_deep(opening: str, inner: str, closing: str, levels: int) -> None:
    """An update whose text is a value nested `levels` deep; and the same never closed."""
    head = '{"update_id": 1, "message": {"message_id": 1, "date": 1, "chat": {"id": 5}, "text": '
    _invalid(head + opening * levels)
    raw = head + opening * levels + inner + closing * levels + "}}"
    assert too_deep(loads(raw))
    try:
        parse_update(raw.encode())
    except UnparsableMessage as exc:
        assert "nested deeper than" in str(exc)
        return
    raise AssertionError("an update nested that deep is not one")


def _invalid(raw: str) -> None:
    try:
        loads(raw)
    except ValueError:
        return
    raise AssertionError("that is not JSON")


def _bounces() -> dict[str, Callable[[], object]]:
    """Bounces, whose report `mail.dsn` reads: from a mailer daemon, so they are classified so."""

    def bounce(body: str, ctype: str = "text/plain; charset=utf-8") -> object:
        head = (
            "From: MAILER-DAEMON@mx.example.se\nTo: synpunkt@kommun.se\nSubject: failure notice\n"
        )
        message = parsed(f"{head}Content-Type: {ctype}\n\n{body}".encode())
        assert message.delivery_report is not None
        return message

    report = "multipart/report; report-type=delivery-status; boundary=b"

    def part(ctype: str, body: str) -> str:
        return f"--b\nContent-Type: {ctype}\n\n{body}\n--b--\n"

    return {
        # A quarter: the attachment copy of the part (mail/mime.py) re-folds every field through
        # the stdlib's generator, linearly but at some 25 µs a field.
        "bounce: one block of 50,000 status fields": lambda: bounce(
            part(
                "message/delivery-status",
                "Final-Recipient: rfc822; a@b.se\n" + repeat("X: y\n", MB // 4),
            ),
            report,
        ),
        "bounce: a status field folded a megabyte long": lambda: bounce(
            part("message/global-delivery-status", "A: b\n\nStatus: 5" + repeat("\n .5")),
            report,
        ),
        "bounce: header copy of one folded Message-ID": lambda: bounce(
            part("text/rfc822-headers", "Message-ID: <" + repeat("\n x")), report
        ),
        "bounce: lines of local parts without a domain": lambda: bounce(
            repeat("a." * 400 + "@b\n")
        ),
        "bounce: lines of at signs": lambda: bounce(repeat("<a@a@a@a@a.se:" * 60 + "\n")),
        "bounce: Message-ID lines that never close": lambda: bounce(
            repeat("Message-ID: <" + "x" * 900 + "\n")
        ),
        "bounce: HTML of unclosed tags": lambda: bounce(repeat("<br"), "text/html"),
        "bounce: a failed address on every line": lambda: bounce(
            repeat("unknown user x@example.se 550 5.1.1\n")
        ),
    }


def _warm_up() -> None:
    """Loads what a first parse loads (language models), so that no case pays for it."""
    parsed(mail("Hej, jag vill lämna en synpunkt på hemtjänsten.\n\nAnna wrote:\n> x"))


CASES: dict[str, Callable[[], object]] = {
    "warm-up": _warm_up,
    **_mails(),
    **_bounces(),
    **_html(),
    **_text(),
    **_forms(),
}


def serve(connection: Connection) -> None:
    """Runs the named cases one by one; answers "" when one finished, else the error."""
    while True:
        name = connection.recv()
        if name is None:
            return
        try:
            CASES[name]()
        except BaseException as exc:  # reported to the test, which fails with it
            connection.send(f"{type(exc).__name__}: {str(exc)[:500]}")
        else:
            connection.send("")
