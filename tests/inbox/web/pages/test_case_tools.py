"""The pages over what the core already does: registering a case by hand at `/cases/new`, merging
a case into another, and splitting an inbound message off into a case of its own."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy import func, select

from inbox.core.models import AuditEvent, Case, Message, OutboxItem
from inbox.core.time import STOCKHOLM
from tests.inbox.web.conftest import SignIn, World, _case, form_post


async def _count(world: World, model: type) -> int:
    async with world.db.sessions() as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


async def _events(world: World, action: str) -> list[AuditEvent]:
    async with world.db.sessions() as session:
        rows = await session.execute(select(AuditEvent).where(AuditEvent.action == action))
        return list(rows.scalars())


def _phone_call(world: World, **changes: str) -> dict[str, str]:
    earlier = (world.clock() - timedelta(hours=2)).astimezone(STOCKHOLM)
    return {
        "channel": "phone",
        "subject": "Samtal om hemtjänsten",
        "text": "Anhörig ringde: hemtjänsten kommer för sent på morgonen.",
        "kind": "complaint",
        "unit": "",
        "submitter_role": "relative",
        "contact_name": "Eva Ek",
        "contact_email": "eva@example.se",
        "contact_phone": "070-123 45 67",
        "received_at": earlier.strftime("%Y-%m-%dT%H:%M"),
        "acknowledge": "on",
        **changes,
    }


async def _new_case(response: httpx.Response) -> str:
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith("/cases/SP-")
    return location.removeprefix("/cases/")


# Registering by hand -----------------------------------------------------------------------------


async def test_a_registrar_registers_a_phone_call(world: World, as_user: SignIn) -> None:
    rut = await as_user("rut")
    listing = (await rut.get("/")).text
    assert '<a class="button" href="/cases/new">Registrera ärende</a>' in listing
    form = (await rut.get("/cases/new")).text
    assert 'name="csrf_token"' in form and "<legend>Hur kom synpunkten in?</legend>" in form
    assert 'for="r-subject"' in form and 'id="r-subject"' in form
    queued = await _count(world, OutboxItem)
    reference = await _new_case(await form_post(rut, "/cases/new", _phone_call(world)))
    page = (await rut.get(f"/cases/{reference}")).text
    assert f"Ärendet {reference} är registrerat." in page
    assert "Samtal om hemtjänsten" in page and "hemtjänsten kommer för sent" in page
    assert "Telefon" in page and "eva@example.se" in page
    async with world.db.sessions() as session:
        case = (await session.execute(select(Case).where(Case.reference == reference))).scalar_one()
        assert case.origin == "manual" and case.kind == "complaint" and case.unit_id is None
        assert case.submitter_role == "relative"
        assert case.received_at == world.clock() - timedelta(hours=2)
    assert await _count(world, OutboxItem) == queued + 1  # the acknowledgement to Eva
    [event] = await _events(world, "case.registered")
    assert event.case_reference == reference and event.actor == f"user:{await world.user_id('rut')}"


async def test_a_caseworker_registers_only_for_their_own_units(
    world: World, as_user: SignIn
) -> None:
    karin = await as_user("karin")
    form = (await karin.get("/cases/new")).text
    assert 'value="barn-och-familj"' in form and 'value="vuxen"' not in form
    assert "Ej fördelad" not in form
    other = await form_post(karin, "/cases/new", _phone_call(world, unit="vuxen"))
    assert other.status_code == 422 and "verksamheter du har tillgång till" in other.text
    none = await form_post(karin, "/cases/new", _phone_call(world, unit=""))
    assert none.status_code == 422 and "Välj en av dina verksamheter." in none.text
    ok = await form_post(karin, "/cases/new", _phone_call(world, unit="barn-och-familj"))
    reference = await _new_case(ok)
    assert (await karin.get(f"/cases/{reference}")).status_code == 200


async def test_registration_errors_are_shown_and_keep_what_was_typed(
    world: World, as_user: SignIn
) -> None:
    rut = await as_user("rut")
    cases = await _count(world, Case)
    future = (world.clock() + timedelta(days=1)).astimezone(STOCKHOLM).strftime("%Y-%m-%dT%H:%M")
    for changes, message in [
        ({"subject": "  "}, "Ange en rubrik."),
        ({"text": ""}, "Skriv vad synpunkten gäller."),
        ({"contact_email": ""}, "En bekräftelse kan bara skickas till en e-postadress."),
        ({"contact_email": "inte-en-adress"}, "E-postadressen ser inte ut att stämma."),
        ({"received_at": "igår"}, "Ange när det kom in som datum och klockslag."),
        ({"received_at": future}, "Tidpunkten ligger i framtiden."),
        ({"channel": "fax"}, "Okänd kanal"),
        ({"unit": "finns-inte"}, "Okänd verksamhet"),
    ]:
        answer = await form_post(rut, "/cases/new", _phone_call(world, **changes))
        assert answer.status_code == 422, changes
        assert 'role="alert"' in answer.text and message in answer.text, changes
        if "text" not in changes:
            assert "hemtjänsten kommer för sent" in answer.text  # nothing typed is lost
        assert 'name="csrf_token"' in answer.text
    assert await _count(world, Case) == cases


async def test_every_registration_error_is_listed_at_once_and_linked_to_its_field(
    world: World, as_user: SignIn
) -> None:
    rut = await as_user("rut")
    answer = await form_post(
        rut,
        "/cases/new",
        _phone_call(world, subject="", text="", contact_email="inte-en-adress", received_at="igår"),
    )
    assert answer.status_code == 422
    assert "Rätta de här 4 sakerna innan ärendet kan registreras" in answer.text
    for field_id, message in [
        ("r-received", "Ange när det kom in som datum och klockslag."),
        ("r-subject", "Ange en rubrik."),
        ("r-text", "Skriv vad synpunkten gäller."),
        ("r-email", "E-postadressen ser inte ut att stämma."),
    ]:
        assert f'<a href="#{field_id}">{message}</a>' in answer.text
        assert f'id="{field_id}" aria-invalid="true"' in answer.text
    assert 'id="r-role" aria-invalid' not in answer.text
    assert "Eva Ek" in answer.text  # what was typed stays


async def test_a_caller_without_email_is_shown_by_name_and_phone(
    world: World, as_user: SignIn
) -> None:
    rut = await as_user("rut")
    call = _phone_call(world, contact_email="", unit="mottagning")
    del call["acknowledge"]
    reference = await _new_case(await form_post(rut, "/cases/new", call))
    page = (await rut.get(f"/cases/{reference}")).text
    assert "<dt>Avsändare</dt><dd>Eva Ek (070-123 45 67)" in page and "Anonym" not in page
    assert "Ärendet har ingen kontaktuppgift att svara till" in page


async def test_registration_needs_csrf_and_a_writing_role(world: World, as_user: SignIn) -> None:
    rut = await as_user("rut")
    cases = await _count(world, Case)
    forged = await rut.post("/cases/new", data=_phone_call(world))
    assert forged.status_code == 403
    vera = await as_user("vera")
    assert "/cases/new" not in (await vera.get("/")).text
    assert (await vera.get("/cases/new")).status_code == 403
    assert (await form_post(vera, "/cases/new", _phone_call(world))).status_code == 403
    assert await _count(world, Case) == cases
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=world.app), base_url="http://test"
    ) as anonymous:
        assert (await anonymous.get("/cases/new")).headers["location"] == "/?next=%2Fcases%2Fnew"


# Merge and split ---------------------------------------------------------------------------------


async def test_merge_moves_the_thread_and_points_to_the_target(
    world: World, as_user: SignIn
) -> None:
    second = await _case(world.db, world.clock, 20, "barn-och-familj", subject="Samma sak igen")
    karin = await as_user("karin")
    assert "Slå ihop med ärende" in (await karin.get(f"/cases/{second}")).text
    merged = await form_post(karin, f"/cases/{second}/merge", {"into": world.barn.lower()})
    assert merged.status_code == 303 and merged.headers["location"] == f"/cases/{world.barn}"
    target = (await karin.get(f"/cases/{world.barn}")).text
    # Its message and our acknowledgement of it.
    assert f"{second} är sammanslaget med det här ärendet (2 meddelanden flyttade)" in target
    assert "Samma sak igen" in target
    source = (await karin.get(f"/cases/{second}")).text
    assert f'Sammanslaget med <a href="/cases/{world.barn}">{world.barn}</a>' in source
    assert "Slå ihop med ärende" not in source and "Avslutad" in source
    assert [e.case_reference for e in await _events(world, "case.merged")] == [second]


async def test_merge_refuses_what_the_user_may_not_see_or_do(world: World, as_user: SignIn) -> None:
    second = await _case(world.db, world.clock, 21, "barn-och-familj", subject="Andra")
    karin = await as_user("karin")
    for into in (world.vuxen, "SP-1999-9999", ""):  # another unit's case is as absent as none
        answer = await form_post(karin, f"/cases/{second}/merge", {"into": into})
        assert answer.status_code == 404 and "som du har tillgång till" in answer.text
        assert "Andra" in answer.text  # the case page again, with the error
    self_merge = await form_post(karin, f"/cases/{second}/merge", {"into": second})
    assert self_merge.status_code == 422 and "med sig självt" in self_merge.text
    other_unit = await form_post(karin, f"/cases/{world.vuxen}/merge", {"into": world.barn})
    assert other_unit.status_code == 404
    assert (
        await karin.post(f"/cases/{second}/merge", data={"into": world.barn})
    ).status_code == 403
    vera = await as_user("vera")
    assert "Slå ihop med ärende" not in (await vera.get(f"/cases/{second}")).text
    viewer = await form_post(vera, f"/cases/{second}/merge", {"into": world.barn})
    assert viewer.status_code == 403
    assert not await _events(world, "case.merged")
    assert (await world.case(second)).merged_into_id is None


async def test_split_moves_one_inbound_message_to_a_new_case(world: World, as_user: SignIn) -> None:
    second = await _case(world.db, world.clock, 22, "barn-och-familj", subject="Ny fråga om skolan")
    karin = await as_user("karin")
    assert "Flytta till nytt ärende" not in (await karin.get(f"/cases/{world.barn}")).text
    await form_post(karin, f"/cases/{second}/merge", {"into": world.barn})
    page = (await karin.get(f"/cases/{world.barn}")).text
    assert page.count(">Flytta till nytt ärende</button>") == 2  # the two inbound, not the acks
    async with world.db.sessions() as session:
        moved = (
            await session.execute(select(Message).where(Message.subject == "Ny fråga om skolan"))
        ).scalar_one()
        ack = (
            (
                await session.execute(
                    select(Message).where(
                        Message.case_id == moved.case_id, Message.direction == "outbound"
                    )
                )
            )
            .scalars()
            .first()
        )
    assert ack is not None
    refused = await form_post(karin, f"/cases/{world.barn}/messages/{ack.id}/split", {})
    assert refused.status_code == 422 and "Bara inkomna meddelanden" in refused.text
    new = await _new_case(
        await form_post(karin, f"/cases/{world.barn}/messages/{moved.id}/split", {})
    )
    assert new not in (world.barn, second)
    page = (await karin.get(f"/cases/{new}")).text
    assert f"Meddelandet är flyttat hit från {world.barn}." in page
    assert "Ny fråga om skolan" in page
    assert "Flytta till nytt ärende" not in (await karin.get(f"/cases/{world.barn}")).text
    [event] = await _events(world, "message.split")
    assert event.case_reference == world.barn and event.detail["new_case"] == new


async def test_split_refuses_other_units_viewers_and_missing_csrf(
    world: World, as_user: SignIn
) -> None:
    async with world.db.sessions() as session:
        barn_message = (
            await session.execute(
                select(Message)
                .join(Case)
                .where(Case.reference == world.barn, Message.direction == "inbound")
            )
        ).scalar_one()
    action = f"/cases/{world.barn}/messages/{barn_message.id}/split"
    olle = await as_user("olle")
    assert (await form_post(olle, action, {})).status_code == 404
    vera = await as_user("vera")
    assert (await form_post(vera, action, {})).status_code == 403
    karin = await as_user("karin")
    assert (await karin.post(action)).status_code == 403
    only = await form_post(karin, action, {})
    assert only.status_code == 422 and "enda inkomna meddelande" in only.text
    assert not await _events(world, "message.split")
