"""The acknowledgement's words: the emergency line, secrecy said as the law says it, how to ask to
be contacted, the appeal explanation pointing to the nämnd, dates written out, IVO's forwarding."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from inbox.cases.access import EVERYTHING
from inbox.core import i18n
from inbox.core.audit import Actor
from inbox.core.db import unit_of_work
from inbox.core.inbound import Channel
from inbox.core.models import IntakeRecord, OutboxItem
from inbox.intake import ledger
from inbox.intake.acknowledgement import our_paragraphs, render_ack, written_date
from inbox.intake.receive import receive
from inbox.intake.registration import Registration, register_case
from mail.compose import compose_email
from mail.parse import parse_email
from tests.conftest import Clock, Database
from tests.factories import POLICY, mail

NÄMND = "Socialnämnden i Exempelby"
ON_CALL = "Socialjouren nås på 010-123 45 67 kvällar och helger."
WITH_EMERGENCY = replace(POLICY, organisation=NÄMND, emergency_text=ON_CALL)


def test_dates_for_the_public_are_written_out() -> None:
    assert written_date(date(2026, 12, 16), "sv") == "16 december 2026"
    assert written_date(date(2026, 3, 1), "en") == "1 March 2026"
    assert written_date(date(2026, 12, 16), "fi") == "16. joulukuuta 2026"
    assert written_date(date(2026, 12, 16), "sv-easy") == "16 december 2026"
    assert written_date(date(2026, 12, 16), "ar") == "16 ديسمبر 2026"  # Western digits


FINNISH_MAIL = (
    "From: Aino Virtanen <aino@example.fi>\r\n"
    "To: synpunkter@kommun.example\r\n"
    "Subject: Palaute kotipalvelusta\r\n"
    "Message-ID: <fi-1@example.fi>\r\n"
    "Date: Tue, 10 Mar 2026 09:00:00 +0100\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "\r\n"
    "Hei, haluan antaa palautetta kotipalvelusta. Hoitaja tulee joka päivä myöhässä, eikä "
    "kukaan kerro meille etukäteen, milloin hän tulee. Äitini odottaa häntä usein tuntikausia.\r\n"
).encode()


async def test_a_finnish_mail_gets_a_finnish_and_swedish_acknowledgement(
    db: Database, clock: Clock
) -> None:
    """End to end: the mail as it arrives, parsed (its language detected), taken in; the
    acknowledgement is Swedish first, then Finnish, and the mail says both languages."""
    msg = parse_email(FINNISH_MAIL)
    assert msg.language == "fi"
    clock.now = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
    async with unit_of_work(db.sessions) as session:
        row_id = await ledger.record(
            session, channel=msg.channel, external_id=msg.external_id, raw=msg.raw, now=clock()
        )
        record = await session.get(IntakeRecord, row_id)
        assert record is not None
        receipt = await receive(session, msg, policy=WITH_EMERGENCY, now=clock(), record=record)
    async with db.sessions() as session:
        [item] = (await session.execute(select(OutboxItem))).scalars().all()
    assert item.payload["languages"] == ["sv", "fi"]
    swedish, finnish = item.payload["text"].split("\n---\n\n")
    assert swedish.startswith("Hej!\n\nTack för att du hörde av dig till")
    assert finnish.startswith("Hei!\n\nKiitos, että otit yhteyttä organisaatioon")
    assert receipt.reference in swedish and receipt.reference in finnish
    assert f"Hätätilanteessa soita 112. {ON_CALL}" in finnish
    assert "julkinen asiakirja (allmän handling)" in finnish
    assert "Palaute ei ole valitus." in finnish and "inkommet den 10 mars 2026" in swedish
    assert "saapuneeksi 10. maaliskuuta 2026" in finnish
    subject = item.payload["subject"]
    assert subject.endswith("Vi har tagit emot ditt meddelande / Olemme vastaanottaneet viestisi")
    composed = compose_email(item, mail_from="synpunkter@kommun.example", now=clock())
    assert composed["Content-Language"] == "sv, fi"


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ({"form": "fi", "telegram": "ar", "detected": "en"}, "fi"),  # the form's choice first
        ({"form": "de", "telegram": "ar-EG"}, "ar"),  # then the app's language, by its primary tag
        ({"telegram": None, "decision": "prs", "detected": "fi"}, "prs"),
        ({"detected": "fa"}, "fa"),
        ({"telegram": "fa-AF"}, "prs"),  # Persian as written in Afghanistan is Dari
        ({"form": "sv-easy"}, "sv-easy"),
        ({"detected": "de"}, "sv"),  # not offered: Swedish
        ({}, "sv"),
    ],
)
def test_the_sender_language_rule(tags: dict[str, str | None], expected: str) -> None:
    assert i18n.sender_language(**tags).code == expected


@pytest.mark.parametrize(
    ("language", "languages"),
    [("sv", ("sv",)), (None, ("sv",)), ("de", ("sv",)), ("fi", ("sv", "fi")), ("ar", ("sv", "ar"))],
)
def test_the_acknowledgement_is_swedish_and_the_persons_language(
    language: str | None, languages: tuple[str, ...]
) -> None:
    ack = render_ack(
        reference="SP-2026-0042",
        organisation=NÄMND,
        response_days=10,
        due=date(2026, 3, 24),
        received=date(2026, 3, 10),
        message_language=language,
    )
    assert ack.languages == languages
    assert len(ack.text.split("\n---\n")) == len(languages)


def test_our_paragraphs_cover_every_offered_language() -> None:
    """`appeals` must know our own words, quoted in a reply, in whichever language we wrote."""
    ours = set(our_paragraphs())
    for one in i18n.offered():
        ack = render_ack(
            reference="SP-2026-0042",
            organisation=NÄMND,
            response_days=10,
            due=date(2026, 3, 24),
            received=date(2026, 3, 10),
            message_language=one.code,
        )
        section = ack.text.split("\n---\n")[-1]
        automatic = i18n.gettext(one.code, "Det här är ett automatiskt svar.")
        assert f"\n\n{automatic}\n\n" in section and automatic in ours, one.code
        opening = section.split("\n\n")[1].replace("SP-2026-0042", "{reference}")
        assert opening.replace(NÄMND, "{organisation}") in ours, one.code


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
