"""Opening a case: the one place a `Case` is built, whatever brought it.

A message from a channel, a letter or call registered by staff, a message split off into a case of
its own, a check-in answer that asks to be called back: each describes what it knows in an
`Opening`, and the rules every case follows are applied here once. The reference is the next of
the year the matter arrived, the due date counts the unit's response time in working days from
that day (never a day already passed), the subject is bounded, and a personnummer in the subject
or text flags the case.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.cases.notifications import record_opened
from inbox.core.logs import event
from inbox.core.metrics import METRICS
from inbox.core.models import Case, CaseKind, CaseStatus, SubmitterRole
from inbox.core.personnummer import contains_personnummer
from inbox.core.references import reserve_references
from inbox.core.time import STOCKHOLM, add_working_days

MAX_SUBJECT = 500
# Many cases go into the table (Core), not through the model, whose bulk insert handles each row
# again and splits the batch wherever the columns that are None change from one row to the next.
_CASES: Table = Case.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class Opening:
    """What is known about a new case when it is opened; the rest starts empty."""

    channel: str
    subject: str
    text: str  # read for a personnummer, with the subject; stored on the case's message
    received_at: datetime  # when it arrived (the ledger's arrival), not when it was processed
    response_days: int
    contact_id: int | None = None
    unit_id: int | None = None
    kind: str = CaseKind.OTHER
    origin: str = "channel"  # channel, manual, checkin
    submitter_role: str = SubmitterRole.UNKNOWN
    language: str | None = None
    automated: bool = False
    callback: bool = False
    # What happened, when, where and what it led to, when the one registering knows (SOSFS 2011:9).
    event_what: str | None = None
    event_when: str | None = None
    event_where: str | None = None
    event_consequence: str | None = None
    # Reserved when the matter was written down, before its case (the web form's receipt).
    reference: str | None = None

    def due_on(self, *, now: datetime) -> date:
        """The answer promised by (see `due_date`)."""
        return due_date(self.received_at, self.response_days, now=now)

    def values(self, *, reference: str, now: datetime) -> dict[str, Any]:
        """The new case's columns."""
        return {
            "reference": reference,
            "kind": self.kind,
            "status": CaseStatus.NEW,
            "channel": self.channel,
            "origin": self.origin,
            "contact_id": self.contact_id,
            "submitter_role": self.submitter_role,
            "unit_id": self.unit_id,
            "language": self.language,
            "subject": self.subject[:MAX_SUBJECT],
            "received_at": self.received_at,
            "due_on": self.due_on(now=now),
            "flag_automated": self.automated,
            "flag_callback": self.callback,
            # Someone asked to be called back after a decision: high priority, flagged in the list.
            "priority": "high" if self.callback else "normal",
            "flag_personnummer": contains_personnummer(f"{self.subject}\n{self.text}"),
            "event_what": self.event_what,
            "event_when": self.event_when,
            "event_where": self.event_where,
            "event_consequence": self.event_consequence,
            "updated_at": now,
        }


def due_date(received_at: datetime, response_days: int, *, now: datetime) -> date:
    """The response time in working days, counted from the day the matter arrived; but a case
    registered so late that this day has passed (a letter written down weeks after it came) gets
    the response time from the day it is registered, so that no one is promised a passed date."""
    due = add_working_days(received_at.astimezone(STOCKHOLM).date(), response_days)
    today = now.astimezone(STOCKHOLM).date()
    if due < today:
        due = add_working_days(today, response_days)
    return due


async def open_case(session: AsyncSession, opening: Opening, *, prefix: str, now: datetime) -> Case:
    """Opens one case in the caller's transaction; it has its id when this returns."""
    (reference,) = (
        [opening.reference]
        if opening.reference
        else await reserve_references(session, prefix=prefix, now=opening.received_at, count=1)
    )
    case = Case(**opening.values(reference=reference, now=now))
    session.add(case)
    await session.flush()
    assert case.id is not None  # flushed
    _opened([opening], [(case.id, reference)])
    await _notify(session, [opening], [case.id], now=now)
    return case


async def open_cases(
    session: AsyncSession, openings: Sequence[Opening], *, prefix: str, now: datetime
) -> list[tuple[int, str]]:
    """Opens many cases with one counter update per year of arrival (one, but at New Year) and
    one insert (batch intake): their ids and references, in the order of `openings`."""
    if not openings:
        return []
    by_year: dict[int, list[int]] = {}
    for index, opening in enumerate(openings):
        if opening.reference is None:  # else reserved when it was written (the web form)
            by_year.setdefault(opening.received_at.astimezone(STOCKHOLM).year, []).append(index)
    references = [opening.reference or "" for opening in openings]
    for indexes in by_year.values():
        reserved = await reserve_references(
            session, prefix=prefix, now=openings[indexes[0]].received_at, count=len(indexes)
        )
        for index, reference in zip(indexes, reserved, strict=True):
            references[index] = reference
    rows = (
        await session.execute(
            insert(_CASES).returning(_CASES.c.id, _CASES.c.reference),
            [o.values(reference=r, now=now) for o, r in zip(openings, references, strict=True)],
        )
    ).all()
    by_reference: dict[str, int] = {row.reference: row.id for row in rows}
    opened = [(by_reference[r], r) for r in references]
    _opened(openings, opened)
    await _notify(session, openings, [case_id for case_id, _ in opened], now=now)
    return opened


async def _notify(
    session: AsyncSession, openings: Sequence[Opening], case_ids: Sequence[int], *, now: datetime
) -> None:
    """Staff who asked are told of each new case, but of none that machine mail opened."""
    await record_opened(
        session,
        [i for o, i in zip(openings, case_ids, strict=True) if not o.automated],
        now=now,
    )


def _opened(openings: Sequence[Opening], cases: Sequence[tuple[int, str]]) -> None:
    """Counts and logs the cases just opened: ids and references, nothing of what they say."""
    for opening, (case_id, reference) in zip(openings, cases, strict=True):
        METRICS.cases_opened.labels(opening.channel, opening.origin, opening.kind).inc()
        event(__name__, "case_opened", case_id=case_id, reference=reference)
