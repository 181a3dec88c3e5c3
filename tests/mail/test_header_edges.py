"""Issue 13 through both mail edges: headers read as the sender meant them, and a Message-ID that
two different messages carry, over SMTP (our listener on loopback) and IMAP (a real Dovecot),
then through the worker, on both database backends.

The parser's side of each case is in `test_header_block.py`, the ledger's in
`tests/inbox/intake/test_reused_ids.py`; here the mails go the whole way a real one goes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select

from inbox.core.models import Case, IntakeRecord, IntakeStatus, Message
from inbox.intake.receive import IntakePolicy
from inbox.runners.worker import Worker
from mail.imap import ImapPoller
from mail.keys import content_digest
from mail.parse import parse_email
from mail.smtp import with_return_path
from tests.conftest import Clock, Database
from tests.factories import eventually, make_worker
from tests.mail.dovecot import Dovecot, config_for
from tests.mail.header_cases import LEGACY, banner_mail, broken_mail, legacy_mail
from tests.mail.smtp_env import INTAKE, SENDER, client, ledger_rows, smtp_server


@dataclass(frozen=True)
class Expected:
    raw: bytes  # CRLF, as both edges carry mail
    message_id: str
    sender_address: str
    sender_name: str
    subject: str


def crlf(raw: bytes) -> bytes:
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def header_cases() -> list[Expected]:
    """One mail of each case: raw header bytes in each legacy charset (declared only by a later
    part), a header block broken by a tracking header, and a forwarding banner on top."""
    cases = [
        Expected(
            crlf(
                legacy_mail(
                    cs,
                    name,
                    subject,
                    layout="declared in a later part",
                    message_id=f"legacy.{cs}@x.org",
                )
            ),
            f"legacy.{cs}@x.org",
            "sender@example.org",
            name,
            subject,
        )
        for cs, name, subject in LEGACY
    ]
    cases.append(
        Expected(
            broken_mail("\r\n"),
            "broken.1@example.se",
            "anna@example.se",
            "Anna Andersson",
            "Synpunkt om hemtjänsten",
        )
    )
    cases.append(
        Expected(
            crlf(banner_mail()),
            "banner.1@example.se",
            "anna@example.se",
            "Anna Andersson",
            "Synpunkt",
        )
    )
    return cases


def worker_for(db: Database, clock: Clock) -> Worker:
    return make_worker(db.sessions, clock, parsers={"email": parse_email}, policy=IntakePolicy())


async def taken_in(db: Database, worker: Worker, count: int) -> None:
    """Runs the worker's intake until `count` ledger rows are done."""

    async def done() -> bool:
        await worker.process_intake()
        async with db.sessions() as session:
            query = select(func.count()).where(IntakeRecord.status == IntakeStatus.DONE)  # type: ignore[arg-type]
            return (await session.execute(query)).scalar_one() == count

    await eventually(done, f"{count} ledger rows are cases")


async def inbound(db: Database) -> dict[str | None, Message]:
    async with db.sessions() as session:
        query = select(Message).where(Message.direction == "inbound")  # type: ignore[arg-type]
        return {m.rfc_message_id: m for m in (await session.execute(query)).scalars()}


def assert_read_as_meant(stored: dict[str | None, Message], cases: list[Expected]) -> None:
    assert set(stored) == {case.message_id for case in cases}
    for case in cases:
        message = stored[case.message_id]
        got = (message.sender_address, message.sender_name, message.subject)
        assert got == (case.sender_address, case.sender_name, case.subject), case.message_id


# --- IMAP --------------------------------------------------------------------------------------


@asynccontextmanager
async def polling(db: Database, server: Dovecot) -> AsyncIterator[ImapPoller]:
    stop = asyncio.Event()
    poller = ImapPoller(
        config_for(server),
        engine=db.engine,
        sessions=db.sessions,
        clock=lambda: datetime.now(UTC),
    )
    task = asyncio.create_task(poller.run(stop))
    try:
        yield poller
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=60)


async def fetched(db: Database, server: Dovecot, raws: list[bytes]) -> None:
    """Appends `raws` to the mailbox and polls until the poller has taken every one of them."""
    await asyncio.to_thread(server.append, raws)
    async with polling(db, server):

        async def inbox_empty() -> bool:
            return await asyncio.to_thread(server.count) == 0

        await eventually(inbox_empty, "the poller took every message")


# --- Headers read as the sender meant them -----------------------------------------------------


