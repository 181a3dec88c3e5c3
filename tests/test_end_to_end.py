"""Email intake end to end: a real SMTP conversation on loopback → case → acknowledgement file.

Everything is the real thing wired as the composition root wires it: the aiosmtpd edge, the worker
with the stdlib parser, the file transport, and the JSON API reading the result.
"""

from __future__ import annotations

import email
import email.policy
from collections.abc import AsyncIterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
import httpx
import pytest

from inbox.core.db import unit_of_work
from inbox.intake.receive import IntakePolicy
from inbox.runners.intake_runner import IntakeRunner
from inbox.runners.outbox_runner import OutboxRunner
from inbox.runners.worker import Worker
from inbox.staff.tokens import create_token
from inbox.web.app import create_app
from mail.parse import parse_email
from mail.sender import EmailSender
from mail.smtp import start_smtp_server
from tests.conftest import SECRET_KEY, Clock, Database

INTAKE = "synpunkt@kommun.example"
POLICY = IntakePolicy(
    case_prefix="SP",
    mail_domain="kommun.example",
    own_addresses=frozenset({INTAKE}),
)


@dataclass
class Installation:
    port: int
    worker: Worker
    outbox: Path
    api: httpx.AsyncClient

    async def deliver(
        self,
        message: EmailMessage,
        *,
        recipients: list[str] | None = None,
        envelope_sender: str | None = None,
    ) -> None:
        """Sends `message` over SMTP (from `envelope_sender`, "" for the null sender; by default
        its From) and lets the worker handle it."""
        await aiosmtplib.send(
            message,
            hostname="127.0.0.1",
            port=self.port,
            sender=envelope_sender,
            recipients=recipients or [INTAKE],
            start_tls=False,
        )
        await self.worker.drain()

    def sent(self) -> list[email.message.EmailMessage]:
        return [
            email.message_from_bytes(p.read_bytes(), policy=email.policy.default)  # type: ignore[misc]
            for p in sorted(self.outbox.glob("*.eml"))
        ]

    async def case(self, reference: str) -> dict[str, object]:
        response = await self.api.get(f"/api/cases/{reference}")
        assert response.status_code == 200
        return response.json()  # type: ignore[no-any-return]

    async def references(self) -> list[str]:
        items = (await self.api.get("/api/cases")).json()["items"]
        return [item["reference"] for item in items]


@pytest.fixture
async def installation(db: Database, clock: Clock, tmp_path: Path) -> AsyncIterator[Installation]:
    outbox = tmp_path / "outbox"
    worker = Worker(
        IntakeRunner(db.sessions, parsers={"email": parse_email}, policy=POLICY, clock=clock),
        OutboxRunner(
            db.sessions,
            senders={
                "email": EmailSender(
                    mail_from=f"Socialtjänsten <{INTAKE}>",
                    transport=f"file://{outbox}",
                    clock=clock,
                )
            },
            clock=clock,
        ),
    )
    server = await start_smtp_server(
        sessions=db.sessions,
        intake_addresses=[INTAKE],
        hostname="mx.kommun.example",
        host="127.0.0.1",
        port=0,
        max_size=64 * 1024,
        clock=clock,
    )
    async with unit_of_work(db.sessions) as session:
        _row, token = await create_token(session, name="e2e", now=clock(), all_units=True)
    app = create_app(secret_key=SECRET_KEY, sessions=db.sessions, clock=clock)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://test",
        headers={"Authorization": f"Bearer {token}"},
    ) as api:
        yield Installation(server.sockets[0].getsockname()[1], worker, outbox, api)
    server.close()
    await server.wait_closed()


