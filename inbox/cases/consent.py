"""Consent for relatives: whether the person a case concerns agreed that information about them
may be shared with the närstående who wrote.

Secrecy in social services (OSL 26 kap. 1 §) protects the person concerned, also against their
family, and yields to that person's own consent (OSL 12 kap. 2 §). So when the submitter is a
närstående, staff record the consent: who gave it, to whom, for what, when, orally or in writing,
and when it was revoked. Until one is in force, an answer to the närstående must say nothing about
the person's circumstances, and whoever sends one confirms that it does not (`replies`). Every
change is an audit event; a revoked consent keeps its row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from inbox.cases.access import NotFound
from inbox.core.audit import Actor, audit
from inbox.core.models import Case, Consent, ConsentForm, SubmitterRole
from inbox.core.personnummer import contains_personnummer
from inbox.core.time import STOCKHOLM

FORMS = {ConsentForm.ORAL: "muntligt", ConsentForm.WRITTEN: "skriftligt"}
MAX_NAME = 200
MAX_SCOPE = 1000


class ConsentError(ValueError):
    """The consent cannot be recorded or revoked as asked; the message says why (Swedish)."""


@dataclass(frozen=True, slots=True)
class ConsentInput:
    given_by: str  # the person concerned
    given_to: str  # the närstående who may be told
    scope: str  # what may be shared
    given_on: date
    form: str  # ConsentForm


def _text(value: str, *, field: str, limit: int) -> str:
    text = " ".join(value.split())
    if not text:
        raise ConsentError(f"Ange {field}.")
    if len(text) > limit:
        raise ConsentError(f"Fältet {field} får vara högst {limit} tecken.")
    if contains_personnummer(text):
        raise ConsentError("Skriv inte personnummer här; namn räcker.")
    return text


def _check(data: ConsentInput, *, now: datetime) -> ConsentInput:
    if data.form not in set(ConsentForm):
        raise ConsentError("Ange om samtycket var muntligt eller skriftligt.")
    if data.given_on > now.astimezone(STOCKHOLM).date():
        raise ConsentError("Samtycket kan inte vara lämnat i framtiden.")
    return ConsentInput(
        given_by=_text(data.given_by, field="vem som lämnade samtycket", limit=MAX_NAME),
        given_to=_text(data.given_to, field="vem samtycket gäller", limit=MAX_NAME),
        scope=_text(data.scope, field="vad samtycket omfattar", limit=MAX_SCOPE),
        given_on=data.given_on,
        form=data.form,
    )


def in_force(consent: Consent, *, on: date) -> bool:
    return consent.given_on <= on and (consent.revoked_on is None or consent.revoked_on > on)


async def consents_of(session: AsyncSession, *, case: Case) -> Sequence[Consent]:
    """The case's consents, oldest first, revoked ones too."""
    rows = await session.execute(
        select(Consent).where(col(Consent.case_id) == case.id).order_by(col(Consent.id))
    )
    return rows.scalars().all()


async def reply_needs_confirmation(session: AsyncSession, *, case: Case, now: datetime) -> bool:
    """Whether an answer to this case's submitter needs its author's word that it says nothing
    about the person concerned: the submitter is a närstående and no consent is in force today."""
    if case.submitter_role != SubmitterRole.RELATIVE:
        return False
    today = now.astimezone(STOCKHOLM).date()
    return not any(in_force(c, on=today) for c in await consents_of(session, case=case))


async def record_consent(
    session: AsyncSession, *, case: Case, data: ConsentInput, actor: Actor, now: datetime
) -> Consent:
    """Records a consent on `case` (in the caller's scope already); audited."""
    data = _check(data, now=now)
    assert case.id is not None
    consent = Consent(
        case_id=case.id,
        given_by=data.given_by,
        given_to=data.given_to,
        scope=data.scope,
        given_on=data.given_on,
        form=data.form,
        recorded_by=actor.user_id,
        recorded_at=now,
    )
    session.add(consent)
    await session.flush()
    audit(
        session,
        actor=actor,
        action="consent.recorded",
        case=case,
        now=now,
        consent_id=consent.id,
        given_by=data.given_by,
        given_to=data.given_to,
        scope=data.scope,
        given_on=data.given_on.isoformat(),
        form=data.form,
    )
    case.updated_at = now
    return consent


async def revoke_consent(
    session: AsyncSession,
    *,
    case: Case,
    consent_id: int,
    revoked_on: date,
    actor: Actor,
    now: datetime,
) -> Consent:
    """Records that a consent of `case` was revoked on `revoked_on`; `NotFound` for a consent of
    another case, `ConsentError` when it already was or the date is impossible. Audited."""
    consent = await session.get(Consent, consent_id)
    if consent is None or consent.case_id != case.id:
        raise NotFound("no such consent")
    if consent.revoked_on is not None:
        raise ConsentError("Samtycket är redan återkallat.")
    if revoked_on < consent.given_on:
        raise ConsentError("Ett samtycke kan inte återkallas före den dag det lämnades.")
    if revoked_on > now.astimezone(STOCKHOLM).date():
        raise ConsentError("Ange den dag samtycket återkallades (inte ett datum i framtiden).")
    consent.revoked_on, consent.revoked_by, consent.revoked_at = revoked_on, actor.user_id, now
    audit(
        session,
        actor=actor,
        action="consent.revoked",
        case=case,
        now=now,
        consent_id=consent.id,
        revoked_on=revoked_on.isoformat(),
    )
    case.updated_at = now
    await session.flush()
    return consent
