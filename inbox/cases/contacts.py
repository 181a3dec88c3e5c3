"""Contacts: one per channel and address, found or created at intake (many at once for a batch).

Email addresses are compared case-insensitively (`Support@X` and `support@x` are one person's
mailbox in practice), so they are stored lower-cased.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from inbox.core.db import insert_ignoring_conflicts
from inbox.core.inbound import Channel
from inbox.core.models import Contact
from inbox.core.personnummer import contains_personnummer

# A Swedish or international number as people write it: +46 70-123 45 67, 070 123 45 67,
# 08-123 456 78, 0046701234567. Eight to thirteen digits in all.
_PHONE = re.compile(r"(?<![\d+])(?:\+|00)?\d[\d \-()]{6,18}\d(?!\d)")


def find_phone(text: str) -> str | None:
    """The first phone number in `text`, as written, or None (a personnummer is never one)."""
    for match in _PHONE.finditer(text):
        written = match.group(0).strip()
        digits = re.sub(r"\D", "", written)
        national = written.startswith(("+", "00")) or digits.startswith("0")
        if national and 8 <= len(digits) <= 13 and not contains_personnummer(written):
            return written
    return None


def dial(number: str) -> str:
    """A number for a `tel:` link: digits, with a leading + kept."""
    return ("+" if number.startswith("+") else "") + re.sub(r"\D", "", number)


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


@dataclass(frozen=True, slots=True)
class Sender:
    """Who wrote, as a contact to find or create: a channel's address, and what they said of
    themselves (kept on the contact when it knows nothing better)."""

    channel: str
    address: str
    display_name: str | None = None
    language: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (str(self.channel), normalise_address(self.channel, self.address))


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
    sender = Sender(channel=channel, address=address, display_name=display_name, language=language)
    [found] = await find_or_create_contacts(session, [sender], now=now)
    return found


async def find_or_create_contacts(
    session: AsyncSession, senders: Sequence[Sender], *, now: datetime
) -> list[tuple[Contact, bool]]:
    """Each sender's contact, in order, and whether it was created just now for that sender: the
    known ones in one query, the others in one insert. A contact is created for the first sender
    that names it; later ones find it known, as they would one at a time."""
    keys = [sender.key for sender in senders]
    contacts = await _contacts(session, set(keys))
    firsts: dict[tuple[str, str], int] = {}  # the first sender of each unknown contact
    for i, key in enumerate(keys):
        if key not in contacts:
            firsts.setdefault(key, i)
    created: set[tuple[str, str]] = set()
    if firsts:
        inserted = await session.execute(
            insert_ignoring_conflicts(session, Contact).returning(Contact),
            [
                contact_row(
                    channel=channel,
                    address=address,
                    display_name=senders[i].display_name,
                    language=senders[i].language,
                    now=now,
                )
                for (channel, address), i in firsts.items()
            ],
        )
        for contact in inserted.scalars():
            contacts[(contact.channel, contact.address)] = contact
            created.add((contact.channel, contact.address))
        # A concurrent intake created one of these a moment ago: then it is known, not new.
        contacts |= await _contacts(session, firsts.keys() - created)
    found = []
    for i, (sender, key) in enumerate(zip(senders, keys, strict=True)):
        contact = contacts[key]
        if sender.display_name and not contact.display_name:
            contact.display_name = sender.display_name
        if sender.language and not contact.language:
            contact.language = sender.language
        found.append((contact, key in created and firsts[key] == i))
    return found


async def _contacts(
    session: AsyncSession, keys: Collection[tuple[str, str]]
) -> dict[tuple[str, str], Contact]:
    if not keys:
        return {}
    rows = await session.execute(
        select(Contact).where(tuple_(col(Contact.channel), col(Contact.address)).in_(sorted(keys)))
    )
    return {(contact.channel, contact.address): contact for contact in rows.scalars()}
