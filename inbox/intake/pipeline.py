"""Intake as named steps in a declared order, over a batch (GNU Mailman's handlers are the model):
`receive()` runs them on a batch of one, `receive_many()` on the worker's batch, so the rows a
message becomes are written in one place whichever way it came in.

`BATCH_STEPS` take the whole batch: each message's ledger row, the bounces about messages of ours
(which join those messages' cases, see `bounces`), then the contacts. `RUN_STEPS` take
it in runs of messages that cannot affect one another, in order, and write each run with a few
multi-row statements. Messages from contacts created for them just now, and messages without a
sender, share a run: they have no case to continue, no check-in to answer, and no acknowledgements
to count but their run's. A message from a contact known before it is a run of its own, as if it
came alone: it may continue a case that a message before it opened or reopened, and a claim may
take it and write (open a case, say) after everything before it. Steps flush, never commit.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from inbox.core.inbound import InboundMessage
from inbox.core.models import IntakeRecord
from inbox.intake.appeals import recognise_appeals
from inbox.intake.bounces import match_reports
from inbox.intake.policy import IntakePolicy
from inbox.intake.steps import (
    Item,
    Step,
    acknowledge,
    audit_messages,
    claim,
    continue_by_reference,
    dedupe,
    find_contacts,
    mark_ledger,
    open_new_cases,
    refuse_acks,
    store_messages,
    thread,
)

BATCH_STEPS: tuple[Step, ...] = (dedupe, match_reports, find_contacts)
RUN_STEPS: tuple[Step, ...] = (
    claim,
    thread,
    continue_by_reference,
    open_new_cases,
    store_messages,
    audit_messages,
    recognise_appeals,
    mark_ledger,
    refuse_acks,
    acknowledge,
)


async def take_in(
    session: AsyncSession,
    messages: Sequence[tuple[InboundMessage, IntakeRecord | None]],
    *,
    policy: IntakePolicy,
    now: datetime,
) -> list[Item]:
    """Runs the steps over `messages`, in order; what became of each, in the same order."""
    items = [Item(msg=msg.normalised(), record=record) for msg, record in messages]
    for step in BATCH_STEPS:
        await step(session, items, policy=policy, now=now)
    for run in runs(items):
        for step in RUN_STEPS:
            await step(session, run, policy=policy, now=now)
    await session.flush()
    return items


def runs(items: Sequence[Item]) -> Iterator[list[Item]]:
    """The messages still going, in order, as runs that cannot affect one another (see above)."""
    run: list[Item] = []
    for item in items:
        if item.duplicate:
            continue
        if item.contact is None or item.new_contact:
            run.append(item)
            continue
        if run:
            yield run
            run = []
        yield [item]
    if run:
        yield run
