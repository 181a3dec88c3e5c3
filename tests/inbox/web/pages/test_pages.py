"""The staff pages: the list with filters and counts, the case with its thread, and the forms to
triage, answer, note, close and reopen — plus `PATCH /api/cases/{ref}` over the same core."""

from __future__ import annotations

import re
from datetime import date

import httpx
from sqlalchemy import select

from inbox.cases.triage import update_case
from inbox.core.db import unit_of_work
from inbox.core.models import AuditEvent, Case, IntakeRecord, Message, OutboxItem
from inbox.staff.tokens import create_token
from tests.factories import mail, take
from tests.inbox.web.conftest import SYSTEM, SignIn, World, form_post


async def _events(world: World, reference: str, action: str) -> list[AuditEvent]:
    async with world.db.sessions() as session:
        rows = await session.execute(
            select(AuditEvent)
            .where(AuditEvent.case_reference == reference, AuditEvent.action == action)
            .order_by(AuditEvent.id)
        )
        return list(rows.scalars())


async def test_list_counts_filters_masks_and_refreshes(world: World, as_user: SignIn) -> None:
    await take(world.db, mail(9, sender="p@example.se", subject="Om 811218-9876"), world.clock)
    rut = await as_user("rut")
    listing = (await rut.get("/")).text
    assert "811218-9876" not in listing and "9876" not in listing
    assert 'data-refresh="/"' in listing and 'Ny <span class="count">2</span>' in listing
    mine = (await rut.get("/", params={"assignee": "mine"})).text
    assert "Inga ärenden matchar" in mine
    await form_post(rut, f"/cases/{world.loose}/triage", {"assignee": "rut", "kind": "question"})
    assert world.loose in (await rut.get("/", params={"assignee": "mine"})).text
    unassigned = (await rut.get("/", params={"assignee": "unassigned"})).text
    assert world.loose not in unassigned and "SP-2026-0004" in unassigned
    assert world.loose in (await rut.get("/", params={"kind": "question"})).text
    fragment = await rut.get("/", headers={"HX-Request": "true"})
    # What app.js puts in place: the counts and the list, not a page.
    assert 'id="counts"' in fragment.text and 'id="case-list"' in fragment.text
    assert "<html" not in fragment.text and "<form" not in fragment.text.split('id="case-list"')[0]
    assert (await rut.get("/", params={"cursor": "!!"})).status_code == 400


async def test_list_reads_while_a_writer_holds_the_lock(world: World, as_user: SignIn) -> None:
    rut = await as_user("rut")
    # See the API's test of the same: on SQLite the writer below holds the write lock.
    async with unit_of_work(world.db.sessions) as writer:
        await writer.execute(select(1))
        listing = await rut.get("/")
    assert listing.status_code == 200 and world.loose in listing.text


async def test_overdue_cases_are_highlighted_and_filterable(world: World, as_user: SignIn) -> None:
    karin = await as_user("karin")
    assert "Försenat" not in (await karin.get("/")).text
    world.clock.advance(days=30)
    listing = (await karin.get("/")).text
    assert 'class="overdue"' in listing and "Försenat" in listing
    assert world.barn in (await karin.get("/", params={"overdue": "1"})).text
    assert "Försenat" in (await karin.get(f"/cases/{world.barn}")).text


def _link(page: str, text: str) -> str | None:
    """The href of the list's page link with this text, unescaped."""
    found = re.search(rf'<a href="(/\?[^"]*)"[^>]*>{text}</a>', page)
    return found.group(1).replace("&amp;", "&") if found else None


