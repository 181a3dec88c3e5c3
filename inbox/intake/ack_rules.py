"""Never answer a machine: why a new case's sender gets no acknowledgement, for intake and for
cases registered by staff alike.

No acknowledgement goes to a message without a sender, to machine mail, to our own addresses, to a
blocked contact, or to a sender who got `acks_per_sender_per_day` in the last 24 hours. One mailbox
has many spellings (`Anna+x@Example.se`, `anna+y@example.se`, `ANNA@example.se`), so the limit
counts by `sender_key`, and it counts every acknowledgement queued in the last 24 hours to any
spelling, whether a mail or a registrar opened the case. Otherwise a stream of messages with fresh
`+tags` aims as many acknowledgements at one person's mailbox.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from inbox.cases.contacts import normalise_address
from inbox.core.inbound import Channel, InboundMessage
from inbox.core.models import Contact, OutboxItem
from inbox.intake.acknowledgement import ACK_KIND
from inbox.intake.policy import IntakePolicy

WINDOW = timedelta(hours=24)


async def no_ack_reasons(
    session: AsyncSession,
    senders: Sequence[tuple[InboundMessage, Contact | None]],
    *,
    policy: IntakePolicy,
    now: datetime,
) -> list[str | None]:
    """Why each message that opened a case gets no acknowledgement (None: it gets one), in order:
    each acknowledgement counts against the limit of the messages after it. One query per channel
    counts what the senders already got."""
    reasons = [_refusal(msg, contact, policy) for msg, contact in senders]
    keys = [
        (contact.channel, sender_key(contact.channel, contact.address))
        if contact is not None and reason is None
        else None
        for (_, contact), reason in zip(senders, reasons, strict=True)
    ]
    got = await recent_acks(session, {key for key in keys if key is not None}, now=now)
    for i, key in enumerate(keys):
        if key is None:
            continue
        if got[key] >= policy.acks_per_sender_per_day:
            reasons[i] = f"over {policy.acks_per_sender_per_day} acknowledgements in 24 hours"
        else:
            got[key] += 1
    return reasons


def _refusal(msg: InboundMessage, contact: Contact | None, policy: IntakePolicy) -> str | None:
    """Why `msg` gets no acknowledgement whatever the count; None when only the limit may refuse."""
    if contact is None:
        return "no sender address"
    if msg.automated:
        return f"machine mail ({msg.automation})"
    if own_address(contact.channel, contact.address, policy):
        return "our own address"
    if contact.blocked:
        return "contact blocked"
    return None


def own_address(channel: str, address: str, policy: IntakePolicy) -> bool:
    """Whether `address` is one of ours (any spelling of it): we never acknowledge ourselves."""
    if channel != Channel.EMAIL:
        return False
    ours = {sender_key(channel, own) for own in policy.own_addresses}
    return sender_key(channel, address) in ours


def sender_key(channel: str, address: str) -> str:
    """The address the limit counts: an e-mail address lower-cased, without a `+tag`."""
    address = normalise_address(channel, address)
    if channel != Channel.EMAIL:
        return address
    local, at, domain = address.rpartition("@")
    base = local.split("+", 1)[0]
    if not at or not base:  # no local part to speak of: the address stands for itself
        return address
    return f"{base}@{domain}"


async def recent_acks(
    session: AsyncSession, senders: Collection[tuple[str, str]], *, now: datetime
) -> Counter[tuple[str, str]]:
    """Acknowledgements queued in the last 24 hours to each (channel, sender key) of `senders`,
    in one query per channel."""
    found: Counter[tuple[str, str]] = Counter()
    for channel in sorted({channel for channel, _ in senders}):
        keys = {key for ch, key in senders if ch == channel}
        recipients = await session.execute(recent_acks_statement(channel, keys, now=now))
        # SQL narrows the rows down; `sender_key` alone decides, so the two can never disagree.
        for recipient in recipients.scalars():
            key = sender_key(channel, recipient)
            if key in keys:
                found[(channel, key)] += 1
    return found


def recent_acks_statement(channel: str, keys: Collection[str], *, now: datetime) -> Select[Any]:
    """The recipients of the last 24 hours' acknowledgements on `channel` that may be one of
    `keys`: read through `ix_outbox_kind_created` (kind, channel, creation time), so that each
    intake batch reads a day's acknowledgements, not the whole outbox."""
    return select(col(OutboxItem.recipient)).where(
        col(OutboxItem.kind) == ACK_KIND,
        col(OutboxItem.channel) == channel,
        col(OutboxItem.created_at) > now - WINDOW,
        or_(*(_spellings(channel, key) for key in sorted(keys))),
    )


def _spellings(channel: str, key: str) -> ColumnElement[bool]:
    """Recipients that may have `key` as their sender key (a superset; checked in Python)."""
    if channel != Channel.EMAIL:
        return col(OutboxItem.recipient) == key
    recipient = func.lower(col(OutboxItem.recipient))
    local, _, domain = key.rpartition("@")
    tagged = f"{_escape_like(local)}+%@{_escape_like(domain)}"
    return or_(recipient == key, recipient.like(tagged, escape="\\"))


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
