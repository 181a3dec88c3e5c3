"""The web form end to end over HTTP: an anonymous submission is written first and becomes a case
with channel `web` and no contact when the worker runs; a double submit is one case; the sender
reads a staff reply on the follow-up page and answers it; wrong codes tell nothing and are
throttled; the honeypot, the fill time and the limits per address hold."""

from __future__ import annotations

import asyncio
import html
import json
import re
from typing import Any

import altcha
import httpx
import pytest
from sqlalchemy import func, select

from inbox.core.inbound import Channel
from inbox.core.models import Case, Contact, IntakeRecord, Message, OutboxItem, WebFollowUp
from inbox.intake.web_form import FollowUpLimits, PublishedOnFollowUp, WebFormPolicy, parse_web
from tests.conftest import SECRET_KEY
from tests.factories import make_worker
from tests.inbox.web.conftest import SignIn, World, build_world, form_post
from tests.inbox.web.conftest import as_user as as_user

TOKEN = re.compile(r'name="token" value="([^"]+)"')
REFERENCE = re.compile(r'class="code">([A-Z]+-\d{4}-\d{4,})<')
CODE = re.compile(r'class="code">([A-Z2-7]{4}(?:-[A-Z2-7]{1,4})+)<')


@pytest.fixture
async def world(db: Any, clock: Any) -> World:
    policy = WebFormPolicy(
        secret_key=SECRET_KEY,
        per_address=4,
        pow_from=4,  # the proof of work has a test of its own
        follow_up=FollowUpLimits(per_address=3, per_reference=3),
    )
    return await build_world(db, clock, web_form=policy)


def client(world: World) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=world.app), base_url="http://test")


async def token(http: httpx.AsyncClient, world: World) -> str:
    page = await http.get("/synpunkt")
    assert page.status_code == 200
    world.clock.advance(seconds=10)  # a person takes longer than the minimum fill time
    found = TOKEN.search(page.text)
    assert found
    return found.group(1)


async def worker_run(world: World) -> None:
    worker = make_worker(
        world.db.sessions,
        world.clock,
        parsers={Channel.WEB: parse_web},
        senders={Channel.WEB: PublishedOnFollowUp()},
    )
    await worker.drain()


async def test_an_anonymous_submission_becomes_a_web_case_without_contact(world: World) -> None:
    async with client(world) as http:
        form = {
            "token": await token(http, world),
            "message": "Bra bemötande i receptionen.",
            "kind": "praise",
            "role": "relative",
            "website": "",
        }
        receipt = await http.post("/synpunkt", data=form)
        assert receipt.status_code == 200, receipt.text
        reference = REFERENCE.search(receipt.text)
        code = CODE.search(receipt.text)
        assert reference and code
        # Written first: the row and the code are committed before the receipt, no case yet.
        async with world.db.sessions() as session:
            row = (
                await session.execute(select(IntakeRecord).where(IntakeRecord.channel == "web"))
            ).scalar_one()
            assert row.case_reference == reference.group(1) and row.case_id is None
            assert await session.get(WebFollowUp, reference.group(1)) is not None
        again = await http.post("/synpunkt", data=form)  # the same form sent twice
        assert REFERENCE.search(again.text).group(1) == reference.group(1)  # type: ignore[union-attr]
        assert CODE.search(again.text).group(1) == code.group(1)  # type: ignore[union-attr]
    await worker_run(world)
    async with world.db.sessions() as session:
        cases = (await session.execute(select(Case).where(Case.channel == "web"))).scalars().all()
        assert [c.reference for c in cases] == [reference.group(1)]
        assert cases[0].contact_id is None and cases[0].kind == "praise"
        assert cases[0].submitter_role == "relative"