def letter(
    subject: str, body: str, *, sender: str = "Anna Andersson <anna@example.se>", **headers: str
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = INTAKE
    message["Subject"] = subject
    message["Message-ID"] = email.utils.make_msgid(domain="example.se")
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(body)
    return message


async def test_mail_becomes_case_with_acknowledgement_and_reply_joins_it(
    installation: Installation,
) -> None:
    first = letter("Bemötande i receptionen", "Hej! Jag blev illa bemött vid mitt besök i tisdags.")
    await installation.deliver(first)

    [reference] = await installation.references()
    assert reference == "SP-2026-0001"
    [ack] = installation.sent()
    assert ack["To"] == "anna@example.se"
    assert ack["Subject"].startswith("[SP-2026-0001]")
    assert ack["Auto-Submitted"] == "auto-replied"
    assert ack["X-Auto-Response-Suppress"] == "All"
    assert ack["In-Reply-To"] == first["Message-ID"]
    assert first["Message-ID"] in ack["References"]
    assert ack["Message-ID"].endswith("@kommun.example>")
    body = ack.get_content()
    for phrase in (
        "SP-2026-0001",
        "allmän handling",
        "inte ett överklagande",
        "personnummer",
        "arbetsdagar",
    ):
        assert phrase in body

    case = await installation.case(reference)
    assert [m["direction"] for m in case["messages"]] == ["inbound", "outbound"]  # type: ignore[index]
    assert case["messages"][1]["delivery"] == "sent"  # type: ignore[index]

    reply = letter("Sv: " + ack["Subject"], "Jag vill också tillägga att väntetiden var lång.")
    reply["In-Reply-To"] = ack["Message-ID"]
    reply["References"] = ack["Message-ID"]
    await installation.deliver(reply)
    assert await installation.references() == [reference]
    assert len(installation.sent()) == 1
    case = await installation.case(reference)
    assert [m["direction"] for m in case["messages"]] == ["inbound", "outbound", "inbound"]  # type: ignore[index]


async def test_english_mail_gets_swedish_and_english_acknowledgement(
    installation: Installation,
) -> None:
    await installation.deliver(
        letter(
            "Question about my appointment",
            "Hello, I would like to know how I can reach the caseworker responsible for my son. "
            "I have tried calling several times this week without getting an answer.",
            sender="emma@example.org",
        )
    )
    [ack] = installation.sent()
    body = ack.get_content()
    assert "Vi har tagit emot" in ack["Subject"] and "We have received" in ack["Subject"]
    assert "allmän handling" in body and "Feedback is not an appeal" in body


async def test_auto_reply_and_list_mail_are_stored_without_acknowledgement(
    installation: Installation,
) -> None:
    await installation.deliver(
        letter("Frånvaro", "Jag är på semester.", Auto_Submitted="auto-replied")
    )
    await installation.deliver(
        letter(
            "Nyhetsbrev",
            "Veckans nyheter.",
            sender="news@lists.example",
            List_Id="<news.lists.example>",
        )
    )
    assert len(await installation.references()) == 2
    assert installation.sent() == []


async def test_a_null_envelope_sender_is_never_answered(installation: Installation) -> None:
    # A mailer daemon's notice, subject `Re:` of the mail it is about, nothing else machine-like
    # in its text; and a message whose From looks like a person's. MAIL FROM:<> is all they
    # have in common, and nobody can be answered at a null sender (RFC 5321 section 4.5.5).
    await installation.deliver(
        letter(
            "Re: Bemötande i receptionen",
            "Ditt meddelande har tagits emot av servern.",
            sender="MAILER-DAEMON@mx.example.se",
        ),
        envelope_sender="",
    )
    await installation.deliver(
        letter("Hej", "Hej! Jag har en fråga om hemtjänsten.", sender="anna@example.se"),
        envelope_sender="",
    )
    references = await installation.references()
    assert len(references) == 2  # stored as cases all the same
    assert installation.sent() == []
    for reference in references:
        [message] = (await installation.case(reference))["messages"]  # type: ignore[misc]
        assert message["automation"] != "none"
        original = await installation.api.get(message["original_url"])
        assert original.content.startswith(b"Return-Path: <>\r\n")


async def test_unknown_recipient_is_refused_at_rcpt(installation: Installation) -> None:
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as refused:
        await installation.deliver(letter("Hej", "Hej"), recipients=["someone@kommun.example"])
    assert refused.value.recipients[0].code == 550
    assert await installation.references() == []


async def test_oversize_mail_is_refused_with_552(installation: Installation) -> None:
    with pytest.raises(aiosmtplib.SMTPResponseException) as refused:
        await installation.deliver(letter("Stor bilaga", "x" * 100 * 1024))
    assert refused.value.code == 552
    assert await installation.references() == []


async def test_unreadable_message_is_kept_for_staff_and_does_not_block_the_next(
    installation: Installation,
) -> None:
    # An Outlook .msg file: binary, no header lines (no CR or LF, which SMTP would rewrite).
    binary = bytes(b for b in range(256) if b not in (10, 13))
    outlook_msg = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + binary * 4 + b"\r\n"
    await aiosmtplib.send(
        outlook_msg,
        sender="x@example.se",
        recipients=[INTAKE],
        hostname="127.0.0.1",
        port=installation.port,
    )
    await installation.deliver(letter("Efter", "Det här ska bli ett ärende."))
    assert len(await installation.references()) == 1
    failed = (await installation.api.get("/api/intake", params={"status": "failed"})).json()[
        "items"
    ]
    assert len(failed) == 1 and "cannot parse" in failed[0]["error"]
    raw = await installation.api.get(failed[0]["raw_url"])
    assert raw.content == outlook_msg
    assert (await installation.api.get("/healthz")).json()["intake"] == {"failed": 1}


async def test_acknowledgement_goes_to_from_whatever_other_sender_headers_say(
    installation: Installation,
) -> None:
    await installation.deliver(
        letter(
            "Synpunkt",
            "Hej! Jag vill lämna en synpunkt på väntetiden.",
            X_Original_Sender="victim@example.org",
            Reply_To="victim@example.org",
            Sender="victim@example.org",
        )
    )
    [ack] = installation.sent()
    assert ack["To"] == "anna@example.se"
