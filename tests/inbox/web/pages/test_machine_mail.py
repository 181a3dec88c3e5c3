"""Maskinpost: cases opened by machine mail leave the inbox for a list of their own, scoped like the
inbox; "Flytta till inkorgen" moves one back (audited), on the page and over the API. And the case
page shows what a bounce reported about our message."""

from __future__ import annotations

from sqlalchemy import select, update

from inbox.core.db import unit_of_work
from inbox.core.inbound import Automation, DeliveryReport, ReportedRecipient
from inbox.core.models import AuditEvent, Message
from tests.factories import mail, take
from tests.inbox.web.conftest import ApiFor, SignIn, World, _case, form_post


async def machine_case(world: World, n: int, unit: str | None) -> str:
    """A case a bounce about nothing of ours opened, in `unit`."""
    return await _case(world.db, world.clock, n, unit, automation=Automation.BOUNCE)


async def moved_events(world: World, reference: str) -> list[AuditEvent]:
    async with world.db.sessions() as session:
        rows = await session.execute(
            select(AuditEvent).where(
                AuditEvent.case_reference == reference,  # type: ignore[arg-type]
                AuditEvent.action == "case.moved_to_inbox",  # type: ignore[arg-type]
            )
        )
        return list(rows.scalars())


async def test_machine_mail_has_its_own_list_scoped_like_the_inbox(
    world: World, as_user: SignIn
) -> None:
    barn = await machine_case(world, 20, "barn-och-familj")
    vuxen = await machine_case(world, 21, "vuxen")
    karin = await as_user("karin")  # barn-och-familj

    inbox = (await karin.get("/")).text
    assert world.barn in inbox and barn not in inbox
    assert 'Ny <span class="count">1</span>' in inbox  # the counts leave machine mail out too
    assert 'href="/" aria-current="page">Inkorg</a>' in inbox

    machine = await karin.get("/", params={"view": "maskinpost"})
    assert machine.status_code == 200
    assert "<h1>Maskinpost</h1>" in machine.text
    assert barn in machine.text and world.barn not in machine.text
    assert vuxen not in machine.text  # another unit's machine mail does not exist for her
    assert 'Ny <span class="count">1</span>' in machine.text
    assert "Flytta till inkorgen" in machine.text
    # Filters, status links and the next page stay in the view.
    assert 'name="view" value="maskinpost"' in machine.text
    assert 'href="/?view=maskinpost&amp;status=new"' in machine.text
    fragment = await karin.get("/", params={"view": "maskinpost"}, headers={"HX-Request": "true"})
    assert barn in fragment.text and "view=maskinpost" in fragment.text

    vera = await as_user("vera")  # a viewer in barn-och-familj: sees it, may not move it
    seen = (await vera.get("/", params={"view": "maskinpost"})).text
    assert barn in seen and "Flytta till inkorgen" not in seen
    assert (await karin.get("/", params={"view": "allt"})).status_code == 400


async def test_moving_machine_mail_into_the_inbox_is_audited_and_scoped(
    world: World, as_user: SignIn
) -> None:
    barn = await machine_case(world, 20, "barn-och-familj")
    olle = await as_user("olle")  # vuxen: the case does not exist for him
    assert (await form_post(olle, f"/cases/{barn}/to-inbox", {})).status_code == 404
    vera = await as_user("vera")
    assert (await form_post(vera, f"/cases/{barn}/to-inbox", {})).status_code == 403

    karin = await as_user("karin")
    moved = await form_post(karin, f"/cases/{barn}/to-inbox", {"back": "list"})
    assert moved.status_code == 303 and moved.headers["location"] == "/?view=maskinpost"
    after = (await karin.get(moved.headers["location"])).text
    assert f"{barn} är flyttat till inkorgen." in after and f"/cases/{barn}" not in after
    assert barn in (await karin.get("/")).text
    [event] = await moved_events(world, barn)
    assert event.actor == f"user:{await world.user_id('karin')}"

    again = await form_post(karin, f"/cases/{barn}/to-inbox", {})
    assert again.status_code == 303 and again.headers["location"] == f"/cases/{barn}"
    assert len(await moved_events(world, barn)) == 1  # nothing to move: nothing recorded


