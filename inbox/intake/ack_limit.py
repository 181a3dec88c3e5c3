"""The per-sender acknowledgement limit: who counts as one sender, and what they already got.

One mailbox has many spellings (`Anna+x@Example.se`, `anna+y@example.se`, `ANNA@example.se`),
so the limit counts by `sender_key`, and it counts every acknowledgement queued in the last 24
hours to any spelling, whether a mail or a registrar opened the case. Otherwise a stream of
messages with fresh `+tags` aims as many acknowledgements at one person's mailbox.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from inbox.cases.contacts import normalise_address
from inbox.core.inbound import Channel
from inbox.core.models import OutboxItem
from inbox.intake.acknowledgement import ACK_KIND

WINDOW = timedelta(hours=24)


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
    session: AsyncSession, *, channel: str, keys: Collection[str], now: datetime
) -> Counter[str]:
    """Acknowledgements queued in the last 24 hours to each sender key of `channel`."""
    keys = set(keys)
    if not keys:
        return Counter()
    recipients = await session.execute(
        select(col(OutboxItem.recipient)).where(
            col(OutboxItem.kind) == ACK_KIND,
            col(OutboxItem.channel) == channel,
            col(OutboxItem.created_at) > now - WINDOW,
            or_(*(_spellings(channel, key) for key in sorted(keys))),
        )
    )
    # SQL narrows the rows down; `sender_key` alone decides, so the two can never disagree.
    found = (sender_key(channel, recipient) for recipient in recipients.scalars())
    return Counter(key for key in found if key in keys)


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