async def test_headers_arriving_over_smtp_are_read_as_the_sender_meant_them(
    db: Database, clock: Clock
) -> None:
    cases = header_cases()
    async with smtp_server(db.sessions, clock) as port, client(port) as smtp:
        replies = [(await smtp.sendmail(SENDER, [INTAKE], case.raw))[1] for case in cases]
    assert replies == ["2.0.0 OK"] * len(cases)
    rows = await ledger_rows(db.sessions)
    assert sorted(r.external_id for r in rows) == sorted(case.message_id for case in cases)
    # Kept as they came, under the envelope sender the SMTP edge stamps on what it can read
    assert {r.raw for r in rows} == {with_return_path(case.raw, SENDER) for case in cases}
    await taken_in(db, worker_for(db, clock), len(cases))
    assert_read_as_meant(await inbound(db), cases)


async def test_headers_read_from_an_imap_mailbox_are_read_as_the_sender_meant_them(
    db: Database, clock: Clock, dovecot: Dovecot
) -> None:
    cases = header_cases()
    await fetched(db, dovecot, [case.raw for case in cases])
    rows = await ledger_rows(db.sessions)
    assert sorted(r.external_id for r in rows) == sorted(case.message_id for case in cases)
    await taken_in(db, worker_for(db, clock), len(cases))
    assert_read_as_meant(await inbound(db), cases)


# --- A Message-ID that two different messages carry --------------------------------------------


def letter(body: str, *, subject: str = "Synpunkt", top: str = "") -> bytes:
    """A message with the Message-ID some scanner or client sends every time."""
    return crlf(
        (
            top + f"From: Anna <{SENDER}>\nTo: {INTAKE}\nSubject: {subject}\n"
            "Date: Tue, 10 Mar 2026 09:00:00 +0100\nMessage-ID: <scan@printer.example.org>\n"
            f"\n{body}\n"
        ).encode()
    )


FIRST = letter("Hej! Bifogar min ansökan.")
SECOND = letter("Hej igen, här är kompletteringen.", subject="Komplettering")
# The first one retried by another relay, and as the mailbox it was delivered to keeps it.
RETRIED = crlf(b"Received: from relay2.example.org by mx.kommun.se\n\tfor <x>; Tue\n") + FIRST
DELIVERED = (
    crlf(b"Return-Path: <anna@example.org>\nDelivered-To: intake@test.example\n")
    + crlf(b"X-Original-To: intake@test.example\nReceived: from mx.kommun.se by imap\n")
    + FIRST
)


async def reuse_is_two_flagged_cases(db: Database, clock: Clock, *, second_raw: bytes) -> None:
    """The ledger holds FIRST and SECOND (stored as `second_raw`), the second flagged, and they
    became two cases."""
    first, second = sorted(await ledger_rows(db.sessions), key=lambda r: r.id or 0)
    assert (first.external_id, first.reuses_id_of) == ("scan@printer.example.org", None)
    assert second.external_id == f"scan@printer.example.org sha256:{content_digest(SECOND)}"
    assert second.reuses_id_of == first.id and second.raw == second_raw
    await taken_in(db, worker_for(db, clock), 2)
    async with db.sessions() as session:
        messages = (
            (
                await session.execute(
                    select(Message)
                    .where(Message.direction == "inbound")  # type: ignore[arg-type]
                    .order_by(Message.id)  # type: ignore[arg-type]
                )
            )
            .scalars()
            .all()
        )
        cases = (await session.execute(select(func.count()).select_from(Case))).scalar_one()
    assert cases == 2 and messages[0].case_id != messages[1].case_id
    assert [m.subject for m in messages] == ["Synpunkt", "Komplettering"]
    assert [m.rfc_message_id for m in messages] == ["scan@printer.example.org"] * 2
    assert messages[0].defects == []
    assert messages[1].defects == [
        f"its Message-ID was used before by a different message (intake record {first.id}):"
        " stored as a message of its own, not as a redelivery"
    ]


async def test_over_smtp_a_reused_message_id_is_its_own_message_and_a_retry_is_not(
    db: Database, clock: Clock
) -> None:
    async with smtp_server(db.sessions, clock) as port:
        replies = []
        for raw in (FIRST, RETRIED, SECOND, SECOND):
            async with client(port) as smtp:
                replies.append((await smtp.sendmail(SENDER, [INTAKE], raw))[1])
    # Every one hears the same 250: a reply must not tell what is stored.
    assert replies == ["2.0.0 OK"] * 4
    await reuse_is_two_flagged_cases(db, clock, second_raw=with_return_path(SECOND, SENDER))


async def test_from_imap_a_reused_message_id_is_its_own_message_and_a_copy_is_not(
    db: Database, clock: Clock, dovecot: Dovecot
) -> None:
    # The first arrives over SMTP; the mailbox it was also delivered to holds it with the
    # delivery's trace fields, and the second message under the same Message-ID, twice.
    async with smtp_server(db.sessions, clock) as port, client(port) as smtp:
        await smtp.sendmail(SENDER, [INTAKE], FIRST)
    await fetched(db, dovecot, [DELIVERED, SECOND, SECOND])
    await reuse_is_two_flagged_cases(db, clock, second_raw=SECOND)
