"""Register extracts (GDPR art. 15) and the other rights of the person a case is about.

`gather()` finds everything about one person, by e-mail address, phone number or Telegram chat:
their contacts, the cases they sent or are the contact of, the messages they wrote or were sent
and their attachments, the notes on their own cases, the decisions and check-ins registered for
them, and the audit events about their cases and earlier extracts. What other people wrote is
left out — a message of someone else merged into their case, or their own message merged into
someone else's case is given without that case's contact — since art. 15.4 does not let an
extract adversely affect others' rights; another person's message is released, after a
menprövning, only through a request for the document (TF 2 kap.).

`extract_zip()` packs it as the ZIP handed to the person: `data.json`, a readable HTML summary in
Swedish, and the attachments. `record_extract()` records the request (who asked, who produced it,
when) as an audit event. `record_rights_request()` records a request for rectification,
restriction or erasure on a case; erasure of allmänna handlingar is refused with
`erasure_refusal()`, which says why and how to appeal.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from inbox.cases.access import EVERYTHING, Scope
from inbox.cases.contacts import normalise_address
from inbox.core.audit import Actor, audit
from inbox.core.inbound import Channel
from inbox.core.models import (
    Attachment,
    AuditEvent,
    Case,
    CheckIn,
    Contact,
    Decision,
    Direction,
    Message,
    RightsRequest,
    RightsRequestKind,
    Unit,
)
from inbox.records.archive import json_bytes, safe_name

EXTRACT_ACTION = "subject_access.produced"
RIGHTS_ACTION = "case.rights_request"
MAX_TEXT = 4000


class SubjectError(ValueError):
    """An address or request that cannot be used; the message says why, in English."""


class SubjectKind(StrEnum):
    EMAIL = "email"
    PHONE = "phone"
    TELEGRAM = "telegram"


@dataclass(frozen=True, slots=True)
class Subject:
    """Whom an extract is about: one address of one kind, normalised."""

    kind: SubjectKind
    value: str

    @classmethod
    def of(cls, kind: str, value: str) -> Subject:
        try:
            which = SubjectKind(kind)
        except ValueError:
            raise SubjectError(f"unknown kind of address {kind!r}") from None
        if which is SubjectKind.EMAIL:
            address = normalise_address(Channel.EMAIL, value)
            if "@" not in address or " " in address:
                raise SubjectError(f"{value!r} is not an e-mail address")
            return cls(which, address)
        if which is SubjectKind.TELEGRAM:
            chat = value.strip()
            if not re.fullmatch(r"-?\d{1,20}", chat):
                raise SubjectError(f"{value!r} is not a Telegram chat id")
            return cls(which, chat)
        number = phone_key(value)
        if len(number) < 5:
            raise SubjectError(f"{value!r} is not a phone number")
        return cls(which, number)

    @property
    def channel(self) -> str | None:
        """The contacts' channel for this kind (phone numbers have no contacts of their own)."""
        return {SubjectKind.EMAIL: Channel.EMAIL, SubjectKind.TELEGRAM: Channel.TELEGRAM}.get(
            self.kind
        )

    def label(self) -> str:
        names = {"email": "e-post", "phone": "telefon", "telegram": "Telegram"}
        return f"{names[self.kind]} {self.value}"


def phone_key(value: str) -> str:
    """A phone number as digits in national form: `+46 70-123 45 67`, `0046701234567` and
    `070 123 45 67` are one number."""
    digits = re.sub(r"\D", "", value)
    if value.strip().startswith("+46"):
        return "0" + digits[2:]
    if digits.startswith("0046"):
        return "0" + digits[4:]
    return digits


@dataclass
class Extract:
    """Everything found about one subject: `data` as JSON, `files` (path in the ZIP → bytes)."""

    subject: Subject
    produced_at: datetime
    data: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        return {
            name: len(self.data[name])
            for name in ("contacts", "cases", "messages", "decisions", "checkins", "audit_events")
        }


# Gathering -----------------------------------------------------------------------------------