async def test_list_pages_forward_and_back_with_the_total(world: World, as_user: SignIn) -> None:
    for n in range(10, 112):
        await take(world.db, mail(n, sender=f"s{n}@example.se"), world.clock)
    rut = await as_user("rut")  # sees mottagning and unit-less cases: 102 new + the loose one
    first = (await rut.get("/")).text
    assert first.count('href="/cases/SP-') == 50 and "(103 ärenden)" in first
    assert _link(first, "Föregående sida") is None and _link(first, "Första sidan") is None
    second_url = _link(first, "Nästa sida")
    assert second_url
    second = (await rut.get(second_url)).text
    assert second.count('href="/cases/SP-') == 50 and _link(second, "Första sidan") is None
    assert _link(second, "Föregående sida") == "/?"
    third_url = _link(second, "Nästa sida")
    assert third_url
    third = (await rut.get(third_url)).text
    assert third.count('href="/cases/SP-') == 3 and _link(third, "Nästa sida") is None
    back_url = _link(third, "Föregående sida")
    assert back_url and _link(third, "Första sidan") == "/?"
    assert back_url == second_url and (await rut.get(back_url)).text == second
    # The refresh of a later page refreshes that page, not the first.
    assert 'data-refresh="/?cursor=' in second


async def test_the_list_sorts_by_due_date_earliest_first(world: World, as_user: SignIn) -> None:
    async with unit_of_work(world.db.sessions) as session:
        for reference, due in [(world.barn, date(2026, 4, 1)), (world.vuxen, date(2026, 3, 20))]:
            case = (
                await session.execute(select(Case).where(Case.reference == reference))
            ).scalar_one()
            case.due_on = due
    alma = await as_user("alma")
    listing = (await alma.get("/", params={"sort": "due"})).text
    assert "tidigast svar senast först" in listing
    order = [ref for ref in re.findall(r'data-ref="([^"]+)"', listing)]
    assert order.index(world.vuxen) < order.index(world.barn)
    assert (await alma.get("/", params={"sort": "bogus"})).status_code == 400


async def test_case_page_shows_thread_downloads_and_audits_the_view(
    world: World, as_user: SignIn
) -> None:
    karin = await as_user("karin")
    page = (await karin.get(f"/cases/{world.barn}")).text
    assert "Om min son" in page and "bilaga1.pdf" in page and "Originalmeddelandet" in page
    assert "Väntar på att skickas" in page  # the acknowledgement, not yet sent
    assert len(await _events(world, world.barn, "case.read")) == 1
    async with world.db.sessions() as session:
        message = (
            (
                await session.execute(select(Message).where(Message.intake_id.is_not(None)))  # type: ignore[union-attr]
            )
            .scalars()
            .first()
        )
        assert message is not None
    original = await karin.get(f"/cases/{world.barn}/messages/{message.id}/original")
    assert original.status_code == 200 and original.headers["content-disposition"].startswith(
        "attachment;"
    )


async def test_triage_writes_changes_audits_them_and_recomputes_the_due_date(
    world: World, as_user: SignIn
) -> None:
    ada = await as_user("ada")
    before = await world.case(world.loose)
    form = {
        "kind": "complaint",
        "unit": "mottagning",
        "submitter_role": "relative",
        "priority": "high",
        "assignee": "rut",  # a registrar of mottagning: she sees the case where it now is
        "status": "waiting",
        "flag_child_at_risk": "on",
    }
    response = await form_post(ada, f"/cases/{world.loose}/triage", form)
    assert response.status_code == 303
    after = await world.case(world.loose)
    assert (after.kind, after.submitter_role, after.priority, after.status) == (
        "complaint",
        "relative",
        "high",
        "waiting",
    )
    assert after.flag_child_at_risk and not after.flag_lex_sarah
    assert after.due_on == date(2026, 3, 24) and before.due_on is not None
    changes = {
        e.detail["field"]: e.detail for e in await _events(world, world.loose, "case.update")
    }
    assert changes["kind"]["before"] == "other" and changes["kind"]["after"] == "complaint"
    assert set(changes) >= {"kind", "unit_id", "priority", "assignee_id", "flag_child_at_risk"}
    again = await form_post(ada, f"/cases/{world.loose}/triage", form)
    assert (
        again.status_code == 303
        and "Inget ändrades" in (await ada.get(f"/cases/{world.loose}")).text
    )
    assert len(await _events(world, world.loose, "case.update")) == len(changes)
    bad = await form_post(ada, f"/cases/{world.loose}/triage", {"kind": "nonsense"})
    assert bad.status_code == 422 and "kind" in bad.text


