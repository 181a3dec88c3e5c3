"""A bounce of an acknowledgement sent by the system marks that acknowledgement bounced on its case,
end to end over SMTP.

A mail comes in over the real SMTP edge; the worker opens a case and its EmailSender writes the
acknowledgement to a file transport; a delivery status notification about that acknowledgement
(multipart/report, its headers in a text/rfc822-headers or message/rfc822 part) comes back over
SMTP from the null sender. The acknowledgement then shows delivery `bounced` with the reported
status and diagnostic, no case is opened for the report, and after a 5.x.x hard bounce, not a
4.x.x soft one, the contact is unreachable: a later acknowledgement and a check-in are not sent.
"""

from __future__ import annotations

import email
import email.policy
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiosmtplib
import httpx
import pytest

from inbox.checkins.plan import CheckinPolicy
from inbox.core.db import unit_of_work
from inbox.intake.receive import IntakePolicy
from inbox.runners.worker import Worker
from inbox.staff.tokens import create_token
from inbox.web.app import create_app
from mail.parse import parse_email
from mail.sender import EmailSender
from mail.smtp import start_smtp_server
from tests.conftest import SECRET_KEY, Clock, Database
from tests.factories import bounce_of, make_worker

INTAKE = "synpunkt@kommun.example"
POLICY = IntakePolicy(
    case_prefix="SP", mail_domain="kommun.example", own_addresses=frozenset({INTAKE})
)
CHECKINS = CheckinPolicy(
    public_url="https://synpunkt.kommun.example",
    secret_key="test-secret",
    mail_domain="kommun.example",
    case_prefix="SP",
)


@dataclass
class Installation:
    port: int
    worker: Worker
    outbox: Path
    api: httpx.AsyncClient
    clock: Clock

    async def deliver(self, raw: EmailMessage | bytes, *, envelope_sender: str) -> None:
        """Sends `raw` over SMTP from `envelope_sender` ("" for the null sender) and lets the
        worker take it in and send what it queues."""
        data = raw.as_bytes() if isinstance(raw, EmailMessage) else raw
        async with aiosmtplib.SMTP(hostname="127.0.0.1", port=self.port, start_tls=False) as smtp:
            await smtp.sendmail(envelope_sender, [INTAKE], data)  # "": MAIL FROM:<>
        await self.worker.drain()

    def sent(self) -> list[bytes]:
        return [path.read_bytes() for path in sorted(self.outbox.glob("*.eml"))]

    async def references(self) -> list[str]:
        items = (await self.api.get("/api/cases")).json()["items"]
        return [item["reference"] for item in items]

    async def case(self, reference: str) -> dict[str, Any]:
        response = await self.api.get(f"/api/cases/{reference}")
        assert response.status_code == 200
        return response.json()  # type: ignore[no-any-return]


@pytest.fixture
async def installation(db: Database, clock: Clock, tmp_path: Path) -> AsyncIterator[Installation]:
    outbox = tmp_path / "outbox"
    sender = EmailSender(
        mail_from=f"Socialtjänsten <{INTAKE}>", transport=f"file://{outbox}", clock=clock
    )
    worker = make_worker(
        db.sessions,
        clock,
        parsers={"email": parse_email},
        senders={"email": sender},
        policy=POLICY,
    )
    server = await start_smtp_server(
        sessions=db.sessions,
        intake_addresses=[INTAKE],
        hostname="mx.kommun.example",
        host="127.0.0.1",
        port=0,
        max_size=256 * 1024,
        clock=clock,
    )
    async with unit_of_work(db.sessions) as session:
        _row, token = await create_token(session, name="e2e", now=clock(), all_units=True)
    app = create_app(
        secret_key=SECRET_KEY, sessions=db.sessions, clock=clock, policy=POLICY, checkins=CHECKINS
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://test",
        headers={"Authorization": f"Bearer {token}"},
    ) as api:
        yield Installation(server.sockets[0].getsockname()[1], worker, outbox, api, clock)
    server.close()
    await server.wait_closed()


