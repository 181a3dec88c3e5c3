"""The check-in must not disclose that someone is a client (issue 14): the mail, as the EmailSender
writes it, names neither the unit nor a decision; only the page behind the personal link says what
it is about; a "Nej" to contact opens nothing and promises nothing; "someone else" flags the
call-back case and keeps it from the handläggare who registered the decision."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select
from sqlmodel import col

from inbox.cases.access import EVERYTHING
from inbox.cases.triage import TriageError, update_case
from inbox.checkins.answers import record_answer
from inbox.checkins.decisions import check_input, register_decision
from inbox.core.audit import Actor
from inbox.core.db import unit_of_work
from inbox.core.models import AuditEvent, Case, OutboxItem, Unit
from inbox.staff.users import add_user
from tests.conftest import CHEAP_PASSWORDS
from tests.inbox.checkins.checkin_env import CHECKINS, Env, at
from tests.inbox.checkins.checkin_env import env as env

LINK = re.compile(r"https://synpunkt\.kommun\.example(/checkin/(?!stopp)[^\s]+)")
STOP = re.compile(r"https://synpunkt\.kommun\.example(/checkin/stopp/[^\s]+)")
REFERENCE = "EB-2026-000123"


async def unit_words(env: Env) -> list[str]:
    """Every unit's name and code: none of them may be in a check-in."""
    async with env.db.sessions() as session:
        units = (await session.execute(select(Unit))).scalars().all()
    return [word for unit in units for word in (unit.name, unit.code)]


async def assert_neutral(env: Env, text: str) -> None:
    lowered = text.lower()
    for word in [*await unit_words(env), "beslut", "decision", REFERENCE, "ärende", "case"]:
        assert word.lower() not in lowered, f"{word!r} in {text!r}"


def body_of(mail: Any) -> str:
    """The text as the reader sees it (the file transport keeps the CRLF line ends of the wire)."""
    return str(mail.get_content()).replace("\r\n", "\n")


async def answer_page(env: Env, **fields: str) -> tuple[dict[str, Any], str]:
    """Registers a decision (by mail), sends its check-in; the decision and the page's path."""
    decision = await env.register(**fields)
    await env.run_until(at(2026, 3, 17, 8, 0))
    link = LINK.search(env.mails()[-1].get_content())
    assert link
    return decision, link.group(1)


async def cases(env: Env) -> list[Case]:
    async with env.db.sessions() as session:
        return list((await session.execute(select(Case))).scalars())


async def test_the_mail_and_its_reminder_name_neither_the_unit_nor_a_decision(env: Env) -> None:
    await env.register()
    await env.run_until(at(2026, 3, 17, 8, 0))
    await env.run_until(at(2026, 3, 23, 8, 0))
    ask, reminder = env.mails()
    assert ask["Subject"] == "Hur upplevde du din senaste kontakt med oss?"
    assert reminder["Subject"] == "Påminnelse: Hur upplevde du din senaste kontakt med oss?"
    for mail in (ask, reminder):
        body = body_of(mail)
        await assert_neutral(env, mail["Subject"])
        await assert_neutral(env, body)
        assert body.startswith("Hej!\n\n")
        assert "Vi vill gärna veta hur du upplevde din senaste kontakt med oss" in body
        # Asked 17 March at 09:00, open for 28 days: the last whole day is 13 April.
        assert "Länken är personlig och gäller till och med 13 april 2026." in body
        assert re.search(r"Så behandlar vi dina personuppgifter: http\S+/integritet\n", body)
        assert body.rstrip().endswith("Med vänlig hälsning\nSocialtjänsten i Exempelstad")
        assert "akt" not in re.sub(r"kontakt", "", body)  # no promise about a case file


