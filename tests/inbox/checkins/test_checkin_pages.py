"""The public check-in page and the mail-reply fallback: a signed, expiring, single-use link; a
forged one refused; the unsubscribe link; "4" in a reply recorded as the rating, "nej" read by a
person."""

from __future__ import annotations

import re
from email.message import EmailMessage
from email.utils import make_msgid

from sqlalchemy import func, select

from inbox.checkins.callbacks import callback_details
from inbox.checkins.links import Links
from inbox.core.db import unit_of_work
from inbox.core.models import Case, CheckIn
from inbox.intake.receive import receive
from mail.parse import parse_email
from tests.inbox.checkins.checkin_env import INTAKE, POLICY, Env, at
from tests.inbox.checkins.checkin_env import env as env

LINK = re.compile(r"https://synpunkt\.kommun\.example(/checkin/(?!stopp)[^\s]+)")
STOP = re.compile(r"https://synpunkt\.kommun\.example(/checkin/stopp/[^\s]+)")


async def sent_check_in(env: Env, **fields: str) -> tuple[dict, str, str, str]:
    decision = await env.register(**fields)
    await env.run_until(at(2026, 3, 17, 8, 0))
    mail = env.mails()[-1]
    body = mail.get_content()
    link, stop = LINK.search(body), STOP.search(body)
    assert link and stop
    return decision, link.group(1), stop.group(1), mail["Message-ID"]


async def test_the_page_asks_accessibly_and_records_the_answers_once(env: Env) -> None:
    decision, path, _stop, _mid = await sent_check_in(env)
    page = await env.web.get(path)
    assert page.status_code == 200
    html = page.text
    assert '<html lang="sv">' in html
    assert html.count("<fieldset>") == 6 and html.count("<legend>") == 6
    assert '<label for="comment">' in html and "<script" not in html
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    assert page.headers["referrer-policy"] == "no-referrer"
    assert (await env.web.get(path)).status_code == 200  # opening it does not use it up

    answers = {
        "rating": "4",
        "understood": "yes",
        "knows_appeal": "no",
        "knows_feedback": "no",
        "wants_contact": "no",
        "comment": "Bra bemötande.",
    }
    done = await env.web.post(path, data=answers)
    assert done.status_code == 200 and "Tack för dina svar" in done.text
    # "no" to knowing how to appeal: to us, within three weeks, the handläggare helps.
    appeal = "Så överklagar du: Skriv till oss, Socialtjänsten i Exempelstad, och berätta"
    assert appeal in done.text and "inom tre veckor från den dag du fick beslutet" in done.text
    assert "Din handläggare kan hjälpa dig." in done.text
    assert "genom att svara på mejlet från oss" in done.text  # and where feedback goes
    view = await env.decision(decision["id"])
    assert view["checkin"]["state"] == "answered"  # "someone else" is asked only of a "ja"
    assert view["checkin"]["answers"] == {
        "rating": 4,
        "understood": "yes",
        "knows_appeal": "no",
        "knows_feedback": "no",
        "wants_contact": "no",
        "other_handler": None,
        "comment": "Bra bemötande.",
    }
    again = await env.web.post(path, data={"rating": "1"})
    assert again.status_code == 410 and "redan besvarats" in again.text
    assert (await env.decision(decision["id"]))["checkin"]["answers"]["rating"] == 4
    await env.run_until(at(2026, 3, 23, 8, 0))
    assert len(env.mails()) == 1  # answered: no reminder


async def test_bad_input_is_shown_again_and_uses_nothing(env: Env) -> None:
    _decision, path, _stop, _mid = await sent_check_in(env, language="en")
    bad = await env.web.post(path, data={"rating": "9"})
    assert bad.status_code == 400 and 'role="alert"' in bad.text and '<html lang="en">' in bad.text
    # In the person's language, never the code's own words.
    assert "One of the answers could not be read." in bad.text and "is not one of" not in bad.text
    empty = await env.web.post(path, data={})
    assert empty.status_code == 400 and "at least one question" in empty.text
    assert (await env.web.post(path, data={"rating": "2"})).status_code == 200


async def test_expired_and_forged_links_are_refused(env: Env) -> None:
    _decision, path, _stop, _mid = await sent_check_in(env)
    token = path.rsplit("/", 1)[1]
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert (await env.web.get(f"/checkin/{forged}")).status_code == 404
    other_key = Links(secret_key="someone-else", public_url="x").answer_token(
        checkin_id=1, expires=at(2030, 1, 1)
    )
    assert (await env.web.post(f"/checkin/{other_key}", data={"rating": "5"})).status_code == 404
    env.clock.now = at(2026, 4, 15, 8, 0)  # 29 days after the ask
    expired = await env.web.post(path, data={"rating": "5"})
    assert expired.status_code == 410 and "slutat gälla" in expired.text


async def test_the_unsubscribe_link_opts_out_of_all_check_ins(env: Env) -> None:
    first, _path, stop, _mid = await sent_check_in(env)
    second = await env.register(reference="EB-2026-000999", decided_on="2026-03-16")
    confirm = await env.web.get(stop)
    assert confirm.status_code == 200 and "<form" in confirm.text
    assert (await env.decision(second["id"]))["checkin"][
        "ask_status"
    ] == "pending"  # GET changes nothing
    done = await env.web.post(stop)
    assert done.status_code == 200 and "inga fler" in done.text
    assert (await env.decision(second["id"]))["checkin"]["ask_status"] == "cancelled"
    assert (await env.decision(first["id"]))["checkin"]["opted_out"] is True
    third = await env.register(reference="EB-2026-001000")
    assert third["checkin"]["state"] == "skipped"


