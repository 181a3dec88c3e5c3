"""An appeal by mail, end to end over the real parts: SMTP on loopback into the worker, the
acknowledgement as the file transport writes it, the flag and the task through the API, and the
case first on its unit's "Att göra" in the staff pages. A plain complaint beside it keeps the
"not an appeal" text, pointing to the nämnd."""

from __future__ import annotations

import email
import email.policy
import email.utils
import re
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
from inbox.staff.users import add_user
from inbox.web.app import create_app
from mail.parse import parse_email
from mail.sender import EmailSender
from mail.smtp import start_smtp_server
from tests.conftest import CHEAP_PASSWORDS, SECRET_KEY, Clock, Database
from tests.inbox.web.conftest import csrf_of, sign_in

INTAKE = "synpunkt@exempelby.example"
NÄMND = "Socialnämnden i Exempelby"
ON_CALL = "Socialjouren nås på 010-123 45 67 kvällar och helger."
POLICY = IntakePolicy(
    case_prefix="SP",
    mail_domain="exempelby.example",
    own_addresses=frozenset({INTAKE}),
    organisation=NÄMND,
    emergency_text=ON_CALL,
)
UNIT = "ekonomiskt-bistand"
PASSWORD = "ett-långt-lösenord-1"


@dataclass
class Office:
    port: int
    worker: Worker
    outbox: Path
    api: httpx.AsyncClient
    staff: httpx.AsyncClient

    async def deliver(self, subject: str, body: str, sender: str) -> EmailMessage:
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = sender, INTAKE, subject
        message["Message-ID"] = email.utils.make_msgid(domain="example.se")
        message.set_content(body)
        await aiosmtplib.send(
            message, hostname="127.0.0.1", port=self.port, recipients=[INTAKE], start_tls=False
        )
        await self.worker.drain()
        return message

    def sent_to(self, address: str) -> list[email.message.EmailMessage]:
        found = [
            email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
            for p in sorted(self.outbox.glob("*.eml"))
        ]
        return [m for m in found if m["To"] == address]  # type: ignore[misc]

    async def reference_of(self, address: str) -> str:
        items = (await self.api.get("/api/cases")).json()["items"]
        [reference] = [i["reference"] for i in items if i["sender"] == address]
        return str(reference)


@pytest.fixture
async def office(db: Database, clock: Clock, tmp_path: Path) -> AsyncIterator[Office]:
    outbox = tmp_path / "outbox"
    worker = Worker(
        IntakeRunner(db.sessions, parsers={"email": parse_email}, policy=POLICY, clock=clock),
        OutboxRunner(
            db.sessions,
            senders={
                "email": EmailSender(
                    mail_from=f"{NÄMND} <{INTAKE}>", transport=f"file://{outbox}", clock=clock
                )
            },
            clock=clock,
        ),
    )
    server = await start_smtp_server(
        sessions=db.sessions,
        intake_addresses=[INTAKE],
        hostname="mx.exempelby.example",
        host="127.0.0.1",
        port=0,
        max_size=64 * 1024,
        clock=clock,
    )
    async with unit_of_work(db.sessions) as session:
        _row, token = await create_token(session, name="e2e", now=clock(), all_units=True)
        await add_user(
            session,
            username="rut",
            role="registrar",
            unit_codes=[UNIT],
            password=PASSWORD,
            passwords=CHEAP_PASSWORDS,
            now=clock(),
        )
    app = create_app(
        secret_key=SECRET_KEY,
        sessions=db.sessions,
        clock=clock,
        policy=POLICY,
        passwords=CHEAP_PASSWORDS,
    )
    transport = httpx.ASGITransport(app=app)
    async with (
        httpx.AsyncClient(
            transport=transport,
            base_url="http://test",
            headers={"Authorization": f"Bearer {token}"},
        ) as api,
        httpx.AsyncClient(transport=transport, base_url="http://test") as staff,
    ):
        assert (await sign_in(staff, "rut", PASSWORD)).status_code == 303
        yield Office(server.sockets[0].getsockname()[1], worker, outbox, api, staff)
    server.close()
    await server.wait_closed()


