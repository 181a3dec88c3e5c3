"""Registering a case by hand: feedback given by phone, by letter, at a visit, or forwarded by IVO.

The registrar writes down what was said; it becomes a case (origin `manual`) with one inbound
message, a reference and a due date, like any other. Answers can go by email only when the person
gave an email address; an acknowledgement goes out only when the registrar asks for one, and under
the same per-sender limit as for mail (it counts there too). What was written down is read for an
appeal like any message (`appeals`): a letter asking for a decision to be changed is an appeal
received the day the letter came. Flushes, never commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from inbox.cases.access import Scope
from inbox.cases.contacts import find_or_create_contact
from inbox.cases.opening import Opening, open_case
from inbox.cases.registry import EVENT_FIELDS, RegistryError, clean_event
from inbox.cases.tasks import TaskKind, add_tasks
from inbox.core.addresses import is_mail_address
from inbox.core.audit import Actor, audit
from inbox.core.inbound import Channel, InboundMessage
from inbox.core.models import (
    Case,
    CaseKind,
    Direction,
    Message,
    SubmitterRole,
    Unit,
)
from inbox.core.time import STOCKHOLM
from inbox.intake.ack_rules import no_ack_reasons
from inbox.intake.acknowledgement import Ack, enqueue_acks
from inbox.intake.appeals import appeal_intent
from inbox.intake.policy import IntakePolicy

MANUAL_CHANNELS = ("phone", "letter", "visit", "ivo")
MAX_TEXT = 50_000
# The last label has no dot: with one allowed, `\.` and the label after it could split a run of
# dots in every possible way, which is quadratic ("a@" and a megabyte of dots took minutes).


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing to fix in a registration: the `Registration` field it concerns (None: the whole
    registration) and what is wrong, in Swedish."""

    field: str | None
    message: str


class RegistrationError(ValueError):
    """The registration is incomplete or contradictory: every problem found, at once, each naming
    its field; the message is all of them (Swedish)."""

    def __init__(self, *problems: Problem | str) -> None:
        self.problems = tuple(p if isinstance(p, Problem) else Problem(None, p) for p in problems)
        super().__init__(" ".join(p.message for p in self.problems))


@dataclass(frozen=True, slots=True)
class Registration:
    channel: str  # phone, letter, visit, ivo
    subject: str
    text: str
    kind: str = CaseKind.OTHER
    unit: str | None = None  # unit code
    submitter_role: str = SubmitterRole.UNKNOWN  # always via-ivo for IVO
    contact_name: str | None = None
    contact_email: str | None = None
    contact_phone: str | None = None
    received_at: datetime | None = None  # when the call, letter or visit came; default now
    acknowledge: bool = False  # send the acknowledgement to contact_email
    # What happened, when, where and what it led to, as far as the person said (SOSFS 2011:9).
    event_what: str | None = None
    event_when: str | None = None
    event_where: str | None = None
    event_consequence: str | None = None


def problems(reg: Registration, now: datetime) -> list[Problem]:
    """Everything wrong with the registration's own fields (its unit is checked on registering)."""
    found: list[Problem] = []

    def wrong(field: str, message: str) -> None:
        found.append(Problem(field, message))

    if reg.channel not in MANUAL_CHANNELS:
        wrong("channel", f"Okänd kanal {reg.channel!r}; välj {', '.join(MANUAL_CHANNELS)}.")
    if not reg.subject.strip():
        wrong("subject", "Ange en rubrik.")
    elif len(reg.subject) > 500:
        wrong("subject", "Rubriken får vara högst 500 tecken.")
    if not reg.text.strip():
        wrong("text", "Skriv vad synpunkten gäller.")
    elif len(reg.text) > MAX_TEXT:
        wrong("text", "Texten är för lång.")
    if reg.kind not in set(CaseKind):
        wrong("kind", f"Okänd ärendetyp {reg.kind!r}.")
    if reg.submitter_role not in set(SubmitterRole):
        wrong("submitter_role", f"Okänd avsändarroll {reg.submitter_role!r}.")
    email = (reg.contact_email or "").strip()
    if email and not is_mail_address(email):
        wrong("contact_email", "E-postadressen ser inte ut att stämma.")
    if reg.acknowledge and not reg.contact_email:
        wrong(
            "acknowledge",
            "En bekräftelse kan bara skickas till en e-postadress. Fyll i adressen eller ta bort bocken.",
        )
    if reg.received_at is not None:
        if reg.received_at.tzinfo is None:
            wrong("received_at", "Ange tidpunkten med tidszon.")
        elif reg.received_at > now:
            wrong("received_at", "Tidpunkten ligger i framtiden.")
    for name in EVENT_FIELDS:
        try:
            clean_event(name, getattr(reg, name))
        except RegistryError as exc:
            wrong(name, str(exc))
    return found


