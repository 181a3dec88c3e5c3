"""The case page (issue 18): merge and split undone from the page for a while (item 2), the assignee
list (item 5), call-back cases from check-ins (item 9) and attachments shown inline in a sandboxed
viewer with sizes people read (item 10)."""

from __future__ import annotations

import re

import httpx
from sqlalchemy import select

from inbox.cases.access import EVERYTHING, assignable_users
from inbox.cases.merging import UNDO_WINDOW
from inbox.cases.triage import update_case
from inbox.checkins.answers import record_answer
from inbox.checkins.decisions import check_input, register_decision
from inbox.checkins.plan import CheckinPolicy
from inbox.core.db import unit_of_work
from inbox.core.inbound import InboundAttachment
from inbox.core.models import (
    Attachment,
    AuditEvent,
    Case,
    CaseMove,
    Contact,
    Message,
    StaffUser,
)
from inbox.staff.users import add_user, set_active
from inbox.web.security import CSP
from tests.conftest import CHEAP_PASSWORDS, SECRET_KEY
from tests.factories import mail, take
from tests.inbox.web.conftest import (
    DECISION,
    PASSWORD,
    SYSTEM,
    SignIn,
    World,
    _case,
    form_post,
)
from tests.inbox.web.pages.test_checkin_callback import call_back_for_someone_else

# --- Undo of a merge or a split (item 2) -------------------------------------------------------


async def _merge_on_page(world: World, client: httpx.AsyncClient, source: str, target: str) -> int:
    merged = await form_post(client, f"/cases/{source}/merge", {"into": target})
    assert merged.status_code == 303 and merged.headers["location"] == f"/cases/{target}"
    async with world.db.sessions() as session:
        move = (
            (await session.execute(select(CaseMove).order_by(CaseMove.id.desc()))).scalars().first()
        )  # type: ignore[attr-defined]
    assert move is not None and move.id is not None
    return move.id


async def test_a_merge_is_undone_from_the_page(world: World, as_user: SignIn) -> None:
    target = await _case(world.db, world.clock, 11, "barn-och-familj", subject="Om skolskjuts")
    karin = await as_user("karin")
    move_id = await _merge_on_page(world, karin, world.barn, target)
    page = (await karin.get(f"/cases/{target}")).text
    assert "Du kan ångra sammanslagningen en stund" in page
    assert f"{world.barn} slogs ihop med det här ärendet" in page and "av Karin" in page
    assert "Ångra sammanslagningen</button>" in page
    source_page = (await karin.get(f"/cases/{world.barn}")).text
    assert f"Det här ärendet slogs ihop med {target}" in source_page

    undone = await form_post(karin, f"/cases/{target}/moves/{move_id}/undo", {})
    assert undone.status_code == 303 and undone.headers["location"] == f"/cases/{world.barn}"
    shown = (await karin.get(f"/cases/{world.barn}")).text
    assert "Sammanslagningen är ångrad" in shown and "är ny som före sammanslagningen" in shown
    assert "Ångra sammanslagningen" not in shown and "Sammanslaget med" not in shown
    back = await world.case(world.barn)
    assert (back.status, back.merged_into_id) == ("new", None)
    async with world.db.sessions() as session:
        trail = (
            await session.execute(
                select(AuditEvent.case_reference).where(AuditEvent.action == "case.merge_undone")
            )
        ).scalars()
        assert sorted(trail) == sorted([world.barn, target])
    again = await form_post(karin, f"/cases/{target}/moves/{move_id}/undo", {})
    assert again.status_code == 422 and "Sammanslagningen är redan ångrad." in again.text
    log = (await (await as_user("alma")).get("/audit")).text
    assert f"Ångrade sammanslagningen med {target}" in log
    assert f"Ångrade sammanslagningen med {world.barn}" in log


