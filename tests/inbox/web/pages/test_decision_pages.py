"""The staff pages for check-ins: registering a decision by form and the statistics, in scope."""

from __future__ import annotations

from datetime import UTC

import httpx
from sqlalchemy import select

from inbox.cases.access import EVERYTHING
from inbox.checkins.decisions import check_input, register_decision
from inbox.checkins.plan import CheckinPolicy
from inbox.core.db import unit_of_work
from inbox.core.models import AuditEvent, CheckIn, Decision
from inbox.core.time import STOCKHOLM
from tests.conftest import SECRET_KEY
from tests.inbox.web.conftest import SignIn, World, csrf_of

FORM = {
    "unit": "barn-och-familj",
    "channel": "email",
    "address": "klient@example.se",
    "language": "sv",
    "decided_on": "2026-03-09",
    "reference": "BoF-2026-0042",
}


async def _post(client, data: dict[str, str]):  # type: ignore[no-untyped-def]
    form = await client.get("/decisions/new")
    assert form.status_code == 200, form.text
    return await client.post("/decisions/new", data={**data, "csrf_token": csrf_of(form.text)})


async def _decisions(world: World) -> list[Decision]:
    async with world.db.sessions() as session:
        return list((await session.execute(select(Decision))).scalars())


async def test_a_caseworker_registers_a_decision_and_sees_when_the_check_in_goes(
    world: World, as_user: SignIn
) -> None:
    karin = await as_user("karin")
    form = (await karin.get("/decisions/new")).text
    assert 'value="barn-och-familj"' in form
    assert 'value="vuxen"' not in form and 'value="mottagning"' not in form  # her units only
    response = await _post(karin, FORM)
    assert response.status_code == 200, response.text
    [decision] = await _decisions(world)
    assert decision.reference == "BoF-2026-0042" and decision.registered_by.startswith("user:")
    async with world.db.sessions() as session:
        checkin = (await session.execute(select(CheckIn))).scalar_one()
        events = (
            await session.execute(
                select(AuditEvent).where(AuditEvent.action == "decision.registered")
            )
        ).scalars()
        assert len(list(events)) == 1
    assert checkin.ask_at is not None
    # 3 working days after Monday 9 March: Thursday 12 March, in Stockholm time (UTC+1).
    local = checkin.ask_at.replace(tzinfo=checkin.ask_at.tzinfo or UTC).astimezone(STOCKHOLM)
    assert f"{local:%Y-%m-%d}" == "2026-03-12"
    assert "Beslutet BoF-2026-0042 är registrerat" in response.text
    assert f"{local:%Y-%m-%d %H:%M}" in response.text and "svensk tid" in response.text


async def test_the_form_refuses_bad_input_in_swedish_and_units_outside_the_scope(
    world: World, as_user: SignIn
) -> None:
    karin = await as_user("karin")
    cases = [
        ({"reference": "19121212-1212"}, "personnummer"),
        ({"address": "inte-en-adress"}, "inte en e-postadress"),
        ({"channel": "telegram", "address": "abc"}, "positivt tal"),
        ({"decided_on": "2030-01-01"}, "framtiden"),
        ({"decided_on": "9 mars"}, "ÅÅÅÅ-MM-DD"),
        ({"unit": "vuxen"}, "Välj en av dina verksamheter"),
    ]
    for change, needle in cases:
        response = await _post(karin, FORM | change)
        assert response.status_code == 422, change
        assert needle in response.text, (change, response.text)
        assert 'role="alert"' in response.text
    assert await _decisions(world) == []
    assert (await _post(karin, FORM)).status_code == 200
    again = await _post(karin, FORM)
    assert again.status_code == 422 and "redan ett beslut" in again.text
    assert len(await _decisions(world)) == 1


async def test_viewers_cannot_register_and_a_post_without_csrf_is_refused(
    world: World, as_user: SignIn
) -> None:
    vera = await as_user("vera")
    assert (await vera.get("/decisions/new")).status_code == 403
    html = (await vera.get("/")).text
    refused = await vera.post("/decisions/new", data={**FORM, "csrf_token": csrf_of(html)})
    assert refused.status_code == 403
    assert 'href="/decisions/new"' not in html and 'href="/checkins"' in html
    rut = await as_user("rut")
    assert 'href="/decisions/new"' in (await rut.get("/")).text
    no_token = await rut.post("/decisions/new", data=FORM | {"unit": "mottagning"})
    assert no_token.status_code == 403 and "säkerhetskod" in no_token.text
    assert await _decisions(world) == []


async def test_statistics_show_only_units_in_scope_and_suppress_small_groups(
    world: World, as_user: SignIn
) -> None:
    now = world.clock()
    policy = CheckinPolicy(secret_key=SECRET_KEY)
    async with unit_of_work(world.db.sessions) as session:
        for unit, count in (("barn-och-familj", 6), ("vuxen", 6), ("mottagning", 2)):
            for n in range(count):
                data = check_input(
                    FORM
                    | {"unit": unit, "reference": f"{unit[:3]}-{n}", "address": f"k{n}@example.se"},
                    now=now,
                )
                _d, checkin = await register_decision(
                    session,
                    data=data,
                    scope=EVERYTHING,
                    policy=policy,
                    registered_by="test",
                    now=now,
                )
                checkin.understood = "yes" if n % 2 else "no"
                checkin.knows_appeal = "yes"
                checkin.knows_feedback = "yes" if n < 5 else "no"
                checkin.rating = 1 + n % 5
                checkin.wants_contact = "yes" if n == 0 else "no"
                checkin.other_handler = "yes" if n == 0 else None
                checkin.first_answer_at = now
    karin = await as_user("karin")
    page = await karin.get("/checkins")
    assert page.status_code == 200
    assert '<th scope="row">Barn och familj</th>' in page.text
    assert "Vuxen" not in page.text.split("<table")[-1]  # vuxen is not hers
    assert "50 %" in page.text and "6 svar" in page.text  # understood: 3 of 6 said yes
    assert "<td>83 %</td>" in page.text  # 5 of 6 know where to give feedback
    assert "<td>1 av 6 (1)</td>" in page.text  # one wants contact, with someone else
    ada = await as_user("ada")  # admin of mottagning only: 2 answers, suppressed
    shown = (await ada.get("/checkins")).text
    assert "Färre än 5 svar" in shown and "6 svar" not in shown
    assert (await karin.get("/checkins", params={"from": "mars"})).status_code == 200
    assert "ÅÅÅÅ-MM" in (await karin.get("/checkins", params={"from": "mars"})).text


async def test_statistics_need_sign_in(world: World) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=world.app), base_url="http://test"
    ) as client:
        response = await client.get("/checkins")
    assert response.status_code == 303 and "next=%2Fcheckins" in response.headers["location"]
