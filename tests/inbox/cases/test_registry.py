"""The registry side of a case: the neutral ärendemening, secrecy marking, protected identity, the
public diarium extract, consent for relatives and requests for documents — through the core."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlmodel import col

from inbox.cases.access import EVERYTHING, Forbidden, granted
from inbox.cases.consent import (
    ConsentError,
    ConsentInput,
    record_consent,
    reply_needs_confirmation,
    revoke_consent,
)
from inbox.cases.disclosure import DisclosureError, RequestInput, record_request
from inbox.cases.queries import CaseFilter, get_case, list_cases
from inbox.cases.registry import (
    RegistryError,
    clean_title,
    default_title,
    mark_secrecy,
    protect_identity,
    registry_extract,
)
from inbox.cases.replies import ConfirmationNeeded, add_reply
from inbox.cases.triage import update_case
from inbox.core.audit import Actor
from inbox.core.db import unit_of_work
from inbox.core.models import AuditEvent, Case, Message, OutboxItem
from inbox.intake.registration import Registration, register_case
from tests.conftest import Clock, Database
from tests.factories import POLICY, mail, take

CASEWORKER = granted(role="caseworker", all_units=True, unit_ids=set())
REGISTRAR = granted(role="registrar", all_units=True, unit_ids=set())
ACTOR = Actor("user:1")


async def _case(session: Any, reference: str) -> Case:
    return (
        await session.execute(select(Case).where(col(Case.reference) == reference))
    ).scalar_one()


async def _actions(db: Database, reference: str) -> list[tuple[str, dict[str, Any]]]:
    async with db.sessions() as session:
        rows = await session.execute(
            select(AuditEvent)
            .where(col(AuditEvent.case_reference) == reference)
            .order_by(col(AuditEvent.id))
        )
        return [(e.action, e.detail) for e in rows.scalars()]


# The ärendemening --------------------------------------------------------------------------------


def test_the_default_title_is_kind_and_unit_never_the_senders_words() -> None:
    assert default_title("complaint", "Ekonomiskt bistånd") == "Klagomål – ekonomiskt bistånd"
    assert default_title("praise", "IFO Vuxen") == "Beröm – IFO Vuxen"
    assert default_title("other", None) == "Synpunkt"
    assert clean_title("  Klagomål   på  bemötande ") == "Klagomål på bemötande"
    assert clean_title("   ") is None  # back to the default
    with pytest.raises(RegistryError, match="personnummer"):
        clean_title("Klagomål från 811218-9876")
    with pytest.raises(RegistryError):
        clean_title("x" * 201)


async def test_the_title_follows_kind_and_unit_until_staff_write_one(
    db: Database, clock: Clock
) -> None:
    await take(db, mail(1, subject="Min son Kalle blir slagen i skolan"), clock)
    async with unit_of_work(db.sessions) as session:
        case = await _case(session, "SP-2026-0001")
        await update_case(
            session,
            oidc=False,
            case=case,
            changes={"kind": "complaint", "unit": "ekonomiskt-bistand"},
            actor=ACTOR,
            now=clock(),
        )
    async with db.sessions() as session:
        page = await list_cases(session, filters=CaseFilter(), scope=EVERYTHING)
        detail = await get_case(session, reference="SP-2026-0001", scope=EVERYTHING)
    assert page.items[0].registry_title == "Klagomål – ekonomiskt bistånd"
    assert detail is not None and detail.registry_title == "Klagomål – ekonomiskt bistånd"
    assert detail.case.subject == "Min son Kalle blir slagen i skolan"  # kept for the case page
    async with unit_of_work(db.sessions) as session:
        case = await _case(session, "SP-2026-0001")
        await update_case(
            session,
            oidc=False,
            case=case,
            changes={"registry_title": "Klagomål på handläggningstid"},
            actor=ACTOR,
            now=clock(),
        )
    async with db.sessions() as session:
        page = await list_cases(session, filters=CaseFilter(), scope=EVERYTHING)
    assert page.items[0].registry_title == "Klagomål på handläggningstid"
    assert ("case.update", {"field": "registry_title", "before": None, "after": "Klagomål på handläggningstid"}) in await _actions(db, "SP-2026-0001")  # fmt: skip


async def test_a_staff_reply_is_titled_with_the_reference_and_the_registry_title(
    db: Database, clock: Clock
) -> None:
    await take(db, mail(1, subject="Om min mammas hemtjänst"), clock)
    async with unit_of_work(db.sessions) as session:
        case = await _case(session, "SP-2026-0001")
        await update_case(
            session,
            oidc=False,
            case=case,
            changes={"unit": "aldreomsorg"},
            actor=ACTOR,
            now=clock(),
        )
        message = await add_reply(
            session, case=case, text="Tack!", actor=ACTOR, now=clock(), mail_domain="x.example"
        )
    assert message.subject == "[SP-2026-0001] Svar: Synpunkt – äldreomsorg"
    async with db.sessions() as session:
        row = (
            await session.execute(select(OutboxItem).where(col(OutboxItem.kind) == "case.reply"))
        ).scalar_one()
    assert row.payload["subject"] == message.subject and "mammas" not in row.payload["subject"]


# Secrecy marking and protected identity --------------------------------------------------------


async def test_a_caseworker_marks_and_protects_but_only_a_registrar_takes_it_away(
    db: Database, clock: Clock
) -> None:
    await take(db, mail(1), clock)
    async with unit_of_work(db.sessions) as session:
        case = await _case(session, "SP-2026-0001")
        with pytest.raises(RegistryError, match="skälet"):
            await mark_secrecy(
                session,
                case=case,
                marked=True,
                reason=" ",
                scope=CASEWORKER,
                actor=ACTOR,
                now=clock(),
            )
        for change in (mark_secrecy, protect_identity):
            flag = {"marked": True} if change is mark_secrecy else {"protected": True}
            assert await change(
                session,
                case=case,
                reason="26 kap. 1 § OSL",
                scope=CASEWORKER,
                actor=ACTOR,
                now=clock(),
                **flag,  # type: ignore[arg-type]
            )
            with pytest.raises(Forbidden):
                await change(
                    session,
                    case=case,
                    reason=None,
                    scope=CASEWORKER,
                    actor=ACTOR,
                    now=clock(),
                    **{k: False for k in flag},  # type: ignore[arg-type]
                )
        assert case.secrecy_marked and case.identity_protected
        assert await mark_secrecy(
            session, case=case, marked=False, reason=None, scope=REGISTRAR, actor=ACTOR, now=clock()
        )
        assert not case.secrecy_marked and case.secrecy_reason is None
    actions = [action for action, _ in await _actions(db, "SP-2026-0001")]
    assert actions[-3:] == [
        "case.secrecy.marked",
        "case.identity.protected",
        "case.secrecy.removed",
    ]


async def test_a_protected_identity_is_hidden_from_a_caseworker_and_shown_to_a_registrar(
    db: Database, clock: Clock
) -> None:
    await take(db, mail(1, sender="anmalare@example.se", sender_name="Kim Anmälare"), clock)
    async with unit_of_work(db.sessions) as session:
        case = await _case(session, "SP-2026-0001")
        await update_case(
            session, oidc=False, case=case, changes={"unit": "vuxen"}, actor=ACTOR, now=clock()
        )
        # The relay refused the acknowledgement, quoting the address.
        for row in (await session.execute(select(OutboxItem))).scalars():
            row.status, row.last_error = "dead", "550 anmalare@example.se: no such user"
        for message in (await session.execute(select(Message))).scalars():
            if message.direction == "outbound":
                message.delivery_error = "550 anmalare@example.se: no such user"
        await protect_identity(
            session,
            case=case,
            protected=True,
            reason="Orosanmälan",
            scope=CASEWORKER,
            actor=ACTOR,
            now=clock(),
        )
    async with db.sessions() as session:
        hidden = await get_case(session, reference="SP-2026-0001", scope=CASEWORKER)
        shown = await get_case(session, reference="SP-2026-0001", scope=REGISTRAR)
        hidden_row = (await list_cases(session, filters=CaseFilter(), scope=CASEWORKER)).items[0]
        shown_row = (await list_cases(session, filters=CaseFilter(), scope=REGISTRAR)).items[0]
    assert hidden is not None and shown is not None
    assert hidden.identity_hidden and hidden.contact is None
    for m in hidden.messages:
        assert m.sender_address is None and m.sender_name is None and m.recipient is None
    assert hidden_row.contact_address is None and hidden_row.identity_protected
    assert "anmalare" not in repr(hidden.messages) + repr(hidden.outbox)
    assert [o.last_error for o in hidden.outbox] == ["Dolt: avsändarens identitet är skyddad."]
    assert shown.contact is not None and shown.contact.address == "anmalare@example.se"
    assert shown.messages[0].sender_name == "Kim Anmälare"
    assert shown_row.contact_address == "anmalare@example.se"
    # The copies shown to the caseworker never reached the database.
    async with db.sessions() as session:
        again = await get_case(session, reference="SP-2026-0001", scope=EVERYTHING)
    assert again is not None and again.messages[0].sender_address == "anmalare@example.se"


# The public registry extract ---------------------------------------------------------------------

PERSONAL = [
    "Karl Karlsson",
    "karl.karlsson@example.se",
    "19811218-9876",
    "811218-9876",
    "Storgatan 12",
    "070-123 45 67",
    "Min son Kalle",
    "slagen",
    "Lisa Lind",
    "lisa@example.se",
    "Hemlig rubrik",
]


async def test_the_diarium_extract_holds_no_personal_data(db: Database, clock: Clock) -> None:
    await take(
        db,
        mail(
            1,
            sender="karl.karlsson@example.se",
            sender_name="Karl Karlsson",
            subject="Min son Kalle 19811218-9876",
            text="Min son Kalle blir slagen. Vi bor på Storgatan 12, ring 070-123 45 67.",
        ),
        clock,
    )
    async with unit_of_work(db.sessions) as session:
        await register_case(
            session,
            registration=Registration(
                channel="phone",
                subject="Samtal från Lisa Lind",
                text="Lisa Lind (811218-9876) ringde om Storgatan 12.",
                kind="complaint",
                unit="ekonomiskt-bistand",
                contact_name="Lisa Lind",
                contact_email="lisa@example.se",
                contact_phone="070-123 45 67",
                event_where="Storgatan 12",
            ),
            scope=EVERYTHING,
            actor=ACTOR,
            policy=POLICY,
            now=clock(),
        )
        marked = await _case(session, "SP-2026-0002")
        await update_case(
            session,
            oidc=False,
            case=marked,
            changes={"registry_title": "Hemlig rubrik om bemötande"},
            actor=ACTOR,
            now=clock(),
        )
        await mark_secrecy(
            session,
            case=marked,
            marked=True,
            reason="26 kap. 1 § OSL",
            scope=EVERYTHING,
            actor=ACTOR,
            now=clock(),
        )
    today = clock().date()
    async with db.sessions() as session:
        entries = await registry_extract(session, start=today, end=today)
        earlier = await registry_extract(
            session, start=today - timedelta(days=9), end=today - timedelta(days=1)
        )
    assert [(e.reference, e.kind, e.unit, e.title) for e in entries] == [
        ("SP-2026-0001", "Övrigt", "Ej fördelad", "Synpunkt"),
        ("SP-2026-0002", "Klagomål", "Ekonomiskt bistånd", "Klagomål – ekonomiskt bistånd"),
    ]
    assert {e.received_on for e in entries} == {date(2026, 3, 10)} and earlier == []
    text = repr(entries)
    for personal in PERSONAL:
        assert personal not in text, personal


# Consent for relatives -----------------------------------------------------------------------------


async def test_an_answer_to_a_relative_without_consent_needs_the_authors_word(
    db: Database, clock: Clock
) -> None:
    await take(db, mail(1, subject="Om min pappa"), clock)
    async with unit_of_work(db.sessions) as session:
        case = await _case(session, "SP-2026-0001")
        assert not await reply_needs_confirmation(session, case=case, now=clock())
        await update_case(
            session,
            oidc=False,
            case=case,
            changes={"submitter_role": "relative"},
            actor=ACTOR,
            now=clock(),
        )
        assert await reply_needs_confirmation(session, case=case, now=clock())
        with pytest.raises(ConfirmationNeeded):
            await add_reply(
                session, case=case, text="Hej!", actor=ACTOR, now=clock(), mail_domain="x"
            )
        await add_reply(
            session,
            case=case,
            text="Tack, vi har tagit emot ditt meddelande.",
            actor=ACTOR,
            now=clock(),
            mail_domain="x",
            confirmed_no_personal_details=True,
        )
        with pytest.raises(ConsentError, match="framtiden"):
            await record_consent(
                session,
                case=case,
                data=ConsentInput("Pappa", "Sonen", "Allt", date(2026, 4, 1), "oral"),
                actor=ACTOR,
                now=clock(),
            )
        consent = await record_consent(
            session,
            case=case,
            data=ConsentInput("Pappan", "Sonen", "Hur ärendet handläggs", date(2026, 3, 9), "oral"),
            actor=ACTOR,
            now=clock(),
        )
        assert not await reply_needs_confirmation(session, case=case, now=clock())
        await add_reply(session, case=case, text="Om ärendet …", actor=ACTOR, now=clock(), mail_domain="x")  # fmt: skip
        assert consent.id is not None
        await revoke_consent(
            session,
            case=case,
            consent_id=consent.id,
            revoked_on=date(2026, 3, 10),
            actor=ACTOR,
            now=clock(),
        )
        assert await reply_needs_confirmation(session, case=case, now=clock())
        with pytest.raises(ConsentError, match="redan"):
            await revoke_consent(
                session,
                case=case,
                consent_id=consent.id,
                revoked_on=date(2026, 3, 10),
                actor=ACTOR,
                now=clock(),
            )
    trail = await _actions(db, "SP-2026-0001")
    replies = [detail for action, detail in trail if action == "case.reply"]
    assert [r.get("confirmed_without_consent") for r in replies] == [True, None]
    recorded = [detail for action, detail in trail if action == "consent.recorded"]
    assert recorded == [
        {
            "consent_id": consent.id,
            "given_by": "Pappan",
            "given_to": "Sonen",
            "scope": "Hur ärendet handläggs",
            "given_on": "2026-03-09",
            "form": "oral",
        }
    ]
    assert ("consent.revoked", {"consent_id": consent.id, "revoked_on": "2026-03-10"}) in trail


# Requests for documents ----------------------------------------------------------------------------


async def test_a_refusal_is_recorded_with_its_decision_and_how_to_appeal(
    db: Database, clock: Clock
) -> None:
    await take(db, mail(1), clock)
    request = RequestInput(
        requested_by=None,
        requested_on=date(2026, 3, 9),
        documents="Klagomålet och svaret",
        outcome="refused",
        decided_on=date(2026, 3, 10),
        grounds="26 kap. 1 § offentlighets- och sekretesslagen",
        reasoning="Handlingarna rör en enskild brukares personliga förhållanden.",
    )
    async with unit_of_work(db.sessions) as session:
        case = await _case(session, "SP-2026-0001")
        with pytest.raises(DisclosureError, match="sekretessbestämmelse"):
            await record_request(
                session,
                case=case,
                data=replace(request, grounds=None),
                organisation="Socialnämnden i Exempelby",
                decided_by="Rut Registrator",
                actor=ACTOR,
                now=clock(),
            )
        refused = await record_request(
            session,
            case=case,
            data=request,
            organisation="Socialnämnden i Exempelby",
            decided_by="Rut Registrator",
            actor=ACTOR,
            now=clock(),
        )
        released = await record_request(
            session,
            case=case,
            data=RequestInput(
                "En journalist", date(2026, 3, 9), "Svaret", "released", date(2026, 3, 10)
            ),
            organisation="Socialnämnden i Exempelby",
            decided_by="Rut Registrator",
            actor=ACTOR,
            now=clock(),
        )
        masked = await record_request(
            session,
            case=case,
            data=replace(request, outcome="released-masked"),
            organisation="Socialnämnden i Exempelby",
            decided_by="Rut Registrator",
            actor=ACTOR,
            now=clock(),
        )
    text = refused.decision_text or ""
    for part in (
        "BESLUT",
        "Socialnämnden i Exempelby avslår begäran",
        "Ärende: SP-2026-0001",
        "Begäran gäller: Klagomålet och svaret",
        "sekretess enligt 26 kap. 1 § offentlighets- och sekretesslagen",
        "Handlingarna rör en enskild brukares personliga förhållanden.",
        "överklaga beslutet till kammarrätten",
        "inte direkt till kammarrätten",
        "inom tre veckor från den dag du fick del av beslutet",
        "Beslutet har fattats av Rut Registrator.",
        "Sökanden har inte uppgett sitt namn",
    ):
        assert part in text, part
    assert released.decision_text is None and released.grounds is None
    assert masked.decision_text is not None and "I den delen avslås begäran" in masked.decision_text
    assert "kammarrätten" in masked.decision_text
    decided = [d for a, d in await _actions(db, "SP-2026-0001") if a == "document_request.decided"]
    assert [d["outcome"] for d in decided] == ["refused", "released", "released-masked"]
    assert decided[0]["decision_text"] == text and decided[0]["requested_by"] is None