async def test_a_case_is_assigned_only_to_someone_who_sees_it_and_may_act(
    world: World, as_user: SignIn
) -> None:
    ada = await as_user("alma")
    form = {
        "kind": "other",
        "submitter_role": "unknown",
        "priority": "normal",
        "status": "open",
        "unit": "barn-och-familj",
    }
    for who in ("olle", "vera"):  # olle works in vuxen; vera only reads barn-och-familj
        refused = await form_post(ada, f"/cases/{world.barn}/triage", form | {"assignee": who})
        assert refused.status_code == 422 and "assignee" in refused.text
        assert (await world.case(world.barn)).assignee_id is None
    ok = await form_post(ada, f"/cases/{world.barn}/triage", form | {"assignee": "karin"})
    assert ok.status_code == 303
    assert (await world.case(world.barn)).assignee_id == await world.user_id("karin")
    # Moved to a unit karin cannot see, the case leaves her list: it is no longer hers.
    moved = await form_post(
        ada, f"/cases/{world.barn}/triage", form | {"unit": "vuxen", "assignee": "karin"}
    )
    assert moved.status_code == 422  # not while naming her as the assignee
    async with unit_of_work(world.db.sessions) as session:
        case = await session.get(Case, (await world.case(world.barn)).id)
        assert case is not None
        changed = await update_case(
            session,
            oidc=False,
            case=case,
            changes={"unit": "vuxen"},
            actor=SYSTEM,
            now=world.clock(),
        )
    assert "assignee_id" in changed
    after = await world.case(world.barn)
    assert after.unit_id is not None and after.assignee_id is None


async def test_answer_note_close_and_reopen(world: World, as_user: SignIn) -> None:
    karin = await as_user("karin")
    empty = await form_post(karin, f"/cases/{world.barn}/reply", {"text": "   "})
    assert empty.status_code == 422 and "Svaret är tomt" in empty.text
    await form_post(karin, f"/cases/{world.barn}/reply", {"text": "Hej Anna, tack!"})
    await form_post(karin, f"/cases/{world.barn}/note", {"text": "Ringde upp"})
    page = (await karin.get(f"/cases/{world.barn}")).text
    assert "Hej Anna, tack!" in page and "Ringde upp" in page and "Intern anteckning" in page
    case = await world.case(world.barn)
    assert case.first_response_at == world.clock() and case.status == "open"
    async with world.db.sessions() as session:
        kinds = (await session.execute(select(OutboxItem.kind))).scalars().all()
    assert "case.reply" in kinds
    no_outcome = await form_post(karin, f"/cases/{world.barn}/close", {"outcome": ""})
    assert no_outcome.status_code == 422
    await form_post(karin, f"/cases/{world.barn}/close", {"outcome": "partly-remedied"})
    closed = await world.case(world.barn)
    assert (closed.status, closed.outcome, closed.closed_at) == (
        "closed",
        "partly-remedied",
        world.clock(),
    )
    assert "Delvis åtgärdad" in (await karin.get(f"/cases/{world.barn}")).text
    await form_post(karin, f"/cases/{world.barn}/reopen", {})
    reopened = await world.case(world.barn)
    assert (reopened.status, reopened.outcome, reopened.closed_at) == ("open", None, None)


async def test_admin_keeps_templates_that_fill_the_answer(world: World, as_user: SignIn) -> None:
    ada = await as_user("ada")
    bad = await form_post(ada, "/templates", {"name": "Fel", "body": "Hej {okänd}"})
    assert bad.status_code == 422 and "Okänd platshållare" in bad.text and "Hej {okänd}" in bad.text
    ok = await form_post(
        ada, "/templates", {"name": "Tack", "body": "Hej {namn}! Ärende {referens}. /{handläggare}"}
    )
    assert ok.status_code == 303
    karin = await as_user("karin")
    assert (await karin.get("/templates")).status_code == 403
    page = await karin.get(f"/cases/{world.barn}")
    template_id = page.text.split('<option value="', 1)[1].split('"', 1)[0]
    add = f"/cases/{world.barn}/reply/template"
    filled = await form_post(karin, add, {"mall": template_id, "text": ""})
    assert f"Hej Anna! Ärende {world.barn}. /Karin" in filled.text
    # What was typed stays, and the template comes after it; nothing is sent.
    kept = await form_post(karin, add, {"mall": template_id, "text": "Jag har läst ditt brev."})
    assert f"Jag har läst ditt brev.\n\nHej Anna! Ärende {world.barn}." in kept.text
    assert (await world.case(world.barn)).first_response_at is None


