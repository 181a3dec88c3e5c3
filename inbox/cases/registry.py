"""The registry side of a case: its ärendemening, its secrecy marking, the protection of its
submitter's identity, and the public registry extract (diarium).

The ärendemening is what the registry (OSL 5 kap. 1 §) says a case is about, and registry entries
are public: so it is neutral by default, made from the case's kind and unit ("Klagomål –
ekonomiskt bistånd"), never from what the sender wrote, and staff who edit it may not put a
personnummer in it. A secrecy marking warns that the case holds information under secrecy; it
decides nothing, the menprövning at a request does (`disclosure`). A protected identity hides the
submitter's contact details from everyone but registrars and admins (OSL 26 kap. 5 §).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from inbox.cases.access import Need, Scope
from inbox.core.audit import Actor, audit
from inbox.core.models import Case, Unit
from inbox.core.personnummer import contains_personnummer
from inbox.core.time import STOCKHOLM, stockholm_days

MAX_TITLE = 200
MAX_REASON = 500
MAX_EVENT_TEXT = 5000
MAX_EVENT_LINE = 200
# The kind as a registry title begins; "other" reads as what it is, a synpunkt.
KIND_TITLES = {
    "complaint": "Klagomål",
    "praise": "Beröm",
    "suggestion": "Förbättringsförslag",
    "question": "Fråga",
    "other": "Synpunkt",
}
# What happened, when, where and what it led to (SOSFS 2011:9): optional, and free text, since
# "i mars" or "på boendet" is often all that is known.
EVENT_FIELDS = {
    "event_what": MAX_EVENT_TEXT,
    "event_when": MAX_EVENT_LINE,
    "event_where": MAX_EVENT_LINE,
    "event_consequence": MAX_EVENT_TEXT,
}


class RegistryError(ValueError):
    """A registry change that cannot be made; the message says why (Swedish, for staff)."""


def default_title(kind: str, unit_name: str | None) -> str:
    """The neutral ärendemening: the kind, and the unit when there is one."""
    title = KIND_TITLES.get(kind, KIND_TITLES["other"])
    if unit_name:
        title += " – " + _lower_first(unit_name.strip())
    return title


def registry_title(case: Case, unit_name: str | None) -> str:
    """The case's ärendemening: what staff wrote, else the default from kind and unit."""
    return case.registry_title or default_title(case.kind, unit_name)


def _lower_first(name: str) -> str:
    """ "Ekonomiskt bistånd" reads "ekonomiskt bistånd" after a dash; "IFO Vuxen" stays."""
    if len(name) > 1 and name[0].isupper() and name[1].islower():
        return name[0].lower() + name[1:]
    return name


def clean_title(value: object) -> str | None:
    """A title staff wrote, checked; empty or None goes back to the default (None)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise RegistryError("Ärendemeningen ska vara text.")
    title = " ".join(value.split())
    if not title:
        return None
    if len(title) > MAX_TITLE:
        raise RegistryError(f"Ärendemeningen får vara högst {MAX_TITLE} tecken.")
    if contains_personnummer(title):
        raise RegistryError(
            "Ärendemeningen är offentlig i diariet och får inte innehålla personnummer."
        )
    return title


def clean_event(name: str, value: object) -> str | None:
    """One of `EVENT_FIELDS`, checked; empty is None."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise RegistryError("Uppgiften ska vara text.")
    text = value.replace("\r\n", "\n").strip()
    if len(text) > EVENT_FIELDS[name]:
        raise RegistryError(f"Uppgiften får vara högst {EVENT_FIELDS[name]} tecken.")
    return text or None


def _reason(value: str | None, what: str) -> str:
    reason = " ".join((value or "").split())
    if not reason:
        raise RegistryError(f"Ange skälet till {what}.")
    if len(reason) > MAX_REASON:
        raise RegistryError(f"Skälet får vara högst {MAX_REASON} tecken.")
    return reason


@dataclass(frozen=True, slots=True)
class Marking:
    """A marking on a case with the reason for it: its two columns, its audit actions, and what
    the reason is called when it is missing."""

    flag: str
    reason: str
    what: str
    set_action: str
    removed_action: str


SECRECY = Marking(
    "secrecy_marked",
    "secrecy_reason",
    "sekretessmarkeringen",
    "case.secrecy.marked",
    "case.secrecy.removed",
)
IDENTITY = Marking(
    "identity_protected",
    "identity_reason",
    "skyddet",
    "case.identity.protected",
    "case.identity.unprotected",
)


