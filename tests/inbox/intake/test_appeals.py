"""Appeal intent: what counts (Swedish and English, erring towards yes), and what intake does with
a message that may be an appeal: the flag, the task due the next working day, the acknowledgement
that says so; and the same for a letter registered by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from inbox.cases.access import EVERYTHING
from inbox.core import i18n
from inbox.core.audit import Actor
from inbox.core.db import unit_of_work
from inbox.core.models import AuditEvent, Case, OutboxItem, Task
from inbox.intake.acknowledgement import render_ack
from inbox.intake.appeals import appeal_intent
from inbox.intake.registration import Registration, register_case
from tests.conftest import Clock, Database
from tests.factories import POLICY, mail, take

APPEALS = [
    # Swedish: the word in any form, a request for omprövning, a wish for the decision to change.
    "Jag vill överklaga beslutet om försörjningsstöd.",
    "Härmed mitt överklagandet av beslutet den 2 mars.",
    "Överklagan",
    "jag overklagar (skriver från en telefon utan å ä ö)",
    "Jag begär omprövning.",
    "Kan ni ompröva det här?",
    "Jag vill att beslutet ändras så att jag får behålla hemtjänsten.",
    "Beslutet är fel och orättvist, jag godtar inte det.",
    "Jag godtar inte ert beslut.",
    "Hur lång är överklagandetiden?",  # a person asking is a person within the time
    "Är beslutet överklagbart?",
    "Jag har överklagat men inte fått något svar.",  # an appeal that may never have gone on
    "Jag vill gå vidare till förvaltningsrätten.",
    "Jag vill inte överklaga, jag vill bara att beslutet ändras.",  # the second wish counts
    "Jag överklagade förra året och fick rätt, och nu vill jag överklaga igen.",
    # English
    "I want to appeal the decision.",
    "This is my appeal against the decision of 2 March.",
    "I am appealing against your decision.",
    "Please reconsider my application.",
    "I do not accept your decision.",
    "The decision is wrong and unfair.",
    "Can I take this to the administrative court?",
]
NOT_APPEALS = [
    "Jag vill lämna en synpunkt på bemötandet vid mitt besök.",
    "Hemtjänsten kommer alltid sent.",
    "Tack för ett bra bemötande!",
    "Jag väntar fortfarande på ett beslut.",
    "Jag överklagade förra året och fick rätt.",  # a settled appeal, told as history
    "Förra året överklagade jag och vann i förvaltningsrätten.",
    "Jag vill inte överklaga, men bemötandet var dåligt.",
    "Det här är inget överklagande, bara en synpunkt.",
    "The staff were kind and the new rooms are very appealing.",
    "I appealed last year and won.",
    "This is not an appeal, just feedback about the waiting room.",
    "I do not want to appeal.",
]


@pytest.mark.parametrize("text", APPEALS)
def test_appeal_intent_is_recognised(text: str) -> None:
    assert appeal_intent("", text)


@pytest.mark.parametrize("text", NOT_APPEALS)
def test_other_messages_are_not_appeals(text: str) -> None:
    assert not appeal_intent("", text)


def test_the_subject_counts_and_a_sentence_spans_wrapped_lines() -> None:
    assert appeal_intent("Överklagande", "Se bifogad fil.")
    assert appeal_intent("", "Hej!\nJag vill att\nbeslutet om boendestöd\nändras.\n")
    assert not appeal_intent("Hemtjänsten", "Hej!\n\nJag vill att\n\nmaten blir bättre.")


@pytest.mark.parametrize("language", [one.code for one in i18n.offered()])
def test_our_own_words_quoted_in_a_reply_are_not_the_senders_intent(language: str) -> None:
    ack = render_ack(
        reference="SP-2026-0001",
        organisation="Socialnämnden",
        response_days=10,
        due=datetime(2026, 3, 24).date(),
        received=datetime(2026, 3, 10).date(),
        message_language=language,
    )
    appeal_ack = render_ack(
        reference="SP-2026-0001",
        organisation="Socialnämnden",
        response_days=10,
        due=datetime(2026, 3, 24).date(),
        received=datetime(2026, 3, 10).date(),
        message_language=language,
        appeal=True,
    )
    reply = "Tack, jag återkommer om tiden.\n\n" + ack.text + appeal_ack.text
    assert not appeal_intent("Re: [SP-2026-0001] Vi har tagit emot ditt meddelande", reply)
    quoted = "Tack!\n\n" + "\n".join(f"> {line}" for line in ack.text.splitlines())
    assert not appeal_intent("Re: Vi har tagit emot ditt meddelande", quoted)
    assert appeal_intent("Re: x", "Ja, mitt meddelande är ett överklagande.\n\n" + ack.text)


async def _one(db: Database, model: type, **where: object) -> list:  # type: ignore[type-arg]
    async with db.sessions() as session:
        query = select(model).filter_by(**where)
        return list((await session.execute(query)).scalars())


async def test_an_appeal_by_mail_is_flagged_tasked_and_told_it_counts_from_today(
    db: Database, clock: Clock
) -> None:
    clock.now = datetime(2026, 4, 2, 14, 0, tzinfo=UTC)  # Maundy Thursday
    receipt = await take(
        db, mail(1, subject="Beslut om hemtjänst", text="Jag vill överklaga beslutet."), clock
    )
    [case] = await _one(db, Case, id=receipt.case_id)
    [task] = await _one(db, Task, case_id=receipt.case_id)
    [ack] = await _one(db, OutboxItem, case_id=receipt.case_id)
    assert case.flag_appeal_intent and receipt.acknowledged
    # The next working day after Maundy Thursday is the Tuesday after Easter.
    assert (task.kind, task.due_on, task.actor) == (
        "appeal_intent",
        datetime(2026, 4, 7).date(),
        "Den som fattade beslutet",
    )
    text = ack.payload["text"]
    assert "Ditt meddelande kan vara ett överklagande" in text
    assert "Det räknas som inkommet till Socialtjänsten den 2 april 2026." in text
    assert "rättidsprövning" in text and "den som fattade beslutet" in text
    assert "inte ett överklagande" not in text and "Vi strävar efter att svara" not in text
    assert "Vid akut fara, ring 112." in text
    events = await _one(db, AuditEvent, case_id=receipt.case_id)
    assert [(e.action, e.actor) for e in events] == [
        ("case.created", "system"),
        ("case.update", "system"),
        ("task.created", "system"),
    ]
    assert events[1].detail["field"] == "flag_appeal_intent"


async def test_a_plain_complaint_keeps_the_not_an_appeal_text(db: Database, clock: Clock) -> None:
    receipt = await take(db, mail(1, text="Handläggaren svarar aldrig i telefon."), clock)
    [case] = await _one(db, Case, id=receipt.case_id)
    [ack] = await _one(db, OutboxItem, case_id=receipt.case_id)
    assert not case.flag_appeal_intent and await _one(db, Task) == []
    text = ack.payload["text"]
    assert "En synpunkt är inte ett överklagande." in text
    assert "skicka ett skriftligt överklagande till Socialtjänsten inom tre veckor" in text
    assert "kan vara ett överklagande" not in text


async def test_an_appeal_in_a_later_message_flags_the_case_once(db: Database, clock: Clock) -> None:
    first = await take(db, mail(1, text="Hemtjänsten kommer alltid sent."), clock)
    [ack] = await _one(db, OutboxItem)
    for n in (2, 3):
        clock.advance(hours=1)
        reply = mail(
            n,
            text="Jag vill också överklaga beslutet om färre timmar.",
            in_reply_to=ack.payload["message_id"],
        )
        again = await take(db, reply, clock)
        assert again.case_id == first.case_id and not again.new_case
    [case] = await _one(db, Case, id=first.case_id)
    [task] = await _one(db, Task, case_id=first.case_id)
    assert case.flag_appeal_intent and task.due_on == datetime(2026, 3, 11).date()
    assert len(await _one(db, OutboxItem)) == 1  # a reply gets no acknowledgement


async def test_a_letter_registered_by_hand_that_appeals_counts_from_the_day_it_came(
    db: Database, clock: Clock
) -> None:
    came = clock() - timedelta(days=4)  # Friday 6 March; registered on Tuesday
    async with unit_of_work(db.sessions) as session:
        case = await register_case(
            session,
            registration=Registration(
                channel="letter",
                subject="Brev om beslut",
                text="Jag begär omprövning av beslutet om boendestöd.",
                unit="vuxen",
                contact_email="brev@example.se",
                received_at=came,
                acknowledge=True,
            ),
            scope=EVERYTHING,
            actor=Actor("user:7"),
            policy=POLICY,
            now=clock(),
        )
    [task] = await _one(db, Task, case_id=case.id)
    [ack] = await _one(db, OutboxItem, case_id=case.id)
    assert case.flag_appeal_intent
    assert (task.due_on, task.created_by) == (datetime(2026, 3, 9).date(), "user:7")
    assert "Det räknas som inkommet till Socialtjänsten den 6 mars 2026." in ack.payload["text"]
