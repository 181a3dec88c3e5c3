"""Fuzzing the mail parser with mutants of real messages (issue 11).

Real messages from the corpora (tests/corpora/email) are truncated, mutated byte by byte, wrapped
in layers of multipart and message/rfc822, relabelled with charsets that are no charsets
(punycode, undefined, a NUL in the label, UTF-7, unknown names) and grown. `parse_email` has to
return for every mutant (an unparsable one is a failed ledger row staff cannot read), with
strings a database column takes, and note in `defects` where it had to read something in a
simpler way. At the intake level a few mutants go through the ledger and the worker: each ends as
a case or a visible failed row, and a normal message behind them still becomes a case.

Bounded and reproducible: `derandomize=True` draws the same examples on every run, `database=None`
keeps no example database (Hypothesis still caches the constants it reads from source files in
`.hypothesis/constants`, a folder that ignores itself in git), and the example counts keep the
whole file to seconds. What the fuzz found is kept below as fixed examples.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import fields
from functools import cache, partial

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlmodel import col

from inbox.core.db import unit_of_work
from inbox.core.inbound import InboundAttachment, InboundMessage, UnparsableMessage
from inbox.core.models import Case, IntakeRecord, IntakeStatus
from inbox.intake import ledger
from inbox.intake.receive import IntakePolicy
from inbox.runners.intake_runner import IntakeRunner
from inbox.runners.outbox_runner import OutboxRunner
from inbox.runners.worker import Worker
from mail.keys import ledger_key
from mail.parse import MAX_MIME_DEPTH, message_key, parse_email
from tests.conftest import Clock, Database
from tests.factories import UNPARSABLE, corpus_id, message_files

# --- The seeds: real messages -----------------------------------------------------------------

# Small enough that hundreds of mutants parse in seconds; the big ones have tests of their own.
_SEED_BYTES = 64 * 1024


@cache
def seeds() -> tuple[bytes, ...]:
    found = []
    for path in message_files():
        if corpus_id(path) in UNPARSABLE:
            continue
        raw = path.read_bytes()
        if len(raw) <= _SEED_BYTES:
            found.append(raw)
    assert len(found) > 200, "the corpora are missing"
    return tuple(found)


def seed() -> st.SearchStrategy[bytes]:
    return st.integers(min_value=0, max_value=len(seeds()) - 1).map(lambda i: seeds()[i])


# --- Mutations ---------------------------------------------------------------------------------
#
# Each takes the message and what hypothesis drew, and keeps the first header line as it is: a
# message that does not start with a header is not an e-mail (`UnparsableMessage`, see
# test_parse.py), and is kept as a failed row; the intake test below lets that happen too.


def _split_first_line(raw: bytes) -> tuple[bytes, bytes]:
    """The first header line (after an mbox `From ` line, if any) and the rest."""
    end = raw.find(b"\n")
    if raw.startswith(b"From ") and end != -1:
        end = raw.find(b"\n", end + 1)
    return (raw, b"") if end == -1 else (raw[: end + 1], raw[end + 1 :])


def truncate(raw: bytes, fraction: float) -> bytes:
    """Cut anywhere after the first line: in a header, a boundary, base64, a multibyte char."""
    first, rest = _split_first_line(raw)
    return first + rest[: int(len(rest) * fraction)]


# Bytes that mean something to a MIME parser, or to a decoder, or to a database column.
SPECIAL = [
    b"\x00",
    b"\xff",
    b"\xc3",
    b"\xed\xa0\x80",  # a UTF-8 encoded surrogate
    b"\r",
    b"\n",
    b"\r\n\r\n",
    b"\n\n",
    b"\x1b$B",
    b"=?",
    b"?=",
    b"=?utf-8?b?",
    b"--",
    b"\n--",
    b";",
    b'"',
    b"'",
    b"<",
    b">",
    b"\\",
    b"*",
    b"%",
    b"=",
    b"\t",
    b" ",
    b":",
    b"\nbegin 644 a.txt\n",
    b"\nend\n",
    b'\nContent-Type: multipart/mixed; boundary=""\n',
    b"\nContent-Transfer-Encoding: base64\n",
    b"\nContent-Transfer-Encoding: quoted-printable\n",
    b"\nContent-Type: message/rfc822\n",
]

Edit = tuple[float, int, bytes]  # (where, 0 replace / 1 insert / 2 delete, what)


def mutate(raw: bytes, edits: list[Edit], *, first_line_too: bool = False) -> bytes:
    first, rest = (b"", raw) if first_line_too else _split_first_line(raw)
    data = bytearray(rest)
    for where, how, what in edits:
        at = int(len(data) * where)
        if how == 0:
            data[at : at + len(what)] = what
        elif how == 1:
            data[at:at] = what
        else:
            del data[at : at + len(what)]
    return first + bytes(data)


def edits() -> st.SearchStrategy[list[Edit]]:
    what = st.one_of(st.sampled_from(SPECIAL), st.binary(min_size=1, max_size=4))
    edit = st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 2), what)
    return st.lists(edit, min_size=1, max_size=8)


_LAYER_KINDS = ("mixed", "alternative", "rfc822", "same-boundary", "unclosed")


def nest(raw: bytes, layers: list[str]) -> bytes:
    """Wrap the message in layers, innermost first: multiparts (closed, unclosed, or reusing the
    boundary of the layer inside) and message/rfc822."""
    head = (
        b"From: Fuzz <fuzz@example.se>\nTo: synpunkt@kommun.se\nSubject: Lager\nMIME-Version: 1.0\n"
    )
    previous = b""
    for depth, kind in enumerate(layers):
        if kind == "rfc822":
            raw = head + b"Content-Type: message/rfc822\n\n" + raw
            continue
        boundary = previous if kind == "same-boundary" and previous else b"lager%d" % depth
        subtype = b"alternative" if kind == "alternative" else b"mixed"
        closing = b"" if kind == "unclosed" else b"\n--" + boundary + b"--\n"
        raw = (
            head
            + b'Content-Type: multipart/' + subtype + b'; boundary="' + boundary + b'"\n\n'
            + b"--" + boundary + b"\n" + raw + closing
        )  # fmt: skip
        previous = boundary
    return raw


# Labels that name no usable charset, or one Python reads oddly.
UNUSABLE_LABELS = [
    "punycode",
    "undefined",
    "utf\x00-8",
    "x-unknown-charset",
    "idna",
    "base64",
    "rot13",
    "unicode_escape",
    "charmap",
    "zlib",
    "",
    "utf-8'sv'",
    "a" * 300,
    "utf-8 utf-8",
]
ODD_LABELS = ["utf-7", "utf-16", "utf-32", "utf-16-be", "cp037", "hz", "iso-2022-jp", "big5"]
_CHARSET_PARAM = re.compile(rb"""(charset\s*=\s*)("[^"\r\n]*"|[^\s;"]*)""", re.IGNORECASE)
_WORD_CHARSET = re.compile(rb"=\?[^?\s]+\?([qQbB])\?")


def relabel(raw: bytes, label: str) -> bytes:
    """Every charset parameter and every encoded word's charset set to `label`."""
    encoded = label.encode("utf-8")
    quoted = b'"' + encoded + b'"'
    raw = _CHARSET_PARAM.sub(lambda m: m.group(1) + quoted, raw)
    word_label = encoded.replace(b"?", b"").replace(b" ", b"") or b"x"
    return _WORD_CHARSET.sub(lambda m: b"=?" + word_label + b"?" + m.group(1) + b"?", raw)