async def test_a_placeholder_without_a_value_stops_the_answer_until_it_is_edited(
    world: World, as_user: SignIn
) -> None:
    ada = await as_user("ada")
    body = "Hej! {handläggare} på {enhet} återkommer inom kort."
    assert (await form_post(ada, "/templates", {"name": "Kort", "body": body})).status_code == 303
    rut = await as_user("rut")  # the case has no unit yet
    page = await rut.get(f"/cases/{world.loose}")
    template_id = page.text.split('<option value="', 1)[1].split('"', 1)[0]
    add = f"/cases/{world.loose}/reply/template"
    filled = await form_post(rut, add, {"mall": template_id, "text": ""})
    # Not an empty unit: the placeholder stays, and the page says so.
    assert "Hej! Rut på {enhet} återkommer inom kort." in filled.text
    assert "Fyll i eller ta bort {enhet} innan du skickar" in filled.text
    refused = await form_post(
        rut, f"/cases/{world.loose}/reply", {"text": "Hej! Rut på {enhet} återkommer."}
    )
    assert refused.status_code == 422 and "Svaret har kvar {enhet} från svarsmallen" in refused.text
    assert "Hej! Rut på {enhet} återkommer." in refused.text  # nothing typed is lost
    async with world.db.sessions() as session:
        sent = await session.execute(select(OutboxItem).where(OutboxItem.kind == "case.reply"))
        assert sent.first() is None
    edited = await form_post(
        rut, f"/cases/{world.loose}/reply", {"text": "Hej! Rut på mottagningen återkommer."}
    )
    assert edited.status_code == 303


async def test_health_page_shows_channels_failed_mail_and_dead_rows(
    world: World, as_user: SignIn
) -> None:
    world.app.state.channel_status = lambda: {
        "imap": {"last_poll": "2026-03-10T09:00:00+00:00", "last_error": "LOGIN failed"}
    }
    async with unit_of_work(world.db.sessions) as session:
        session.add(
            IntakeRecord(
                channel="email",
                external_id="broken",
                raw=b"not mail",
                raw_size=8,
                raw_sha256="0" * 64,
                status="failed",
                error="not an email",
                received_at=world.clock(),
            )
        )
        loose = await world.case(world.loose)
        item = (
            await session.execute(select(OutboxItem).where(OutboxItem.case_id == loose.id))
        ).scalar_one()
        assert item is not None
        item.status, item.last_error = "dead", "550 mailbox unavailable"
    rut = await as_user("rut")
    page = (await rut.get("/health")).text
    assert "LOGIN failed" in page and "not an email" in page and "550 mailbox unavailable" in page
    raw_link = page.split('href="/intake/', 1)[1].split('"', 1)[0]
    raw = await rut.get(f"/intake/{raw_link}")
    assert raw.content == b"not mail" and raw.headers["content-disposition"].startswith(
        "attachment"
    )
    karin = await as_user("karin")
    assert (await karin.get("/health")).status_code == 403
    async with unit_of_work(world.db.sessions) as session:
        barn = await world.case(world.barn)
        other = (
            await session.execute(select(OutboxItem).where(OutboxItem.case_id == barn.id))
        ).scalar_one()
        other.status, other.last_error = "dead", "secret-of-another-unit"
    assert "secret-of-another-unit" not in (await rut.get("/health")).text


async def test_audit_page_is_for_admins_and_filters_by_case(world: World, as_user: SignIn) -> None:
    karin = await as_user("karin")
    await karin.get(f"/cases/{world.barn}")
    assert (await karin.get("/audit")).status_code == 403
    alma = await as_user("alma")  # an admin of every unit
    page = (await alma.get("/audit", params={"case": world.barn})).text
    assert "Läste ärendet" in page and "Karin" in page and world.vuxen not in page


