"""The registry through the staff pages and the API: the ärendemening in lists and its editing, the
secrecy marking wherever the case appears, a protected identity hidden from a caseworker and shown
to a registrar, consent for relatives before an answer, and a request for documents refused."""

from __future__ import annotations

from sqlalchemy import select
from sqlmodel import col

from inbox.core.db import unit_of_work
from inbox.core.models import AuditEvent, Message
from inbox.staff.users import add_user
from tests.conftest import CHEAP_PASSWORDS
from tests.inbox.web.conftest import PASSWORD, ApiFor, SignIn, World, form_post

# The triage form always sends the unit; without it the case would leave its unit.
BARN = {"unit": "barn-och-familj"}


async def _actions(world: World, reference: str) -> list[str]:
    async with world.db.sessions() as session:
        rows = await session.execute(
            select(col(AuditEvent.action))
            .where(col(AuditEvent.case_reference) == reference)
            .order_by(col(AuditEvent.id))
        )
        return list(rows.scalars())


async def _registrar_of_barn(world: World) -> None:
    async with unit_of_work(world.db.sessions) as session:
        await add_user(
            session,
            username="regina",
            role="registrar",
            unit_codes=["barn-och-familj"],
            password=PASSWORD,
            passwords=CHEAP_PASSWORDS,
            now=world.clock(),
        )


async def test_lists_show_the_registry_title_and_staff_edit_it_on_the_page_and_in_the_api(
    world: World, as_user: SignIn, api_for: ApiFor
) -> None:
    karin = await as_user("karin")
    listing = (await karin.get("/")).text
    assert '<th scope="col">Ärendemening</th>' in listing
    assert "Synpunkt – barn och familj" in listing and "Om min son" not in listing
    page = (await karin.get(f"/cases/{world.barn}")).text
    assert "Synpunkt – barn och familj" in page and "Om min son" in page  # the sender's subject
    api = await api_for("caseworker", ["barn-och-familj"])
    [item] = (await api.get("/api/cases")).json()["items"]
    assert item["registry_title"] == "Synpunkt – barn och familj"

    response = await form_post(
        karin,
        f"/cases/{world.barn}/triage",
        {**BARN, "kind": "complaint", "registry_title": "Klagomål på bemötande vid besök"},
    )
    assert response.status_code == 303
    assert "Klagomål på bemötande vid besök" in (await karin.get("/")).text
    refused = await form_post(
        karin, f"/cases/{world.barn}/triage", {**BARN, "registry_title": "Om 811218-9876"}
    )
    assert refused.status_code == 422 and "personnummer" in refused.text

    patched = await api.patch(f"/api/cases/{world.barn}", json={"registry_title": None})
    assert patched.status_code == 200, patched.text
    assert patched.json()["registry_title"] == "Klagomål – barn och familj"
    assert patched.json()["registry_title_is_default"] is True
    assert patched.json()["subject"] == "Om min son"
    bad = await api.patch(f"/api/cases/{world.barn}", json={"registry_title": "x" * 201})
    assert bad.status_code == 422
    [item] = (await api.get("/api/cases")).json()["items"]
    assert item["registry_title"] == "Klagomål – barn och familj"


async def test_a_secrecy_marking_shows_in_the_list_the_case_and_the_api(
    world: World, as_user: SignIn, api_for: ApiFor
) -> None:
    karin = await as_user("karin")
    refused = await form_post(karin, f"/cases/{world.barn}/secrecy", {"reason": ""})
    assert refused.status_code == 422 and "skälet" in refused.text
    marked = await form_post(karin, f"/cases/{world.barn}/secrecy", {"reason": "26 kap. 1 § OSL"})
    assert marked.status_code == 303
    assert "Sekretessmarkerad" in (await karin.get("/")).text
    page = (await karin.get(f"/cases/{world.barn}")).text
    assert "<strong>Sekretessmarkerad</strong> – 26 kap. 1 § OSL" in page
    assert "Ta bort sekretessmarkeringen" not in page  # a caseworker cannot
    removed = await form_post(karin, f"/cases/{world.barn}/secrecy", {"action": "remove"})
    assert removed.status_code == 403
    api = await api_for("caseworker", ["barn-och-familj"])
    [item] = (await api.get("/api/cases")).json()["items"]
    assert item["secrecy_marked"] is True
    shown = (await api.get(f"/api/cases/{world.barn}")).json()
    assert (shown["secrecy_marked"], shown["secrecy_reason"]) == (True, "26 kap. 1 § OSL")
    assert (await api.put(f"/api/cases/{world.barn}/secrecy", json={"marked": False})).status_code == 403  # fmt: skip
    registrar = await api_for("registrar", ["barn-och-familj"])
    lifted = await registrar.put(f"/api/cases/{world.barn}/secrecy", json={"marked": False})
    assert lifted.status_code == 200 and lifted.json()["marked"] is False
    assert "case.secrecy.marked" in await _actions(world, world.barn)
    assert "case.secrecy.removed" in await _actions(world, world.barn)


