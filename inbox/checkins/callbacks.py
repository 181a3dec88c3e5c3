"""Who to call back, for a case a check-in answer opened ("Vill du att någon av oss kontaktar
dig?" answered "Ja"): the person's name and phone number where they are known, how else they can
be reached, and why they want to be called.

A decision names the person only by the address its check-in went to (an e-mail address or a
Telegram chat), so the name is the contact's, when a mail or chat gave one, and a phone number is
one the person wrote in their answer ("ring mig på 070-123 45 67"), or the contact's own when it
is a phone number.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from inbox.cases.contacts import dial, find_phone
from inbox.checkins.answers import wants_callback
from inbox.core.models import Case, CheckIn, Contact, Decision, Unit

PHONE_CHANNELS = ("phone", "sms")


@dataclass(frozen=True, slots=True)
class Callback:
    """What the case page says about the person who asked to be called back."""

    name: str | None
    phone: str | None
    channel: str | None  # how the check-in reached them: email, telegram
    address: str | None
    reasons: list[str] = field(default_factory=list)
    decision_reference: str | None = None
    decided_on: date | None = None
    unit_name: str | None = None
    answered_at: datetime | None = None

    @property
    def dial(self) -> str | None:
        return dial(self.phone) if self.phone else None


async def callback_details(session: AsyncSession, case: Case) -> Callback:
    """Who to call back for `case` (one with `flag_callback`), from its check-in, decision and
    contact; what is not known is None."""
    checkin = (
        (
            await session.execute(
                select(CheckIn).where(col(CheckIn.case_id) == case.id).order_by(col(CheckIn.id))
            )
        )
        .scalars()
        .first()
    )
    contact_id = checkin.contact_id if checkin else case.contact_id
    contact = await session.get(Contact, contact_id) if contact_id is not None else None
    decision = await session.get(Decision, checkin.decision_id) if checkin else None
    unit = await session.get(Unit, decision.unit_id) if decision else None
    phone = checkin.phone if checkin else None
    if phone is None and contact is not None and contact.channel in PHONE_CHANNELS:
        phone = contact.address
    elif phone is None and checkin is not None and checkin.comment:
        phone = find_phone(checkin.comment)
    return Callback(
        name=(contact.display_name or None) if contact else None,
        phone=phone,
        channel=contact.channel if contact else None,
        address=contact.address if contact else None,
        reasons=wants_callback(checkin) if checkin else [],
        decision_reference=decision.reference if decision else None,
        decided_on=decision.decided_on if decision else None,
        unit_name=unit.name if unit else None,
        answered_at=checkin.last_answer_at if checkin else None,
    )
