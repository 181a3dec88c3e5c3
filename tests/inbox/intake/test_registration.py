"""Registering a case by hand: reference, due date, contact, acknowledgement only when asked."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from inbox.cases.access import EVERYTHING
from inbox.cases.queries import CaseFilter, get_case, list_cases
from inbox.core.audit import Actor
from inbox.core.db import unit_of_work
from inbox.core.inbound import Channel, InboundMessage
from inbox.core.models import AuditEvent, Contact, OutboxItem
from inbox.core.time import add_working_days
from inbox.intake.receive import IntakePolicy, receive
from inbox.intake.registration import Registration, RegistrationError, register_case
from tests.conftest import Clock, Database

POLICY = IntakePolicy(case_prefix="SP", mail_domain="synpunkt.example")
REGISTRAR = Actor("user:7")


async def register(db: Database, clock: Clock, **fields: object) -> str:
    values: dict[str, object] = {
        "channel": "phone",
        "subject": "Samtal",
        "text": "Ringde om hemtjänsten.",
    }
    values.update(fields)
    async with unit_of_work(db.sessions) as session:
        case = await register_case(
            session,
            registration=Registration(**values),
            scope=EVERYTHING,
            actor=REGISTRAR,
            policy=POLICY,  # type: ignore[arg-type]
            now=clock(),
        )
        return case.reference


async def outbox_count(db: Database) -> int:
    async with db.sessions() as session:
        return (await session.execute(select(func.count()).select_from(OutboxItem))).scalar_one()


async def test_phone_call_becomes_a_case_without_any_outbound_channel(
    db: Database, clock: Clock
) -> None:
    called = clock() - timedelta(hours=2)
    ref = await register(
        db,
        clock,
        unit="vuxen",
        kind="complaint",
        submitter_role="relative",
        contact_name="Sven",
        contact_phone="070-123 45 67",
        received_at=called,
    )
    async with db.sessions() as session:
        detail = await get_case(session, reference=ref, scope=EVERYTHING)
        audit = (await session.execute(select(AuditEvent))).scalars().all()
        found = await list_cases(
            session, filters=CaseFilter(q="hemtjänsten", unit="vuxen"), scope=EVERYTHING
        )
    assert detail is not None and detail.contact is None
    case = detail.case
    assert (case.channel, case.origin, case.kind, case.submitter_role, case.status) == (
        "phone",
        "manual",
        "complaint",
        "relative",
        "new",
    )
    assert case.received_at == called and detail.unit_code == "vuxen"
    assert case.due_on == add_working_days(called.date(), 10)
    [message] = detail.messages
    assert message.direction == "inbound" and message.sender_name == "Sven"
    assert message.sender_address == "070-123 45 67"
    assert [(e.action, e.actor) for e in audit] == [("case.registered", "user:7")]
    assert [row.reference for row in found.items] == [ref]
    assert await outbox_count(db) == 0


async def test_ivo_forward_is_always_via_ivo(db: Database, clock: Clock) -> None:
    ref = await register(db, clock, channel="ivo", submitter_role="client")
    async with db.sessions() as session:
        detail = await get_case(session, reference=ref, scope=EVERYTHING)
    assert detail is not None and detail.case.submitter_role == "via-ivo"


async def test_email_address_gives_a_contact_and_an_acknowledgement_only_when_asked(
    db: Database, clock: Clock
) -> None:
    quiet = await register(db, clock, channel="letter", contact_email="Eva@Example.se")
    assert await outbox_count(db) == 0
    loud = await register(
        db, clock, channel="visit", contact_email="eva@example.se", acknowledge=True
    )
    async with db.sessions() as session:
        contacts = (await session.execute(select(Contact))).scalars().all()
        [item] = (await session.execute(select(OutboxItem))).scalars().all()
        first = await get_case(session, reference=quiet, scope=EVERYTHING)
    assert [(c.channel, c.address) for c in contacts] == [("email", "eva@example.se")]
    assert first is not None and first.contact is not None
    assert item.kind == "case.ack" and item.recipient == "eva@example.se"
    assert item.payload["subject"].startswith(f"[{loud}]")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"channel": "email"}, "Okänd kanal"),
        ({"subject": "  "}, "rubrik"),
        ({"text": ""}, "Skriv"),
        ({"unit": "finns-inte"}, "Okänd verksamhet"),
        ({"kind": "klagomål"}, "ärendetyp"),
        ({"contact_email": "inte en adress"}, "E-postadressen"),
        ({"acknowledge": True}, "bekräftelse"),
    ],
)
async def test_incomplete_registrations_are_refused_and_leave_nothing(
    db: Database, clock: Clock, fields: dict[str, object], message: str
) -> None:
    with pytest.raises(RegistrationError, match=message):
        await register(db, clock, **fields)
    async with db.sessions() as session:
        assert (await list_cases(session, filters=CaseFilter(), scope=EVERYTHING)).items == []


async def test_a_future_time_is_refused(db: Database, clock: Clock) -> None:
    with pytest.raises(RegistrationError, match="framtiden"):
        await register(db, clock, received_at=clock() + timedelta(days=1))


async def test_acknowledgements_of_hand_registered_cases_count_towards_the_mail_limit(
    db: Database, clock: Clock
) -> None:
    for _ in range(3):
        await register(db, clock, contact_email="Eva+tel@example.se", acknowledge=True)
    mail = InboundMessage(
        channel=Channel.EMAIL,
        external_id="m1@example.se",
        sender_address="EVA@example.se",
        subject="Synpunkt",
        text="Jag vill lämna en synpunkt.",
    )
    async with unit_of_work(db.sessions) as session:
        receipt = await receive(session, mail, policy=POLICY, now=clock())
    assert receipt.new_case and not receipt.acknowledged
    assert receipt.no_ack_reason == "over 3 acknowledgements in 24 hours"
    assert await outbox_count(db) == 3


async def test_registering_by_hand_cannot_exceed_the_acknowledgement_limit(
    db: Database, clock: Clock
) -> None:
    refs = [
        await register(db, clock, contact_email=f"eva+{n}@example.se", acknowledge=True)
        for n in range(5)
    ]
    assert await outbox_count(db) == 3
    async with db.sessions() as session:
        events = (await session.execute(select(AuditEvent))).scalars().all()
    detail = {e.case_reference: e.detail for e in events}
    assert [detail[ref]["acknowledged"] for ref in refs] == [True, True, True, False, False]
    assert detail[refs[4]]["no_ack_reason"] == "over 3 acknowledgements in 24 hours"
    clock.advance(hours=25)
    await register(db, clock, contact_email="eva@example.se", acknowledge=True)
    assert await outbox_count(db) == 4
