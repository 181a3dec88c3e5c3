"""Check-ins as outbox rows: the ask and at most one reminder, written when the decision is
registered, each with a future `run_at`; and the re-check the worker runs before sending either.

There is no second scheduler: withdrawal and opt-out cancel the pending rows at once, and the
re-check catches anything already claimed (withdrawn, opted out, or — for the reminder — answered).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import make_msgid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from inbox.checkins.links import Links
from inbox.checkins.schedule import SendWindow, local_date, plan_checkin
from inbox.checkins.texts import checkin_mail, telegram_ask
from inbox.core import outbox
from inbox.core.inbound import Channel
from inbox.core.models import (
    CheckIn,
    Contact,
    Decision,
    DecisionStatus,
    OutboxItem,
    OutboxStatus,
    Unit,
)
from inbox.core.privacy import privacy_url

ASK_KIND = "checkin.ask"
REMINDER_KIND = "checkin.reminder"
KINDS = (ASK_KIND, REMINDER_KIND)


@dataclass(frozen=True, slots=True)
class CheckinPolicy:
    """What check-ins need to know about this installation (built from Settings by the CLI)."""

    delay_days: int = 3
    window: SendWindow = field(default_factory=SendWindow)
    public_url: str = "http://127.0.0.1:8000"
    secret_key: str | None = None  # signs the links; only what sends check-ins needs it
    mail_domain: str = "synpunkt.localhost"
    organisation: str = "Socialtjänsten"
    case_prefix: str = "SP"
    response_days: int = 10
    appeal_url: str = "https://www.domstol.se/forvaltningsratt/"

    @property
    def links(self) -> Links:
        if not self.secret_key:
            raise RuntimeError("check-in links need the installation's secret key")
        return Links(secret_key=self.secret_key, public_url=self.public_url)


def build_checkin(
    *,
    decision: Decision,
    unit: Unit,
    contact_id: int,
    opted_out: bool,
    policy: CheckinPolicy,
    now: datetime,
) -> CheckIn:
    """The decision's check-in row (not yet added): planned, or skipped with the reason."""
    assert decision.id is not None and unit.id is not None
    delay = unit.checkin_delay_days if unit.checkin_delay_days is not None else policy.delay_days
    plan = plan_checkin(
        decided_on=decision.decided_on, delay_days=delay, window=policy.window, now=now
    )
    skip = plan.skip_reason or ("contact opted out of check-ins" if opted_out else None)
    if plan.ask_at is None and skip is None:
        skip = "no time to ask"
    return CheckIn(
        decision_id=decision.id,
        unit_id=unit.id,
        contact_id=contact_id,
        channel=decision.channel,
        language=decision.language,
        status="skipped" if skip else "scheduled",
        skip_reason=skip,
        period=f"{local_date(plan.ask_at or now):%Y-%m}",
        ask_at=None if skip else plan.ask_at,
        reminder_at=None if skip else plan.reminder_at,
        closes_at=plan.closes_at,
        created_at=now,
    )


async def schedule_checkin(
    session: AsyncSession,
    *,
    decision: Decision,
    unit: Unit,
    contact: Contact,
    policy: CheckinPolicy,
    now: datetime,
) -> CheckIn:
    """The decision's check-in and its outbox rows (ask, reminder), or a check-in marked skipped."""
    assert contact.id is not None
    checkin = build_checkin(
        decision=decision,
        unit=unit,
        contact_id=contact.id,
        opted_out=contact.opted_out,
        policy=policy,
        now=now,
    )
    session.add(checkin)
    await session.flush()
    if checkin.status != "scheduled":
        return checkin
    assert checkin.id is not None
    ask = await _enqueue(
        session, checkin=checkin, contact=contact, policy=policy, now=now, reminder=False
    )
    checkin.ask_outbox_id, checkin.ask_rfc_id = ask
    if checkin.reminder_at is not None:
        reminder = await _enqueue(
            session,
            checkin=checkin,
            contact=contact,
            policy=policy,
            now=now,
            reminder=True,
        )
        checkin.reminder_outbox_id, checkin.reminder_rfc_id = reminder
    await session.flush()
    return checkin