def letter(subject: str, body: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "Anna Andersson <anna@example.se>"
    message["To"] = INTAKE
    message["Subject"] = subject
    message["Message-ID"] = email.utils.make_msgid(domain="example.se")
    message.set_content(body)
    return message


HARD = {
    "status": "5.1.1",
    "action": "failed",
    "diagnostic": "smtp; 550 5.1.1 <anna@example.se>: Recipient address rejected: User unknown",
}
SOFT = {
    "status": "4.2.2",
    "action": "delayed",
    "diagnostic": "smtp; 452 4.2.2 <anna@example.se>: Mailbox full",
}


@pytest.mark.parametrize(
    ("report", "quoted"),
    [(HARD, "text/rfc822-headers"), (HARD, "message/rfc822"), (SOFT, "text/rfc822-headers")],
    ids=["hard-headers", "hard-message", "soft-headers"],
)
async def test_a_bounce_of_our_acknowledgement_marks_it_bounced_on_its_case(
    installation: Installation, report: dict[str, str], quoted: str
) -> None:
    hard = report is HARD
    await installation.deliver(
        letter("Bemötande i receptionen", "Hej! Jag blev illa bemött vid mitt besök i tisdags."),
        envelope_sender="anna@example.se",
    )
    [reference] = await installation.references()
    [ack] = installation.sent()
    ack_id = email.message_from_bytes(ack, policy=email.policy.default)["Message-ID"]

    installation.clock.advance(minutes=5)
    dsn = bounce_of(ack, recipient="anna@example.se", quoted=quoted, **report)
    await installation.deliver(dsn, envelope_sender="")

    assert await installation.references() == [reference]  # no case for the report
    case = await installation.case(reference)
    inbound, outbound, returned = case["messages"]
    assert (inbound["direction"], outbound["direction"]) == ("inbound", "outbound")
    assert outbound["kind"] == "case.ack" and outbound["delivery"] == "bounced"
    assert outbound["bounce_kind"] == ("hard" if hard else "soft")
    assert outbound["bounce_status"] == report["status"]
    assert outbound["bounce_diagnostic"] == report["diagnostic"].removeprefix("smtp; ")
    assert outbound["bounced_at"] is not None and outbound["delivered_at"] is not None
    # The report is kept on the case, as machine mail, with its original.
    assert (returned["direction"], returned["automation"]) == ("inbound", "bounce")
    original = await installation.api.get(returned["original_url"])
    assert original.content.startswith(b"Return-Path: <>\r\n")
    assert ack_id.strip("<>").encode() in original.content
    assert case["contact_unreachable"] is hard
    assert len(installation.sent()) == 1  # nobody answers a bounce

    # A later mail from the contact: a case as ever, its acknowledgement only if mail arrives.
    installation.clock.advance(hours=1)
    await installation.deliver(
        letter("En sak till", "Hej igen! Jag har en fråga om hemtjänsten."),
        envelope_sender="anna@example.se",
    )
    references = await installation.references()
    assert len(references) == 2
    later = await installation.case(references[0])
    [later_ack] = [m for m in later["messages"] if m["direction"] == "outbound"]
    assert later_ack["delivery"] == ("cancelled" if hard else "sent")
    assert len(installation.sent()) == (1 if hard else 2)

    # A check-in after a decision: not sent to a contact that mail cannot reach.
    registered = await installation.api.post(
        "/api/decisions",
        json={
            "unit": "vuxen",
            "channel": "email",
            "address": "anna@example.se",
            "language": "sv",
            "decided_on": "2026-03-09",
            "reference": "VUX-2026-17",
        },
    )
    assert registered.status_code == 201, registered.text
    decision = registered.json()
    assert decision["checkin"]["state"] == "scheduled"
    installation.clock.now += timedelta(days=7)
    await installation.worker.drain()
    mails = [email.message_from_bytes(raw) for raw in installation.sent()]
    checkins = [m for m in mails if m["Auto-Submitted"] == "auto-generated"]
    assert len(checkins) == (0 if hard else 1)
    shown = (await installation.api.get(f"/api/decisions/{decision['id']}")).json()
    assert shown["checkin"]["state"] == ("cancelled" if hard else "sent")


async def test_a_bounce_matching_nothing_of_ours_is_machine_mail_in_maskinpost(
    installation: Installation,
) -> None:
    stranger = (
        b"From: someone@example.org\r\nTo: someone-else@example.net\r\n"
        b"Subject: Hej\r\nMessage-ID: <not-ours@example.org>\r\n\r\nHej.\r\n"
    )
    await installation.deliver(bounce_of(stranger, recipient="x@example.net"), envelope_sender="")
    [reference] = await installation.references()
    inbox = (await installation.api.get("/api/cases", params={"machine": "false"})).json()
    machine = (await installation.api.get("/api/cases", params={"machine": "true"})).json()
    assert inbox["items"] == []
    assert [item["reference"] for item in machine["items"]] == [reference]
    assert "automated" in machine["items"][0]["flags"]
    assert installation.sent() == []