def reply(message_id: str, body: str, *, sender: str = "klient@example.se") -> bytes:
    msg = EmailMessage()
    subject = "Re: Hur upplevde du din senaste kontakt med oss?"
    msg["From"], msg["To"], msg["Subject"] = sender, INTAKE, subject
    msg["Message-ID"] = make_msgid(domain="example.se")
    msg["In-Reply-To"] = message_id
    msg["References"] = message_id
    msg.set_content(f"{body}\n\n> Hej!\n> Vi vill gärna veta hur du upplevde din senaste kontakt\n")
    return bytes(msg)


async def receive_mail(env: Env, raw: bytes):  # type: ignore[no-untyped-def]
    async with unit_of_work(env.db.sessions) as session:
        receipt = await receive(session, parse_email(raw), policy=POLICY, now=env.clock())
        cases = (await session.execute(select(func.count()).select_from(Case))).scalar_one()
    return receipt, cases


async def test_a_digit_in_a_reply_is_the_rating_and_a_nej_is_read_by_a_person(env: Env) -> None:
    decision, _path, _stop, message_id = await sent_check_in(env)
    receipt, cases = await receive_mail(env, reply(message_id, "4"))
    assert receipt.no_ack_reason == "check-in answer" and cases == 0
    view = await env.decision(decision["id"])
    assert view["checkin"]["answers"]["rating"] == 4
    assert view["checkin"]["answered_via"] == "email-reply"
    # The mail asks nothing a "nej" answers: a person reads it, as an ordinary case.
    receipt, cases = await receive_mail(env, reply(message_id, "Nej."))
    assert receipt.new_case and cases == 1
    view = await env.decision(decision["id"])
    assert view["checkin"]["answers"]["understood"] is None and view["checkin"]["case"] is None


async def test_anything_else_in_a_reply_opens_a_normal_case(env: Env) -> None:
    _decision, _path, _stop, message_id = await sent_check_in(env)
    receipt, cases = await receive_mail(
        env, reply(message_id, "Nej, jag förstår inte varför jag fick avslag.")
    )
    assert receipt.new_case and cases == 1 and receipt.acknowledged
    stranger, _ = await receive_mail(env, reply(message_id, "4", sender="annan@example.se"))
    assert stranger.new_case  # only the check-in's own contact can answer it


async def test_stopp_in_a_reply_opts_out(env: Env) -> None:
    decision, _path, _stop, message_id = await sent_check_in(env)
    receipt, cases = await receive_mail(env, reply(message_id, "STOPP"))
    assert receipt.no_ack_reason == "check-in answer" and cases == 0
    view = await env.decision(decision["id"])
    assert (
        view["checkin"]["opted_out"] is True and view["checkin"]["reminder_status"] == "cancelled"
    )


async def test_a_finnish_decision_gets_its_check_in_in_finnish(env: Env) -> None:
    """The decision's language decides the check-in: its mail and its page are Finnish."""
    _decision, path, _stop, _mid = await sent_check_in(env, language="fi")
    mail = env.mails()[-1]
    assert mail["Subject"] == "Millainen oli viimeisin yhteydenottosi meihin?"
    body = mail.get_content().replace("\r\n", "\n")
    assert body.startswith("Hei!\n\nHaluaisimme tietää") and "Ystävällisin terveisin" in body
    assert "Vi vill gärna" not in body
    page = await env.web.get(path)
    assert page.status_code == 200 and '<html lang="fi">' in page.text
    assert "Ymmärsitkö päätöksen?" in page.text and "Lähetä vastaukset" in page.text
    assert "Kyllä" in page.text and "Förstod du" not in page.text
    done = await env.web.post(path, data={"rating": "3", "knows_appeal": "no"})
    assert done.status_code == 200 and "Kiitos vastauksistasi" in done.text
    assert "Näin valitat: Kirjoita meille, Socialtjänsten i Exempelstad" in done.text


async def test_an_arabic_check_in_page_reads_right_to_left(env: Env) -> None:
    _decision, path, _stop, _mid = await sent_check_in(env, language="ar")
    page = await env.web.get(path)
    assert '<html lang="ar" dir="rtl">' in page.text and "هل فهمت القرار؟" in page.text


async def test_a_number_to_call_is_kept_with_a_yes_to_contact_and_only_then(env: Env) -> None:
    _decision, path, _stop, _mid = await sent_check_in(env)
    page = (await env.web.get(path)).text
    assert '<input type="tel" id="phone" name="phone" autocomplete="tel"' in page
    bad = await env.web.post(path, data={"wants_contact": "yes", "phone": "ring mig i kväll"})
    assert bad.status_code == 400 and "Skriv telefonnumret med siffror" in bad.text
    assert 'value="ring mig i kväll"' in bad.text  # nothing typed is lost
    done = await env.web.post(path, data={"wants_contact": "yes", "phone": "070-123 45 67"})
    assert done.status_code == 200 and "Vi hör av oss" in done.text
    async with env.db.sessions() as session:
        case = (await session.execute(select(Case).where(Case.origin == "checkin"))).scalar_one()
        details = await callback_details(session, case)
    assert (details.phone, details.dial) == ("070-123 45 67", "0701234567")

    # A number from someone who does not want to be contacted is not kept.
    _decision, other, _stop, _mid = await sent_check_in(
        env, address="annan@example.se", reference="EB-2026-000124"
    )
    assert (
        await env.web.post(other, data={"wants_contact": "no", "phone": "070-9"})
    ).status_code == 200
    async with env.db.sessions() as session:
        phones = (await session.execute(select(CheckIn.phone))).scalars().all()
    assert sorted(phones, key=str) == ["070-123 45 67", None]
