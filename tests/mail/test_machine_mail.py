"""Never answer a machine (issue 13), through the real edges: each class of automated mail that
used to be acknowledged arrives over SMTP and over IMAP (a real Dovecot), becomes a case, and no
acknowledgement is queued for it; a person's letter beside them still gets one.

The messages are written here, after the formats of real mail systems: a mailer daemon's notice
that answers with `Re:`, a delivery status report about our own acknowledgement, a carrier's
post_master, Postfix's notice to the postmaster, a carrier's bounce from a no-reply address quoting
the original, a list manager's rejection, complaint reports (RFC 5965 and a mailbox provider's
own), a notification service's JSON event, and a no-reply auto-reply without RFC 3834's headers.
None carries Auto-Submitted or Precedence. Over SMTP each comes with its envelope sender (the null
one for bounces); over IMAP with the Return-Path the delivering MTA wrote.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select

from inbox.core.models import Direction, IntakeRecord, IntakeStatus, Message, OutboxItem
from inbox.intake.acknowledgement import ACK_KIND
from inbox.intake.receive import IntakePolicy
from mail.imap import ImapConfig, ImapPoller
from mail.parse import parse_email
from tests.conftest import Clock, Database
from tests.factories import eventually, make_worker
from tests.mail.dovecot import PASSWORD, USER, Dovecot
from tests.mail.smtp_env import INTAKE, client, smtp_server

OUR_ACK = "[SP-2026-0001] Vi har tagit emot ditt meddelande"
# Our acknowledgement as a bounce or complaint quotes it back.
QUOTED_ACK = (
    "From: =?utf-8?q?Socialtj=C3=A4nsten?= <synpunkt@kommun.example>\r\n"
    "To: anna@example.se\r\n"
    f"Subject: {OUR_ACK}\r\n"
    "Message-ID: <ack.1@kommun.example>\r\n"
    "Auto-Submitted: auto-replied\r\n"
)


@dataclass(frozen=True)
class Sample:
    name: str
    envelope_sender: str  # "" for the null reverse-path
    raw: bytes
    automation: str

    @property
    def message_id(self) -> str:
        return f"{self.name}@machine.test"


def _message(headers: str, body: str, *, name: str) -> bytes:
    head = headers.strip("\n").replace("\n", "\r\n")
    text = body.replace("\n", "\r\n")
    return f"{head}\r\nMessage-ID: <{name}@machine.test>\r\n\r\n{text}".encode()


def _multipart(
    headers: str, content_type: str, parts: list[tuple[str, str]], *, name: str
) -> bytes:
    body = "This is a MIME-encapsulated message.\n\n"
    for part_type, text in parts:
        body += f"--=_b\nContent-Type: {part_type}\n\n{text.replace(chr(13), '')}\n"
    headers += f'\nMIME-Version: 1.0\nContent-Type: {content_type}; boundary="=_b"'
    return _message(headers, body + "--=_b--\n", name=name)


def samples() -> list[Sample]:
    dsn = (
        "Reporting-MTA: dns; mx.example.org\n\nFinal-Recipient: rfc822; anna@example.se\n"
        "Action: failed\nStatus: 5.2.2\nDiagnostic-Code: smtp; 552 5.2.2 Mailbox full\n"
    )
    arf = (
        "Feedback-Type: abuse\nUser-Agent: ProviderFBL/2.1\nVersion: 1\n"
        "Original-Mail-From: <synpunkt@kommun.example>\nOriginal-Rcpt-To: <anna@example.se>\n"
        "Arrival-Date: Tue, 10 Mar 2026 09:00:05 +0000\nSource-IP: 192.0.2.25\n"
    )
    sns = (
        '{\n  "Type" : "Notification",\n'
        '  "MessageId" : "8d3c2f0e-5b1a-4e77-9a51-2f7c1e0d9b11",\n'
        '  "TopicArn" : "arn:aws:sns:eu-north-1:123456789012:ses-events",\n'
        '  "Message" : "{\\"notificationType\\":\\"Complaint\\",\\"complaint\\":'
        '{\\"complainedRecipients\\":[{\\"emailAddress\\":\\"anna@example.se\\"}],'
        '\\"complaintFeedbackType\\":\\"abuse\\"},\\"mail\\":{\\"source\\":'
        '\\"synpunkt@kommun.example\\"}}",\n'
        '  "Timestamp" : "2026-03-10T09:01:00.000Z"\n}\n\n--\n'
        "If you wish to stop receiving notifications from this topic, please click or visit the "
        "link below to unsubscribe:\nhttps://sns.eu-north-1.amazonaws.com/unsubscribe.html\n"
    )
    return [
        Sample(
            "daemon-re",
            "",
            _message(
                "From: MAILER-DAEMON@mx1.isp.example (Mail Delivery System)\n"
                "To: synpunkt@kommun.example\nSubject: Re: Synpunkt om hemtjänsten",
                "Ditt meddelande till anna@isp.example har lagts i kö och levereras senare.\n",
                name="daemon-re",
            ),
            "bounce",
        ),
        Sample(
            "our-ack-bounced",
            "",
            _multipart(
                "From: postmaster@example.org\nTo: synpunkt@kommun.example\n"
                f"Subject: Re: {OUR_ACK}",
                "multipart/report; report-type=delivery-status",
                [
                    ("text/plain", "This is the mail system at host mx.example.org.\n"),
                    ("message/delivery-status", dsn),
                    ("text/rfc822-headers", QUOTED_ACK),
                ],
                name="our-ack-bounced",
            ),
            "bounce",
        ),
        Sample(
            "carrier-post-master",
            "",
            _message(
                "From: post_master@vtext.example\nTo: synpunkt@kommun.example\nSubject: Re: Hej",
                "Error: 550 - Requested action not taken: no such user here\n\n"
                "Original Message:\n\n> Hej! Jag har en synpunkt.\n",
                name="carrier-post-master",
            ),
            "bounce",
        ),
        Sample(
            "postfix-errors-from",
            "",
            _message(
                "From: MAILER-DAEMON@mx.kommun.example (Mail Delivery System)\n"
                "To: postmaster@mx.kommun.example (Postmaster)\n"
                "Subject: Postfix SMTP server: errors from unknown[192.0.2.7]",
                "Transcript of session follows.\n\n Out: 220 mx.kommun.example ESMTP\n"
                " In:  EHLO scanner.example\n Out: 250-mx.kommun.example\n",
                name="postfix-errors-from",
            ),
            "bounce",
        ),
        Sample(
            "carrier-no-reply",
            "no-reply@mail.carrier.example",
            _message(
                "From: no-reply@mail.carrier.example\nTo: synpunkt@kommun.example\n"
                f"Subject: Re: {OUR_ACK}",
                "Your mail sent on: Tue, 10 Mar 2026 18:00:05 +0900\n"
                "    Could not be delivered to: <anna@carrier.example>\n"
                "    As their mailbox is full.\n\n" + QUOTED_ACK + "\nHej!\n",
                name="carrier-no-reply",
            ),
            "bounce",
        ),
        Sample(
            "list-manager",
            "kurs-admin@lists.example.jp",
            _message(
                "From: kurs-admin@lists.example.jp\nTo: synpunkt@kommun.example\n"
                "Subject: NOT MEMBER article from synpunkt@kommun.example\n"
                "X-MLServer: fml [fml 4.0.3 release]\nX-ML-Name: kurs",
                "You are not a member of this mailing list <kurs@lists.example.jp>.\n\n"
                "Original mail as follows:\n\n" + QUOTED_ACK + "\nHej!\n",
                name="list-manager",
            ),
            "bounce",
        ),
        Sample(
            "feedback-report",
            "fbl-bounces@provider.example",
            _multipart(
                "From: Provider FBL <fbl@provider.example>\nTo: synpunkt@kommun.example\n"
                "Subject: Email Feedback Report for IP 192.0.2.25",
                "multipart/report; report-type=feedback-report",
                [
                    ("text/plain", "This is an email abuse report for an email message.\n"),
                    ("message/feedback-report", arf),
                    ("text/rfc822-headers", QUOTED_ACK),
                ],
                name="feedback-report",
            ),
            "complaint",
        ),
        Sample(
            "provider-complaint",
            "staff@mail.provider.example",
            _multipart(
                "From: staff@mail.provider.example\nTo: synpunkt@kommun.example\n"
                "Subject: complaint about message from 192.0.2.25",
                "multipart/mixed",
                [
                    (
                        "text/plain",
                        "This is an email abuse report for an email message received from IP"
                        " 192.0.2.25 on Tue, 10 Mar 2026 01:00:05 -0800.\n",
                    ),
                    ("message/rfc822", QUOTED_ACK + "\nHej!\n"),
                ],
                name="provider-complaint",
            ),
            "complaint",
        ),
        Sample(
            "notification-service",
            "0100018e2b7c1d4f-6f3b2e11-0000@eu-north-1.amazonses.example",
            _message(
                "From: AWS Notifications <no-reply@sns.amazonaws.com>\n"
                "To: synpunkt@kommun.example\nSubject: AWS Notification Message\n"
                "x-amz-sns-message-type: Notification\n"
                "x-amz-sns-message-id: 8d3c2f0e-5b1a-4e77-9a51-2f7c1e0d9b11\n"
                "x-amz-sns-topic-arn: arn:aws:sns:eu-north-1:123456789012:ses-events\n"
                "Content-Type: text/plain; charset=UTF-8",
                sns,
                name="notification-service",
            ),
            "notification",
        ),
        Sample(
            "no-reply-auto-reply",
            "noreply@foretag.example",
            _message(
                "From: =?utf-8?q?Kundtj=C3=A4nst?= <noreply@foretag.example>\n"
                "To: synpunkt@kommun.example\nSubject: Re: Synpunkt om hemtjänsten\n"
                "Content-Type: text/plain; charset=utf-8",
                "Tack för ditt mejl! Vi har tagit emot ditt ärende och svarar inom fem dagar.\n",
                name="no-reply-auto-reply",
            ),
            "auto-reply",
        ),
    ]


PERSON = Sample(
    "person",
    "anna@example.se",
    _message(
        "From: Anna Andersson <anna@example.se>\nTo: synpunkt@kommun.example\n"
        "Subject: Synpunkt om hemtjänsten\nContent-Type: text/plain; charset=utf-8",
        "Hej! Personalen kommer ofta sent och ingen ringer. Mitt mejl kom inte fram förra"
        " veckan, så jag skriver igen.\n",
        name="person",
    ),
    "none",
)


async def outcome(db: Database) -> tuple[dict[str, str], list[str]]:
    """The stored messages' kinds by Message-ID, and to whom acknowledgements were queued."""
    async with db.sessions() as session:
        kinds = (
            await session.execute(
                select(Message.rfc_message_id, Message.automation).where(
                    Message.direction == Direction.INBOUND  # type: ignore[arg-type]
                )
            )
        ).all()
        acks = await session.execute(
            select(OutboxItem.recipient).where(OutboxItem.kind == ACK_KIND)  # type: ignore[arg-type]
        )
        return {str(mid): kind for mid, kind in kinds if mid}, sorted(acks.scalars())