async def test_a_unit_limited_admin_reads_only_the_trail_of_her_units(
    world: World, as_user: SignIn
) -> None:
    karin = await as_user("karin")
    await karin.get(f"/cases/{world.barn}")
    ada = await as_user("ada")  # admin of mottagning only
    assert "Läste ärendet" not in (await ada.get("/audit", params={"case": world.barn})).text
    everything = (await ada.get("/audit")).text
    assert world.barn not in everything and world.vuxen not in everything


async def test_patch_api_triages_with_the_same_rules(world: World) -> None:
    async with unit_of_work(world.db.sessions) as session:
        _row, token = await create_token(session, name="t", now=world.clock(), all_units=True)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=world.app),
        base_url="http://test",
        headers={"Authorization": f"Bearer {token}"},
    ) as api:
        ref = world.loose
        done = await api.patch(
            f"/api/cases/{ref}",
            json={"unit": "vuxen", "assignee": "olle", "flags": {"appeal_intent": True}},
        )
        assert done.status_code == 200 and done.json()["unit"] == "vuxen"
        assert "appeal_intent" in done.json()["flags"]
        for body in (
            {"kind": "nonsense"},
            {"unit": "no-such-unit"},
            {"assignee": "nobody"},
            {"flags": {"personnummer": False}},
            {"status": "closed"},
            {"colour": "red"},
        ):
            assert (await api.patch(f"/api/cases/{ref}", json=body)).status_code == 422, body
        closed = await api.patch(
            f"/api/cases/{ref}", json={"status": "closed", "outcome": "answered"}
        )
        assert closed.json()["status"] == "closed" and closed.json()["outcome"] == "answered"
        assert (await api.patch(f"/api/cases/{ref}", json={"assignee": None})).json()[
            "status"
        ] == "closed"
    case = await world.case(ref)
    assert case.assignee_id is None and case.flag_appeal_intent


async def test_the_assignee_list_offers_only_who_sees_the_case_and_may_act(
    world: World, as_user: SignIn
) -> None:
    page = (await (await as_user("karin")).get(f"/cases/{world.barn}")).text
    options = page.split('name="assignee"', 1)[1].split("</select>", 1)[0]
    assert 'value="karin"' in options and 'value="alma"' in options
    assert 'value="olle"' not in options and 'value="vera"' not in options


async def test_send_and_close_sends_the_answer_and_closes_the_case_or_does_neither(
    world: World, as_user: SignIn
) -> None:
    karin = await as_user("karin")
    reply = f"/cases/{world.barn}/reply"
    text = "Tack för ditt brev. Vi har rättat felet."
    refused = await form_post(karin, reply, {"text": text, "and_close": "1", "outcome": ""})
    assert refused.status_code == 422 and "Välj ett utfall för att avsluta" in refused.text
    assert text in refused.text  # nothing typed is lost
    async with world.db.sessions() as session:
        queued = await session.execute(select(OutboxItem).where(OutboxItem.kind == "case.reply"))
        assert queued.first() is None
    done = await form_post(karin, reply, {"text": text, "and_close": "1", "outcome": "remedied"})
    assert done.status_code == 303
    case = await world.case(world.barn)
    assert (case.status, case.outcome) == ("closed", "remedied")
    async with world.db.sessions() as session:
        queued = await session.execute(select(OutboxItem).where(OutboxItem.kind == "case.reply"))
        assert len(queued.all()) == 1
    page = (await karin.get(f"/cases/{world.barn}")).text
    assert "Svaret är köat och skickas strax. Ärendet är avslutat." in page
    assert 'id="reply-text"' not in page and 'id="t-kind"' not in page
    assert "Ärendet är avslutat. Öppna det igen för att svara" in page


async def test_a_failure_is_a_swedish_page_for_a_person_and_a_problem_for_a_client(
    world: World,
) -> None:
    async def broken() -> None:
        raise RuntimeError("a bug")

    world.app.add_api_route("/trasig", broken)
    transport = httpx.ASGITransport(app=world.app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        person = await client.get("/trasig", headers={"Accept": "text/html"})
        assert person.status_code == 500 and "Något gick fel hos oss" in person.text
        assert '<html lang="sv">' in person.text and "a bug" not in person.text
        machine = await client.get("/trasig", headers={"Accept": "application/json"})
        assert machine.status_code == 500
        assert machine.headers["content-type"] == "application/problem+json"