async def test_an_appeal_mail_is_acknowledged_as_one_flagged_and_first_on_the_units_list(
    office: Office, clock: Clock
) -> None:
    # Already on the unit's list: a decision not executed, due at the end of April.
    await office.deliver(
        "Väntar på beslut", "Mitt beviljade bistånd har inte kommit.", "sven@example.se"
    )
    waiting = await office.reference_of("sven@example.se")
    for body in ({"unit": UNIT}, {"flags": {"decision_not_executed": True}}):
        assert (await office.api.patch(f"/api/cases/{waiting}", json=body)).status_code == 200
    clock.advance(hours=1)

    await office.deliver(
        "Beslut om ekonomiskt bistånd",
        "Hej!\n\nJag fick avslag i förra veckan och vill överklaga beslutet.\n\nAnna",
        "Anna Andersson <anna@example.se>",
    )
    appeal = await office.reference_of("anna@example.se")
    [ack] = office.sent_to("anna@example.se")
    body = ack.get_content().replace("\r\n", "\n")
    assert ack["Subject"].startswith(f"[{appeal}]")
    assert f"Tack för ditt meddelande till {NÄMND}." in body
    assert "Ditt meddelande kan vara ett överklagande\n" in body
    assert f"Det räknas som inkommet till {NÄMND} den 10 mars 2026." in body
    assert "Vi lämnar ditt meddelande till den som fattade beslutet." in body
    assert "rättidsprövning" in body
    assert f"Vid akut fara, ring 112. {ON_CALL}" in body
    assert "inte ett överklagande" not in body and "2026-03" not in body
    assert body.rstrip().endswith(f"Med vänliga hälsningar\n{NÄMND}")

    case = (await office.api.get(f"/api/cases/{appeal}")).json()
    assert "appeal_intent" in case["flags"]
    [task] = [
        t for t in (await office.api.get("/api/tasks")).json()["items"] if t["case"] == appeal
    ]
    assert (task["kind"], task["due_on"], task["actor"]) == (
        "appeal_intent",
        "2026-03-11",
        "Den som fattade beslutet",
    )

    # The registrar puts it in the unit: it goes first on the unit's "Att göra".
    inbox = (await office.staff.get("/")).text
    triaged = await office.staff.post(
        f"/cases/{appeal}/triage", data={"unit": UNIT, "csrf_token": csrf_of(inbox)}
    )
    assert triaged.status_code == 303
    listing = (await office.staff.get("/tasks", params={"unit": UNIT})).text
    assert "<h2" in listing and "Ekonomiskt bistånd" in listing
    order = re.findall(r'<a href="/cases/(SP-\d{4}-\d{4})">', listing)
    assert order == [appeal, waiting]
    assert "Möjligt överklagande: rättidsprövning" in listing and "Senast 2026-03-11" in listing


async def test_a_plain_complaint_keeps_the_not_an_appeal_text_pointing_to_the_nämnd(
    office: Office,
) -> None:
    await office.deliver(
        "Bemötande", "Handläggaren var otrevlig när jag ringde i tisdags.", "eva@example.se"
    )
    [ack] = office.sent_to("eva@example.se")
    body = ack.get_content().replace("\r\n", "\n")
    assert "En synpunkt är inte ett överklagande." in body
    assert f"skicka ett skriftligt överklagande till {NÄMND} inom tre veckor" in body
    assert "domstol" not in body and "kan vara ett överklagande" not in body
    assert "senast den 24 mars 2026" in body and f"Vid akut fara, ring 112. {ON_CALL}" in body
    reference = await office.reference_of("eva@example.se")
    assert "appeal_intent" not in (await office.api.get(f"/api/cases/{reference}")).json()["flags"]
    assert (await office.api.get("/api/tasks")).json()["items"] == []
