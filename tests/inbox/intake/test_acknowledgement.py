"""The acknowledgement's words: the emergency line, secrecy said as the law says it, how to ask to
be contacted, the appeal explanation pointing to the nämnd, dates written out, IVO's forwarding."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from inbox.cases.access import EVERYTHING
from inbox.core.audit import Actor
from inbox.core.db import unit_of_work
from inbox.core.inbound import Channel
from inbox.core.models import IntakeRecord, OutboxItem
from inbox.intake import ledger
from inbox.intake.acknowledgement import render_ack, written_date
from inbox.intake.receive import receive
from inbox.intake.registration import Registration, register_case
from tests.conftest import Clock, Database
from tests.factories import POLICY, mail

NÄMND = "Socialnämnden i Exempelby"
ON_CALL = "Socialjouren nås på 010-123 45 67 kvällar och helger."
WITH_EMERGENCY = replace(POLICY, organisation=NÄMND, emergency_text=ON_CALL)


def test_dates_for_the_public_are_written_out() -> None:
    assert written_date(date(2026, 12, 16), "sv") == "16 december 2026"
    assert written_date(date(2026, 3, 1), "en") == "1 March 2026"


@pytest.mark.parametrize("channel", [Channel.EMAIL, Channel.TELEGRAM])
@pytest.mark.parametrize("language", ["sv", "en"])
@pytest.mark.parametrize(("appeal", "via_ivo"), [(False, False), (True, False), (False, True)])
def test_every_acknowledgement_says_call_112_and_gives_the_on_call_service(
    channel: Channel, language: str, appeal: bool, via_ivo: bool
) -> None:
    ack = render_ack(
        reference="SP-2026-0042",
        organisation=NÄMND,
        response_days=10,
        due=date(2026, 3, 24),
        received=date(2026, 3, 10),
        message_language=language,
        channel=channel,
        appeal=appeal,
        via_ivo=via_ivo,
        emergency_text=ON_CALL,
        public_url="https://synpunkt.exempelstad.se/",
    )
    swedish = ack.text.split("\n---\n")[0]
    assert f"Vid akut fara, ring 112. {ON_CALL}" in swedish
    # Every text a citizen receives links to the privacy notice, in its own language.
    assert (
        "Så behandlar vi dina personuppgifter: https://synpunkt.exempelstad.se/integritet\n"
        in swedish
    )
    if language == "en":
        assert "personal data: https://synpunkt.exempelstad.se/integritet?lang=en" in ack.text
    if language == "en":
        assert f"In an emergency, call 112. {ON_CALL}" in ack.text
    for wrong in ("skyddas av sekretess", "ringer vi upp", "we will call you", "2026-03-24"):
        assert wrong not in ack.text
    assert "kan omfattas av sekretess" in swedish and "begära att få läsa" in swedish
    if appeal:
        assert "inte ett överklagande" not in ack.text
        assert "den 10 mars 2026" in swedish
    else:
        # Feedback is not an appeal, and an appeal goes to the nämnd, not to a court.
        assert "En synpunkt är inte ett överklagande." in swedish
        assert f"överklagande till {NÄMND} inom tre veckor" in swedish
        assert "handläggare hjälper dig" in swedish
        assert "domstol.se" not in ack.text and "förvaltningsrätten" not in ack.text
        assert "senast den 24 mars 2026" in swedish and "inkommet den 10 mars 2026" in swedish
    if via_ivo:
        assert "Inspektionen för vård och omsorg (IVO) har skickat ditt klagomål vidare" in swedish
        assert "hörde av dig" not in ack.text
    if channel == Channel.EMAIL:
        assert swedish.rstrip().endswith(f"Med vänliga hälsningar\n{NÄMND}")
        assert "hur och när vi kan nå dig" in swedish
    else:
        assert "mejl" not in ack.text and "hur vi kan nå dig" in swedish


def test_without_an_on_call_service_the_line_is_112_alone() -> None:
    ack = render_ack(
        reference="SP-2026-0042",
        organisation=NÄMND,
        response_days=10,
        due=date(2026, 3, 24),
        received=date(2026, 3, 10),
        message_language="sv",
    )
    assert "\n\nVid akut fara, ring 112.\n\n" in ack.text


async def test_intake_acknowledges_with_the_configured_emergency_text_and_arrival_date(
    db: Database, clock: Clock
) -> None:
    # Stored at 23:50 in Stockholm on 10 March, taken in by the worker after midnight: the
    # message counts as received on the day it arrived.
    arrived = datetime(2026, 3, 10, 22, 50, tzinfo=UTC)
    clock.now = datetime(2026, 3, 10, 23, 10, tzinfo=UTC)
    async with unit_of_work(db.sessions) as session:
        msg = mail(1)
        row_id = await ledger.record(
            session, channel=msg.channel, external_id=msg.external_id, raw=msg.raw, now=arrived
        )
        record = await session.get(IntakeRecord, row_id)
        assert record is not None
        await receive(session, msg, policy=WITH_EMERGENCY, now=clock(), record=record)
    async with db.sessions() as session:
        [item] = (await session.execute(select(OutboxItem))).scalars().all()
    text = item.payload["text"]
    assert f"Vid akut fara, ring 112. {ON_CALL}" in text
    assert "inkommet den 10 mars 2026" in text


async def test_a_case_forwarded_by_ivo_is_acknowledged_as_forwarded_by_ivo(
    db: Database, clock: Clock
) -> None:
    async with unit_of_work(db.sessions) as session:
        case = await register_case(
            session,
            registration=Registration(
                channel="ivo",
                subject="Klagomål vidarebefordrat från IVO",
                text="Klagomål på hemtjänstens bemötande.",
                unit="aldreomsorg",
                contact_email="klagande@example.se",
                acknowledge=True,
            ),
            scope=EVERYTHING,
            actor=Actor("user:7"),
            policy=WITH_EMERGENCY,
            now=clock(),
        )
    async with db.sessions() as session:
        [item] = (await session.execute(select(OutboxItem))).scalars().all()
    text = item.payload["text"]
    assert (case.channel, case.submitter_role) == ("ivo", "via-ivo")
    assert text.startswith(
        "Hej!\n\nInspektionen för vård och omsorg (IVO) har skickat ditt klagomål vidare till "
        f"{NÄMND}. Vi har registrerat det med ärendenummer {case.reference}."
    )
    assert "Tack för att du hörde av dig" not in text
    assert f"Vid akut fara, ring 112. {ON_CALL}" in text