def grow(raw: bytes, times: int, where: float) -> bytes:
    """A slice of the message repeated in place: long headers, long bodies, many parts."""
    first, rest = _split_first_line(raw)
    start = int(len(rest) * where)
    piece = rest[start : start + 2000]
    return first + rest[:start] + piece * times + rest[start:]


# Header lines that stress one step each: MIME structure, transfer encodings, RFC 2231 and RFC
# 2047 parameters, ids and addresses longer than their columns, NULs where text is expected.
HEADERS = [
    b"Content-Type: multipart/mixed",
    b'Content-Type: multipart/mixed; boundary=""',
    b"Content-Type: multipart/alternative; boundary=" + b"x" * 5000,
    b"Content-Type: multipart/report; report-type=delivery-status; boundary=--",
    b"Content-Type: message/rfc822",
    b"Content-Type: message/delivery-status",
    b"Content-Type: text/html; charset=punycode",
    b"Content-Type: text/plain; charset*=utf-8''%ff",
    b"Content-Type: application/octet-stream; name*0*=utf-8''%e5%e4; name*1*=%ff; name*2=\"x",
    b"Content-Type: image/png; name=" + b"\xe5" * 400,
    b"Content-Disposition: attachment; filename*=undefined''%e5.pdf",
    b'Content-Disposition: attachment; filename="' + b"a/" * 200 + b'"',
    b"Content-Disposition: attachment; filename=" + b"n" * 600 + b".pdf",
    b"Content-Disposition: inline; filename==?punycode?q?x?=",
    b'Content-Disposition: attachment; filename="a\x00b\x01.txt"',
    b"Content-Transfer-Encoding: base64",
    b"Content-Transfer-Encoding: quoted-printable",
    b"Content-Transfer-Encoding: x-uuencode",
    b"Content-Transfer-Encoding: bogus",
    b"Content-ID: <" + b"c" * 2000 + b">",
    b"Content-ID: <a\x00b@x>",
    b"Message-ID: <" + b"m" * 2000 + b"@example.se>",
    b"Message-ID: <\x00\xff@example.se>",
    b"In-Reply-To: " + b"<x@y> " * 1000,
    b"References: <" + b"r" * 1500 + b"@x> <ok@x>",
    b"From: " + b"a" * 400 + b"@example.se",
    b'From: "' + b"N" * 500 + b'" <anna@example.se>',
    b"From: =?utf-7?q?+AGEAYgBj-?= <a@b.se>",
    b"From: a\x00b@example.se",
    b"From: =?utf-8?b?" + b"QQ" * 300 + b"?= <x\xff@example.se>",
    b"To: " + b"a@b.se, " * 2000,
    b"Subject: =?undefined?q?Hej?=",
    b"Subject: =?utf\x00-8?b?SGVq?= \x00",
    b"Subject: " + b"=?utf-8?q?" * 2000,
    b"Date: Mon, 99 Foo 99999 99:99:99 +9999",
    b"Auto-Submitted: auto-replied",
    b"Return-Path: <>",
]


