"""Decisions (beslut) registered for a check-in: validated, stored with their check-in, withdrawn.

The API, the CSV import and the staff form share `check_input` and `register_decision`.
The reference is the case-management system's id and nothing else: it must look like one (letters,
digits and `-_./:`, with a digit) and is refused when it contains a personnummer, written in any
way (`85-01-01-1236`, `850101 1236`, `19850101-1236`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from inbox.cases.access import NotFound, Scope
from inbox.cases.contacts import find_or_create_contact, normalise_address
from inbox.checkins.plan import CheckinPolicy, cancel_pending, schedule_checkin
from inbox.checkins.texts import languages
from inbox.core.addresses import is_mail_address
from inbox.core.inbound import Channel
from inbox.core.models import CheckIn, Decision, DecisionStatus, Unit
from inbox.core.personnummer import contains_personnummer
from inbox.core.time import STOCKHOLM

FIELDS = ("unit", "channel", "address", "language", "decided_on", "reference")
_REFERENCE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/:-]{1,63}$")
_CHAT_ID = re.compile(r"^[1-9]\d{0,19}$")  # a private chat: a positive id


class DecisionError(ValueError):
    """Input that cannot be registered, with a message saying why (in English, for integrators)."""


class DuplicateDecision(DecisionError):
    """The unit already has a decision with this reference."""


@dataclass(frozen=True, slots=True)
class DecisionInput:
    unit: str
    channel: str
    address: str
    language: str
    decided_on: date
    reference: str


def check_input(raw: Mapping[str, object], *, now: datetime) -> DecisionInput:
    """The cleaned input, or DecisionError naming the first problem."""
    values = {name: str(raw.get(name) or "").strip() for name in FIELDS}
    missing = [name for name in FIELDS if not values[name]]
    if missing:
        raise DecisionError(f"missing {', '.join(missing)}")
    channel = values["channel"].lower()
    if channel not in (Channel.EMAIL, Channel.TELEGRAM):
        raise DecisionError(f"channel must be email or telegram, not {values['channel']!r}")
    address = values["address"]
    if channel == Channel.EMAIL and not is_mail_address(address):
        raise DecisionError("address is not an email address")
    if channel == Channel.TELEGRAM and not _CHAT_ID.match(address):
        raise DecisionError("address must be a Telegram chat id (a positive number)")
    language = values["language"].lower()
    if language not in languages():
        raise DecisionError(f"language must be one of {', '.join(languages())}")
    try:
        decided_on = date.fromisoformat(values["decided_on"])
    except ValueError as exc:
        raise DecisionError("decided_on must be a date, YYYY-MM-DD") from exc
    if decided_on > now.astimezone(STOCKHOLM).date():
        raise DecisionError("decided_on is in the future")
    reference = values["reference"]
    # In an id every other character is a separator (`VUX_850101:1236`): the detector also sees
    # the reference with each run of them as one space, a form it reads.
    spaced = re.sub(r"[^0-9A-Za-z]+", " ", reference)
    if contains_personnummer(reference) or contains_personnummer(spaced):
        raise DecisionError("reference contains a personnummer; use the case system's id only")
    if not _REFERENCE.match(reference) or not any(ch.isdigit() for ch in reference):
        raise DecisionError(
            "reference must be the case system's id: 2-64 letters, digits and -_./: with a digit"
        )
    return DecisionInput(
        unit=values["unit"].lower(),
        channel=channel,
        address=normalise_address(channel, address),
        language=language,
        decided_on=decided_on,
        reference=reference,
    )


def decisions_handler(decision: Decision) -> int | None:
    """The staff user who registered the decision, taken as its handläggare; None when a token or
    an import registered it (who handled the case is then not known here)."""
    kind, _, number = decision.registered_by.partition(":")
    return int(number) if kind == "user" and number.isascii() and number.isdigit() else None


async def units_by_code(session: AsyncSession) -> dict[str, Unit]:
    rows = await session.execute(select(Unit).where(col(Unit.active)))
    return {unit.code: unit for unit in rows.scalars()}


async def register_decision(
    session: AsyncSession,
    *,
    data: DecisionInput,
    scope: Scope,
    policy: CheckinPolicy,
    registered_by: str,
    now: datetime,
    units: Mapping[str, Unit] | None = None,
) -> tuple[Decision, CheckIn]:
    """Stores the decision and schedules its check-in; flushes, never commits.

    Only into a unit in `scope` (`Forbidden` otherwise), so the duplicate check below never
    speaks of another unit's decisions.
    """
    unit = (units if units is not None else await units_by_code(session)).get(data.unit)
    if unit is None:
        raise DecisionError(f"unknown unit {data.unit!r}")
    scope.require_unit(unit.id)
    existing = (
        await session.execute(
            select(col(Decision.id)).where(
                col(Decision.unit_id) == unit.id, col(Decision.reference) == data.reference
            )
        )
    ).first()
    if existing is not None:
        raise DuplicateDecision(
            f"{data.unit} already has decision {data.reference} (id {existing[0]})"
        )
    contact, _ = await find_or_create_contact(
        session, channel=data.channel, address=data.address, language=data.language, now=now
    )
    assert unit.id is not None and contact.id is not None
    decision = Decision(
        unit_id=unit.id,
        contact_id=contact.id,
        channel=data.channel,
        language=data.language,
        decided_on=data.decided_on,
        reference=data.reference,
        registered_at=now,
        registered_by=registered_by,
    )
    session.add(decision)
    await session.flush()
    checkin = await schedule_checkin(
        session, decision=decision, unit=unit, contact=contact, policy=policy, now=now
    )
    return decision, checkin


async def find_decision(session: AsyncSession, *, scope: Scope, decision_id: int) -> Decision:
    """The decision, or `NotFound` when missing or in a unit outside `scope`."""
    decision = (
        await session.execute(
            select(Decision).where(
                col(Decision.id) == decision_id, scope.condition(col(Decision.unit_id))
            )
        )
    ).scalar_one_or_none()
    if decision is None:
        raise NotFound("no such decision")
    return decision


async def withdraw_decision(session: AsyncSession, *, decision: Decision, now: datetime) -> int:
    """Withdraws the decision and cancels its check-in; returns how many sends were cancelled."""
    if decision.status == DecisionStatus.WITHDRAWN:
        return 0
    decision.status = DecisionStatus.WITHDRAWN
    decision.withdrawn_at = now
    checkin = (
        await session.execute(select(CheckIn).where(col(CheckIn.decision_id) == decision.id))
    ).scalar_one_or_none()
    cancelled = 0
    if checkin is not None:
        if checkin.status == "scheduled":
            checkin.status = "cancelled"
            checkin.skip_reason = "decision withdrawn"
        cancelled = await cancel_pending(
            session,
            ids=[checkin.ask_outbox_id, checkin.reminder_outbox_id],
            reason="decision withdrawn",
            now=now,
        )
    await session.flush()
    return cancelled