async def test_an_undo_is_refused_in_swedish_after_the_window_or_a_change(
    world: World, as_user: SignIn
) -> None:
    alma = await as_user("alma")
    late = await _case(world.db, world.clock, 12, "barn-och-familj")
    late_move = await _merge_on_page(world, alma, late, world.barn)
    world.clock.advance(seconds=UNDO_WINDOW.total_seconds() + 1)
    assert "Ångra sammanslagningen" not in (await alma.get(f"/cases/{world.barn}")).text
    refused = await form_post(alma, f"/cases/{world.barn}/moves/{late_move}/undo", {})
    assert refused.status_code == 422
    assert "Sammanslagningen kan inte ångras längre: det går bara under 15 minuter." in refused.text

    changed = await _case(world.db, world.clock, 13, "barn-och-familj")
    changed_move = await _merge_on_page(world, alma, changed, world.barn)
    noted = await form_post(alma, f"/cases/{world.barn}/note", {"text": "Ringt upp."})
    assert noted.status_code == 303
    assert "Ångra sammanslagningen" not in (await alma.get(f"/cases/{world.barn}")).text
    refused = await form_post(alma, f"/cases/{world.barn}/moves/{changed_move}/undo", {})
    assert refused.status_code == 422 and "ärendena har ändrats sedan dess" in refused.text
    assert (await world.case(changed)).merged_into_id is not None


async def test_an_undo_needs_both_cases_in_scope(world: World, as_user: SignIn) -> None:
    """Alma merges a case of vuxen into one of barn-och-familj: Karin sees only the target, and
    may neither see the offer nor undo it; a move of another case is no move of this one."""
    alma, karin = await as_user("alma"), await as_user("karin")
    move_id = await _merge_on_page(world, alma, world.vuxen, world.barn)
    assert "Ångra sammanslagningen" in (await alma.get(f"/cases/{world.barn}")).text
    assert "Ångra sammanslagningen" not in (await karin.get(f"/cases/{world.barn}")).text
    hidden = await form_post(karin, f"/cases/{world.barn}/moves/{move_id}/undo", {})
    assert hidden.status_code == 404
    elsewhere = await form_post(alma, f"/cases/{world.loose}/moves/{move_id}/undo", {})
    assert elsewhere.status_code == 404
    assert (await world.case(world.vuxen)).merged_into_id is not None


async def test_a_split_is_undone_from_the_new_case(world: World, as_user: SignIn) -> None:
    world.clock.advance(minutes=1)
    reply = await take(
        world.db,
        mail(21, sender="person1@example.se", subject=f"Re: [{world.barn}] En sak till"),
        world.clock,
    )
    assert reply.reference == world.barn and reply.message_id is not None
    karin = await as_user("karin")
    split = await form_post(karin, f"/cases/{world.barn}/messages/{reply.message_id}/split", {})
    assert split.status_code == 303
    new = split.headers["location"].rsplit("/", 1)[-1]
    page = (await karin.get(f"/cases/{new}")).text
    assert f"när ett meddelande flyttades hit från {world.barn}" in page
    async with world.db.sessions() as session:
        move = (await session.execute(select(CaseMove))).scalar_one()
    undone = await form_post(karin, f"/cases/{new}/moves/{move.id}/undo", {})
    assert undone.status_code == 303 and undone.headers["location"] == f"/cases/{world.barn}"
    assert "Delningen är ångrad" in (await karin.get(f"/cases/{world.barn}")).text
    assert (await karin.get(f"/cases/{new}")).status_code == 404
    async with world.db.sessions() as session:
        message = await session.get(Message, reply.message_id)
    assert message is not None and message.case_id == (await world.case(world.barn)).id
    log = (await (await as_user("alma")).get("/audit")).text
    assert f"Ångrade utdelningen av ett meddelande till {new}, som togs bort" in log
    assert f"Ångrade delningen: meddelandet flyttades tillbaka till {world.barn}" in log


# --- The assignee list (item 5) ----------------------------------------------------------------


async def _people(world: World) -> None:
    """Beside the world's users: a caseworker of barn-och-familj known by a display name, one
    who can sign in only through OpenID Connect, and one who is disabled."""
    async with unit_of_work(world.db.sessions) as session:
        for username, password, display in (
            ("k.lind", PASSWORD, "Kim Lind"),
            ("oidc.only", None, "Olga Oidc"),
            ("s.stangd", PASSWORD, "Sten Stängd"),
        ):
            await add_user(
                session,
                username=username,
                role="caseworker",
                unit_codes=["barn-och-familj"],
                password=password,
                display_name=display,
                now=world.clock(),
                passwords=CHEAP_PASSWORDS,
            )
        await set_active(
            session, username="s.stangd", active=False, actor=SYSTEM, now=world.clock()
        )


def _options(page: str) -> list[str]:
    select_html = re.search(r'<select id="t-assignee".*?</select>', page, re.S)
    assert select_html, "the page has no assignee list"
    return re.findall(r"<option value=\"[^\"]*\"[^>]*>([^<]*)</option>", select_html.group(0))