async def test_a_protected_identity_is_hidden_from_a_caseworker_page_and_api_not_a_registrar(
    world: World, as_user: SignIn, api_for: ApiFor
) -> None:
    await _registrar_of_barn(world)
    karin = await as_user("karin")
    protected = await form_post(
        karin, f"/cases/{world.barn}/identity", {"reason": "Anmälaren riskerar repressalier"}
    )
    assert protected.status_code == 303
    async with world.db.sessions() as session:
        message = (
            (
                await session.execute(
                    select(Message).where(
                        col(Message.direction) == "inbound", col(Message.intake_id).is_not(None)
                    )
                )
            )
            .scalars()
            .first()
        )
    assert message is not None

    page = (await karin.get(f"/cases/{world.barn}")).text
    assert "person1@example.se" not in page and "Originalmeddelandet" not in page
    assert "Skyddad identitet" in page and "från skyddad avsändare" in page
    assert "person1@example.se" not in (await karin.get("/")).text
    original = f"/cases/{world.barn}/messages/{message.id}/original"
    assert (await karin.get(original)).status_code == 403
    caseworker = await api_for("caseworker", ["barn-och-familj"])
    shown = (await caseworker.get(f"/api/cases/{world.barn}")).json()
    assert shown["contact"] is None and shown["contact_name"] is None
    assert shown["identity_hidden"] is True
    assert all(m["sender"] is None and m["recipient"] is None for m in shown["messages"])
    assert "person1@example.se" not in (await caseworker.get(f"/api/cases/{world.barn}")).text
    [item] = (await caseworker.get("/api/cases")).json()["items"]
    assert item["sender"] is None and item["identity_protected"] is True
    assert (await caseworker.get("/api" + original)).status_code == 403
    patched = await caseworker.patch(f"/api/cases/{world.barn}", json={"priority": "high"})
    assert "person1@example.se" not in patched.text
    lift = await caseworker.put(f"/api/cases/{world.barn}/identity", json={"protected": False})
    assert lift.status_code == 403

    regina = await as_user("regina")
    page = (await regina.get(f"/cases/{world.barn}")).text
    assert "person1@example.se" in page and "Originalmeddelandet" in page
    assert (await regina.get(original)).status_code == 200
    registrar = await api_for("registrar", ["barn-och-familj"])
    seen = (await registrar.get(f"/api/cases/{world.barn}")).json()
    assert seen["contact"] == "person1@example.se" and seen["identity_hidden"] is False
    [item] = (await registrar.get("/api/cases", params=BARN)).json()["items"]
    assert item["sender"] == "person1@example.se"
    assert (await registrar.get("/api" + original)).status_code == 200
    assert "case.identity.protected" in await _actions(world, world.barn)