def reheader(raw: bytes, header: bytes, where: float) -> bytes:
    """`header` added to the top headers or to a part's (after one of its boundary lines)."""
    first, rest = _split_first_line(raw)
    places = [0] + [m.end() for m in re.finditer(rb"(?m)^--[^\r\n]*\r?\n", rest)]
    at = places[int(len(places) * where)]
    return first + rest[:at] + header + b"\n" + rest[at:]


@st.composite
def mutants(draw: st.DrawFn) -> bytes:
    """A corpus message with one to four mutations, in any order."""
    raw = draw(seed())
    steps = draw(
        st.lists(
            st.sampled_from(["truncate", "mutate", "nest", "relabel", "grow", "reheader"]),
            min_size=1,
            max_size=4,
        )
    )
    for step in steps:
        if step == "truncate":
            raw = truncate(raw, draw(st.floats(0, 1)))
        elif step == "mutate":
            raw = mutate(raw, draw(edits()))
        elif step == "nest":
            raw = nest(raw, draw(st.lists(st.sampled_from(_LAYER_KINDS), min_size=1, max_size=6)))
        elif step == "relabel":
            raw = relabel(raw, draw(st.sampled_from(UNUSABLE_LABELS + ODD_LABELS)))
        elif step == "grow":
            raw = grow(raw, draw(st.integers(2, 200)), draw(st.floats(0, 1)))
        else:
            header = draw(st.sampled_from(HEADERS))
            raw = reheader(raw, header, draw(st.floats(0, 1, exclude_max=True)))
    return raw


# --- What every parse must give ---------------------------------------------------------------

# The columns these fields go to (inbox/core/models.py); PostgreSQL refuses longer values.
LIMITS = {
    "message_id": 998,
    "in_reply_to": 998,
    "sender_address": 320,
    "sender_name": 200,
    "language": 8,
}


