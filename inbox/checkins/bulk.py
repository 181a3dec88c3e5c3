"""Registering many checked decisions at once (the CSV import): contacts resolved in bulk, and the
decisions, check-ins and outbox rows written in a few multi-row statements per chunk.

The same rows as `register_decision` one by one would write, in the caller's transaction (flushes,
never commits), so an import is still all or nothing; about ten round trips per chunk, not per row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, insert, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.cases.contacts import contact_row
from inbox.checkins.decisions import DecisionInput
from inbox.checkins.plan import (
    ASK_KIND,
    REMINDER_KIND,
    CheckinPolicy,
    build_checkin,
    checkin_payload,
)
from inbox.core.db import insert_ignoring_conflicts
from inbox.core.models import CheckIn, Contact, Decision, OutboxItem, Unit
from inbox.core.outbox import outbox_row

CHUNK = 2000
_DECISIONS: Table = Decision.__table__  # type: ignore[attr-defined]
_CHECKINS: Table = CheckIn.__table__  # type: ignore[attr-defined]
_OUTBOX: Table = OutboxItem.__table__  # type: ignore[attr-defined]
_CONTACTS: Table = Contact.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class _Contact:
    id: int
    opted_out: bool


async def _contacts(
    session: AsyncSession, items: Sequence[DecisionInput], *, now: datetime
) -> dict[tuple[str, str], _Contact]:
    """Every (channel, address) of the chunk as a contact, creating the missing ones."""
    wanted = {(d.channel, d.address): d.language for d in items}

    async def found() -> dict[tuple[str, str], _Contact]:
        rows = await session.execute(
            select(
                _CONTACTS.c.channel, _CONTACTS.c.address, _CONTACTS.c.id, _CONTACTS.c.opted_out
            ).where(tuple_(_CONTACTS.c.channel, _CONTACTS.c.address).in_(list(wanted)))
        )
        return {(ch, ad): _Contact(i, bool(o)) for ch, ad, i, o in rows.all()}

    known = await found()
    missing = [
        contact_row(channel=channel, address=address, language=language, now=now)
        for (channel, address), language in wanted.items()
        if (channel, address) not in known
    ]
    if missing:
        await session.execute(insert_ignoring_conflicts(session, Contact), missing)
        known = await found()  # includes any a concurrent intake created meanwhile
    return known


async def register_many(
    session: AsyncSession,
    *,
    items: Sequence[DecisionInput],
    units: Mapping[str, Unit],
    policy: CheckinPolicy,
    registered_by: str,
    now: datetime,
) -> list[CheckIn]:
    """Stores the decisions and schedules their check-ins; returns the check-ins, in order."""
    checkins: list[CheckIn] = []
    for start in range(0, len(items), CHUNK):
        checkins += await _chunk(
            session,
            items[start : start + CHUNK],
            units=units,
            policy=policy,
            registered_by=registered_by,
            now=now,
        )
    return checkins


async def _chunk(
    session: AsyncSession,
    items: Sequence[DecisionInput],
    *,
    units: Mapping[str, Unit],
    policy: CheckinPolicy,
    registered_by: str,
    now: datetime,
) -> list[CheckIn]:
    contacts = await _contacts(session, items, now=now)
    decisions = [
        Decision(
            unit_id=units[d.unit].id,  # type: ignore[arg-type]
            contact_id=contacts[(d.channel, d.address)].id,
            channel=d.channel,
            language=d.language,
            decided_on=d.decided_on,
            reference=d.reference,
            status="registered",
            registered_at=now,
            registered_by=registered_by,
        )
        for d in items
    ]
    ids = await _insert(session, _DECISIONS, [_row(x, _DECISIONS) for x in decisions])
    checkins = []
    for decision, decision_id, data in zip(decisions, ids, items, strict=True):
        decision.id = decision_id
        contact = contacts[(data.channel, data.address)]
        checkins.append(
            build_checkin(
                decision=decision,
                unit=units[data.unit],
                contact_id=contact.id,
                opted_out=contact.opted_out,
                policy=policy,
                now=now,
            )
        )
    ids = await _insert(session, _CHECKINS, [_row(c, _CHECKINS) for c in checkins])
    rows: list[dict[str, Any]] = []
    owners: list[tuple[CheckIn, bool, str | None]] = []
    for checkin, checkin_id, data in zip(checkins, ids, items, strict=True):
        checkin.id = checkin_id
        if checkin.status != "scheduled" or checkin.ask_at is None:
            continue
        for reminder, run_at in ((False, checkin.ask_at), (True, checkin.reminder_at)):
            if run_at is None:
                continue
            kind = REMINDER_KIND if reminder else ASK_KIND
            payload, rfc_id = checkin_payload(
                checkin=checkin,
                contact_id=checkin.contact_id,
                address=data.address,
                policy=policy,
                reminder=reminder,
            )
            rows.append(
                outbox_row(
                    kind=kind,
                    channel=checkin.channel,
                    recipient=data.address,
                    payload=payload,
                    idempotency_key=f"{kind}:{checkin_id}",
                    run_at=run_at,
                    now=now,
                )
            )
            owners.append((checkin, reminder, rfc_id.strip("<>") if rfc_id else None))
    outbox_ids = await _insert(session, _OUTBOX, rows)
    links: dict[int, dict[str, Any]] = {}
    for (checkin, reminder, rfc_id), outbox_id in zip(owners, outbox_ids, strict=True):
        assert checkin.id is not None
        prefix = "reminder" if reminder else "ask"
        setattr(checkin, f"{prefix}_outbox_id", outbox_id)
        setattr(checkin, f"{prefix}_rfc_id", rfc_id)
        links.setdefault(checkin.id, {"cid": checkin.id}).update(
            {f"{prefix}_outbox_id": outbox_id, f"{prefix}_rfc_id": rfc_id}
        )
    if links:
        params = [
            {
                "cid": v["cid"],
                "a": v.get("ask_outbox_id"),
                "ar": v.get("ask_rfc_id"),
                "r": v.get("reminder_outbox_id"),
                "rr": v.get("reminder_rfc_id"),
            }
            for v in links.values()
        ]
        await session.execute(
            update(_CHECKINS)
            .where(_CHECKINS.c.id == bindparam("cid"))
            .values(
                ask_outbox_id=bindparam("a"),
                ask_rfc_id=bindparam("ar"),
                reminder_outbox_id=bindparam("r"),
                reminder_rfc_id=bindparam("rr"),
            ),
            params,
        )
    return checkins


def _row(obj: Any, table: Table) -> dict[str, Any]:
    return {c.name: getattr(obj, c.name) for c in table.columns if c.name != "id"}


async def _insert(session: AsyncSession, table: Table, rows: list[dict[str, Any]]) -> list[int]:
    """Multi-row INSERT … RETURNING id, the ids in the order of `rows`."""
    if not rows:
        return []
    result = await session.execute(
        insert(table).returning(table.c.id, sort_by_parameter_order=True), rows
    )
    return [row[0] for row in result.all()]
