"""The SMTP edge in real conversations on loopback: what is committed, and what each client hears.

Every test talks to `start_smtp_server` with aiosmtplib (or a raw socket, for clients aiosmtplib
would correct) on an ephemeral port, on both database backends.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from typing import Any

import aiosmtplib
import pytest
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlalchemy.orm import Session

from inbox.core.db import create_engine, session_factory
from inbox.core.models import IntakeRecord, IntakeStatus
from mail.smtp import with_return_path
from tests.conftest import Clock, Database
from tests.mail.smtp_env import INTAKE, SENDER, client, ledger_rows, mail, smtp_server


async def test_accepted_mail_is_committed_raw_before_the_250(db: Database, clock: Clock) -> None:
    raw = mail(body="Hej!\r\n.A line that starts with a dot\r\n..two dots\r\n")
    async with smtp_server(db.sessions, clock) as port, client(port) as smtp:
        errors, reply = await smtp.sendmail(SENDER, [INTAKE], raw)
        # A fresh engine sees the row at once: it was committed before the client heard 250.
        other = create_engine(db.url)
        try:
            rows = await ledger_rows(session_factory(other))
        finally:
            await other.dispose()
    assert errors == {}
    assert len(rows) == 1
    assert reply == "2.0.0 OK"
    row = rows[0]
    assert (row.channel, row.external_id, row.status) == (
        "email",
        "m1@example.org",
        IntakeStatus.PENDING,
    )
    # Stored as received, below the envelope sender's Return-Path (RFC 5321 section 4.4).
    assert row.raw == f"Return-Path: <{SENDER}>\r\n".encode() + raw
    assert row.raw_sha256 == hashlib.sha256(row.raw).hexdigest()
    assert (row.envelope_sender, row.envelope_recipients) == (SENDER, [INTAKE])
    assert row.received_at == clock.now


async def test_only_unknown_recipients_are_refused_with_550(db: Database, clock: Clock) -> None:
    async with smtp_server(db.sessions, clock) as port, client(port) as smtp:
        with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as refused:
            await smtp.sendmail(SENDER, ["nobody@test.example"], mail())
    assert [e.code for e in refused.value.recipients] == [550]
    assert "5.1.1" in refused.value.recipients[0].message
    assert await ledger_rows(db.sessions) == []


async def test_known_and_unknown_recipients_the_known_ones_get_the_mail(
    db: Database, clock: Clock
) -> None:
    async with smtp_server(db.sessions, clock) as port, client(port) as smtp:
        errors, _ = await smtp.sendmail(
            SENDER, ["nobody@test.example", "INTAKE@Test.Example", "second@test.example"], mail()
        )
    assert {address: r.code for address, r in errors.items()} == {"nobody@test.example": 550}
    [row] = await ledger_rows(db.sessions)
    assert row.envelope_recipients == ["INTAKE@Test.Example", "second@test.example"]


async def test_oversize_mail_declared_in_mail_from_is_refused_with_552(
    db: Database, clock: Clock
) -> None:
    big = mail(body="x" * 70 + "\r\n") * 1 + b"y" * 70_000 + b"\r\n"
    async with smtp_server(db.sessions, clock, max_size=64 * 1024) as port, client(port) as smtp:
        with pytest.raises(aiosmtplib.SMTPSenderRefused) as refused:
            await smtp.sendmail(SENDER, [INTAKE], big)  # aiosmtplib declares SIZE=
    assert refused.value.code == 552
    assert refused.value.message.startswith("5.3.4")
    assert await ledger_rows(db.sessions) == []


async def test_oversize_data_without_a_declared_size_is_refused_with_552(
    db: Database, clock: Clock
) -> None:
    body = "".join(f"line {i:05d} " + "z" * 60 + "\r\n" for i in range(1200))
    async with smtp_server(db.sessions, clock, max_size=64 * 1024) as port, client(port) as smtp:
        await smtp.ehlo()
        await smtp.mail(SENDER)
        await smtp.rcpt(INTAKE)
        with pytest.raises(aiosmtplib.SMTPDataError) as refused:
            await smtp.data(mail(body=body))
        # The session goes on: the next message on the same connection is accepted.
        await smtp.rset()
        errors, _ = await smtp.sendmail(SENDER, [INTAKE], mail("small@example.org"))
    assert refused.value.code == 552
    assert errors == {}
    assert [row.external_id for row in await ledger_rows(db.sessions)] == ["small@example.org"]


async def test_redelivery_of_the_same_message_id_gets_the_same_250_and_is_stored_once(
    db: Database, clock: Clock
) -> None:
    woken: list[None] = []
    first = mail("again@example.org")
    # A retry through another relay arrives with one more trace header: same Message-ID.
    second = b"Received: from relay2.example.org; Tue, 10 Mar 2026 09:05:00 +0100\r\n" + first
    async with smtp_server(db.sessions, clock, on_commit=lambda: woken.append(None)) as port:
        async with client(port) as smtp:
            _, reply1 = await smtp.sendmail(SENDER, [INTAKE], first)
        async with client(port) as smtp:
            _, reply2 = await smtp.sendmail(SENDER, [INTAKE], second)
    rows = await ledger_rows(db.sessions)
    assert [row.raw for row in rows] == [f"Return-Path: <{SENDER}>\r\n".encode() + first]
    # The replies do not tell a redelivery from a new message, nor name the ledger row.
    assert reply1 == reply2 == "2.0.0 OK"
    assert len(woken) == 1  # the worker is woken for new work only


async def test_a_null_sender_is_stamped_as_an_empty_return_path_replacing_the_senders(
    db: Database, clock: Clock
) -> None:
    # A bounce comes with MAIL FROM:<> (RFC 5321 section 4.5.5); whatever Return-Path its text
    # claims was written by nobody we can check, and would hide the null sender from the worker.
    raw = mail(
        "bounce@example.org",
        extra="Return-Path: <anna@example.org>\r\nreturn-path:\r\n <folded@example.org>\r\n",
    )
    async with smtp_server(db.sessions, clock) as port:
        replies = await raw_conversation(
            port,
            [b"EHLO mx.example.org", b"MAIL FROM:<>", f"RCPT TO:<{INTAKE}>".encode(), b"DATA"],
            raw,
        )
    assert replies[-1].startswith(b"250 2.0.0 OK"), replies
    [row] = await ledger_rows(db.sessions)
    assert row.envelope_sender == "<>"
    assert row.raw is not None
    head, _, body = row.raw.partition(b"\r\n\r\n")
    assert head.splitlines()[0] == b"Return-Path: <>"
    assert head.lower().count(b"return-path") == 1
    assert b"folded@example.org" not in head
    assert body == b"Hej!\r\n"
    # The ledger key is the message's as it came: the stamp changes no dedupe key.
    assert row.external_id == "bounce@example.org"


@pytest.mark.parametrize(
    ("received", "reverse_path", "stored"),
    [
        (
            b"From: a@b.se\r\n\r\nHej\r\n",
            "a@b.se",
            b"Return-Path: <a@b.se>\r\nFrom: a@b.se\r\n\r\nHej\r\n",
        ),
        (b"From: a@b.se\n\nHej\n", "<>", b"Return-Path: <>\nFrom: a@b.se\n\nHej\n"),
        # After an mbox From line and leading blank lines, where the parser starts reading.
        (
            b"\r\nFrom x@y Tue\r\nFrom: a@b.se\r\n",
            "<>",
            b"\r\nFrom x@y Tue\r\nReturn-Path: <>\r\nFrom: a@b.se\r\n",
        ),
        (b"From x@y Tue\rFrom: a@b.se\r", "<>", b"From x@y Tue\rReturn-Path: <>\nFrom: a@b.se\r"),
        # The sender's own, anywhere in the header block, folded or not; the body is left alone.
        (
            b"Return-Path: <x@y>\nFrom: a@b.se\nRETURN-PATH:\n\t<z@y>\nSubject: s\n\nReturn-Path: <b>\n",
            "<>",
            b"Return-Path: <>\nFrom: a@b.se\nSubject: s\n\nReturn-Path: <b>\n",
        ),
        # Nothing a header line could end is taken into the stamp.
        (
            b"From: a@b.se\r\n\r\n",
            "a\r\nBcc: <x>@b.se",
            b"Return-Path: <aBcc:x@b.se>\r\nFrom: a@b.se\r\n\r\n",
        ),
        # No message (an Outlook .msg, no header line): kept as received, for the worker to refuse.
        (
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00\r\n",
            "a@b.se",
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00\r\n",
        ),
        (
            b"Hej, det h\xc3\xa4r \xc3\xa4r ingen rubrik\r\n",
            "a@b.se",
            b"Hej, det h\xc3\xa4r \xc3\xa4r ingen rubrik\r\n",
        ),
    ],
)
def test_the_stored_message_carries_the_envelope_sender_as_its_return_path(
    received: bytes, reverse_path: str, stored: bytes
) -> None:
    assert with_return_path(received, reverse_path) == stored


async def test_a_message_without_message_id_is_keyed_by_the_bytes_it_came_as(
    db: Database, clock: Clock
) -> None:
    raw = mail(None, body="Inget Message-ID här.\r\n")
    async with smtp_server(db.sessions, clock) as port, client(port) as smtp:
        await smtp.sendmail("", [INTAKE], raw)
        await smtp.sendmail(SENDER, [INTAKE], raw)  # another envelope: the same message
    [row] = await ledger_rows(db.sessions)
    assert row.external_id == "sha256:" + hashlib.sha256(raw).hexdigest()
    assert row.raw == b"Return-Path: <>\r\n" + raw


async def test_smtputf8_sender_address_is_accepted(db: Database, clock: Clock) -> None:
    raw = mail("utf8@example.org", extra="", body="Hälsningar från Åsa\r\n").replace(
        SENDER.encode(), "åsa@exempel.se".encode()
    )
    async with smtp_server(db.sessions, clock) as port, client(port) as smtp:
        errors, _ = await smtp.sendmail("åsa@exempel.se", [INTAKE], raw, mail_options=["SMTPUTF8"])
    assert errors == {}
    [row] = await ledger_rows(db.sessions)
    assert row.envelope_sender == "åsa@exempel.se"
    assert row.raw == "Return-Path: <åsa@exempel.se>\r\n".encode() + raw


async def test_a_database_failure_answers_451_and_stores_nothing(
    db: Database, clock: Clock
) -> None:
    class CommitFails(Session):
        pass

    def refuse(session: Session) -> None:
        raise OSError("disk full")

    event.listen(CommitFails, "before_commit", refuse)
    broken = async_sessionmaker(db.engine, sync_session_class=CommitFails)
    woken: list[None] = []
    async with smtp_server(broken, clock, on_commit=lambda: woken.append(None)) as port:
        async with client(port) as smtp:
            with pytest.raises(aiosmtplib.SMTPDataError) as failed:
                await smtp.sendmail(SENDER, [INTAKE], mail("retry@example.org"))
    assert failed.value.code == 451
    assert failed.value.message.startswith("4.3.0")
    assert await ledger_rows(db.sessions) == []
    assert woken == []
    # The sender's retry, once the database is back, is accepted.
    async with smtp_server(db.sessions, clock) as port, client(port) as smtp:
        errors, _ = await smtp.sendmail(SENDER, [INTAKE], mail("retry@example.org"))
    assert errors == {}
    assert [row.external_id for row in await ledger_rows(db.sessions)] == ["retry@example.org"]


async def test_big_mail_with_bare_lf_line_endings_is_accepted_as_sent(
    db: Database, clock: Clock
) -> None:
    # Some scripts send LF-only lines; only the final dot has CRLF. aiosmtplib would fix the
    # endings, so this client talks over a plain socket.
    raw = mail("bare-lf@example.org", body="rad\n" * 5000).replace(b"\r\n", b"\n") + b"\r\n"
    async with smtp_server(db.sessions, clock) as port:
        replies = await raw_conversation(
            port,
            [
                b"EHLO script.example.org",
                f"MAIL FROM:<{SENDER}>".encode(),
                f"RCPT TO:<{INTAKE}>".encode(),
                b"DATA",
            ],
            raw,
        )
    assert replies[-1].startswith(b"250 2.0.0 OK"), replies
    [row] = await ledger_rows(db.sessions)
    assert row.raw == f"Return-Path: <{SENDER}>\n".encode() + raw  # the stamp ends as lines do


async def raw_conversation(port: int, commands: list[bytes], data: bytes) -> list[bytes]:
    """Sends commands one by one, then `data` and the final dot; returns the last reply lines."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    replies: list[bytes] = [await _reply(reader)]
    try:
        for command in commands:
            writer.write(command + b"\r\n")
            replies.append(await _reply(reader))
        writer.write(data + b".\r\n")
        replies.append(await _reply(reader))
        writer.write(b"QUIT\r\n")
        await _reply(reader)
    finally:
        writer.close()
        await writer.wait_closed()
    return replies