def storable(value: str) -> bool:
    """What a text column takes: no NUL, no lone surrogate (UTF-8 cannot encode it)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in value


def check_parsed(raw: bytes) -> InboundMessage:
    message = parse_email(raw)
    assert message.raw == raw
    assert message.external_id == message_key(raw)
    assert storable(ledger_key(raw))  # the key the edges store it under, not `external_id`
    for field in fields(message):
        if field.name == "external_id":
            continue
        value = getattr(message, field.name)
        for text in _strings(value):
            assert storable(text), (field.name, text[:200])
        limit = LIMITS.get(field.name)
        if limit is not None and value is not None:
            assert len(value) <= limit, (field.name, len(value))
    for attachment in message.attachments:
        assert attachment.filename and len(attachment.filename) <= 255, attachment.filename
        assert attachment.content_id is None or len(attachment.content_id) <= 998
    for reference in message.references:
        assert len(reference) <= 998
    return message


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, tuple | list):
        return [s for item in value for s in _strings(item)]
    if isinstance(value, dict):
        return [s for item in value.items() for s in _strings(item)]
    if isinstance(value, InboundAttachment):
        return [s for s in (value.filename, value.content_type, value.content_id) if s]
    return []


_FUZZ = settings(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@settings(_FUZZ, max_examples=300)
@given(mutants())
def test_every_mutant_of_a_real_message_parses(raw: bytes) -> None:
    check_parsed(raw)


@settings(_FUZZ, max_examples=60)
@given(seed(), st.sampled_from(UNUSABLE_LABELS))
def test_an_unusable_charset_label_is_read_by_the_fallbacks_and_noted(
    raw: bytes, label: str
) -> None:
    relabelled = relabel(raw, label)
    message = check_parsed(relabelled)
    if relabelled != raw and _CHARSET_PARAM.search(relabelled):
        assert any(d.startswith("unknown or unusable charset") for d in message.defects), (
            message.defects
        )


@settings(_FUZZ, max_examples=40)
@given(seed(), st.lists(st.sampled_from(_LAYER_KINDS), min_size=1, max_size=MAX_MIME_DEPTH + 10))
def test_a_message_wrapped_in_layers_parses_and_notes_a_depth_it_cannot_read(
    raw: bytes, layers: list[str]
) -> None:
    message = check_parsed(nest(raw, layers))
    if len(layers) > MAX_MIME_DEPTH:
        assert any("nested over" in d for d in message.defects), message.defects


# --- What the fuzz found ----------------------------------------------------------------------


def _hostile(header: bytes, body: bytes = b"Hej\n") -> bytes:
    """A message with `header` (which may be its only From or Subject)."""
    sender = b"" if header.startswith(b"From:") else b"From: Anna <anna@example.se>\n"
    subject = b"" if header.startswith(b"Subject:") else b"Subject: Synpunkt\n"
    return sender + subject + header + b"\n\n" + body


# What the fuzz found, kept as fixed examples: strings no PostgreSQL column takes (NUL, values
# longer than the column), and input that is no e-mail at all (a failed row).
FOUND = [
    _hostile(b"X-A: 1", b"Hej\x00"),
    _hostile(b"Subject: Und\x00liverable"),
    _hostile(b"Message-ID: <" + b"m" * 2000 + b"@example.se>"),
    _hostile(b"In-Reply-To: <" + b"r" * 1500 + b"@x>\nReferences: <" + b"r" * 1500 + b"@x>"),
    _hostile(b"From: " + b"a" * 400 + b"@example.se"),
    _hostile(b"From: aperson@examp\x00e.com"),
    _hostile(b'From: "' + b"N" * 500 + b'" <anna@example.se>'),
    _hostile(
        b'Content-Type: multipart/mixed; boundary="b"',
        b"--b\nContent-Type: text/plai\x00n\nContent-ID: <"
        + b"c" * 2000
        + b">\nContent-Disposition: attachment; filename="
        + b"n" * 600
        + b".pdf\n\nx\n--b--\n",
    ),
    b"\x00" * 300,
    b"Just some text, no headers at all.\n",
]


def test_what_the_fuzz_found_is_stored_as_a_database_takes_it() -> None:
    nul_text, nul_subject, long_id, long_refs, long_address, nul_address, long_name, part = [
        check_parsed(raw) for raw in FOUND[:8]
    ]
    assert nul_text.text == "Hej"
    assert nul_subject.subject == "Undliverable"
    assert long_id.message_id is None
    assert "1 Message-ID over 998 characters: not used for threading" in long_id.defects
    assert long_refs.in_reply_to is None and long_refs.references == ()
    assert "2 Message-IDs over 998 characters: not used for threading" in long_refs.defects
    assert long_address.sender_address is None  # nobody to answer: no acknowledgement
    assert nul_address.sender_address is None  # not "aperson@exampe.com", someone else's
    assert long_name.sender_name == "N" * 199 + "…"
    assert long_name.sender_address == "anna@example.se"
    (attachment,) = part.attachments
    assert attachment.content_type == "text/plain" and attachment.content_id is None
    assert len(attachment.filename) == 255 and attachment.filename.endswith("n….pdf")
    for raw in FOUND[8:]:
        with pytest.raises(UnparsableMessage):
            parse_email(raw)


def test_a_nul_after_the_first_header_name_is_a_defect_not_binary_junk() -> None:
    message = check_parsed(
        b'Content-Type: text/plain; charset="utf\x00-8"\nFrom: a@example.se\n\nHej'
    )
    assert message.text == "Hej" and message.sender_address == "a@example.se"
    assert any(d.startswith("unknown or unusable charset 'utf?-8'") for d in message.defects)


# --- Intake: mutants through the ledger and the worker -----------------------------------------

POLICY = IntakePolicy(case_prefix="SP", mail_domain="synpunkt.example")


def normal(n: int) -> bytes:
    """A plain message from a person, with a Message-ID of its own."""
    return (
        b"From: Anna Andersson <anna@example.se>\nTo: synpunkt@kommun.se\n"
        b"Subject: Bemotande i receptionen\nMessage-ID: <normal-%d@example.se>\n"
        b"Content-Type: text/plain; charset=utf-8\n\n"
        % n
        + "Hej! Jag vill lämna en synpunkt på bemötandet vid mitt besök i tisdags.\n".encode()
    )


_KEYS = itertools.count()  # the database lives across examples: every row needs a key of its own


@settings(
    max_examples=6,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    st.lists(
        st.one_of(mutants(), st.builds(partial(mutate, first_line_too=True), seed(), edits())),
        min_size=1,
        max_size=3,
    )
)
@example(FOUND[:5])
@example(FOUND[5:])
async def test_mutants_end_as_cases_or_failed_rows_and_the_mail_behind_them_flows(
    db: Database, clock: Clock, batch: list[bytes]
) -> None:
    keys = []
    raws = [*batch, normal(next(_KEYS))]
    async with unit_of_work(db.sessions) as session:
        for n, raw in enumerate(raws):
            key = f"fuzz-{next(_KEYS)}-{n}"
            await ledger.record(session, channel="email", external_id=key, raw=raw, now=clock())
            keys.append(key)
    worker = Worker(
        IntakeRunner(db.sessions, parsers={"email": parse_email}, policy=POLICY, clock=clock),
        OutboxRunner(db.sessions, senders={}, clock=clock),
    )
    await worker.drain()
    async with db.sessions() as session:
        rows = {
            row.external_id: row
            for row in (
                await session.execute(
                    select(IntakeRecord).where(col(IntakeRecord.external_id).in_(keys))
                )
            ).scalars()
        }
        cases = {c.id: c for c in (await session.execute(select(Case))).scalars()}
    for key, raw in zip(keys, raws, strict=True):
        row = rows[key]
        assert row.raw == raw
        if row.status == IntakeStatus.FAILED:
            assert row.error, key
        else:
            assert row.status == IntakeStatus.DONE, (key, row.status, row.error)
            assert row.case_id in cases
    assert rows[keys[-1]].status == IntakeStatus.DONE
