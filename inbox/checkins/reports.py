"""What staff and integrations see of check-ins: one decision with its check-in's state and
answers, and the answers aggregated per unit and month with small groups suppressed.

A group with fewer than `MIN_GROUP` answers shows only how many were asked: its shares and
rating counts could point at one person.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from inbox.cases.access import NotFound, Scope
from inbox.checkins.answers import unanswered
from inbox.checkins.texts import QUESTIONS
from inbox.core.models import Case, CheckIn, Contact, Decision, DecisionStatus, OutboxItem, Unit

MIN_GROUP = 5


def checkin_state(
    checkin: CheckIn,
    decision: Decision,
    ask: OutboxItem | None,
    reminder: OutboxItem | None,
    *,
    now: datetime,
) -> str:
    if decision.status == DecisionStatus.WITHDRAWN:
        return "withdrawn"
    if checkin.status in ("skipped", "cancelled"):
        return checkin.status
    if not unanswered(checkin):
        return "answered"
    if any(getattr(checkin, q) is not None for q in QUESTIONS):
        return "partly-answered"
    if ask is not None and ask.status in ("cancelled", "dead"):
        return "cancelled" if ask.status == "cancelled" else "failed"
    if now >= checkin.closes_at:
        return "unanswered"
    if reminder is not None and reminder.status == "sent":
        return "reminded"
    if ask is not None and ask.status == "sent":
        return "sent"
    return "scheduled"


async def decision_view(
    session: AsyncSession, *, scope: Scope, decision_id: int, now: datetime
) -> dict[str, Any]:
    """The decision with its check-in's state and answers; `NotFound` outside `scope`."""
    row = (
        await session.execute(
            select(Decision, col(Unit.code), Contact, CheckIn)
            .join(Unit, col(Unit.id) == Decision.unit_id)
            .join(Contact, col(Contact.id) == Decision.contact_id)
            .outerjoin(CheckIn, col(CheckIn.decision_id) == Decision.id)
            .where(col(Decision.id) == decision_id, scope.condition(col(Decision.unit_id)))
        )
    ).first()
    if row is None:
        raise NotFound("no such decision")
    decision, unit_code, contact, checkin = row
    view: dict[str, Any] = {
        "id": decision.id,
        "unit": unit_code,
        "channel": decision.channel,
        "address": contact.address,
        "language": decision.language,
        "decided_on": decision.decided_on,
        "reference": decision.reference,
        "status": decision.status,
        "registered_at": decision.registered_at,
        "withdrawn_at": decision.withdrawn_at,
        "checkin": None,
    }
    if checkin is None:
        return view
    ask = await session.get(OutboxItem, checkin.ask_outbox_id) if checkin.ask_outbox_id else None
    reminder = (
        await session.get(OutboxItem, checkin.reminder_outbox_id)
        if checkin.reminder_outbox_id
        else None
    )
    case_ref = None
    if checkin.case_id is not None:
        case_row = await session.get(Case, checkin.case_id)
        case_ref = case_row.reference if case_row else None
    view["checkin"] = {
        "id": checkin.id,
        "state": checkin_state(checkin, decision, ask, reminder, now=now),
        "skip_reason": checkin.skip_reason,
        "opted_out": contact.opted_out,
        "ask_at": checkin.ask_at,
        "ask_status": ask.status if ask else None,
        "asked_at": ask.sent_at if ask else None,
        "reminder_at": checkin.reminder_at,
        "reminder_status": reminder.status if reminder else None,
        "closes_at": checkin.closes_at,
        "answers": {
            "rating": checkin.rating,
            "understood": checkin.understood,
            "knows_appeal": checkin.knows_appeal,
            "knows_feedback": checkin.knows_feedback,
            "wants_contact": checkin.wants_contact,
            "other_handler": checkin.other_handler,
            "comment": checkin.comment,
        },
        "answered_at": checkin.first_answer_at,
        "answered_via": checkin.answered_via,
        "case": case_ref,
    }
    return view


def _count(condition: Any) -> Any:
    return func.sum(case((condition, 1), else_=0))


async def checkin_stats(
    session: AsyncSession,
    *,
    scope: Scope,
    unit: str | None = None,
    start: str | None = None,
    end: str | None = None,
) -> list[dict[str, Any]]:
    """Per unit and month (`YYYY-MM`, Stockholm, of the planned ask), `start`..`end` inclusive."""
    query = (
        select(
            col(Unit.code),
            col(CheckIn.period),
            _count(col(OutboxItem.status) == "sent"),
            _count(col(CheckIn.first_answer_at).is_not(None)),
            _count(col(CheckIn.understood) == "yes"),
            _count(col(CheckIn.understood) == "partly"),
            _count(col(CheckIn.understood) == "no"),
            _count(col(CheckIn.knows_appeal) == "yes"),
            _count(col(CheckIn.knows_appeal) == "no"),
            _count(col(CheckIn.knows_feedback) == "yes"),
            _count(col(CheckIn.knows_feedback) == "no"),
            *(_count(col(CheckIn.rating) == n) for n in range(1, 6)),
            _count(col(CheckIn.wants_contact) == "yes"),
            _count(col(CheckIn.wants_contact) == "no"),
            _count((col(CheckIn.wants_contact) == "yes") & (col(CheckIn.other_handler) == "yes")),
        )
        .join(Unit, col(Unit.id) == CheckIn.unit_id)
        .outerjoin(OutboxItem, col(OutboxItem.id) == CheckIn.ask_outbox_id)
        .where(col(CheckIn.status) != "skipped", scope.condition(col(CheckIn.unit_id)))
        .group_by(col(Unit.code), col(CheckIn.period))
        .order_by(col(Unit.code), col(CheckIn.period))
    )
    if unit:
        query = query.where(col(Unit.code) == unit)
    if start:
        query = query.where(col(CheckIn.period) >= start)
    if end:
        query = query.where(col(CheckIn.period) <= end)
    groups = []
    for row in (await session.execute(query)).all():
        code, period, asked, answered, u_yes, u_partly, u_no, k_yes, k_no, f_yes, f_no, *rest = row
        ratings, (c_yes, c_no, c_other) = rest[:5], rest[5:]
        group: dict[str, Any] = {"unit": code, "month": period, "asked": int(asked or 0)}
        answered = int(answered or 0)
        if answered < MIN_GROUP:
            group |= {
                "suppressed": True,
                "answered": None,
                "response_rate": None,
                "understood": None,
                "knows_appeal": None,
                "knows_feedback": None,
                "ratings": None,
                "contact_wishes": None,
                "contact_answers": None,
                "other_handler_wishes": None,
            }
        else:
            understood_total = u_yes + u_partly + u_no
            group |= {
                "suppressed": False,
                "answered": answered,
                "response_rate": round(answered / asked, 3) if asked else None,
                "understood": {
                    "answers": understood_total,
                    "yes": _share(u_yes, understood_total),
                    "partly": _share(u_partly, understood_total),
                    "no": _share(u_no, understood_total),
                },
                "knows_appeal": {"answers": k_yes + k_no, "yes": _share(k_yes, k_yes + k_no)},
                "knows_feedback": {"answers": f_yes + f_no, "yes": _share(f_yes, f_yes + f_no)},
                "ratings": {str(n): int(v) for n, v in enumerate(ratings, start=1)},
                "contact_wishes": int(c_yes),
                "contact_answers": int(c_yes + c_no),
                "other_handler_wishes": int(c_other),
            }
        groups.append(group)
    return groups


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 3) if whole else None