async def test_the_assignee_list_offers_only_who_can_sign_in_and_act_by_display_name(
    world: World, as_user: SignIn
) -> None:
    await _people(world)
    alma = await as_user("alma")
    offered = _options((await alma.get(f"/cases/{world.barn}")).text)
    # Alma and Karin; Kim Lind shown by name; not Vera (a viewer), Olle (vuxen), Ada and Rut
    # (mottagning), the OIDC-only account (no OpenID Connect here) nor the disabled one.
    assert offered == ["Ingen", "Alma", "Karin", "Kim Lind"]
    loose = _options((await alma.get(f"/cases/{world.loose}")).text)
    # A case with no unit yet: the registrars and admins, who see such cases to triage them.
    assert loose == ["Ingen", "Ada", "Alma", "Rut"]


async def test_a_call_back_case_does_not_offer_the_handlaggare_the_client_would_avoid(
    world: World, as_user: SignIn
) -> None:
    case = await call_back_for_someone_else(world)  # Karin registered the decision
    assert _options((await (await as_user("alma")).get(f"/cases/{case.reference}")).text) == [
        "Ingen",
        "Alma",
    ]


async def test_assignable_users_is_one_function_for_one_case_or_many(world: World) -> None:
    await _people(world)
    barn, vuxen = await world.case(world.barn), await world.case(world.vuxen)
    async with world.db.sessions() as session:

        def names(users: list[StaffUser]) -> list[str]:
            return [u.username for u in users]

        assert names(await assignable_users(session, barn, oidc=False)) == [
            "alma",
            "karin",
            "k.lind",
        ]
        # With the municipality's login offered, the account without a password can sign in.
        assert names(await assignable_users(session, barn, oidc=True)) == [
            "alma",
            "karin",
            "k.lind",
            "oidc.only",
        ]
        # Bulk: those who may act on every case chosen.
        both = await assignable_users(session, unit_ids=[barn.unit_id, vuxen.unit_id], oidc=False)
        assert names(both) == ["alma"]


# --- Call-back cases from check-ins (item 9) ---------------------------------------------------

POLICY = CheckinPolicy(secret_key=SECRET_KEY)


async def _call_back(world: World, *, comment: str | None, name: str | None) -> Case:
    async with unit_of_work(world.db.sessions) as session:
        _decision, checkin = await register_decision(
            session,
            data=check_input(DECISION, now=world.clock()),
            scope=EVERYTHING,
            policy=POLICY,
            registered_by="test",
            now=world.clock(),
        )
        assert checkin.id is not None
        contact = await session.get(Contact, checkin.contact_id)
        assert contact is not None
        contact.display_name = name
        answers = [("rating", "2"), ("wants_contact", "yes")]
        for question, answer in answers + ([("comment", comment)] if comment else []):
            await record_answer(
                session,
                checkin_id=checkin.id,
                question=question,
                answer=answer,
                channel_address=DECISION["address"],
                now=world.clock(),
                policy=POLICY,
            )
    async with world.db.sessions() as session:
        return (await session.execute(select(Case).where(Case.origin == "checkin"))).scalar_one()


async def test_a_call_back_case_shows_who_to_call_with_a_badge_in_the_list_and_on_the_page(
    world: World, as_user: SignIn
) -> None:
    case = await _call_back(
        world, comment="Ring mig gärna på 070-123 45 67 efter kl 10.", name="Klara Klient"
    )
    assert case.priority == "high"
    karin = await as_user("karin")
    page = (await karin.get(f"/cases/{case.reference}")).text
    assert '<span class="badge callback">Återkoppling önskas</span>' in page
    assert "<dd>Klara Klient</dd>" in page
    assert '<a href="tel:0701234567">070-123 45 67</a>' in page
    assert '<a href="mailto:klient@example.se">klient@example.se</a>' in page
    assert "Vill bli kontaktad, lågt betyg (2)" in page
    assert "BOF-2026-17 (2026-03-02), Barn och familj" in page
    assert "okänd" not in page
    assert "(svar på uppföljningen) från Klara Klient &lt;klient@example.se&gt;" in page
    listing = (await karin.get("/")).text
    row = re.search(rf'<tr data-ref="{case.reference}".*?</tr>', listing, re.S)
    assert row and '<span class="flag callback">Återkoppling önskas</span>' in row.group(0)