async def _reply(reader: asyncio.StreamReader) -> bytes:
    """One (possibly multi-line) SMTP reply; the last line is returned."""
    while True:
        line = await reader.readline()
        if len(line) < 4 or line[3:4] != b"-":
            return line.rstrip(b"\r\n")


async def test_server_counts_one_row_per_message_under_concurrent_clients(
    db: Database, clock: Clock
) -> None:
    async def deliver(port: int, n: int) -> Any:
        async with client(port) as smtp:
            for i in range(10):
                await smtp.sendmail(SENDER, [INTAKE], mail(f"c{n}-{i}@example.org"))

    async with smtp_server(db.sessions, clock) as port:
        await asyncio.gather(*(deliver(port, n) for n in range(5)))
    async with db.sessions() as session:
        count = (await session.execute(select(func.count()).select_from(IntakeRecord))).scalar_one()
    assert count == 50


async def test_a_message_the_database_refuses_does_not_fail_the_others_committed_with_it(
    db: Database, clock: Clock
) -> None:
    engine = create_engine(db.url)

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def refuse_poison(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if "poison@example.org" in repr(params):
            raise OSError("the database refuses this one")

    async def deliver(message_id: str) -> int:
        async with client(port) as smtp:
            try:
                await smtp.sendmail(SENDER, [INTAKE], mail(message_id))
            except aiosmtplib.SMTPDataError as exc:
                return exc.code
            return 250

    ids = [f"ok{n}@example.org" for n in range(8)] + ["poison@example.org"]
    try:
        async with smtp_server(session_factory(engine), clock) as port:
            codes = await asyncio.gather(*(deliver(message_id) for message_id in ids))
    finally:
        await engine.dispose()
    assert dict(zip(ids, codes, strict=True)) == {**{i: 250 for i in ids[:-1]}, ids[-1]: 451}
    stored = sorted(row.external_id for row in await ledger_rows(db.sessions))
    assert stored == sorted(ids[:-1])


async def test_a_451_logs_one_line_without_any_address(
    db: Database, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    engine = create_engine(db.url)

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def refuse(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        # As a database error does, this one quotes the statement's parameters.
        raise OSError(f"the database is away; parameters {params!r}")

    caplog.set_level(logging.DEBUG)
    try:
        async with smtp_server(session_factory(engine), clock) as port, client(port) as smtp:
            with pytest.raises(aiosmtplib.SMTPDataError) as failed:
                await smtp.sendmail(SENDER, [INTAKE], mail("away@example.org"))
    finally:
        await engine.dispose()
    assert failed.value.code == 451
    # aiosmtpd's own logger ("mail.log") echoes the SMTP commands; the CLI keeps it at WARNING.
    ours = [r for r in caplog.records if r.name.startswith("mail.") and r.name != "mail.log"]
    [warning] = [r for r in ours if r.levelno >= logging.WARNING]
    assert "OSError" in warning.getMessage() and "451" in warning.getMessage()
    shown = ours + [r for r in caplog.records if r.levelno >= logging.WARNING]
    logged = "\n".join(caplog.handler.format(record) for record in shown)
    for address in (SENDER, INTAKE, "away@example.org"):
        assert address not in logged