def _check(reg: Registration, now: datetime) -> None:
    found = problems(reg, now)
    if found:
        raise RegistrationError(*found)


def _events(reg: Registration) -> dict[str, str | None]:
    try:
        return {name: clean_event(name, getattr(reg, name)) for name in EVENT_FIELDS}
    except RegistryError as exc:
        raise RegistrationError(str(exc)) from exc


async def register_case(
    session: AsyncSession,
    *,
    registration: Registration,
    scope: Scope,
    actor: Actor,
    policy: IntakePolicy,
    now: datetime,
) -> Case:
    """A case written down by staff, in a unit of `scope` (`Forbidden` for another unit); without
    a unit only for those who see unit-less cases, since nobody else could find it again."""
    reg = registration
    _check(reg, now)
    events = _events(reg)
    unit = None
    if reg.unit:
        unit = (
            await session.execute(select(Unit).where(col(Unit.code) == reg.unit))
        ).scalar_one_or_none()
        if unit is None or not unit.active:
            raise RegistrationError(Problem("unit", f"Okänd verksamhet {reg.unit!r}."))
        scope.require_unit(unit.id)
    elif not scope.sees_unassigned:
        raise RegistrationError(Problem("unit", "Välj en av dina verksamheter."))
    contact = None
    if reg.contact_email:
        contact, _new = await find_or_create_contact(
            session,
            channel=Channel.EMAIL,
            address=reg.contact_email,
            display_name=(reg.contact_name or "").strip() or None,
            now=now,
        )
    received = reg.received_at or now
    days = unit.response_days if unit else policy.response_days
    subject, text = reg.subject.strip(), reg.text.strip()
    case = await open_case(
        session,
        Opening(
            channel=reg.channel,
            subject=subject,
            text=text,
            received_at=received,
            response_days=days,
            contact_id=contact.id if contact else None,
            unit_id=unit.id if unit else None,
            kind=reg.kind,
            origin="manual",
            submitter_role=SubmitterRole.VIA_IVO if reg.channel == "ivo" else reg.submitter_role,
            event_what=events["event_what"],
            event_when=events["event_when"],
            event_where=events["event_where"],
            event_consequence=events["event_consequence"],
        ),
        prefix=policy.case_prefix,
        now=now,
    )
    assert case.id is not None
    message = Message(
        case_id=case.id,
        direction=Direction.INBOUND,
        channel=reg.channel,
        sender_address=(reg.contact_email or reg.contact_phone or "").strip() or None,
        sender_name=(reg.contact_name or "").strip() or None,
        subject=subject,
        text=text,
        display_text=text,
        author_id=actor.user_id,  # who wrote it down
        created_at=received,
    )
    session.add(message)
    await session.flush()
    appeal = appeal_intent(subject, text)
    case.flag_appeal_intent = appeal
    refusal = None
    registered = None
    if reg.acknowledge and contact is not None:
        # The same acknowledgement as for mail, under the same rules and limit: a token that may
        # register cases must not be a way around them. There is no message of theirs to answer.
        registered = InboundMessage(
            channel=Channel.EMAIL,
            external_id=f"manual:{case.reference}",
            sender_address=contact.address,
        )
        (refusal,) = await no_ack_reasons(session, [(registered, contact)], policy=policy, now=now)
    acknowledged = registered is not None and refusal is None
    audit(
        session,
        actor=actor,
        action="case.registered",
        case=case,
        now=now,
        channel=reg.channel,
        message_id=message.id,
        acknowledged=acknowledged,
        appeal_intent=appeal,
        **({"no_ack_reason": refusal} if refusal else {}),
    )
    if appeal:  # the decision-maker's rättidsprövning, due the next working day
        since = received.astimezone(STOCKHOLM).date()
        await session.flush()
        await add_tasks(
            session, [(case.id, case.reference, TaskKind.APPEAL, since)], actor=actor, now=now
        )
    if acknowledged:
        assert registered is not None and contact is not None and case.due_on is not None
        await enqueue_acks(
            session,
            [
                Ack(
                    msg=registered,
                    case_id=case.id,
                    reference=case.reference,
                    due_on=case.due_on,
                    address=contact.address,
                    appeal=appeal,
                    via_ivo=reg.channel == "ivo",
                    received_at=received,
                )
            ],
            policy=policy,
            now=now,
        )
    await session.flush()
    return case