async def gather(
    session: AsyncSession, subject: Subject, *, now: datetime, scope: Scope = EVERYTHING
) -> Extract:
    """Everything about `subject` in the cases and units of `scope`: the command line's
    `EVERYTHING`, or an admin's units on the admin page (the extract then says it is partial)."""
    contacts = await _contacts(session, subject)
    contact_ids = {c.id for c in contacts}
    visible = scope.condition()
    own_cases = await _cases_where(session, col(Case.contact_id).in_(contact_ids) & visible)
    own_ids = {c.id for c in own_cases}
    messages = await _their_messages(session, subject, own_ids)
    others = await _cases_where(
        session, col(Case.id).in_({m.case_id for m in messages} - own_ids) & visible
    )
    cases = [*own_cases, *others]
    shown = {c.id for c in cases}
    messages = [m for m in messages if m.case_id in shown]
    cases.sort(key=lambda c: (c.received_at, c.id or 0))
    references = {c.id: c.reference for c in cases}
    files: dict[str, bytes] = {}
    listed = []
    for n, message in enumerate(messages, start=1):
        attachments = []
        for m, attachment in enumerate(await _attachments(session, message), start=1):
            path = (
                f"bilagor/{safe_name(references[message.case_id])}/"
                f"{n:04d}-{m:02d}-{safe_name(attachment.filename)}"
            )
            files[path] = attachment.data
            attachments.append(
                {"file": path, "filename": attachment.filename, "size": attachment.size}
            )
        listed.append(_message(message, references[message.case_id], attachments))
    decisions = await _rows(
        session,
        Decision,
        col(Decision.contact_id).in_(contact_ids) & scope.condition(col(Decision.unit_id)),
    )
    checkins = await _rows(
        session,
        CheckIn,
        col(CheckIn.contact_id).in_(contact_ids) & scope.condition(col(CheckIn.unit_id)),
    )
    data = {
        "subject": {"kind": subject.kind.value, "value": subject.value},
        "produced_at": now,
        "complete": scope.sees_everything,  # False: only the units the producer may see
        "contacts": [_contact(c) for c in contacts],
        "cases": [await _case(session, c, own=c.id in own_ids) for c in cases],
        "messages": listed,
        "decisions": [_dump(d, drop={"contact_id"}) for d in decisions],
        "checkins": [_checkin(c) for c in checkins],
        "rights_requests": [
            _dump(r, drop=set())
            for r in await _rows(session, RightsRequest, col(RightsRequest.case_id).in_(own_ids))
        ],
        "audit_events": await _events(
            session, subject, own_ids, earlier_extracts=scope.sees_everything
        ),
    }
    return Extract(subject=subject, produced_at=now, data=data, files=files)


async def _contacts(session: AsyncSession, subject: Subject) -> list[Contact]:
    if subject.channel is None:
        return []
    rows = await session.execute(
        select(Contact).where(
            col(Contact.channel) == subject.channel, col(Contact.address) == subject.value
        )
    )
    return list(rows.scalars())


async def _cases_where(session: AsyncSession, condition: Any) -> list[Case]:
    return list((await session.execute(select(Case).where(condition))).scalars())


async def _their_messages(
    session: AsyncSession, subject: Subject, own_case_ids: set[int | None]
) -> list[Message]:
    """The messages the subject wrote or was sent, on any case; and on their own cases, the
    notes and the inbound messages that name no sender (a call registered without a number)."""
    mine = or_(
        col(Message.direction).in_([Direction.NOTE]),
        (col(Message.direction) == Direction.INBOUND) & col(Message.sender_address).is_(None),
    )
    on_own = col(Message.case_id).in_(own_case_ids) & mine
    if subject.kind is SubjectKind.PHONE:
        candidates = col(Message.sender_address).is_not(None) & col(Message.channel).not_in(
            [Channel.EMAIL, Channel.TELEGRAM, Channel.WEB]
        )
        rows = await session.execute(select(Message).where(or_(on_own, candidates)))
        found = [
            m
            for m in rows.scalars()
            if (m.case_id in own_case_ids and _on_own(m))
            or phone_key(m.sender_address or "") == subject.value
        ]
    else:
        address = subject.value
        theirs = (
            (col(Message.direction) == Direction.INBOUND)
            & (func.lower(col(Message.sender_address)) == address)
        ) | (
            (col(Message.direction) == Direction.OUTBOUND)
            & (func.lower(col(Message.recipient)) == address)
        )
        rows = await session.execute(select(Message).where(or_(on_own, theirs)))
        found = list(rows.scalars())
    return sorted(found, key=lambda m: (m.created_at, m.id or 0))