async def test_the_english_mail_names_neither_the_unit_nor_a_decision(env: Env) -> None:
    await env.register(language="en", unit="vuxen")
    await env.run_until(at(2026, 3, 17, 8, 0))
    [mail] = env.mails()
    assert mail["Subject"] == "How did you find your latest contact with us?"
    body = body_of(mail)
    await assert_neutral(env, mail["Subject"])
    await assert_neutral(env, body)
    assert "works until 13 April 2026" in body
    assert body.rstrip().endswith("Kind regards\nSocialtjänsten i Exempelstad")


async def test_the_page_behind_the_link_says_what_it_is_about_and_the_stop_page_does_not(
    env: Env,
) -> None:
    await env.register()
    await env.run_until(at(2026, 3, 17, 8, 0))
    body = env.mails()[-1].get_content()
    link, stop = LINK.search(body), STOP.search(body)
    assert link and stop
    page = (await env.web.get(link.group(1))).text
    assert "Frågorna gäller beslutet i ditt ärende från den 12 mars 2026." in page
    assert "Socialtjänsten i Exempelstad vill gärna veta" in page
    assert "Förstod du beslutet?" in page and "Vet du hur du överklagar beslutet?" in page
    assert "Vet du var du kan lämna synpunkter eller klagomål?" in page  # one question each
    assert "någon annan än den som handlade ditt ärende" in page
    # What the answers are, said as the product can keep it.
    assert "Dina svar blir allmänna handlingar hos Socialtjänsten i Exempelstad." in page
    assert "Svaren sparas skilt från din akt och förs inte in i den av sig själva." in page
    assert "Det ni pratar om kan då antecknas i din akt" in page
    for word in await unit_words(env):
        assert word not in page  # the page says what, not where: the address was never checked
    await assert_neutral(env, (await env.web.get(stop.group(1))).text)


@pytest.mark.parametrize("language", ["sv", "en"])
async def test_a_nej_to_contact_opens_nothing_and_promises_no_contact(
    env: Env, language: str
) -> None:
    decision, path = await answer_page(env, language=language)
    poor = {"rating": "1", "understood": "no", "wants_contact": "no", "other_handler": "yes"}
    done = await env.web.post(path, data=poor)
    assert done.status_code == 200
    assert ("Tack för dina svar" if language == "sv" else "Thank you for your answers") in done.text
    for promise in ("kontakta", "hör av oss", "contact", "in touch", "någon annan", "someone"):
        assert promise not in done.text
    assert await cases(env) == []
    view = (await env.decision(decision["id"]))["checkin"]
    assert view["answers"]["wants_contact"] == "no" and view["case"] is None


async def test_a_ja_to_contact_opens_the_call_back_case_and_says_so(env: Env) -> None:
    decision, path = await answer_page(env)
    done = await env.web.post(path, data={"rating": "2", "wants_contact": "yes"})
    assert "Du har bett att någon av oss kontaktar dig. Vi hör av oss." in done.text
    assert "någon annan" not in done.text
    [case] = await cases(env)
    assert case.flag_callback and not case.flag_other_handler and case.origin == "checkin"
    assert case.subject == "Uppföljning efter beslut: vill bli kontaktad, lågt betyg (2)"
    assert (await env.decision(decision["id"]))["checkin"]["case"] == case.reference


async def handlaggare(env: Env, username: str, name: str) -> int:
    async with unit_of_work(env.db.sessions) as session:
        user = await add_user(
            session,
            username=username,
            role="caseworker",
            unit_codes=["ekonomiskt-bistand"],
            display_name=name,
            now=env.clock(),
            password="ett-långt-lösenord",  # one who can sign in: a case may be given to them
            passwords=CHEAP_PASSWORDS,
        )
    assert user.id is not None
    return user.id


async def decision_by(env: Env, user_id: int, **fields: str) -> int:
    """A decision registered by a staff user, as the form does: `user:<id>` is its handläggare."""
    data = {
        "unit": "ekonomiskt-bistand",
        "channel": "email",
        "address": "klient@example.se",
        "language": "sv",
        "decided_on": "2026-03-12",
        "reference": REFERENCE,
    } | fields
    async with unit_of_work(env.db.sessions) as session:
        _decision, checkin = await register_decision(
            session,
            data=check_input(data, now=env.clock()),
            scope=EVERYTHING,
            policy=CHECKINS,
            registered_by=f"user:{user_id}",
            now=env.clock(),
        )
    assert checkin.id is not None
    return checkin.id


