"""Threading: which existing case a message continues, if any.

E-mail: the reply headers matched against every stored Message-ID (ours included, so a reply to
an acknowledgement finds its case), then the case reference in the subject. A Message-ID that
different messages reused, on messages of several cases, points at none of them. Telegram: the chat's
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
    # A message never continues a case by its own Message-ID: one that a different message used
    # before (some clients reuse them) would otherwise join that message's case.
    ids = tuple(mid for mid in msg.thread_ids if mid != msg.message_id)
    if ids:
        rows = await session.execute(
            select(col(Message.rfc_message_id), Case)
            .join(Case, col(Case.id) == Message.case_id)
            .where(col(Message.rfc_message_id).in_(ids), col(Case.contact_id) == contact.id)
        )
        by_id: dict[str | None, dict[int | None, Case]] = {}
        for mid, found in rows.all():
            by_id.setdefault(mid, {})[found.id] = found
        for mid in ids:
            cases = by_id.get(mid, {})
            # An id on messages of several cases was reused: it cannot tell which one is meant,
            # so the next id (or the reference in the subject) decides.
            if len(cases) == 1:
                return next(iter(cases.values()))
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
