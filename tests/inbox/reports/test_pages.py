"""The reporting pages over HTTP: the case's forms (topics, measures, lex Sarah, example) change
the case through the core and are audited; `/rapporter` shows and downloads the report within the
user's scope; `/resultat` and its open data need no sign-in and hide small groups."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import httpx
from openpyxl import load_workbook
from sqlalchemy import select
from sqlmodel import col

from inbox.cases.triage import update_case
from inbox.core.db import unit_of_work
from inbox.core.models import AuditEvent, Case, CaseReview, CaseTopic, Measure, Topic
from inbox.reports.results import results
from tests.inbox.reports.history import PUBLIC_APOLOGY, build_history
from tests.inbox.web.conftest import SYSTEM, SignIn, World, csrf_of, form_post
from tests.inbox.web.conftest import as_user as as_user
from tests.inbox.web.conftest import world as world


async def _topic_ids(world: World, *codes: str) -> list[str]:
    async with world.db.sessions() as session:
        rows = await session.execute(select(Topic).where(col(Topic.code).in_(codes)))
        return [str(t.id) for t in rows.scalars()]


async def _actions(world: World, reference: str) -> list[str]:
    async with world.db.sessions() as session:
        rows = await session.execute(
            select(col(AuditEvent.action))
            .where(col(AuditEvent.case_reference) == reference)
            .order_by(col(AuditEvent.id))
        )
        mine = ("case.topics", "case.measure", "case.lex_sarah", "case.example")
        return [a for a in rows.scalars() if a.startswith(mine)]


async def _post_many(client: httpx.AsyncClient, action: str, data: dict[str, Any]) -> Any:
    html = (await client.get("/")).text
    return await client.post(action, data={**data, "csrf_token": csrf_of(html)})


async def test_the_case_forms_record_topics_measures_the_assessment_and_the_example(
    world: World, as_user: SignIn
) -> None:
    karin = await as_user("karin")
    ref = world.barn
    topics = await _topic_ids(world, "treatment", "information")
    response = await _post_many(karin, f"/cases/{ref}/topics", {"topic": topics})
    assert response.status_code == 303
    measure = {
        "type": "apology",
        "text": "Ringde och bad om ursäkt",
        "status": "planned",
        "dated_on": "2026-03-11",
        "owner": str(await world.user_id("karin")),
        "public": "yes",
        "public_summary": "Vi bad om ursäkt och ändrar rutinen.",
    }
    assert (await form_post(karin, f"/cases/{ref}/measures", measure)).status_code == 303
    missing = await form_post(karin, f"/cases/{ref}/measures", measure | {"public_summary": ""})
    assert missing.status_code == 422
    assert "Skriv den offentliga sammanfattningen." in missing.text
    async with world.db.sessions() as session:
        saved = (await session.execute(select(Measure))).scalars().one()
    done = await form_post(karin, f"/cases/{ref}/measures/{saved.id}", measure | {"status": "done"})
    assert done.status_code == 303
    lex = {"assessed": "yes", "outcome": "none"}
    assert (await form_post(karin, f"/cases/{ref}/lex-sarah", lex)).status_code == 303
    example = {"example": "yes", "summary": "En förälder undrade.", "handling": "Vi svarade."}
    still_open = await form_post(karin, f"/cases/{ref}/example", example)
    assert still_open.status_code == 422
    assert "Bara ett avslutat ärende" in still_open.text
    case = await world.case(ref)
    async with unit_of_work(world.db.sessions) as session:
        loaded = await session.get(Case, case.id)
        assert loaded is not None
        await update_case(
            session,
            oidc=False,
            case=loaded,
            changes={"status": "closed", "outcome": "answered"},
            actor=SYSTEM,
            now=world.clock(),
        )
    assert (await form_post(karin, f"/cases/{ref}/example", example)).status_code == 303
    page = (await karin.get(f"/cases/{ref}")).text
    assert "Vi bad om ursäkt och ändrar rutinen." in page and "Genomförd" in page
    assert 'id="ex-on" name="example" value="yes" checked' in page
    async with world.db.sessions() as session:
        linked = (await session.execute(select(CaseTopic))).scalars().all()
        review = await session.get(CaseReview, case.id)
        measure_row = (await session.execute(select(Measure))).scalars().one()
    assert sorted(str(t.topic_id) for t in linked) == sorted(topics)
    assert review is not None and review.lex_sarah_outcome == "none" and review.example
    assert (measure_row.status, measure_row.public) == ("done", True)
    assert await _actions(world, ref) == [
        "case.topics.set",
        "case.measure.added",
        "case.measure.changed",
        "case.lex_sarah.assessed",
        "case.example.set",
    ]


async def test_the_report_page_and_its_downloads_within_the_users_scope(
    world: World, as_user: SignIn
) -> None:
    await build_history(world.db)
    alma = await as_user("alma")  # an admin of every unit
    query = "from=2026-01-01&to=2026-12-31"
    page = await alma.get(f"/rapporter?{query}")
    assert page.status_code == 200
    assert "Typ av synpunkt" in page.text and "Alla verksamheter" in page.text
    assert "data:image/svg+xml;base64," in page.text
    rows = list(
        csv.reader(io.StringIO((await alma.get(f"/rapporter/fil?{query}&format=csv")).text))
    )
    assert ["section", "kinds", "Typ av synpunkt"] in rows
    xlsx = await alma.get(f"/rapporter/fil?{query}&format=xlsx&lang=en")
    assert xlsx.headers["content-disposition"].startswith("attachment;")
    book = load_workbook(io.BytesIO(xlsx.content))
    assert "Kind of feedback" in book.sheetnames
    html = await alma.get(f"/rapporter/fil?{query}&format=html&unit=A")
    assert "<svg" in html.text and "Enhet A" in html.text
    # Karin sees only barn-och-familj: the history's units are not hers.
    karin = await as_user("karin")
    hers = (await karin.get(f"/rapporter/fil?{query}&format=csv&unit=A")).text
    assert "Enhet A" not in hers
    assert "Barn och familj" in hers.splitlines()[0]
    async with world.db.sessions() as session:
        made = (
            (
                await session.execute(
                    select(AuditEvent).where(col(AuditEvent.action) == "report.made")
                )
            )
            .scalars()
            .all()
        )
    assert len(made) == 4


async def test_the_public_results_need_no_sign_in_and_hide_small_groups(world: World) -> None:
    await build_history(world.db)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=world.app), base_url="http://t")
    async with client:
        page = await client.get("/resultat?ar=2026")
        data = (await client.get("/resultat.json")).json()
        table = await client.get("/resultat.csv")
        english = await client.get("/resultat?ar=2026&lang=en")
    assert page.status_code == 200
    assert "färre än 5" in page.text and PUBLIC_APOLOGY in page.text
    assert "Så räknas siffrorna" in page.text
    assert "fewer than 5" in english.text and 'lang="en"' in english.text
    async with world.db.sessions() as session:
        expected = await results(session, today=world.clock().date())
    assert data == json.loads(json.dumps(expected))
    assert table.text.startswith("year,unit_code,unit_name,cases,")