def checkin_payload(
    *,
    checkin: CheckIn,
    contact_id: int,
    address: str,
    policy: CheckinPolicy,
    reminder: bool,
) -> tuple[dict[str, Any], str | None]:
    """The outbox payload of a check-in's ask (or reminder), and the mail's Message-ID if any.

    Neutral: it names the organisation, never the unit or the decision. `neutral` marks payloads
    written so; the re-check holds back any written before (they named the unit).
    """
    assert checkin.id is not None
    kind = REMINDER_KIND if reminder else ASK_KIND
    links = policy.links
    link = links.answer_url(checkin_id=checkin.id, expires=checkin.closes_at)
    if checkin.channel != Channel.EMAIL:
        payload = telegram_ask(
            checkin_id=checkin.id,
            chat_id=address,
            organisation=policy.organisation,
            link=link,
            privacy_link=privacy_url(policy.public_url, language=checkin.language),
            language=checkin.language,
            reminder=reminder,
        )
        return payload | {"neutral": True}, None
    rfc_id = make_msgid(idstring=f"checkin.{checkin.id}.{kind[8:]}", domain=policy.mail_domain)
    mail = checkin_mail(
        organisation=policy.organisation,
        link=link,
        stop_link=links.stop_url(contact_id=contact_id),
        privacy_link=privacy_url(policy.public_url, language=checkin.language),
        closes_at=checkin.closes_at,
        language=checkin.language,
        reminder=reminder,
    )
    payload = {
        "subject": mail.subject,
        "text": mail.text,
        "message_id": rfc_id,
        "auto_submitted": "auto-generated",
        "languages": [checkin.language],
        "checkin_id": checkin.id,
        "neutral": True,
    }
    return payload, rfc_id


async def _enqueue(
    session: AsyncSession,
    *,
    checkin: CheckIn,
    contact: Contact,
    policy: CheckinPolicy,
    now: datetime,
    reminder: bool,
) -> tuple[int | None, str | None]:
    assert checkin.id is not None and contact.id is not None
    kind = REMINDER_KIND if reminder else ASK_KIND
    payload, rfc_id = checkin_payload(
        checkin=checkin,
        contact_id=contact.id,
        address=contact.address,
        policy=policy,
        reminder=reminder,
    )
    item = await outbox.enqueue(
        session,
        kind=kind,
        channel=checkin.channel,
        recipient=contact.address,
        payload=payload,
        idempotency_key=f"{kind}:{checkin.id}",
        run_at=checkin.reminder_at if reminder else checkin.ask_at,
        now=now,
    )
    return (item.id if item else None), (rfc_id.strip("<>") if rfc_id else None)


# Cancelling --------------------------------------------------------------------------------------


async def cancel_pending(
    session: AsyncSession, *, ids: list[int | None], reason: str, now: datetime
) -> int:
    """Marks the given check-in outbox rows cancelled when they have not gone out yet."""
    wanted = [i for i in ids if i is not None]
    if not wanted:
        return 0
    rows = (
        await session.execute(
            select(OutboxItem).where(
                col(OutboxItem.id).in_(wanted), col(OutboxItem.status) == OutboxStatus.PENDING
            )
        )
    ).scalars()
    count = 0
    for row in rows:
        await outbox.mark_cancelled(session, row, reason=reason, now=now)
        count += 1
    return count


async def opt_out(session: AsyncSession, *, contact: Contact, now: datetime) -> int:
    """No more check-ins for this contact: sets the flag and cancels what is queued. Idempotent."""
    contact.opted_out = True
    checkins = (
        await session.execute(
            select(CheckIn).where(
                col(CheckIn.contact_id) == contact.id, col(CheckIn.status) == "scheduled"
            )
        )
    ).scalars()
    ids: list[int | None] = []
    for checkin in checkins:
        ids += [checkin.ask_outbox_id, checkin.reminder_outbox_id]
    cancelled = await cancel_pending(session, ids=ids, reason="contact opted out", now=now)
    await session.flush()
    return cancelled


# The worker's re-check ---------------------------------------------------------------------------

Recheck = Callable[[AsyncSession, OutboxItem, datetime], Awaitable[str | None]]


async def recheck(session: AsyncSession, item: OutboxItem, now: datetime) -> str | None:
    """Why this check-in row must not go out now, or None to send it."""
    checkin_id = (item.payload or {}).get("checkin_id")
    checkin = await session.get(CheckIn, checkin_id) if isinstance(checkin_id, int) else None
    if checkin is None:
        return "no such check-in"
    if not (item.payload or {}).get("neutral"):
        # Written before check-ins became neutral (issue 14): its text names the unit and the
        # decision, which a mail or a chat must not. Better no check-in than that one.
        return "written with the old text that named the unit"
    decision = await session.get(Decision, checkin.decision_id)
    if decision is None or decision.status == DecisionStatus.WITHDRAWN:
        return "decision withdrawn"
    contact = await session.get(Contact, checkin.contact_id)
    if contact is None or contact.opted_out:
        return "contact opted out"
    if checkin.status != "scheduled":
        return f"check-in {checkin.status}"
    if item.kind == REMINDER_KIND:
        if checkin.first_answer_at is not None or checkin.token_used_at is not None:
            return "already answered"
        ask = await session.get(OutboxItem, checkin.ask_outbox_id)
        if ask is None or ask.status != OutboxStatus.SENT:
            return "the check-in itself was not sent"
    return None


RECHECKS: Mapping[str, Recheck] = {ASK_KIND: recheck, REMINDER_KIND: recheck}
