"""Threading: which existing case a message continues, if any.

E-mail: the reply headers matched against every stored Message-ID (ours included, so a reply to
an acknowledgement finds its case), then the case reference in the subject. Telegram: the chat's
open case. Only ever a case of the message's own contact: a stranger who quotes a reference or
answers someone else's mail opens a case of their own.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from inbox.core.inbound import Channel, InboundMessage
from inbox.core.models import Case, CaseStatus, Contact, Message
from inbox.core.references import reference_pattern


async def continued_case(
    session: AsyncSession, msg: InboundMessage, *, contact: Contact, prefix: str
) -> Case | None:
    """The case of `contact` that `msg` continues, or None when it opens a case of its own."""
    if msg.extra.get("new_case") == "1":  # the person asked for a new case
        return None
    ids = msg.thread_ids
    if ids:
        rows = await session.execute(
            select(col(Message.rfc_message_id), Case)
            .join(Case, col(Case.id) == Message.case_id)
            .where(col(Message.rfc_message_id).in_(ids))
        )
        by_id = {mid: case for mid, case in rows.all()}
        for mid in ids:
            case = by_id.get(mid)
            if case is not None and case.contact_id == contact.id:
                return case
    match = reference_pattern(prefix).search(msg.subject or "")
    if match:
        case = (
            await session.execute(select(Case).where(col(Case.reference) == match.group(1).upper()))
        ).scalar_one_or_none()
        if case is not None and case.contact_id == contact.id:
            return case
    if msg.channel == Channel.TELEGRAM:
        return (
            await session.execute(
                select(Case)
                .where(col(Case.contact_id) == contact.id, col(Case.status) != CaseStatus.CLOSED)
                .order_by(col(Case.received_at).desc(), col(Case.id).desc())
                .limit(1)
            )
        ).scalar_one_or_none()
    return None
