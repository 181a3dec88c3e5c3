"""Check-in answers: recorded once per question, whichever channel they come through (the public
page, a Telegram button, a short reply to the mail), and a case for the unit when one asks for it.

The first answer to a question stands: the same answer again changes nothing, a different one is
refused as already answered, and nothing is accepted once the check-in has closed or its decision
was withdrawn. Only a "Ja" to "Vill du att någon av oss kontaktar dig?" opens a case (origin
`checkin`, flagged `callback`) in the unit's inbox, with the answers, so that someone calls back;
no acknowledgement is sent for it. Someone who answers "Nej", or does not answer, is not called,
however poor their other answers: those are feedback, counted in the statistics. A "Ja" to
talking to someone else flags the case (`flag_other_handler`) and keeps it from the handläggare
who registered the decision. Answers are allmänna handlingar kept here, not in any personakt.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from inbox.cases.contacts import find_phone
from inbox.cases.opening import Opening, open_case
from inbox.checkins.decisions import decisions_handler
from inbox.checkins.plan import CheckinPolicy, opt_out
from inbox.checkins.texts import CHAT_QUESTIONS, CHOICES, QUESTIONS
from inbox.core.audit import SYSTEM, audit
from inbox.core.inbound import Channel, InboundMessage
from inbox.core.metrics import METRICS
from inbox.core.models import (
    Case,
    CheckIn,
    Contact,
    Decision,
    DecisionStatus,
    Direction,
    Message,
    StaffUser,
    Unit,
)
from inbox.core.personnummer import contains_personnummer

MAX_COMMENT = 2000


class Outcome(StrEnum):
    RECORDED = "recorded"
    UNCHANGED = "unchanged"  # the same answer again
    ALREADY_ANSWERED = "already-answered"  # a different answer to an answered question
    CLOSED = "closed"  # too late: the check-in has closed
    WITHDRAWN = "withdrawn"  # the decision was withdrawn
    NOT_FOUND = "not-found"  # no such check-in for this chat or address


class AnswerError(ValueError):
    """An answer that is not one of the question's choices (or an unknown question)."""


@dataclass(frozen=True, slots=True)
class AnswerResult:
    outcome: Outcome
    question: str
    next_question: str | None = None  # what to ask next (Telegram), None when all are asked
    case_reference: str | None = None


def validate(question: str, answer: str) -> str:
    """The canonical answer, or AnswerError."""
    if question == "phone":
        number = find_phone(answer.strip())
        if answer.strip() and number is None:
            raise AnswerError("phone: not a phone number")
        return number or ""
    if question == "comment":
        text = answer.replace("\r\n", "\n").strip()
        if len(text) > MAX_COMMENT:
            raise AnswerError(f"the comment is longer than {MAX_COMMENT} characters")
        return text
    if question not in CHOICES:
        raise AnswerError(f"unknown question {question!r}")
    value = answer.strip().lower()
    if value not in CHOICES[question]:
        raise AnswerError(f"{question}: {answer!r} is not one of {', '.join(CHOICES[question])}")
    return value


def _current(checkin: CheckIn, question: str) -> str | None:
    value = getattr(checkin, question)
    return None if value is None else str(value)


def applies(checkin: CheckIn, question: str) -> bool:
    """Whether the question is still to be asked: someone else is asked of those who want contact."""
    return question != "other_handler" or checkin.wants_contact == "yes"


def unanswered(checkin: CheckIn) -> list[str]:
    """The questions of the page (in its order) with no answer yet that still apply."""
    return [q for q in QUESTIONS if applies(checkin, q) and getattr(checkin, q) is None]


def next_question(checkin: CheckIn) -> str | None:
    """What the chat asks next: its next unanswered question, then the comment, then nothing."""
    for question in CHAT_QUESTIONS:
        if applies(checkin, question) and getattr(checkin, question) is None:
            return question
    return "comment" if checkin.comment is None else None