async def test_the_case_page_offers_the_move_for_machine_mail(
    world: World, as_user: SignIn
) -> None:
    barn = await machine_case(world, 20, "barn-och-familj")
    karin = await as_user("karin")
    page = (await karin.get(f"/cases/{barn}")).text
    assert "Ärendet ligger i" in page and f'action="/cases/{barn}/to-inbox"' in page
    assert (
        f'action="/cases/{world.barn}/to-inbox"'
        not in (await karin.get(f"/cases/{world.barn}")).text
    )


async def test_the_api_lists_machine_mail_apart_and_moves_it(world: World, api_for: ApiFor) -> None:
    barn = await machine_case(world, 20, "barn-och-familj")
    api = await api_for("caseworker", ["barn-och-familj"])

    def references(response: object) -> list[str]:
        return [item["reference"] for item in response.json()["items"]]  # type: ignore[attr-defined]

    assert set(references(await api.get("/api/cases"))) == {world.barn, barn}  # both, as before
    assert references(await api.get("/api/cases", params={"machine": "false"})) == [world.barn]
    assert references(await api.get("/api/cases", params={"machine": "true"})) == [barn]
    counts = await api.get("/api/counts", params={"machine": "true"})
    assert counts.json() == {"new": 1, "open": 0, "waiting": 0, "closed": 0}
    assert (await api.get("/api/cases", params={"machine": "kanske"})).status_code == 422

    viewer = await api_for("viewer", ["barn-och-familj"])
    assert (await viewer.post(f"/api/cases/{barn}/to-inbox")).status_code == 403
    outside = await api_for("caseworker", ["vuxen"])
    assert (await outside.post(f"/api/cases/{barn}/to-inbox")).status_code == 404

    moved = await api.post(f"/api/cases/{barn}/to-inbox")
    assert moved.status_code == 200
    assert moved.json() == {"reference": barn, "url": f"/api/cases/{barn}"}
    assert "automated" not in (await api.get(f"/api/cases/{barn}")).json()["flags"]
    assert set(references(await api.get("/api/cases", params={"machine": "false"}))) == {
        world.barn,
        barn,
    }
    [event] = await moved_events(world, barn)
    assert event.actor.startswith("token:")


async def test_the_case_page_shows_what_a_bounce_reported(
    world: World, as_user: SignIn, api_for: ApiFor
) -> None:
    receipt = await take(world.db, mail(30, sender="bo@example.se"), world.clock)
    async with unit_of_work(world.db.sessions) as session:
        await session.execute(
            update(Message)
            .where(Message.case_id == receipt.case_id, Message.direction == "outbound")  # type: ignore[arg-type]
            .values(delivery="sent", delivered_at=world.clock())
        )
        ack = (
            await session.execute(
                select(Message).where(
                    Message.case_id == receipt.case_id,  # type: ignore[arg-type]
                    Message.direction == "outbound",  # type: ignore[arg-type]
                )
            )
        ).scalar_one()
    report = DeliveryReport(
        original_ids=(ack.rfc_message_id or "",),
        recipients=(
            ReportedRecipient("bo@example.se", "failed", "5.1.1", "550 5.1.1 User unknown"),
        ),
    )
    bounce = mail(
        31,
        sender="MAILER-DAEMON@mx.example.se",
        subject="Undelivered Mail Returned to Sender",
        automation=Automation.BOUNCE,
        delivery_report=report,
    )
    assert (await take(world.db, bounce, world.clock)).case_id == receipt.case_id
    assert receipt.reference is not None
    rut = await as_user("rut")  # the case has no unit yet: registrars see it
    page = (await rut.get(f"/cases/{receipt.reference}")).text
    assert "Kom i retur" in page
    assert "Kunde inte levereras (permanent fel), status 5.1.1: 550 5.1.1 User unknown" in page
    assert "E-post kunde inte levereras: inga fler automatiska utskick" in page

    api = await api_for("registrar", [])
    shown = (await api.get(f"/api/cases/{receipt.reference}")).json()
    [bounced] = [m for m in shown["messages"] if m["direction"] == "outbound"]
    assert (bounced["delivery"], bounced["bounce_kind"], bounced["bounce_status"]) == (
        "bounced",
        "hard",
        "5.1.1",
    )
    assert bounced["bounce_diagnostic"] == "550 5.1.1 User unknown"
    assert shown["contact_unreachable"] is True