def _on_own(message: Message) -> bool:
    return message.direction == Direction.NOTE or (
        message.direction == Direction.INBOUND and message.sender_address is None
    )


async def _attachments(session: AsyncSession, message: Message) -> Sequence[Attachment]:
    rows = await session.execute(
        select(Attachment)
        .where(col(Attachment.message_id) == message.id)
        .order_by(col(Attachment.id))
    )
    return rows.scalars().all()


async def _rows(session: AsyncSession, model: Any, condition: Any) -> list[Any]:
    return list(
        (await session.execute(select(model).where(condition).order_by(model.id))).scalars()
    )


def _dump(row: Any, *, drop: set[str]) -> dict[str, Any]:
    return {k: v for k, v in row.model_dump().items() if k not in drop}


def _contact(contact: Contact) -> dict[str, Any]:
    return _dump(contact, drop={"id"})


def _message(message: Message, reference: str, attachments: list[Any]) -> dict[str, Any]:
    return {
        "case": reference,
        "created_at": message.created_at,
        "direction": message.direction,
        "channel": message.channel,
        "subject": message.subject,
        "sender_address": message.sender_address,
        "sender_name": message.sender_name,
        "recipient": message.recipient,
        "text": message.text,
        "attachments": attachments,
    }


async def _case(session: AsyncSession, case: Case, *, own: bool) -> dict[str, Any]:
    unit = await session.get(Unit, case.unit_id) if case.unit_id else None
    return {
        "reference": case.reference,
        "role": "contact" if own else "wrote a message",
        "kind": case.kind,
        "status": case.status,
        "outcome": case.outcome,
        "unit": unit.name if unit else None,
        "received_at": case.received_at,
        "closed_at": case.closed_at,
        "channel": case.channel,
        "subject": case.subject if own else None,
    }


def _checkin(checkin: CheckIn) -> dict[str, Any]:
    keep = (
        "period status channel language understood knows_appeal knows_feedback rating "
        "wants_contact other_handler comment first_answer_at last_answer_at answered_via"
    ).split()
    return {name: getattr(checkin, name) for name in keep}


async def _events(
    session: AsyncSession,
    subject: Subject,
    own_case_ids: set[int | None],
    *,
    earlier_extracts: bool,
) -> list[dict[str, Any]]:
    """The audit trail of their own cases, and (to whoever sees everything) the earlier extracts
    about them."""
    about: Any = col(AuditEvent.case_id).in_(own_case_ids)
    if earlier_extracts:
        about = or_(about, col(AuditEvent.action) == EXTRACT_ACTION)
    rows = await session.execute(select(AuditEvent).where(about).order_by(col(AuditEvent.id)))
    wanted = {"kind": subject.kind.value, "value": subject.value}
    return [
        {
            "at": e.at,
            "actor": e.actor,
            "action": e.action,
            "case": e.case_reference,
            "detail": e.detail,
        }
        for e in rows.scalars()
        if e.action != EXTRACT_ACTION or e.detail.get("subject") == wanted
    ]


# The ZIP and the record of the request -------------------------------------------------------


