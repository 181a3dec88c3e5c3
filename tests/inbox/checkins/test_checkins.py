"""Check-ins end to end through the API, the worker and both channels, with time injected:
the ask at its time, the reminder, opt-out, withdrawal, answers from a chat, a case for a poor
answer, and the statistics with small groups suppressed."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlmodel import col

from inbox.cases.contacts import find_contact
from inbox.checkins.answers import Outcome, record_answer
from inbox.checkins.plan import opt_out
from inbox.core.db import unit_of_work
from inbox.core.models import Case, CheckIn, Contact, OutboxItem
from tests.inbox.checkins.checkin_env import CHECKINS, Env, at
from tests.inbox.checkins.checkin_env import env as env


async def test_email_check_in_goes_out_on_the_third_working_day_then_one_reminder(env: Env) -> None:
    decision = await env.register()
    checkin = decision["checkin"]
    assert checkin["state"] == "scheduled"
    assert checkin["ask_at"].startswith("2026-03-17T08:00")  # Tue 09:00 CET
    assert checkin["reminder_at"].startswith("2026-03-23T08:00")

    await env.run_until(at(2026, 3, 17, 7, 59))
    assert env.mails() == []
    await env.run_until(at(2026, 3, 17, 8, 0))
    [mail] = env.mails()
    assert mail["Auto-Submitted"] == "auto-generated"
    assert mail["To"] == "klient@example.se"
    assert mail["Subject"] == "Hur upplevde du din senaste kontakt med oss?"
    body = mail.get_content()
    assert "https://synpunkt.kommun.example/checkin/" in body
    assert "https://synpunkt.kommun.example/checkin/stopp/" in body
    assert "EB-2026-000123" not in body and "EB-2026-000123" not in mail["Subject"]  # neutral
    assert (await env.decision(decision["id"]))["checkin"]["state"] == "sent"

    await env.run_until(at(2026, 3, 23, 8, 0))
    mails = env.mails()
    assert len(mails) == 2 and mails[1]["Subject"].startswith("Påminnelse")
    view = await env.decision(decision["id"])
    assert view["checkin"]["state"] == "reminded" and view["checkin"]["reminder_status"] == "sent"
    await env.run_until(at(2026, 4, 30, 8, 0))
    assert len(env.mails()) == 2  # at most one reminder
    assert (await env.decision(decision["id"]))["checkin"]["state"] == "unanswered"


async def test_telegram_check_in_asks_the_first_question_with_buttons(env: Env) -> None:
    decision = await env.register(channel="telegram", address="4242", language="en")
    await env.run_until(at(2026, 3, 17, 8, 0))
    [item] = env.telegram.sent
    assert item.kind == "checkin.ask" and item.recipient == "4242"
    payload = item.payload
    cid = decision["checkin"]["id"]
    assert payload["chat_id"] == "4242" and payload["question"] == "rating"
    assert "How did you find your latest contact with us?" in payload["text"]
    answers, [page] = payload["inline_keyboard"]
    assert [b["callback_data"] for b in answers] == [f"ci:{cid}:rating:{n}" for n in "12345"]
    assert [b["text"] for b in answers] == ["1", "2", "3", "4", "5"]
    assert page["text"] == "More questions"
    assert page["url"].startswith("https://synpunkt.kommun.example/checkin/")


async def test_an_answer_cancels_the_reminder(env: Env) -> None:
    decision = await env.register(channel="telegram", address="4242")
    await env.run_until(at(2026, 3, 17, 8, 0))
    async with unit_of_work(env.db.sessions) as session:
        result = await record_answer(
            session,
            checkin_id=decision["checkin"]["id"],
            question="rating",
            answer="4",
            channel_address="4242",
            now=env.clock(),
            policy=CHECKINS,
        )
    assert result.outcome is Outcome.RECORDED and result.next_question == "knows_feedback"
    await env.run_until(at(2026, 3, 23, 8, 0))
    assert len(env.telegram.sent) == 1
    view = await env.decision(decision["id"])
    assert view["checkin"]["reminder_status"] == "cancelled"
    assert view["checkin"]["state"] == "partly-answered"


async def test_answers_from_a_chat_once_per_question(env: Env) -> None:
    decision = await env.register(channel="telegram", address="4242")
    cid = decision["checkin"]["id"]
    await env.run_until(at(2026, 3, 17, 8, 0))

    async def answer(question: str, value: str, chat: str = "4242") -> Outcome:
        async with unit_of_work(env.db.sessions) as session:
            result = await record_answer(
                session,
                checkin_id=cid,
                question=question,
                answer=value,
                channel_address=chat,
                now=env.clock(),
                policy=CHECKINS,
            )
        return result.outcome

    assert await answer("rating", "4", chat="9999") is Outcome.NOT_FOUND  # another chat
    assert await answer("rating", "4") is Outcome.RECORDED
    assert await answer("rating", "4") is Outcome.UNCHANGED  # a double tap
    assert await answer("rating", "1") is Outcome.ALREADY_ANSWERED  # the first answer stands
    env.clock.now = at(2026, 4, 20, 8, 0)  # 28 days after the ask: closed
    assert await answer("understood", "yes") is Outcome.CLOSED
    view = await env.decision(decision["id"])
    assert view["checkin"]["answers"]["rating"] == 4
    assert view["checkin"]["answers"]["understood"] is None


async def test_a_wish_for_contact_opens_a_flagged_case_in_the_units_inbox(env: Env) -> None:
    decision = await env.register(channel="telegram", address="4242", reference="EB-77")
    cid = decision["checkin"]["id"]
    await env.run_until(at(2026, 3, 17, 8, 0))

    async def answer(question: str, value: str) -> str | None:
        async with unit_of_work(env.db.sessions) as session:
            result = await record_answer(
                session,
                checkin_id=cid,
                question=question,
                answer=value,
                channel_address="4242",
                now=env.clock(),
                policy=CHECKINS,
            )
        return result.case_reference

    # Poor answers alone call nobody back: only a "Ja" to contact does.
    assert await answer("understood", "no") is None
    assert await answer("rating", "2") is None
    reference = await answer("wants_contact", "yes")
    assert reference is not None
    assert await answer("other_handler", "no") == reference  # later answers join the case
    items = (await env.api.get("/api/cases")).json()["items"]
    [summary] = [i for i in items if i["reference"] == reference]
    assert summary["origin"] == "checkin" and "callback" in summary["flags"]
    assert summary["unit"] == "ekonomiskt-bistand"
    case = (await env.api.get(f"/api/cases/{reference}")).json()
    assert case["origin"] == "checkin"
    text = "\n".join(m["text"] for m in case["messages"])
    assert "Förstod beslutet: nej" in text and "Betyg (1–5): 2" in text and "EB-77" in text
    assert "Ring upp: vill bli kontaktad, förstod inte beslutet, lågt betyg (2)" in text
    assert case["outbox"] == []  # no acknowledgement
    assert (await env.decision(decision["id"]))["checkin"]["case"] == reference


async def test_a_good_answer_opens_no_case(env: Env) -> None:
    decision = await env.register(channel="telegram", address="4242")
    async with unit_of_work(env.db.sessions) as session:
        for question, value in (("rating", "4"), ("understood", "yes"), ("wants_contact", "no")):
            result = await record_answer(
                session,
                checkin_id=decision["checkin"]["id"],
                question=question,
                answer=value,
                channel_address="4242",
                now=env.clock(),
                policy=CHECKINS,
            )
            assert result.case_reference is None
        assert (await session.execute(select(func.count()).select_from(Case))).scalar_one() == 0


async def test_opt_out_cancels_queued_check_ins_and_skips_new_ones(env: Env) -> None:
    first = await env.register(channel="telegram", address="4242")
    async with unit_of_work(env.db.sessions) as session:
        contact = await find_contact(session, channel="telegram", address="4242")
        assert contact is not None
        assert await opt_out(session, contact=contact, now=env.clock()) == 2  # ask and reminder
    await env.run_until(at(2026, 3, 30, 8, 0))
    assert env.telegram.sent == []
    assert (await env.decision(first["id"]))["checkin"]["state"] == "cancelled"
    second = await env.register(channel="telegram", address="4242", reference="EB-2026-2")
    assert second["checkin"]["state"] == "skipped"
    assert second["checkin"]["skip_reason"] == "contact opted out of check-ins"


async def test_opt_out_after_the_row_was_claimed_is_caught_by_the_re_check(env: Env) -> None:
    await env.register(channel="telegram", address="4242")
    env.clock.now = at(2026, 3, 17, 8, 0)
    async with unit_of_work(env.db.sessions) as session:
        contact = await find_contact(session, channel="telegram", address="4242")
        assert contact is not None
        contact.opted_out = True  # flag only, rows still pending: as if set mid-round
    await env.worker.drain()
    assert env.telegram.sent == []
    async with env.db.sessions() as session:
        ask = (
            await session.execute(select(OutboxItem).where(col(OutboxItem.kind) == "checkin.ask"))
        ).scalar_one()
    assert ask.status == "cancelled" and ask.last_error == "contact opted out"


async def test_withdrawal_cancels_the_check_in(env: Env) -> None:
    decision = await env.register()
    response = await env.api.post(f"/api/decisions/{decision['id']}/withdraw")
    assert response.status_code == 200
    view = response.json()
    assert view["status"] == "withdrawn" and view["checkin"]["state"] == "withdrawn"
    assert view["checkin"]["ask_status"] == "cancelled"
    await env.run_until(at(2026, 3, 30, 8, 0))
    assert env.mails() == []
    async with unit_of_work(env.db.sessions) as session:
        result = await record_answer(
            session,
            checkin_id=decision["checkin"]["id"],
            question="rating",
            answer="5",
            channel_address="klient@example.se",
            now=env.clock(),
            policy=CHECKINS,
        )
    assert result.outcome is Outcome.WITHDRAWN


async def test_statistics_per_unit_and_month_suppress_small_groups(env: Env) -> None:
    ratings = ["1", "3", "4", "5", "5", "4"]
    for n in range(len(ratings)):
        await env.register(channel="telegram", address=str(1000 + n), reference=f"EB-{n}")
    for n in range(3):
        await env.register(
            unit="vuxen", channel="telegram", address=str(2000 + n), reference=f"V-{n}"
        )
    await env.run_until(at(2026, 3, 17, 8, 0))
    async with unit_of_work(env.db.sessions) as session:
        checkins = (
            (await session.execute(select(CheckIn).order_by(col(CheckIn.id)))).scalars().all()
        )
        for checkin, rating in zip(checkins[:5], ratings, strict=False):
            contact = await session.get(Contact, checkin.contact_id)
            assert contact is not None
            for question, value in (
                ("rating", rating),
                ("understood", "yes" if rating != "1" else "no"),
                ("knows_feedback", "yes" if rating != "3" else "no"),
            ):
                await record_answer(
                    session,
                    checkin_id=checkin.id or 0,
                    question=question,
                    answer=value,
                    channel_address=contact.address,
                    now=env.clock(),
                    policy=CHECKINS,
                )
        for checkin in checkins[6:8]:  # two answers in vuxen
            contact = await session.get(Contact, checkin.contact_id)
            assert contact is not None
            await record_answer(
                session,
                checkin_id=checkin.id or 0,
                question="rating",
                answer="5",
                channel_address=contact.address,
                now=env.clock(),
                policy=CHECKINS,
            )
    response = await env.api.get("/api/checkins/stats", params={"from": "2026-03", "to": "2026-03"})
    assert response.status_code == 200
    body = response.json()
    assert body["min_group_size"] == 5
    groups = {g["unit"]: g for g in body["groups"]}
    eb = groups["ekonomiskt-bistand"]
    assert eb["suppressed"] is False and eb["asked"] == 6 and eb["answered"] == 5
    assert eb["response_rate"] == round(5 / 6, 3)
    assert eb["ratings"] == {"1": 1, "2": 0, "3": 1, "4": 1, "5": 2}
    assert eb["understood"]["yes"] == 0.8 and eb["understood"]["no"] == 0.2
    assert eb["knows_feedback"] == {"answers": 5, "yes": 0.8}
    assert eb["contact_wishes"] == 0 and eb["other_handler_wishes"] == 0
    vuxen = groups["vuxen"]
    assert vuxen["suppressed"] is True and vuxen["asked"] == 3
    assert vuxen["answered"] is None and vuxen["ratings"] is None and vuxen["response_rate"] is None
    only = (await env.api.get("/api/checkins/stats", params={"unit": "vuxen"})).json()["groups"]
    assert [g["unit"] for g in only] == ["vuxen"]
    assert (await env.api.get("/api/checkins/stats", params={"from": "march"})).status_code == 422