async def test_the_sender_reads_a_staff_reply_and_answers_it(world: World, as_user: SignIn) -> None:
    async with client(world) as http:
        form = {"token": await token(http, world), "message": "Varför fick jag inget svar?"}
        receipt = await http.post("/synpunkt", data=form)
        reference = REFERENCE.search(receipt.text).group(1)  # type: ignore[union-attr]
        code = CODE.search(receipt.text).group(1)  # type: ignore[union-attr]
        await worker_run(world)
        rut = await as_user("rut")  # a registrar: the case has no unit yet
        case_page = await rut.get(f"/cases/{reference}")
        assert "visas via webben" in case_page.text
        answered = await form_post(
            rut, f"/cases/{reference}/reply", {"text": "Vi ringer dig på tisdag."}
        )
        assert answered.status_code == 303, answered.text
        unsent = await http.post("/synpunkt/folj", data={"reference": reference, "code": code})
        assert "Vi ringer dig på tisdag." not in unsent.text  # published once the worker ran
        await worker_run(world)
        page = await http.post(
            "/synpunkt/folj", data={"reference": reference, "code": code.lower()}
        )
        assert page.status_code == 200
        assert "Vi ringer dig på tisdag." in page.text
        follow = TOKEN.search(page.text).group(1)  # type: ignore[union-attr]
        empty = await http.post(
            "/synpunkt/folj/meddelande",
            data={"reference": reference, "code": code, "token": follow, "message": " "},
        )
        assert empty.status_code == 422 and "Skriv ditt meddelande." in empty.text
        added = await http.post(
            "/synpunkt/folj/meddelande",
            data={
                "reference": reference,
                "code": code,
                "token": follow,
                "message": "Tisdag passar bra.",
            },
        )
        assert added.status_code == 200 and "Tack, ditt meddelande är mottaget." in added.text
    await worker_run(world)
    async with world.db.sessions() as session:
        texts = (
            (
                await session.execute(
                    select(Message.text)
                    .join(Case, Case.id == Message.case_id)
                    .where(Case.reference == reference, Message.direction == "inbound")
                )
            )
            .scalars()
            .all()
        )
        assert texts == ["Varför fick jag inget svar?", "Tisdag passar bra."]
        assert (
            await session.execute(
                select(func.count()).select_from(Case).where(Case.channel == "web")
            )
        ).scalar_one() == 1


async def test_wrong_codes_tell_nothing_and_are_throttled(world: World) -> None:
    async with client(world) as http:
        receipt = await http.post(
            "/synpunkt", data={"token": await token(http, world), "message": "Hej"}
        )
        reference = REFERENCE.search(receipt.text).group(1)  # type: ignore[union-attr]
        code = CODE.search(receipt.text).group(1)  # type: ignore[union-attr]
        wrong = await http.post(
            "/synpunkt/folj", data={"reference": reference, "code": "AAAA-BBBB"}
        )
        missing = await http.post(
            "/synpunkt/folj", data={"reference": "SP-2026-9999", "code": "AAAA-BBBB"}
        )
        assert wrong.status_code == missing.status_code == 403
        assert wrong.text.replace(reference, "X") == missing.text.replace("SP-2026-9999", "X")
        for _ in range(2):
            await http.post("/synpunkt/folj", data={"reference": reference, "code": "nope"})
        throttled = await http.post("/synpunkt/folj", data={"reference": reference, "code": code})
        assert throttled.status_code == 429  # even the right code, while over the limit


async def test_honeypot_fill_time_and_the_limit_per_address(world: World) -> None:
    async with client(world) as http:
        bot = await http.post(
            "/synpunkt", data={"token": await token(http, world), "message": "x", "website": "spam"}
        )
        assert bot.status_code == 400
        page = await http.get("/synpunkt")
        hasty = TOKEN.search(page.text).group(1)  # type: ignore[union-attr]
        fast = await http.post("/synpunkt", data={"token": hasty, "message": "Snabb"})
        assert fast.status_code == 422 and "Snabb" in fast.text  # nothing typed is lost
        for n in range(4):
            ok = await http.post(
                "/synpunkt", data={"token": await token(http, world), "message": f"m{n}"}
            )
            assert ok.status_code == 200
        over = await http.post(
            "/synpunkt", data={"token": await token(http, world), "message": "fem"}
        )
        assert over.status_code == 422 and "Vänta en stund" in over.text


