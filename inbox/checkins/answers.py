"""Check-in answers: recorded once per question, whichever channel they come through (the public
page, a Telegram button, a short reply to the mail), and a case for the unit when one asks for it.

The first answer to a question stands: the same answer again changes nothing, a different one is
refused as already answered, and nothing is accepted once the check-in has closed or its decision
was withdrawn. "Nej" to understanding, a rating of 1–2 or a wish for contact opens one flagged case
(origin `checkin`) in the unit's inbox with the answers, so a caseworker calls back; no
acknowledgement is sent for it. Answers are feedback: they are not written to any case file.
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

from inbox.cases.opening import Opening, open_case
from inbox.checkins.plan import CheckinPolicy, opt_out
from inbox.checkins.texts import CHOICES, QUESTIONS
from inbox.core.audit import SYSTEM, audit
from inbox.core.inbound import Channel, InboundMessage
from inbox.core.models import (
    Case,
    CheckIn,
    Contact,
    Decision,
    DecisionStatus,
    Direction,
    Message,
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


def next_question(checkin: CheckIn) -> str | None:
    for question in QUESTIONS:
        if getattr(checkin, question) is None:
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
        if question == "comment" and not value:
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
        recorded = [q for q, o in outcomes.items() if o is Outcome.RECORDED]
        reference = await _follow_up(
            session, checkin=checkin, recorded=recorded, policy=policy, now=now
        )
        await session.flush()
    nxt = next_question(checkin)
    return [AnswerResult(o, q, nxt, reference) for q, o in outcomes.items()]


def wants_callback(checkin: CheckIn) -> list[str]:
    """Why a caseworker should call back (Swedish, for staff), or an empty list."""
    reasons = []
    if checkin.understood == "no":
        reasons.append("förstod inte beslutet")
    if checkin.rating is not None and checkin.rating <= 2:
        reasons.append(f"lågt betyg ({checkin.rating})")
    if checkin.wants_contact == "yes":
        reasons.append("vill bli kontaktad")
    return reasons


_LABELS = {
    "understood": ("Förstod beslutet", {"yes": "ja", "partly": "delvis", "no": "nej"}),
    "knows_appeal": (
        "Vet hur man överklagar och var man lämnar synpunkter",
        {"yes": "ja", "no": "nej"},
    ),
    "rating": ("Betyg (1–5)", {}),
    "wants_contact": ("Vill bli kontaktad", {"yes": "ja", "no": "nej"}),
}


def answers_text(checkin: CheckIn, *, only: list[str] | None = None) -> str:
    lines = []
    for question, (label, names) in _LABELS.items():
        if only is not None and question not in only:
            continue
        value = _current(checkin, question)
        lines.append(f"{label}: {names.get(value, value) if value else '(inget svar)'}")
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
    """Opens the call-back case at the first answer that asks for one; later answers join it."""
    if checkin.case_id is not None:
        case = await session.get(Case, checkin.case_id)
        if case is None:
            return None
        _add_message(
            session, case, checkin, f"Fler svar:\n{answers_text(checkin, only=recorded)}", now
        )
        if checkin.comment and contains_personnummer(checkin.comment):
            case.flag_personnummer = True
        case.updated_at = now
        return case.reference
    reasons = wants_callback(checkin)
    if not reasons:
        return None
    unit = await session.get(Unit, checkin.unit_id)
    decision = await session.get(Decision, checkin.decision_id)
    assert unit is not None and decision is not None
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
    _add_message(session, case, checkin, text, now)
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


def _add_message(
    session: AsyncSession, case: Case, checkin: CheckIn, text: str, now: datetime
) -> None:
    assert case.id is not None
    session.add(
        Message(
            case_id=case.id,
            direction=Direction.INBOUND,
            channel=checkin.channel,
            kind="checkin.answers",
            subject=case.subject,
            text=text,
            display_text=text,
            language=checkin.language,
            created_at=now,
        )
    )


# Replies to the check-in mail --------------------------------------------------------------------

_WORDS = {
    "ja": ("understood", "yes"),
    "yes": ("understood", "yes"),
    "delvis": ("understood", "partly"),
    "partly": ("understood", "partly"),
    "nej": ("understood", "no"),
    "no": ("understood", "no"),
}
_STOP = {"stopp", "stop"}
_SIGNATURE = re.compile(r"^(skickat från|sent from|hämta outlook|get outlook)\b", re.IGNORECASE)
_TOKEN = re.compile(r"[^\W_]+|\d")


def parse_reply(text: str) -> dict[str, str] | None:
    """`4`, `nej`, `ja`, `delvis`, `4 nej`, `STOPP` → answers (`stop` for STOPP); else None.

    Strict on purpose: anything longer is a message from a person and opens a case instead.
    """
    lines = [
        line.strip()
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith(">") and not _SIGNATURE.match(line.strip())
    ]
    if not lines or len(lines) > 1 or len(lines[0]) > 30:
        return None
    tokens = [t.lower() for t in _TOKEN.findall(lines[0])]
    answers: dict[str, str] = {}
    for token in tokens:
        if token in _STOP and len(tokens) == 1:
            return {"stop": "yes"}
        if token in {"1", "2", "3", "4", "5"} and "rating" not in answers:
            answers["rating"] = token
        elif token in _WORDS and _WORDS[token][0] not in answers:
            question, value = _WORDS[token]
            answers[question] = value
        else:
            return None
    return answers or None


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