async def record_answer(
    session: AsyncSession,
    *,
    checkin_id: int,
    question: str,
    answer: str,
    channel_address: str,
    now: datetime,
    policy: CheckinPolicy,
    via: str = Channel.TELEGRAM,
) -> AnswerResult:
    """One answer from a chat (or a mail address): the Telegram bot calls this for each button.

    `channel_address` must be the check-in's contact (the chat the buttons were sent to), so a
    forged callback from another chat finds nothing.
    """
    checkin = await session.get(CheckIn, checkin_id)
    contact = await session.get(Contact, checkin.contact_id) if checkin else None
    if checkin is None or contact is None or contact.address != channel_address.strip():
        return AnswerResult(Outcome.NOT_FOUND, question)
    results = await record_answers(
        session, checkin=checkin, answers={question: answer}, now=now, policy=policy, via=via
    )
    return results[0]


async def record_answers(
    session: AsyncSession,
    *,
    checkin: CheckIn,
    answers: Mapping[str, str],
    now: datetime,
    policy: CheckinPolicy,
    via: str,
) -> list[AnswerResult]:
    """Several answers at once (the page, a mail reply); validated all first, then recorded."""
    canonical = {q: validate(q, a) for q, a in answers.items()}
    decision = await session.get(Decision, checkin.decision_id)
    refused: Outcome | None = None
    if decision is None or decision.status == DecisionStatus.WITHDRAWN:
        refused = Outcome.WITHDRAWN
    elif now >= checkin.closes_at:
        refused = Outcome.CLOSED
    if refused is not None:
        return [AnswerResult(refused, q) for q in canonical]
    outcomes: dict[str, Outcome] = {}
    changed = False
    for question, value in canonical.items():
        if question in ("comment", "phone") and not value:
            outcomes[question] = Outcome.UNCHANGED
            continue
        current = _current(checkin, question)
        if current is None:
            setattr(checkin, question, int(value) if question == "rating" else value)
            outcomes[question] = Outcome.RECORDED
            changed = True
        else:
            outcomes[question] = Outcome.UNCHANGED if current == value else Outcome.ALREADY_ANSWERED
    reference = None
    if changed:
        checkin.first_answer_at = checkin.first_answer_at or now
        checkin.last_answer_at = now
        checkin.answered_via = checkin.answered_via or via
        METRICS.checkin_answers.labels(via).inc()
        recorded = [q for q, o in outcomes.items() if o is Outcome.RECORDED]
        reference = await _follow_up(
            session, checkin=checkin, recorded=recorded, policy=policy, now=now
        )
        await session.flush()
    nxt = next_question(checkin)
    return [AnswerResult(o, q, nxt, reference) for q, o in outcomes.items()]


def wants_callback(checkin: CheckIn) -> list[str]:
    """Why someone should call back (Swedish, for staff), or an empty list: only when asked to."""
    if checkin.wants_contact != "yes":
        return []
    reasons = ["vill bli kontaktad"]
    if checkin.other_handler == "yes":
        reasons.append("vill prata med någon annan än handläggaren")
    if checkin.understood == "no":
        reasons.append("förstod inte beslutet")
    if checkin.rating is not None and checkin.rating <= 2:
        reasons.append(f"lågt betyg ({checkin.rating})")
    return reasons


_YES_NO = {"yes": "ja", "no": "nej"}
_LABELS: dict[str, tuple[str, dict[str, str]]] = {
    "rating": ("Betyg (1–5)", {}),
    "understood": ("Förstod beslutet", {"yes": "ja", "partly": "delvis", "no": "nej"}),
    "knows_appeal": ("Vet hur man överklagar", _YES_NO),
    "knows_feedback": ("Vet var man lämnar synpunkter", _YES_NO),
    "wants_contact": ("Vill bli kontaktad", _YES_NO),
    "other_handler": ("Vill prata med någon annan än handläggaren", _YES_NO),
}


