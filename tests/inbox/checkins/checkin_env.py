"""A check-in installation for tests: the app with its API token, a worker with a file-writing
email sender and a recording Telegram sender, on the test database and the settable clock."""

from __future__ import annotations

import email
import email.policy
import email.utils
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from inbox.checkins.answers import reply_claim
from inbox.checkins.plan import CheckinPolicy
from inbox.core.db import unit_of_work
from inbox.core.models import OutboxItem
from inbox.intake.receive import IntakePolicy
from inbox.runners.intake_runner import IntakeRunner
from inbox.runners.outbox_runner import OutboxRunner
from inbox.runners.worker import Worker
from inbox.staff.tokens import create_token
from inbox.web.app import create_app
from mail.parse import parse_email
from mail.sender import EmailSender
from tests.conftest import SECRET_KEY, Clock, Database

INTAKE = "synpunkt@kommun.example"
CHECKINS = CheckinPolicy(
    public_url="https://synpunkt.kommun.example",
    secret_key="test-secret",
    mail_domain="kommun.example",
    organisation="Socialtjänsten i Exempelstad",
    case_prefix="SP",
)
# As the CLI wires it: intake hands short replies to check-in mails to the check-in feature.
POLICY = IntakePolicy(
    case_prefix="SP",
    mail_domain="kommun.example",
    own_addresses=frozenset({INTAKE}),
    claims=(reply_claim(CHECKINS),),
)


class RecordingTelegram:
    """Stands in for the Telegram sender: records what it is handed."""

    def __init__(self) -> None:
        self.sent: list[OutboxItem] = []

    async def send(self, item: OutboxItem) -> None:
        self.sent.append(item)


@dataclass
class Env:
    db: Database
    clock: Clock
    worker: Worker
    telegram: RecordingTelegram
    outbox: Path
    api: httpx.AsyncClient
    web: httpx.AsyncClient  # no token: the public pages

    def mails(self) -> list[email.message.EmailMessage]:
        # Files are named by Message-ID; the Date header (the injected clock) gives the order.
        messages = [
            email.message_from_bytes(p.read_bytes(), policy=email.policy.default)  # type: ignore[misc]
            for p in sorted(self.outbox.glob("*.eml"))
        ]
        return sorted(messages, key=lambda m: email.utils.parsedate_to_datetime(m["Date"]))

    async def register(self, **fields: Any) -> dict[str, Any]:
        body = {
            "unit": "ekonomiskt-bistand",
            "channel": "email",
            "address": "klient@example.se",
            "language": "sv",
            "decided_on": "2026-03-12",
            "reference": "EB-2026-000123",
        } | fields
        response = await self.api.post("/api/decisions", json=body)
        assert response.status_code == 201, response.text
        return response.json()  # type: ignore[no-any-return]

    async def decision(self, decision_id: int) -> dict[str, Any]:
        response = await self.api.get(f"/api/decisions/{decision_id}")
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    async def run_until(self, at: datetime) -> None:
        self.clock.now = at
        await self.worker.drain()


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
async def env(db: Database, tmp_path: Path) -> AsyncIterator[Env]:
    clock = Clock(at(2026, 3, 12, 14, 0))  # Thursday 15:00 in Stockholm
    outbox = tmp_path / "outbox"
    telegram = RecordingTelegram()
    worker = Worker(
        IntakeRunner(db.sessions, parsers={"email": parse_email}, policy=POLICY, clock=clock),
        OutboxRunner(
            db.sessions,
            senders={
                "email": EmailSender(
                    mail_from=f"Socialtjänsten <{INTAKE}>",
                    transport=f"file://{outbox}",
                    clock=clock,
                ),
                "telegram": telegram,
            },
            clock=clock,
        ),
    )
    async with unit_of_work(db.sessions) as session:
        _row, token = await create_token(session, name="checkins", now=clock(), all_units=True)
    app = create_app(
        secret_key=SECRET_KEY, sessions=db.sessions, clock=clock, policy=POLICY, checkins=CHECKINS
    )
    transport = httpx.ASGITransport(app=app)
    async with (
        httpx.AsyncClient(
            transport=transport,
            base_url="http://test",
            headers={"Authorization": f"Bearer {token}"},
        ) as api,
        httpx.AsyncClient(transport=transport, base_url="http://test") as web,
    ):
        yield Env(db, clock, worker, telegram, outbox, api, web)
