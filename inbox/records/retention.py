"""Gallring: removing what the nämnd's gallringsbeslut allows, and nothing else.

The organisation writes its rules in a TOML file (`SYNPUNKT_RETENTION_FILE`), one table per record
class with how long it is kept and the decision that allows removing it:

    [closed_cases]
    keep = "10 years"                         # after closing
    decision = "Socialnämnden 2025-04-12 § 45, informationshanteringsplan 4.2"

No period is built in: a class without a rule is kept. The classes (`RecordClass`):

- `closed_cases`: a closed case (not machine mail) and everything of it — messages, attachments,
  the raw mail of its intake rows, its outbox rows, consents, requests for documents and rights
  requests, and its contacts once nothing else refers to them — `keep` after it was closed. Its
  tasks and the check-ins that opened it lose the link and stay (they carry no personal data and
  keep the statistics of what was done), and the reports keep its anonymised statistical row
  (`inbox.reports.facts.record_removed`). What is left is a tombstone: the reference, when, the
  class and the decision, so every link to the case answers 410 "Gallrad enligt beslut …".
- `machine_mail`: a case opened by machine mail (auto-replies, bounces), `keep` after it came in,
  removed the same way.
- `checkin_answers`: a check-in, its answers and its decision, `keep` after the check-in closed.
- `failed_intake`: an intake row that could not be read, `keep` after it came in.
- `intake_raw`: the raw mail of a processed intake row, `keep` after it was processed (the row
  stays, so a redelivery is still recognised; the case keeps its parsed messages).
- `audit_events`: audit events older than `keep`.

A case under legal hold (`inbox.records.hold`) is kept whatever its class says, and so are its
raw mail and its audit events. `apply()` works in batches, each one transaction that records what
it removed in the audit trail (class, decision, count, references, who), so it can be stopped at
any moment and run again: each batch selects what is still due.
"""

from __future__ import annotations

import calendar
import re
import tomllib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import delete, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from inbox.core.audit import Actor, audit
from inbox.core.db import unit_of_work
from inbox.core.models import (
    Attachment,
    AuditDeletionPermit,
    AuditEvent,
    Case,
    CaseStatus,
    CaseTombstone,
    CheckIn,
    Consent,
    Contact,
    Decision,
    DocumentRequest,
    IntakeRecord,
    IntakeStatus,
    Message,
    OutboxItem,
    RightsRequest,
    Task,
)
from inbox.reports.facts import record_removed

DEFAULT_BATCH = 200
MAX_DECISION = 1000


class RecordClass(StrEnum):
    CLOSED_CASES = "closed_cases"
    MACHINE_MAIL = "machine_mail"
    CHECKIN_ANSWERS = "checkin_answers"
    FAILED_INTAKE = "failed_intake"
    INTAKE_RAW = "intake_raw"
    AUDIT_EVENTS = "audit_events"


class RulesError(ValueError):
    """A retention rules file that cannot be used; one line that says where and why."""


_UNITS = {
    "day": "days",
    "days": "days",
    "dag": "days",
    "dagar": "days",
    "month": "months",
    "months": "months",
    "månad": "months",
    "månader": "months",
    "year": "years",
    "years": "years",
    "år": "years",
}
_PERIOD = re.compile(r"\s*(\d{1,4})\s*([^\d\s]+)\s*")


@dataclass(frozen=True, slots=True)
class Period:
    count: int
    unit: str  # days, months, years

    @classmethod
    def parse(cls, text: str) -> Period:
        found = _PERIOD.fullmatch(text)
        unit = _UNITS.get(found.group(2).lower()) if found else None
        if found is None or unit is None or int(found.group(1)) < 1:
            raise RulesError(f"{text!r} is not a period such as '30 days', '6 months', '10 years'")
        return cls(int(found.group(1)), unit)

    def before(self, now: datetime) -> datetime:
        """`now` less the period (a month from the 31st lands on the month's last day)."""
        if self.unit == "days":
            return now - timedelta(days=self.count)
        months = self.count * (12 if self.unit == "years" else 1)
        year, month = divmod(now.year * 12 + now.month - 1 - months, 12)
        day = min(now.day, calendar.monthrange(year, month + 1)[1])
        return now.replace(year=year, month=month + 1, day=day)

    def __str__(self) -> str:
        return f"{self.count} {self.unit}"