def answers_text(checkin: CheckIn, *, only: list[str] | None = None) -> str:
    lines = []
    for question, (label, names) in _LABELS.items():
        if only is not None and question not in only:
            continue
        value = _current(checkin, question)
        lines.append(f"{label}: {names.get(value, value) if value else '(inget svar)'}")
    if checkin.phone and (only is None or "phone" in only):
        lines.append(f"Telefon: {checkin.phone}")
    if checkin.comment and (only is None or "comment" in only):
        lines.append(f"Kommentar: {checkin.comment}")
    return "\n".join(lines)


async def _follow_up(
    session: AsyncSession,
    *,
    checkin: CheckIn,
    recorded: list[str],
    policy: CheckinPolicy,
    now: datetime,
) -> str | None:
    """Opens the call-back case at the "Ja" to contact; later answers join it."""
    decision = await session.get(Decision, checkin.decision_id)
    assert decision is not None
    if checkin.case_id is not None:
        case = await session.get(Case, checkin.case_id)
        if case is None:
            return None
        text = f"Fler svar:\n{answers_text(checkin, only=recorded)}"
        if "other_handler" in recorded and checkin.other_handler == "yes":
            text += "\n\n" + await _keep_from_handler(
                session, case=case, decision=decision, now=now
            )
        await _add_message(session, case, checkin, text, now)
        if checkin.comment and contains_personnummer(checkin.comment):
            case.flag_personnummer = True
        case.updated_at = now
        return case.reference
    reasons = wants_callback(checkin)
    if not reasons:
        return None
    unit = await session.get(Unit, checkin.unit_id)
    assert unit is not None
    case = await open_case(
        session,
        Opening(
            channel=checkin.channel,
            subject=f"Uppföljning efter beslut: {', '.join(reasons)}",
            text=checkin.comment or "",
            received_at=now,
            response_days=unit.response_days,
            contact_id=checkin.contact_id,
            unit_id=checkin.unit_id,
            origin="checkin",
            language=checkin.language,
            callback=True,
        ),
        prefix=policy.case_prefix,
        now=now,
    )
    checkin.case_id = case.id
    text = (
        f"Svar på uppföljningen efter ett beslut från {unit.name}. Ring upp: {', '.join(reasons)}.\n"
        f"Beslutets id i verksamhetssystemet: {decision.reference} (beslutsdatum "
        f"{decision.decided_on:%Y-%m-%d}).\n\n{answers_text(checkin)}"
    )
    if checkin.other_handler == "yes":
        text += "\n\n" + await _keep_from_handler(session, case=case, decision=decision, now=now)
    await _add_message(session, case, checkin, text, now)
    audit(
        session,
        actor=SYSTEM,
        action="case.created",
        case=case,
        now=now,
        origin="checkin",
        checkin_id=checkin.id,
    )
    return case.reference


async def _keep_from_handler(
    session: AsyncSession, *, case: Case, decision: Decision, now: datetime
) -> str:
    """Flags the case for someone other than the decision's handläggare, takes it from them if
    it was theirs, and says (to staff) whom to avoid."""
    if not case.flag_other_handler and case.id is not None:
        audit(
            session,
            actor=SYSTEM,
            action="case.update",
            case=case,
            now=now,
            field="flag_other_handler",
            before=False,
            after=True,
        )
    case.flag_other_handler = True
    handler_id = decisions_handler(decision)
    handler = await session.get(StaffUser, handler_id) if handler_id is not None else None
    if handler is None:
        return (
            "Personen vill hellre prata med någon annan än den som handlade ärendet. Beslutet "
            f"registrerades av {decision.registered_by}: ta reda på vem som handlade ärendet "
            "innan det tilldelas."
        )
    if case.assignee_id == handler.id:
        case.assignee_id = None
        audit(
            session,
            actor=SYSTEM,
            action="case.update",
            case=case,
            now=now,
            field="assignee_id",
            before=handler.id,
            after=None,
        )
    name = handler.display_name or handler.username
    return (
        "Personen vill hellre prata med någon annan än den som handlade ärendet. Tilldela inte "
        f"ärendet till {name}, som registrerade beslutet."
    )