async def test_errors_are_listed_and_linked_and_attachments_are_checked_by_content(
    world: World,
) -> None:
    async with client(world) as http:
        form = {
            "token": await token(http, world),
            "message": "",
            "email": "inte en adress",
            "what": "Det hände",
        }
        files = [("attachments", ("bild.png", b"MZ\x90\x00 not an image", "image/png"))]
        page = await http.post("/synpunkt", data=form, files=files)
        assert page.status_code == 422
        assert 'href="#message"' in page.text and 'href="#email"' in page.text
        assert 'href="#attachments"' in page.text and ">Det hände</textarea>" in page.text
        assert 'value="inte en adress"' in page.text
        pdf = [("attachments", ("x.txt", b"%PDF-1.4 minimal", "text/plain"))]
        ok = await http.post(
            "/synpunkt", data=form | {"message": "Se bilagan", "email": ""}, files=pdf
        )
        assert ok.status_code == 200
    await worker_run(world)
    async with world.db.sessions() as session:
        case = (await session.execute(select(Case).where(Case.channel == "web"))).scalar_one()
        assert case.subject


async def test_an_english_form_and_rtl_arabic(world: World) -> None:
    async with client(world) as http:
        en = await http.get("/synpunkt?lang=en")
        assert 'lang="en"' in en.text and "Your message" in en.text
        assert en.cookies.get("synpunkt_lang") == "en"
        http.cookies.clear()
        ar = await http.get("/synpunkt", headers={"accept-language": "ar,en;q=0.5"})
        assert 'lang="ar" dir="rtl"' in ar.text
        languages = await http.get("/sprak")
        assert "inte granskad av en auktoriserad översättare" in languages.text
        assert "ትግርኛ</span> (tigrinja)" in languages.text  # offered: its status in the table
        assert "Språk vi inte erbjuder ännu" not in languages.text  # all eleven are offered
        statement = await http.get("/tillganglighet")
        assert "Digg" in statement.text and "2018:1937" in statement.text


async def test_an_address_given_gets_an_acknowledgement_by_email(world: World) -> None:
    async with client(world) as http:
        form = {
            "token": await token(http, world),
            "message": "Please call me.",
            "email": "Anna@Example.se",
            "phone": "070-123 45 67",
        }
        assert (await http.post("/synpunkt?lang=en", data=form)).status_code == 200
    await worker_run(world)
    async with world.db.sessions() as session:
        case = (await session.execute(select(Case).where(Case.channel == "web"))).scalar_one()
        contact = await session.get(Contact, case.contact_id)
        assert contact is not None
        assert (contact.channel, contact.address) == ("email", "anna@example.se")
        ack = (
            await session.execute(select(OutboxItem).where(OutboxItem.case_id == case.id))
        ).scalar_one()
        assert (ack.channel, ack.recipient, ack.kind) == ("email", "anna@example.se", "case.ack")
        assert ack.payload["languages"] == ["sv", "en"]  # theirs, with Swedish
        text = (
            await session.execute(
                select(Message.text).where(
                    Message.case_id == case.id, Message.direction == "inbound"
                )
            )
        ).scalar_one()
        assert text.endswith("Telefon: 070-123 45 67")


async def test_two_submits_of_one_form_at_once_are_one_case_and_skip_no_reference(
    world: World,
) -> None:
    async with client(world) as http:
        form = {"token": await token(http, world), "message": "Två gånger samtidigt"}
        first, second = await asyncio.gather(
            http.post("/synpunkt", data=form), http.post("/synpunkt", data=form)
        )
        assert first.status_code == second.status_code == 200
        shown = {REFERENCE.search(r.text).group(1) for r in (first, second)}  # type: ignore[union-attr]
        later = await http.post(
            "/synpunkt", data={"token": await token(http, world), "message": "Nästa"}
        )
        following = REFERENCE.search(later.text).group(1)  # type: ignore[union-attr]
    assert len(shown) == 1
    (reference,) = shown
    assert int(following.rsplit("-", 1)[1]) == int(reference.rsplit("-", 1)[1]) + 1
    async with world.db.sessions() as session:
        rows = await session.execute(select(func.count()).where(IntakeRecord.channel == "web"))
        assert rows.scalar_one() == 2