async def test_a_relative_is_answered_only_with_consent_or_the_authors_confirmation(
    world: World, as_user: SignIn, api_for: ApiFor
) -> None:
    karin = await as_user("karin")
    await form_post(karin, f"/cases/{world.barn}/triage", {**BARN, "submitter_role": "relative"})
    page = (await karin.get(f"/cases/{world.barn}")).text
    assert "inget samtycke från den enskilde är registrerat" in page
    unconfirmed = await form_post(karin, f"/cases/{world.barn}/reply", {"text": "Hej!"})
    assert unconfirmed.status_code == 422 and "Bekräfta att svaret" in unconfirmed.text
    confirmed = await form_post(
        karin,
        f"/cases/{world.barn}/reply",
        {"text": "Tack, vi har tagit emot det.", "confirm_no_personal_details": "on"},
    )
    assert confirmed.status_code == 303
    api = await api_for("caseworker", ["barn-och-familj"])
    refused = await api.post(f"/api/cases/{world.barn}/replies", json={"text": "Hej"})
    assert refused.status_code == 409 and "confirm" in refused.json()["detail"]

    consent = await form_post(
        karin,
        f"/cases/{world.barn}/consents",
        {
            "given_by": "Sonen",
            "given_to": "Mamman",
            "scope": "Hur utredningen går",
            "given_on": "2026-03-09",
            "form": "written",
        },
    )
    assert consent.status_code == 303
    answered = await api.post(f"/api/cases/{world.barn}/replies", json={"text": "Utredningen …"})
    assert answered.status_code == 201
    shown = (await api.get(f"/api/cases/{world.barn}")).json()
    [recorded] = shown["consents"]
    assert (recorded["given_by"], recorded["form"], recorded["revoked_on"]) == (
        "Sonen",
        "written",
        None,
    )
    revoked = await api.post(
        f"/api/cases/{world.barn}/consents/{recorded['id']}/revoke",
        json={"revoked_on": "2026-03-10"},
    )
    assert revoked.status_code == 200 and revoked.json()["revoked_on"] == "2026-03-10"
    assert "Återkallat 2026-03-10" in (await karin.get(f"/cases/{world.barn}")).text
    again = await api.post(f"/api/cases/{world.barn}/replies", json={"text": "Hej igen"})
    assert again.status_code == 409
    with_word = await api.post(
        f"/api/cases/{world.barn}/replies",
        json={"text": "Hej igen", "confirm_no_personal_details": True},
    )
    assert with_word.status_code == 201
    trail = await _actions(world, world.barn)
    assert trail.count("consent.recorded") == 1 and trail.count("consent.revoked") == 1
    assert trail.count("case.reply") == 3


async def test_a_request_for_documents_is_refused_with_a_decision_on_the_case(
    world: World, as_user: SignIn, api_for: ApiFor
) -> None:
    karin = await as_user("karin")
    form = {
        "requested_by": "",
        "requested_on": "2026-03-09",
        "documents": "Synpunkten och svaret",
        "outcome": "refused",
        "grounds": "26 kap. 1 § OSL",
        "reasoning": "",
        "decided_on": "2026-03-10",
    }
    without = await form_post(
        karin, f"/cases/{world.barn}/document-requests", {**form, "grounds": ""}
    )
    assert without.status_code == 422
    response = await form_post(karin, f"/cases/{world.barn}/document-requests", form)
    assert response.status_code == 303
    page = (await karin.get(f"/cases/{world.barn}")).text
    assert "Beslut med överklagandehänvisning" in page and "till kammarrätten" in page
    assert "Beslutet har fattats av Karin." in page
    api = await api_for("caseworker", ["barn-och-familj"])
    created = await api.post(
        f"/api/cases/{world.barn}/document-requests",
        json={**form, "requested_by": "Tidningen", "outcome": "released", "grounds": None},
    )
    assert created.status_code == 201 and created.json()["decision_text"] is None
    requests = (await api.get(f"/api/cases/{world.barn}")).json()["document_requests"]
    assert [r["outcome"] for r in requests] == ["refused", "released"]
    assert "kammarrätten" in requests[0]["decision_text"]
    assert (await _actions(world, world.barn)).count("document_request.decided") == 2


async def test_staff_words_for_roles_notes_and_new_submitter_roles(
    world: World, as_user: SignIn
) -> None:
    karin = await as_user("karin")
    page = (await karin.get(f"/cases/{world.barn}")).text
    assert "syns bara för personal" not in page and "allmän handling" in page
    assert "Invånare" in page and "Medborgare" not in page
    assert "Barn eller ung" in page and "Annan utförare" in page
    form = (await karin.get("/decisions/new")).text
    assert "inga personuppgifter" not in form and "inte personnummer eller namn" in form
    saved = await form_post(
        karin,
        f"/cases/{world.barn}/triage",
        {
            **BARN,
            "submitter_role": "other-provider",
            "event_what": "Hemtjänsten kom inte",
            "event_when": "i mars",
            "event_where": "Hemma",
            "event_consequence": "Ingen fick mat",
        },
    )
    assert saved.status_code == 303
    page = (await karin.get(f"/cases/{world.barn}")).text
    assert "Vad det ledde till" in page and "Ingen fick mat" in page
    case = await world.case(world.barn)
    assert (case.submitter_role, case.event_when) == ("other-provider", "i mars")