@dataclass(frozen=True, slots=True)
class Rule:
    record_class: RecordClass
    keep: Period
    decision: str  # the gallringsbeslut, as the organisation cites it


Rules = Mapping[RecordClass, Rule]


def parse_rules(text: str) -> dict[RecordClass, Rule]:
    """The rules of a TOML text; `RulesError` for anything unknown, missing or malformed."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RulesError(f"not TOML: {exc}") from None
    rules = {}
    for name, table in data.items():
        try:
            which = RecordClass(name)
        except ValueError:
            known = ", ".join(c.value for c in RecordClass)
            raise RulesError(f"unknown record class [{name}] (known: {known})") from None
        if not isinstance(table, dict):
            raise RulesError(f"[{name}] must be a table with keep and decision")
        unknown = set(table) - {"keep", "decision"}
        if unknown:
            raise RulesError(f"[{name}] has unknown keys: {', '.join(sorted(unknown))}")
        keep, decision = table.get("keep"), table.get("decision")
        if not isinstance(keep, str):
            raise RulesError(f'[{name}] needs keep = "N days|months|years"')
        if not isinstance(decision, str) or not decision.strip():
            raise RulesError(f'[{name}] needs decision = "the gallringsbeslut it follows"')
        if len(decision) > MAX_DECISION:
            raise RulesError(f"[{name}] decision is longer than {MAX_DECISION} characters")
        try:
            period = Period.parse(keep)
        except RulesError as exc:
            raise RulesError(f"[{name}] keep: {exc}") from None
        rules[which] = Rule(which, period, " ".join(decision.split()))
    return rules


def load_rules(path: Path | None) -> dict[RecordClass, Rule]:
    """The rules in the file at `path`; none when no file is set."""
    if path is None:
        return {}
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RulesError(f"cannot read {path}: {exc}") from None
    return parse_rules(text)


# What each class selects ---------------------------------------------------------------------


def _not_held() -> Any:
    return col(Case.hold_reason).is_(None)


def _held_case_ids() -> Any:
    return select(col(Case.id)).where(col(Case.hold_reason).is_not(None))


def _due(rule: Rule, now: datetime) -> tuple[Any, Any]:
    """(the id column, the condition) of what `rule` makes due at `now`."""
    cutoff = rule.keep.before(now)
    match rule.record_class:
        case RecordClass.CLOSED_CASES:
            return col(Case.id), (
                (col(Case.status) == CaseStatus.CLOSED)
                & col(Case.closed_at).is_not(None)
                & (col(Case.closed_at) < cutoff)
                & col(Case.flag_automated).is_(False)
                & _not_held()
            )
        case RecordClass.MACHINE_MAIL:
            return col(Case.id), (
                col(Case.flag_automated).is_(True) & (col(Case.received_at) < cutoff) & _not_held()
            )
        case RecordClass.CHECKIN_ANSWERS:
            return col(CheckIn.id), col(CheckIn.closes_at) < cutoff
        case RecordClass.FAILED_INTAKE:
            return col(IntakeRecord.id), (
                (col(IntakeRecord.status) == IntakeStatus.FAILED)
                & (col(IntakeRecord.received_at) < cutoff)
            )
        case RecordClass.INTAKE_RAW:
            return col(IntakeRecord.id), (
                (col(IntakeRecord.status) == IntakeStatus.DONE)
                & col(IntakeRecord.raw).is_not(None)
                & col(IntakeRecord.processed_at).is_not(None)
                & (col(IntakeRecord.processed_at) < cutoff)
                & (
                    col(IntakeRecord.case_id).is_(None)
                    | col(IntakeRecord.case_id).not_in(_held_case_ids())
                )
            )
        case RecordClass.AUDIT_EVENTS:
            return col(AuditEvent.id), (
                (col(AuditEvent.at) < cutoff)
                & (
                    col(AuditEvent.case_id).is_(None)
                    | col(AuditEvent.case_id).not_in(_held_case_ids())
                )
            )


async def _count(session: AsyncSession, rule: Rule, now: datetime) -> int:
    column, condition = _due(rule, now)
    return int((await session.execute(select(func.count(column)).where(condition))).scalar_one())


async def plan(session: AsyncSession, rules: Rules, *, now: datetime) -> dict[RecordClass, int]:
    """How many of each class with a rule would go now."""
    return {which: await _count(session, rule, now) for which, rule in rules.items()}


# Removing ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Batch:
    record_class: RecordClass
    removed: int
    references: Sequence[str]


AfterBatch = Callable[[Batch], Awaitable[None]]


async def apply(
    sessions: async_sessionmaker[AsyncSession],
    rules: Rules,
    *,
    now: datetime,
    actor: Actor,
    batch: int = DEFAULT_BATCH,
    after_batch: AfterBatch | None = None,
) -> dict[RecordClass, int]:
    """Removes what `rules` make due at `now`, class by class, `batch` rows per transaction; how
    many of each class went. `after_batch` is called after each committed batch (progress; a test
    stops a run there). Audited per batch (`retention.removed`) and per run (`retention.applied`)."""
    if batch < 1:
        raise ValueError("a batch holds at least one row")
    removed: dict[RecordClass, int] = {}
    for which, rule in rules.items():
        removed[which] = 0
        while True:
            async with unit_of_work(sessions) as session:
                done = await _one_batch(session, rule, now=now, actor=actor, size=batch)
            if done.removed == 0:
                break
            removed[which] += done.removed
            if after_batch is not None:
                await after_batch(done)
    async with unit_of_work(sessions) as session:
        audit(
            session,
            actor=actor,
            action="retention.applied",
            case=None,
            now=now,
            rules={
                which.value: {"keep": str(rule.keep), "decision": rule.decision}
                for which, rule in rules.items()
            },
            removed={which.value: n for which, n in removed.items()},
        )
    return removed


async def _one_batch(
    session: AsyncSession, rule: Rule, *, now: datetime, actor: Actor, size: int
) -> Batch:
    column, condition = _due(rule, now)
    ids = list(
        (await session.execute(select(column).where(condition).order_by(column).limit(size)))
        .scalars()
        .all()
    )
    if not ids:
        return Batch(rule.record_class, 0, ())
    references: Sequence[str] = ()
    match rule.record_class:
        case RecordClass.CLOSED_CASES | RecordClass.MACHINE_MAIL:
            references = await remove_cases(session, ids, rule=rule, now=now)
        case RecordClass.CHECKIN_ANSWERS:
            await _remove_checkins(session, ids)
        case RecordClass.FAILED_INTAKE:
            await session.execute(delete(IntakeRecord).where(col(IntakeRecord.id).in_(ids)))
        case RecordClass.INTAKE_RAW:
            await session.execute(
                update(IntakeRecord).where(col(IntakeRecord.id).in_(ids)).values(raw=None)
            )
        case RecordClass.AUDIT_EVENTS:
            await _remove_events(session, ids, rule=rule, now=now)
    audit(
        session,
        actor=actor,
        action="retention.removed",
        case=None,
        now=now,
        record_class=rule.record_class.value,
        keep=str(rule.keep),
        decision=rule.decision,
        count=len(ids),
        references=list(references),
    )
    return Batch(rule.record_class, len(ids), references)


async def keep_statistics(session: AsyncSession, case_id: int) -> None:
    """The anonymised statistical row of a case about to be removed (year, kind, unit, role,
    channel, topics, outcome, response time, measures by type), so that reports over past years
    stay right after gallring: the reports' own `record_removed` writes it (nothing for a case a
    report does not count)."""
    await record_removed(session, case_id)


async def remove_cases(
    session: AsyncSession, ids: Sequence[int], *, rule: Rule, now: datetime
) -> list[str]:
    """Removes the cases `ids` with everything of theirs, leaving a tombstone each; their
    references."""
    cases = list(
        (await session.execute(select(Case).where(col(Case.id).in_(ids)).order_by(col(Case.id))))
        .scalars()
        .all()
    )
    for case in cases:
        assert case.id is not None
        await keep_statistics(session, case.id)
        session.add(
            CaseTombstone(
                reference=case.reference,
                case_id=case.id,
                removed_at=now,
                rule=rule.record_class.value,
                decision=rule.decision,
            )
        )
    contact_ids = {c.contact_id for c in cases if c.contact_id is not None}
    messages = select(col(Message.id)).where(col(Message.case_id).in_(ids))
    for statement in (
        update(Case).where(col(Case.merged_into_id).in_(ids)).values(merged_into_id=None),
        update(Task).where(col(Task.case_id).in_(ids)).values(case_id=None),
        update(CheckIn).where(col(CheckIn.case_id).in_(ids)).values(case_id=None),
        update(IntakeRecord)
        .where(col(IntakeRecord.case_id).in_(ids))
        .values(raw=None, envelope_sender=None),
        delete(OutboxItem).where(col(OutboxItem.case_id).in_(ids)),
        delete(Attachment).where(col(Attachment.message_id).in_(messages)),
        delete(Message).where(col(Message.case_id).in_(ids)),
        delete(Consent).where(col(Consent.case_id).in_(ids)),
        delete(DocumentRequest).where(col(DocumentRequest.case_id).in_(ids)),
        delete(RightsRequest).where(col(RightsRequest.case_id).in_(ids)),
        delete(Case).where(col(Case.id).in_(ids)),
    ):
        await session.execute(statement, execution_options={"synchronize_session": False})
    await _remove_unused_contacts(session, contact_ids)
    return [case.reference for case in cases]


async def _remove_checkins(session: AsyncSession, ids: Sequence[int]) -> None:
    rows = (
        await session.execute(
            select(
                col(CheckIn.decision_id),
                col(CheckIn.contact_id),
                col(CheckIn.ask_outbox_id),
                col(CheckIn.reminder_outbox_id),
            ).where(col(CheckIn.id).in_(ids))
        )
    ).all()
    decisions = {row[0] for row in rows}
    outbox = {o for row in rows for o in (row[2], row[3]) if o is not None}
    contacts = {row[1] for row in rows} | set(
        (
            await session.execute(
                select(col(Decision.contact_id)).where(col(Decision.id).in_(decisions))
            )
        ).scalars()
    )
    await session.execute(delete(OutboxItem).where(col(OutboxItem.id).in_(outbox)))
    await session.execute(delete(CheckIn).where(col(CheckIn.id).in_(ids)))
    await session.execute(delete(Decision).where(col(Decision.id).in_(decisions)))
    await _remove_unused_contacts(session, contacts)


async def _remove_events(
    session: AsyncSession, ids: Sequence[int], *, rule: Rule, now: datetime
) -> None:
    """Deletes audit events under a permit that exists only inside this transaction: the
    database refuses every other DELETE on the trail (`AuditDeletionPermit`)."""
    permit = AuditDeletionPermit(granted_at=now, decision=rule.decision)
    session.add(permit)
    await session.flush()
    await session.execute(delete(AuditEvent).where(col(AuditEvent.id).in_(ids)))
    await session.delete(permit)
    await session.flush()


async def _remove_unused_contacts(session: AsyncSession, ids: set[int]) -> None:
    """Removes the contacts among `ids` that no case, decision or check-in refers to any more."""
    if not ids:
        return
    await session.execute(
        delete(Contact).where(
            col(Contact.id).in_(ids),
            ~exists().where(col(Case.contact_id) == Contact.id),
            ~exists().where(col(Decision.contact_id) == Contact.id),
            ~exists().where(col(CheckIn.contact_id) == Contact.id),
        )
    )