async def test_near_the_limit_the_form_asks_for_a_proof_of_work(db: Any, clock: Any) -> None:
    policy = WebFormPolicy(secret_key=SECRET_KEY, per_address=5, pow_from=1, pow_cost=10)
    world = await build_world(db, clock, web_form=policy)
    async with client(world) as http:
        first = await http.get("/synpunkt")
        assert "altcha-widget" not in first.text  # below the threshold: no JavaScript needed
        sent = {"token": await token(http, world), "message": "Ett"}
        assert (await http.post("/synpunkt", data=sent)).status_code == 200
        page = await http.get("/synpunkt")
        world.clock.advance(seconds=10)
        challenge = re.search(r'<altcha-widget challenge="([^"]+)"', page.text)
        assert challenge and '<script type="module" src="/static/webform.js">' in page.text
        form = {"token": TOKEN.search(page.text).group(1), "message": "Två"}  # type: ignore[union-attr]
        refused = await http.post("/synpunkt", data=form)
        assert refused.status_code == 422 and "JavaScript" in refused.text
        assert ">Två</textarea>" in refused.text
        other = await http.post("/synpunkt", data=form | {"altcha": "bm9wZQ=="})
        assert other.status_code == 422
        solved = altcha.Challenge.from_dict(json.loads(html.unescape(challenge.group(1))))
        solution = altcha.solve_challenge(solved)
        assert solution is not None
        proof = altcha.Payload(solved, solution).to_base64()
        accepted = await http.post("/synpunkt", data=form | {"altcha": proof})
        assert accepted.status_code == 200
        # A proof is bound to its form: another form's token does not take it.
        again = {"token": await token(http, world), "message": "Tre", "altcha": proof}
        assert (await http.post("/synpunkt", data=again)).status_code == 422


async def test_an_answer_sent_by_email_is_not_reported_as_no_answer(
    world: World, as_user: SignIn
) -> None:
    """A sender who gave an address is answered by e-mail; the follow-up page says an answer went
    there (when, not what: anyone with the code can read the page) instead of "not answered"."""
    mailed: list[OutboxItem] = []

    class Mailbox:
        async def send(self, item: OutboxItem) -> None:
            mailed.append(item)

    async with client(world) as http:
        form = {
            "token": await token(http, world),
            "message": "Hur lång är väntetiden?",
            "email": "anna@example.se",
        }
        receipt = await http.post("/synpunkt", data=form)
        reference = REFERENCE.search(receipt.text).group(1)  # type: ignore[union-attr]
        code = CODE.search(receipt.text).group(1)  # type: ignore[union-attr]
        worker = make_worker(
            world.db.sessions,
            world.clock,
            parsers={Channel.WEB: parse_web},
            senders={Channel.EMAIL: Mailbox(), Channel.WEB: PublishedOnFollowUp()},
        )
        await worker.drain()
        before = await http.post("/synpunkt/folj", data={"reference": reference, "code": code})
        assert "Vi har inte svarat ännu." in before.text  # the acknowledgement is no answer
        rut = await as_user("rut")
        answer = "Väntetiden är tre veckor och gäller din ansökan."
        answered = await form_post(rut, f"/cases/{reference}/reply", {"text": answer})
        assert answered.status_code == 303, answered.text
        await worker.drain()
        to_anna = [item.kind for item in mailed if item.recipient == "anna@example.se"]
        assert to_anna == ["case.ack", "case.reply"]
        after = await http.post("/synpunkt/folj", data={"reference": reference, "code": code})
        assert "Vi har inte svarat ännu." not in after.text
        assert "Svaret skickades till din e-postadress." in after.text
        assert answer not in after.text