def extract_zip(extract: Extract, summary_html: str) -> bytes:
    """`data.json`, `sammanfattning.html` and the attachments under `bilagor/`."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("sammanfattning.html", summary_html.encode())
        archive.writestr("data.json", json_bytes(extract.data))
        for path, data in sorted(extract.files.items()):
            archive.writestr(path, data)
    return out.getvalue()


def record_extract(
    session: AsyncSession, extract: Extract, *, requested_by: str, actor: Actor
) -> None:
    """The request in the audit trail: who asked, who produced the extract (the actor), when."""
    audit(
        session,
        actor=actor,
        action=EXTRACT_ACTION,
        case=None,
        now=extract.produced_at,
        subject=extract.data["subject"],
        requested_by=requested_by,
        counts=extract.counts(),
    )


# Rectification, restriction, erasure ---------------------------------------------------------


def erasure_refusal(organisation: str) -> str:
    """Why allmänna handlingar are not erased on request, and how to appeal, in Swedish."""
    return (
        "Vi kan inte radera uppgifterna. Det du skickade till oss och det som har skrivits i "
        "ärendet är allmänna handlingar (2 kap. 4 och 9 §§ tryckfrihetsförordningen). En "
        "myndighet får bara förstöra (gallra) allmänna handlingar enligt arkivlagen (1990:782) och "
        "de beslut om gallring som nämnden har fattat. Rätten till radering i artikel 17 i "
        "dataskyddsförordningen gäller därför inte: uppgifterna behövs för att uppfylla en "
        "rättslig förpliktelse, att bevara allmänna handlingar (artikel 17.3 b). Uppgifterna "
        "gallras när den tid som nämndens gallringsbeslut anger har gått ut.\n\n"
        "Du kan i stället begära att felaktiga uppgifter rättas eller kompletteras (artikel 16) "
        "eller att behandlingen begränsas (artikel 18).\n\n"
        "Om du inte är nöjd med beslutet kan du överklaga det till förvaltningsrätten (7 kap. 2 § "
        "dataskyddslagen 2018:218). Skicka överklagandet skriftligt till "
        f"{organisation}, inte till domstolen. Det ska ha kommit in inom tre veckor från den dag "
        "du fick del av beslutet (44 § förvaltningslagen). Skriv vilket beslut du överklagar och "
        "hur du vill att det ändras. Du kan också klaga hos Integritetsskyddsmyndigheten (IMY)."
    )


async def record_rights_request(
    session: AsyncSession,
    *,
    case: Case,
    kind: str,
    requested_by: str,
    requested_on: date,
    request: str,
    response: str | None,
    organisation: str,
    actor: Actor,
    now: datetime,
) -> RightsRequest:
    """Records a rights request on `case`; an erasure request is refused with the reason and how
    to appeal, whatever `response` says first. Audited as `case.rights_request`."""
    try:
        which = RightsRequestKind(kind)
    except ValueError:
        raise SubjectError(f"unknown kind of request {kind!r}") from None
    request, requested_by = request.strip(), requested_by.strip()
    if not request or not requested_by:
        raise SubjectError("a request needs who asked and what they asked for")
    answer = (response or "").strip()
    if which is RightsRequestKind.ERASURE:
        answer = "\n\n".join(filter(None, [answer, erasure_refusal(organisation)]))
    elif not answer:
        raise SubjectError("a rectification or restriction request needs the answer given")
    row = RightsRequest(
        case_id=case.id or 0,
        kind=which,
        requested_by=requested_by[:200],
        requested_on=requested_on,
        request=request[:MAX_TEXT],
        response=answer[: 2 * MAX_TEXT],
        recorded_by=actor.name,
        recorded_at=now,
    )
    session.add(row)
    audit(
        session,
        actor=actor,
        action=RIGHTS_ACTION,
        case=case,
        now=now,
        kind=which.value,
        requested_on=requested_on.isoformat(),
    )
    return row


async def rights_requests_of(session: AsyncSession, *, case: Case) -> list[RightsRequest]:
    """The rights requests recorded on `case`, oldest first."""
    return await _rows(session, RightsRequest, col(RightsRequest.case_id) == case.id)
