"""Unit scoping, by page and by API: a case outside your units is a 404 wherever you reach for it."""

from __future__ import annotations

from sqlalchemy import select

from inbox.core.models import Attachment, AuditEvent, Message
from tests.inbox.web.conftest import ApiFor, SignIn, World, form_post


async def _ids(world: World, reference: str) -> tuple[int, int]:
    """The inbound message id and its attachment id of a case."""
    case = await world.case(reference)
    async with world.db.sessions() as session:
        message = (
            await session.execute(
                select(Message).where(Message.case_id == case.id, Message.direction == "inbound")
            )
        ).scalar_one()
        attachment = (
            await session.execute(select(Attachment).where(Attachment.message_id == message.id))
        ).scalar_one()
        assert message.id is not None and attachment.id is not None
        return message.id, attachment.id


async def test_caseworker_pages_show_only_their_units_cases(world: World, as_user: SignIn) -> None:
    karin = await as_user("karin")
    listing = (await karin.get("/")).text
    assert world.barn in listing and world.vuxen not in listing and world.loose not in listing
    searched = (await karin.get("/", params={"q": "Missbruksvården"})).text
    assert world.vuxen not in searched and "Inga ärenden matchar" in searched
    assert (await karin.get("/", params={"unit": "vuxen"})).text.count("/cases/SP-") == 0
    message_id, attachment_id = await _ids(world, world.vuxen)
    ref = world.vuxen
    for url in (
        f"/cases/{ref}",
        f"/cases/{ref}/messages/{message_id}/original",
        f"/cases/{ref}/attachments/{attachment_id}",
        f"/cases/{world.loose}",
    ):
        assert (await karin.get(url)).status_code == 404, url
    for action, data in (
        ("reply", {"text": "Hej"}),
        ("note", {"text": "Anteckning"}),
        ("triage", {"kind": "praise"}),
        ("close", {"outcome": "answered"}),
        ("reopen", {}),
    ):
        response = await form_post(karin, f"/cases/{ref}/{action}", data)
        assert response.status_code == 404, action
    # The attachment of her own case, reached through the other case's reference, is no way in.
    _own_message, own_attachment = await _ids(world, world.barn)
    assert (await karin.get(f"/cases/{ref}/attachments/{own_attachment}")).status_code == 404
    assert (await karin.get(f"/cases/{world.barn}/attachments/{own_attachment}")).status_code == 200
    async with world.db.sessions() as session:
        untouched = (
            (await session.execute(select(AuditEvent).where(AuditEvent.case_reference == ref)))
            .scalars()
            .all()
        )
    karin_actor = f"user:{await world.user_id('karin')}"
    assert untouched and all(e.actor != karin_actor for e in untouched)
    assert (await world.case(ref)).status == "new"


async def test_registrar_also_sees_cases_without_a_unit(world: World, as_user: SignIn) -> None:
    rut = await as_user("rut")
    listing = (await rut.get("/")).text
    assert world.loose in listing and world.barn not in listing
    assert (await rut.get(f"/cases/{world.loose}")).status_code == 200
    olle = await as_user("olle")
    assert world.vuxen in (await olle.get("/")).text
    assert (await olle.get(f"/cases/{world.loose}")).status_code == 404


async def test_viewer_reads_but_cannot_act(world: World, as_user: SignIn) -> None:
    vera = await as_user("vera")
    page = await vera.get(f"/cases/{world.barn}")
    assert page.status_code == 200 and "Skicka svar" not in page.text
    for action, data in (("reply", {"text": "Hej"}), ("note", {"text": "x"}), ("triage", {})):
        response = await form_post(vera, f"/cases/{world.barn}/{action}", data)
        assert response.status_code == 403, action
    assert (await world.case(world.barn)).status == "new"


async def test_unit_restricted_token_cannot_reach_another_units_case(
    world: World, api_for: ApiFor
) -> None:
    api = await api_for("caseworker", ["barn-och-familj"])
    items = (await api.get("/api/cases")).json()["items"]
    assert [i["reference"] for i in items] == [world.barn]
    assert (await api.get("/api/cases", params={"q": "Missbruksvården"})).json()["items"] == []
    message_id, attachment_id = await _ids(world, world.vuxen)
    ref = world.vuxen
    assert (await api.get(f"/api/cases/{ref}")).status_code == 404
    assert (await api.get(f"/api/cases/{ref}/messages/{message_id}/original")).status_code == 404
    assert (await api.get(f"/api/cases/{ref}/attachments/{attachment_id}")).status_code == 404
    assert (await api.post(f"/api/cases/{ref}/replies", json={"text": "Hej"})).status_code == 404
    assert (await api.patch(f"/api/cases/{ref}", json={"kind": "praise"})).status_code == 404
    assert (await world.case(ref)).kind == "other"
    assert (await api.get(f"/api/cases/{world.barn}")).status_code == 200


async def test_viewer_token_reads_only_and_audit_needs_an_admin_token(
    world: World, api_for: ApiFor
) -> None:
    viewer = await api_for("viewer", ["barn-och-familj"])
    assert (await viewer.get(f"/api/cases/{world.barn}")).status_code == 200
    assert (
        await viewer.post(f"/api/cases/{world.barn}/replies", json={"text": "x"})
    ).status_code == 403
    assert (
        await viewer.patch(f"/api/cases/{world.barn}", json={"priority": "high"})
    ).status_code == 403
    assert (await viewer.get("/api/audit")).status_code == 403
    admin = await api_for("admin", [])
    trail = (await admin.get("/api/audit", params={"case": world.barn})).json()["items"]
    assert trail and {e["case"] for e in trail} == {world.barn}
    assert {"case.read", "case.update"} <= {e["action"] for e in trail}