async def assign(env: Env, case: Case, username: str) -> None:
    async with unit_of_work(env.db.sessions) as session:
        fresh = await session.get(Case, case.id)
        assert fresh is not None
        await update_case(
            session,
            oidc=False,
            case=fresh,
            changes={"assignee": username},
            actor=Actor("user:1"),
            now=env.clock(),
        )


async def test_someone_else_flags_the_case_which_never_goes_back_to_the_handlaggare(
    env: Env,
) -> None:
    karin = await handlaggare(env, "karin", "Karin Handläggare")
    await handlaggare(env, "nils", "Nils Annan")
    await decision_by(env, karin)
    await env.run_until(at(2026, 3, 17, 8, 0))
    link = LINK.search(env.mails()[-1].get_content())
    assert link
    done = await env.web.post(link.group(1), data={"wants_contact": "yes", "other_handler": "yes"})
    assert "Vi har noterat att du hellre vill prata med någon annan" in done.text
    [case] = await cases(env)
    assert case.flag_callback and case.flag_other_handler and case.assignee_id is None
    detail = (await env.api.get(f"/api/cases/{case.reference}")).json()
    text = "\n".join(m["text"] for m in detail["messages"])
    assert "Tilldela inte ärendet till Karin Handläggare, som registrerade beslutet." in text
    with pytest.raises(TriageError, match="someone other than the caseworker"):
        await assign(env, case, "karin")
    await assign(env, case, "nils")  # anyone else may have it
    assert (await cases(env))[0].assignee_id != karin


async def test_someone_else_after_the_case_was_given_to_the_handlaggare_takes_it_back(
    env: Env,
) -> None:
    """In the chat the answers come one at a time: the case may be assigned in between."""
    karin = await handlaggare(env, "karin", "Karin Handläggare")
    checkin_id = await decision_by(env, karin, channel="telegram", address="4242")
    await env.run_until(at(2026, 3, 17, 8, 0))

    async def answer(question: str, value: str) -> str | None:
        async with unit_of_work(env.db.sessions) as session:
            result = await record_answer(
                session,
                checkin_id=checkin_id,
                question=question,
                answer=value,
                channel_address="4242",
                now=env.clock(),
                policy=CHECKINS,
            )
        return result.case_reference

    reference = await answer("wants_contact", "yes")
    [case] = await cases(env)
    assert case.reference == reference and not case.flag_other_handler
    await assign(env, case, "karin")  # not flagged yet: hers, as usual
    assert await answer("other_handler", "yes") == reference
    [case] = await cases(env)
    assert case.flag_other_handler and case.assignee_id is None
    async with env.db.sessions() as session:
        fields = (
            await session.execute(
                select(AuditEvent.detail).where(col(AuditEvent.case_id) == case.id)
            )
        ).scalars()
        changed = [d.get("field") for d in fields if d]
    assert "flag_other_handler" in changed and changed.count("assignee_id") == 2


async def test_a_check_in_queued_with_the_old_text_is_not_sent(env: Env) -> None:
    """Rows written before the upgrade named the unit: the worker's re-check holds them back."""
    await env.register()
    async with unit_of_work(env.db.sessions) as session:
        for item in (await session.execute(select(OutboxItem))).scalars():
            item.payload = {k: v for k, v in item.payload.items() if k != "neutral"}
    await env.run_until(at(2026, 3, 17, 8, 0))
    assert env.mails() == []
    async with env.db.sessions() as session:
        ask = (
            await session.execute(select(OutboxItem).where(col(OutboxItem.kind) == "checkin.ask"))
        ).scalar_one()
    assert ask.status == "cancelled" and "old text" in (ask.last_error or "")