async def set_marking(
    session: AsyncSession,
    marking: Marking,
    *,
    case: Case,
    on: bool,
    reason: str | None,
    scope: Scope,
    actor: Actor,
    now: datetime,
) -> bool:
    """Sets the marking with a reason (anyone who may act on the case), or takes it away
    (registrars and admins only). Returns whether anything changed; each change is audited."""
    scope.require(Need.WRITE)
    marked = bool(getattr(case, marking.flag))
    if not on:
        if not marked:
            return False
        scope.require(Need.REGISTRAR)
        setattr(case, marking.flag, False)
        setattr(case, marking.reason, None)
        audit(session, actor=actor, action=marking.removed_action, case=case, now=now)
    else:
        text = _reason(reason, marking.what)
        before = getattr(case, marking.reason) if marked else None
        if marked and before == text:
            return False
        setattr(case, marking.flag, True)
        setattr(case, marking.reason, text)
        audit(
            session,
            actor=actor,
            action=marking.set_action,
            case=case,
            now=now,
            reason=text,
            before=before,
        )
    case.updated_at = now
    await session.flush()
    return True


async def mark_secrecy(
    session: AsyncSession,
    *,
    case: Case,
    marked: bool,
    reason: str | None,
    scope: Scope,
    actor: Actor,
    now: datetime,
) -> bool:
    """Marks the case sekretessmarkerad with a reason (anyone who may act on it), or takes the
    marking away (registrars and admins: the registry is theirs, and a marking taken away by
    mistake could let a document out unexamined). Returns whether anything changed."""
    return await set_marking(
        session, SECRECY, case=case, on=marked, reason=reason, scope=scope, actor=actor, now=now
    )


async def protect_identity(
    session: AsyncSession,
    *,
    case: Case,
    protected: bool,
    reason: str | None,
    scope: Scope,
    actor: Actor,
    now: datetime,
) -> bool:
    """Hides the submitter's contact details from everyone but registrars and admins, with the
    reason (anyone who may act on the case may ask for it), or shows them again (registrars and
    admins only: anyone else could lift it to look). Returns whether anything changed."""
    return await set_marking(
        session, IDENTITY, case=case, on=protected, reason=reason, scope=scope, actor=actor, now=now
    )


def hides_identity(case: Case, scope: Scope) -> bool:
    """Whether `scope` must not see who submitted `case` (its contact, addresses, originals)."""
    return case.identity_protected and not scope.may(Need.IDENTITY)


# The public registry extract --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RegistryEntry:
    """One line of the diarium: what a municipality may hand anyone, and nothing more."""

    reference: str
    received_on: date  # Stockholm
    kind: str  # Swedish
    unit: str  # the unit's name, or "Ej fördelad"
    title: str  # the ärendemening


DIARIUM_COLUMNS = ("Ärende", "Inkom", "Typ", "Verksamhet", "Ärendemening")
KIND_NAMES = {
    "complaint": "Klagomål",
    "praise": "Beröm",
    "suggestion": "Förbättringsförslag",
    "question": "Fråga",
    "other": "Övrigt",
}


async def registry_extract(
    session: AsyncSession, *, start: date, end: date
) -> Sequence[RegistryEntry]:
    """Every case received from `start` to `end` (inclusive, Stockholm dates), oldest first.

    Only reference, date, kind, unit and ärendemening: never names, addresses or message text.
    A secrecy-marked case keeps its line (its existence is registered, OSL 5 kap. 1 §) but shows
    the default ärendemening, whatever staff wrote, since that may say more than kind and unit.
    """
    since, until = stockholm_days(start, end)
    rows = await session.execute(
        select(
            col(Case.reference),
            col(Case.received_at),
            col(Case.kind),
            col(Case.registry_title),
            col(Case.secrecy_marked),
            col(Unit.name),
        )
        .outerjoin(Unit, col(Unit.id) == Case.unit_id)
        .where(col(Case.received_at) >= since, col(Case.received_at) < until)
        .order_by(col(Case.received_at), col(Case.id))
    )
    return [_entry(row) for row in rows.all()]


def _entry(row: Any) -> RegistryEntry:
    reference, received_at, kind, title, marked, unit_name = row
    return RegistryEntry(
        reference=reference,
        received_on=received_at.astimezone(STOCKHOLM).date(),
        kind=KIND_NAMES.get(kind, kind),
        unit=unit_name or "Ej fördelad",
        title=(None if marked else title) or default_title(kind, unit_name),
    )