async def test_a_call_back_case_without_name_or_number_says_how_to_reach_them(
    world: World, as_user: SignIn
) -> None:
    case = await _call_back(world, comment=None, name=None)
    page = (await (await as_user("karin")).get(f"/cases/{case.reference}")).text
    assert "Namnet är inte känt" in page
    assert "Inget telefonnummer lämnat – kontakta via E-post" in page
    assert "okänd" not in page
    assert "(svar på uppföljningen) från klient@example.se" in page


# --- Attachments (item 10) ---------------------------------------------------------------------

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
HTML = b"<!doctype html><script>alert(1)</script>"


async def _with_attachments(world: World) -> tuple[str, dict[str, int]]:
    """A case in barn-och-familj with a PNG sent as "bild.txt", and an SVG and HTML sent as
    images; their ids by file name."""
    world.clock.advance(minutes=1)
    files = [
        InboundAttachment(filename="bild.txt", content_type="text/plain", data=PNG),
        InboundAttachment(filename="ritning.png", content_type="image/png", data=SVG),
        InboundAttachment(filename="sida.jpg", content_type="image/jpeg", data=HTML),
    ]
    receipt = await take(
        world.db, mail(31, sender="bilder@example.se", attachments=files), world.clock
    )
    async with unit_of_work(world.db.sessions) as session:
        case = await session.get(Case, receipt.case_id)
        assert case is not None
        await update_case(
            session,
            oidc=False,
            case=case,
            changes={"unit": "barn-och-familj"},
            actor=SYSTEM,
            now=world.clock(),
        )
        rows = await session.execute(
            select(Message.id).where(Message.case_id == case.id)  # type: ignore[call-overload]
        )
        ids = list(rows.scalars())
        found = await session.execute(
            select(Attachment.filename, Attachment.id).where(Attachment.message_id.in_(ids))  # type: ignore[attr-defined]
        )
        return case.reference, {name: i for name, i in found.all()}


async def test_images_and_pdfs_are_shown_inline_by_their_content_never_html_or_svg(
    world: World, as_user: SignIn
) -> None:
    reference, ids = await _with_attachments(world)
    karin = await as_user("karin")
    response = await karin.get(f"/cases/{reference}")
    page = response.text
    assert response.headers["content-security-policy"] == CSP  # the page's own CSP, unchanged
    view = f"/cases/{reference}/attachments/{ids['bild.txt']}/view"
    assert f'<img src="{view}" alt="Bifogad bild: bild.txt"' in page
    assert f"/attachments/{ids['ritning.png']}/view" not in page
    assert f"/attachments/{ids['sida.jpg']}/view" not in page
    assert "(40 B)" in page  # the PNG's 40 bytes, not "40 byte"

    image = await karin.get(view)
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/png"
    assert image.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in image.headers["content-security-policy"]
    assert image.headers["content-disposition"] == 'inline; filename="bild.txt"'
    for name in ("ritning.png", "sida.jpg"):
        refused = await karin.get(f"/cases/{reference}/attachments/{ids[name]}/view")
        assert refused.status_code == 415 and "bara laddas ned" in refused.text
    olle = await as_user("olle")
    assert (await olle.get(view)).status_code == 404


async def test_a_pdf_is_framed_by_the_page_and_sandboxes_itself(
    world: World, as_user: SignIn
) -> None:
    karin = await as_user("karin")
    async with world.db.sessions() as session:
        attachment = (
            await session.execute(select(Attachment).where(Attachment.filename == "bilaga1.pdf"))
        ).scalar_one()
    view = f"/cases/{world.barn}/attachments/{attachment.id}/view"
    page = (await karin.get(f"/cases/{world.barn}")).text
    assert f'<iframe src="{view}" title="PDF: bilaga1.pdf"' in page
    assert "(8 B)" in page
    pdf = await karin.get(view)
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.headers["content-security-policy"] == (
        "default-src 'none'; sandbox; frame-ancestors 'self'"
    )
    assert pdf.headers["x-frame-options"] == "SAMEORIGIN"
    assert pdf.headers["x-content-type-options"] == "nosniff"
    async with world.db.sessions() as session:
        viewed = (
            await session.execute(
                select(AuditEvent.detail).where(AuditEvent.action == "attachment.read")
            )
        ).scalars()
        assert {"attachment_id": attachment.id, "via": "viewer"} in list(viewed)