async def _add_message(
    session: AsyncSession, case: Case, checkin: CheckIn, text: str, now: datetime
) -> None:
    assert case.id is not None
    contact = await session.get(Contact, checkin.contact_id)
    session.add(
        Message(
            case_id=case.id,
            direction=Direction.INBOUND,
            channel=checkin.channel,
            # Who answered, as the decision names them: staff see whom to call back.
            sender_address=contact.address if contact else None,
            sender_name=contact.display_name if contact else None,
            kind="checkin.answers",
            subject=case.subject,
            text=text,
            display_text=text,
            language=checkin.language,
            created_at=now,
        )
    )


# Replies to the check-in mail --------------------------------------------------------------------

_STOP = {"stopp", "stop"}
_SIGNATURE = re.compile(r"^(skickat från|sent from|hämta outlook|get outlook)\b", re.IGNORECASE)
_TOKEN = re.compile(r"[^\W_]+|\d")


def parse_reply(text: str) -> dict[str, str] | None:
    """`4` → the rating, `STOPP` → `stop`; else None.

    Strict on purpose: the mail asks one thing (how the contact was, 1 to 5), so a "ja" or a
    "nej" answers nothing we asked; it and anything longer is a message that a person reads.
    """
    lines = [
        line.strip()
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith(">") and not _SIGNATURE.match(line.strip())
    ]
    if not lines or len(lines) > 1 or len(lines[0]) > 30:
        return None
    tokens = [t.lower() for t in _TOKEN.findall(lines[0])]
    if len(tokens) != 1:
        return None
    if tokens[0] in _STOP:
        return {"stop": "yes"}
    if tokens[0] in CHOICES["rating"]:
        return {"rating": tokens[0]}
    return None


async def answer_by_reply(
    session: AsyncSession,
    *,
    thread_ids: tuple[str, ...],
    contact: Contact,
    text: str,
    now: datetime,
    policy: CheckinPolicy,
) -> bool:
    """Takes a short reply to a check-in mail as its answer; False when it is anything else."""
    if not thread_ids:
        return False
    checkin = (
        await session.execute(
            select(CheckIn)
            .where(
                or_(
                    col(CheckIn.ask_rfc_id).in_(thread_ids),
                    col(CheckIn.reminder_rfc_id).in_(thread_ids),
                ),
                col(CheckIn.contact_id) == contact.id,
            )
            .limit(1)
        )
    ).scalar_one_or_none()
    if checkin is None:
        return False
    answers = parse_reply(text)
    if answers is None:
        return False
    if "stop" in answers:
        await opt_out(session, contact=contact, now=now)
        return True
    results = await record_answers(
        session, checkin=checkin, answers=answers, now=now, policy=policy, via="email-reply"
    )
    # Too late, or withdrawn: not an answer any more, so a person reads it as a message.
    return all(r.outcome not in (Outcome.CLOSED, Outcome.WITHDRAWN) for r in results)


def reply_claim(
    policy: CheckinPolicy,
) -> Callable[[AsyncSession, InboundMessage, Contact, datetime], Awaitable[str | None]]:
    """Intake's claim for check-in answers: a short reply to a check-in mail ("4", "nej")."""

    async def claim(
        session: AsyncSession, msg: InboundMessage, contact: Contact, now: datetime
    ) -> str | None:
        if msg.channel != Channel.EMAIL or msg.automated or not msg.thread_ids:
            return None
        answered = await answer_by_reply(
            session,
            thread_ids=msg.thread_ids,
            contact=contact,
            text=msg.display_text or msg.text,
            now=now,
            policy=policy,
        )
        return "check-in answer" if answered else None

    return claim