def expected() -> dict[str, str]:
    return {sample.message_id: sample.automation for sample in [*samples(), PERSON]}


async def test_machine_mail_over_smtp_is_stored_and_never_acknowledged(
    db: Database, clock: Clock
) -> None:
    async with smtp_server(db.sessions, clock) as port, client(port) as smtp:
        for sample in [*samples(), PERSON]:
            errors, _ = await smtp.sendmail(sample.envelope_sender, [INTAKE], sample.raw)
            assert errors == {}, sample.name
    worker = make_worker(db.sessions, clock, parsers={"email": parse_email}, policy=IntakePolicy())
    await worker.drain()
    async with db.sessions() as session:
        statuses = (await session.execute(select(IntakeRecord.status))).scalars().all()
    assert statuses == [IntakeStatus.DONE] * (len(samples()) + 1)
    kinds, acknowledged = await outcome(db)
    assert kinds == expected()
    assert acknowledged == ["anna@example.se"]  # the person only


def utcnow() -> datetime:
    return datetime.now(UTC)


@asynccontextmanager
async def imap_intake(db: Database, server: Dovecot) -> AsyncIterator[None]:
    """The poller on the Dovecot mailbox and a worker woken by it, as `synpunkt serve` runs them."""
    config = ImapConfig(
        host="127.0.0.1",
        port=server.port,
        user=USER,
        password=PASSWORD,
        tls="starttls",
        require_tls=False,
        idle_seconds=5,
        poll_seconds=0.5,
        timeout=10,
        backoff_initial=0.1,
        backoff_max=1.0,
    )
    worker = make_worker(
        db.sessions,
        utcnow,
        parsers={"email": parse_email},
        policy=IntakePolicy(),
        poll_interval=0.2,
    )
    poller = ImapPoller(
        config, engine=db.engine, sessions=db.sessions, clock=utcnow, on_commit=worker.wake
    )
    stop = asyncio.Event()
    tasks = [asyncio.create_task(worker.run(stop)), asyncio.create_task(poller.run(stop))]
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=60)


async def test_machine_mail_over_imap_is_stored_and_never_acknowledged(
    db: Database, dovecot: Dovecot
) -> None:
    # Delivered to the mailbox by an MTA, which wrote the envelope sender on top.
    delivered = [
        f"Return-Path: <{sample.envelope_sender}>\r\n".encode() + sample.raw
        for sample in [*samples(), PERSON]
    ]
    await asyncio.to_thread(dovecot.append, delivered)
    async with imap_intake(db, dovecot):

        async def all_stored() -> bool:
            return len((await outcome(db))[0]) == len(delivered)

        await eventually(all_stored, "every message is stored in a case")
        kinds, acknowledged = await outcome(db)
    assert kinds == expected()
    assert acknowledged == ["anna@example.se"]  # the person only
