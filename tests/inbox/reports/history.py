"""A known history for the report tests: cases over three years in two units, with kinds, roles,
channels, answers, outcomes, flags, topics, measures, a lex Sarah assessment, an example, one case
removed by retention, and check-in answers. The figures it must give are written out in the tests.

2026 (the year reported), in Stockholm's time:
  c1  A complaint  client    email     15 Jan  answered after 1 day    remedied         treatment
  c2  A complaint  relative  email     10 Feb  answered after 30 days  partly-remedied  treatment,
      information; possible lex Sarah, assessed "not serious"; measure training planned
  c3  A praise     client    telegram   5 Mar  answered after 2 days   answered; the example
  c4  A complaint  via-ivo   ivo        1 Apr  answered after 3 days   deviation-reported; not
      executed; public measure changed-routine done
  c5  B suggestion citizen   phone     20 May  closed after 5 days, no answer; anonymous;
      accessibility; measure changed-routine ongoing — removed by retention (statistics only)
  c6  B complaint  relative  letter     1 Jun  never answered, still open (late)
  c7  B question   unknown   email      1 Jan 00:30 (31 Dec 23:30 UTC)  answered after 1 day
  c1 also has an apology, done, public. Not counted: a merged case and machine mail.
2025: A complaint ×2, B complaint, B question (all answered after 1 day). 2024: A complaint,
A praise.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlmodel import col

from inbox.cases.opening import Opening, open_case
from inbox.core.db import unit_of_work
from inbox.core.models import (
    Case,
    CaseReview,
    CaseTopic,
    CheckIn,
    Contact,
    Decision,
    Measure,
    OutboxItem,
    Topic,
    Unit,
)
from inbox.reports.facts import record_removed
from tests.conftest import Database

DAY = timedelta(days=1)
TODAY = date(2027, 1, 20)
EXAMPLE_SUMMARY = "En brukare berömde hemtjänstens bemötande under en svår period."
EXAMPLE_HANDLING = "Beröm vidarebefordrades till arbetsgruppen."
PUBLIC_APOLOGY = "Vi bad om ursäkt för ett sent svar och har ändrat hur post fördelas."
PUBLIC_ROUTINE = "Ny rutin för att rapportera beslut som inte verkställts."


@dataclass
class History:
    unit_a: int
    unit_b: int
    cases: dict[str, int]


def _at(year: int, month: int, day: int, hour: int = 10) -> datetime:
    return datetime(year, month, day, hour, 0, tzinfo=UTC)


SPECS: list[dict[str, Any]] = [
    # name, unit, kind, role, channel, received, answer after, close after, outcome
    {"name": "c1", "unit": "A", "kind": "complaint", "role": "client", "channel": "email",
     "at": _at(2026, 1, 15), "answer": DAY, "close": 2 * DAY, "outcome": "remedied",
     "topics": ["treatment"], "measures": [("apology", "done", PUBLIC_APOLOGY)]},
    {"name": "c2", "unit": "A", "kind": "complaint", "role": "relative", "channel": "email",
     "at": _at(2026, 2, 10), "answer": 30 * DAY, "close": 31 * DAY, "outcome": "partly-remedied",
     "topics": ["treatment", "information"], "measures": [("training", "planned", None)],
     "lex_sarah": True, "review": "not-serious"},
    {"name": "c3", "unit": "A", "kind": "praise", "role": "client", "channel": "telegram",
     "at": _at(2026, 3, 5), "answer": 2 * DAY, "close": 2 * DAY, "outcome": "answered",
     "example": True},
    {"name": "c4", "unit": "A", "kind": "complaint", "role": "via-ivo", "channel": "ivo",
     "at": _at(2026, 4, 1), "answer": 3 * DAY, "close": 4 * DAY, "outcome": "deviation-reported",
     "not_executed": True, "measures": [("changed-routine", "done", PUBLIC_ROUTINE)]},
    {"name": "c5", "unit": "B", "kind": "suggestion", "role": "citizen", "channel": "phone",
     "at": _at(2026, 5, 20), "close": 5 * DAY, "outcome": "anonymous",
     "topics": ["accessibility"], "measures": [("changed-routine", "ongoing", None)],
     "removed": True},
    {"name": "c6", "unit": "B", "kind": "complaint", "role": "relative", "channel": "letter",
     "at": _at(2026, 6, 1)},
    {"name": "c7", "unit": "B", "kind": "question", "role": "unknown", "channel": "email",
     "at": datetime(2025, 12, 31, 23, 30, tzinfo=UTC), "answer": DAY},
    {"name": "merged", "unit": "A", "kind": "complaint", "role": "client", "channel": "email",
     "at": _at(2026, 3, 1), "merged": True},
    {"name": "machine", "unit": "A", "kind": "other", "role": "unknown", "channel": "email",
     "at": _at(2026, 3, 2), "automated": True},
    {"name": "y25a", "unit": "A", "kind": "complaint", "role": "client", "channel": "email",
     "at": _at(2025, 2, 3), "answer": DAY},
    {"name": "y25b", "unit": "A", "kind": "complaint", "role": "client", "channel": "email",
     "at": _at(2025, 2, 4), "answer": DAY},
    {"name": "y25c", "unit": "B", "kind": "complaint", "role": "client", "channel": "email",
     "at": _at(2025, 6, 9), "answer": DAY},
    {"name": "y25d", "unit": "B", "kind": "question", "role": "client", "channel": "email",
     "at": _at(2025, 9, 9), "answer": DAY},
    {"name": "y24a", "unit": "A", "kind": "complaint", "role": "client", "channel": "email",
     "at": _at(2024, 1, 10), "answer": DAY},
    {"name": "y24b", "unit": "A", "kind": "praise", "role": "client", "channel": "email",
     "at": _at(2024, 8, 10), "answer": DAY},
]  # fmt: skip

# Check-ins planned in 2026: (unit, understood, knows appeal, rating, wants contact) when
# answered, None when asked and not answered.
CHECKINS: list[tuple[str, tuple[str, str, int, str] | None]] = [
    ("A", ("yes", "yes", 5, "no")),
    ("A", ("yes", "yes", 5, "no")),
    ("A", ("yes", "yes", 4, "no")),
    ("A", ("yes", "yes", 4, "yes")),
    ("A", ("partly", "yes", 3, "no")),
    ("A", ("no", "no", 1, "no")),
    ("A", None),
    ("B", ("yes", "yes", 5, "no")),
    ("B", ("yes", "yes", 2, "no")),
    ("B", None),
]


async def build_history(db: Database) -> History:
    async with unit_of_work(db.sessions) as session:
        units = {code: Unit(code=code, name=f"Enhet {code}", response_days=10) for code in "AB"}
        session.add_all(units.values())
        await session.flush()
        topics = {t.code: t.id for t in (await session.execute(select(Topic))).scalars()}
        ids: dict[str, int] = {}
        for spec in SPECS:
            ids[spec["name"]] = await _case(session, spec, units[spec["unit"]], topics, ids)
        await _checkins(session, units)
        removed = [ids[s["name"]] for s in SPECS if s.get("removed")]
        for case_id in removed:
            assert await record_removed(session, case_id) is not None
        await session.execute(delete(Case).where(col(Case.id).in_(removed)))
        assert units["A"].id is not None and units["B"].id is not None
        return History(units["A"].id, units["B"].id, ids)


async def _case(
    session: Any, spec: dict[str, Any], unit: Unit, topics: dict[str, int | None], ids: Any
) -> int:
    at = spec["at"]
    opening = Opening(
        channel=spec["channel"],
        subject="Synpunkt",
        text="",
        received_at=at,
        response_days=unit.response_days,
        unit_id=unit.id,
        kind=spec["kind"],
        submitter_role=spec["role"],
        automated=spec.get("automated", False),
    )
    case = await open_case(session, opening, prefix="SP", now=at)
    assert case.id is not None
    if "answer" in spec:
        case.first_response_at = at + spec["answer"]
        case.status = "open"
    if "close" in spec:
        case.closed_at = at + spec["close"]
        case.status = "closed"
    case.outcome = spec.get("outcome")
    case.flag_lex_sarah = spec.get("lex_sarah", False)
    case.flag_decision_not_executed = spec.get("not_executed", False)
    if spec.get("merged"):
        case.merged_into_id = ids["c1"]
        case.status = "closed"
    for code in spec.get("topics", []):
        session.add(CaseTopic(case_id=case.id, topic_id=topics[code]))
    for kind, status, public in spec.get("measures", []):
        session.add(
            Measure(
                case_id=case.id,
                type=kind,
                status=status,
                text="Intern beskrivning",
                dated_on=(at + 3 * DAY).date(),
                public=public is not None,
                public_summary=public,
                created_at=at,
                updated_at=at,
            )
        )
    if "review" in spec or spec.get("example"):
        session.add(
            CaseReview(
                case_id=case.id,
                lex_sarah_assessed="review" in spec,
                lex_sarah_outcome=spec.get("review"),
                example=spec.get("example", False),
                example_summary=EXAMPLE_SUMMARY if spec.get("example") else None,
                example_handling=EXAMPLE_HANDLING if spec.get("example") else None,
                updated_at=at,
            )
        )
    await session.flush()
    return case.id


async def _checkins(session: Any, units: dict[str, Unit]) -> None:
    at = _at(2026, 4, 1)
    for n, (code, answer) in enumerate(CHECKINS):
        unit = units[code]
        contact = Contact(channel="email", address=f"svar{n}@example.se", created_at=at)
        session.add(contact)
        await session.flush()
        decision = Decision(
            unit_id=unit.id or 0,
            contact_id=contact.id or 0,
            channel="email",
            language="sv",
            decided_on=at.date(),
            reference=f"B-{n}",
            registered_at=at,
            registered_by="import",
        )
        ask = OutboxItem(
            kind="followup.checkin",
            channel="email",
            recipient=contact.address,
            idempotency_key=f"checkin-{n}",
            status="sent",
            run_at=at,
            created_at=at,
        )
        session.add_all([decision, ask])
        await session.flush()
        checkin = CheckIn(
            decision_id=decision.id or 0,
            unit_id=unit.id or 0,
            contact_id=contact.id or 0,
            channel="email",
            language="sv",
            period="2026-04",
            closes_at=at + 14 * DAY,
            ask_outbox_id=ask.id,
            created_at=at,
        )
        if answer is not None:
            checkin.understood, checkin.knows_appeal, checkin.rating, checkin.wants_contact = answer
            checkin.first_answer_at = at + DAY
        session.add(checkin)
    await session.flush()
