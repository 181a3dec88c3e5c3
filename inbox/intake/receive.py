"""The ways into the inbox: `receive()` takes one message, `receive_many()` the worker's batch.

Both run the steps of `inbox.intake.pipeline` (ledger, contacts, claims, threading, cases,
messages, audit, acknowledgements), the single message as a batch of one, so a message becomes the
same rows whichever way it came in. They flush and never commit: the adapter's unit of work does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from inbox.core.inbound import InboundMessage
from inbox.core.models import IntakeRecord
from inbox.intake.pipeline import Item, take_in
from inbox.intake.policy import Claim, IntakePolicy

__all__ = ["Claim", "IntakePolicy", "Receipt", "receive", "receive_many"]


@dataclass(frozen=True, slots=True)
class Receipt:
    """What `receive()` did: the case and message, or that the message was a duplicate."""

    case_id: int | None
    reference: str | None
    message_id: int | None
    new_case: bool
    duplicate: bool
    acknowledged: bool
    no_ack_reason: str | None = None

    @classmethod
    def of(cls, item: Item) -> Receipt:
        return cls(
            case_id=item.case_id,
            reference=item.reference,
            message_id=item.message_id,
            new_case=item.new_case,
            duplicate=item.duplicate,
            acknowledged=item.acknowledged,
            no_ack_reason=item.no_ack_reason,
        )


async def receive(
    session: AsyncSession,
    msg: InboundMessage,
    *,
    policy: IntakePolicy,
    now: datetime,
    record: IntakeRecord | None = None,
) -> Receipt:
    """Takes one message into the inbox. `record` is its ledger row, when it has one; without
    one it gets one now, and a message the ledger has processed already is a duplicate."""
    (item,) = await take_in(session, [(msg, record)], policy=policy, now=now)
    return Receipt.of(item)


async def receive_many(
    session: AsyncSession,
    items: Sequence[tuple[InboundMessage, IntakeRecord]],
    *,
    policy: IntakePolicy,
    now: datetime,
) -> list[Receipt]:
    """Takes ledger rows' parsed messages into the inbox, in order, as `receive()` would one by
    one; what became of each, in the same order."""
    return [Receipt.of(item) for item in await take_in(session, items, policy=policy, now=now)]
