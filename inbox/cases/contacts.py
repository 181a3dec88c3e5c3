"""Contacts: one per channel and address, found or created at intake.

Email addresses are compared case-insensitively (`Support@X` and `support@x` are one person's
mailbox in practice), so they are stored lower-cased.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from inbox.core.db import insert_ignoring_conflicts
from inbox.core.inbound import Channel
from inbox.core.models import Contact


def normalise_address(channel: str, address: str) -> str:
    address = address.strip()
    return address.lower() if channel == Channel.EMAIL else address


def contact_row(
    *,
    channel: str,
    address: str,
    now: datetime,
    display_name: str | None = None,
    language: str | None = None,
) -> dict[str, Any]:
    """The values of a new contact: `find_or_create_contact` adds one, batch intake and the
    decision import insert many at once."""
    return {
        "channel": channel,
        "address": normalise_address(channel, address),
        "display_name": display_name,
        "language": language,
        "opted_out": False,
        "blocked": False,
        "unreachable_at": None,
        "unreachable_reason": None,
        "created_at": now,
    }


async def find_contact(session: AsyncSession, *, channel: str, address: str) -> Contact | None:
    address = normalise_address(channel, address)
    return (
        await session.execute(
            select(Contact).where(col(Contact.channel) == channel, col(Contact.address) == address)
        )
    ).scalar_one_or_none()


async def find_or_create_contact(
    session: AsyncSession,
    *,
    channel: str,
    address: str,
    now: datetime,
    display_name: str | None = None,
    language: str | None = None,
) -> tuple[Contact, bool]:
    """The contact, and whether it was created just now (then it has no history to look up)."""
    address = normalise_address(channel, address)
    contact = await find_contact(session, channel=channel, address=address)
    created = False
    if contact is None:
        inserted = await session.execute(
            insert_ignoring_conflicts(session, Contact)
            .values(
                **contact_row(
                    channel=channel,
                    address=address,
                    now=now,
                    display_name=display_name,
                    language=language,
                )
            )
            .returning(Contact)
        )
        contact = inserted.scalar_one_or_none()
        created = contact is not None
        if contact is None:  # a concurrent intake created the same contact a moment ago
            contact = await find_contact(session, channel=channel, address=address)
    assert contact is not None
    if display_name and not contact.display_name:
        contact.display_name = display_name
    if language and not contact.language:
        contact.language = language
    return contact, created
