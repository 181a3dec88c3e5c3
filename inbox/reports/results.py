"""The public results ("Ni sa – vi gjorde"): per year and unit, how many wrote and of what kind,
how many got an answer in time, what the check-ins said, and the measures staff made public.

Open data: the same figures as the page as JSON and CSV, in the stable schema of
`docs/results-schema.md` (`SCHEMA`). Every count from 1 to `MIN_GROUP - 1` is suppressed — shown
as "fewer than 5", never as a number — and so is every share or answer computed from fewer than
`MIN_GROUP` cases; when exactly one kind of a unit's year is suppressed, the next smallest is
too, so that the total cannot give it away. Years are calendar years in Stockholm, pooled: at
35–45 submissions a year, months would single people out.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import case, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from inbox.cases.access import EVERYTHING
from inbox.checkins.reports import MIN_GROUP
from inbox.core.models import Case, CaseKind, Measure, Unit
from inbox.core.time import STOCKHOLM
from inbox.reports.facts import Window, case_facts, counted, stockholm_midnight
from inbox.reports.figures import Request, checkin_totals

SCHEMA = "synpunkt-results/1"
KINDS = [k.value for k in CaseKind]
YEARS_SHOWN = 5


@dataclass(frozen=True, slots=True)
class Count:
    """A published count: the number, or None when it is suppressed."""

    value: int | None

    @property
    def suppressed(self) -> bool:
        return self.value is None

    def as_json(self) -> dict[str, Any]:
        return {"value": self.value, "suppressed": self.suppressed}


def published(n: int) -> Count:
    return Count(None if 0 < n < MIN_GROUP else n)


def _kinds(counts: Counter[str]) -> dict[str, Count]:
    shown = {k: published(counts[k]) for k in KINDS}
    hidden = [k for k in KINDS if shown[k].suppressed]
    if len(hidden) == 1:
        others = sorted((counts[k], k) for k in KINDS if counts[k] and not shown[k].suppressed)
        if others:
            shown[others[0][1]] = Count(None)
    return shown


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 3) if whole >= MIN_GROUP else None


async def results(session: AsyncSession, *, today: date) -> dict[str, Any]:
    """The open data: every year from the first counted case (at most the last `YEARS_SHOWN`) to
    this one, for all units together and for each unit."""
    this_year = today.year
    first = await _first_year(session)
    years = list(range(max(first or this_year, this_year - YEARS_SHOWN + 1), this_year + 1))
    units = (await session.execute(select(Unit).order_by(col(Unit.name)))).scalars().all()
    dialect = session.get_bind().dialect.name
    window = Window.of_days(date(years[0], 1, 1), date(years[-1], 12, 31))
    facts = case_facts(dialect, window, today=today)
    year = _year_bucket(facts.c.received_at, years).label("year")
    rows = (
        await session.execute(
            select(
                year,
                facts.c.unit_id,
                facts.c.kind,
                func.sum(case((facts.c.in_time.is_(True), 1), else_=0)),
                func.sum(case((facts.c.in_time.is_not(None), 1), else_=0)),
                func.count(),
            ).group_by(year, facts.c.unit_id, facts.c.kind)
        )
    ).all()
    kinds: dict[tuple[int, int | None], Counter[str]] = {}
    timely: Counter[tuple[int, int | None]] = Counter()
    known: Counter[tuple[int, int | None]] = Counter()
    for y, unit, kind, in_time, with_target, n in rows:
        for key in ((int(y), None), (int(y), unit)) if unit is not None else ((int(y), None),):
            kinds.setdefault(key, Counter())[kind] += int(n)
            timely[key] += int(in_time or 0)
            known[key] += int(with_target or 0)
    measures = await _public_measures(session, years)
    groups = []
    for y in reversed(years):
        for unit in [None, *units]:
            key = (y, unit.id if unit else None)
            counts = kinds.get(key, Counter())
            checkins = await checkin_totals(
                session,
                Request(date(y, 1, 1), date(y, 12, 31)),
                scope=EVERYTHING,
                unit_id=unit.id if unit else None,
            )
            groups.append(
                {
                    "year": y,
                    "unit": {"code": unit.code, "name": unit.name} if unit else None,
                    "cases": published(sum(counts.values())).as_json(),
                    "kinds": {k: c.as_json() for k, c in _kinds(counts).items()},
                    "response": {
                        "cases_with_target": published(known[key]).as_json(),
                        "in_time_share": _share(timely[key], known[key]),
                    },
                    "checkins": _checkins(checkins),
                    "measures": [
                        m for m in measures.get(y, []) if unit is None or m["unit"] == unit.code
                    ],
                }
            )
    return {
        "schema": SCHEMA,
        "generated": today.isoformat(),
        "min_group": MIN_GROUP,
        "years": years,
        "groups": groups,
    }


def _checkins(totals: dict[str, Any]) -> dict[str, Any]:
    if totals["suppressed"]:
        return {
            "asked": published(totals["asked"]).as_json(),
            "answered": published(totals["answered"]).as_json(),
            "response_rate": None,
            "understood_share": None,
            "knows_appeal_share": None,
            "ratings": None,
        }
    understood = totals["understood"]
    appeal = totals["knows_appeal"]
    return {
        "asked": published(totals["asked"]).as_json(),
        "answered": published(totals["answered"]).as_json(),
        "response_rate": totals["response_rate"],
        "understood_share": _share(understood["yes"], sum(understood.values())),
        "knows_appeal_share": _share(appeal["yes"], appeal["yes"] + appeal["no"]),
        "ratings": {n: published(v).as_json() for n, v in totals["ratings"].items()},
    }


def _year_bucket(received: Any, years: list[int]) -> Any:
    whens: list[tuple[Any, Any]] = [
        (received < stockholm_midnight(date(y + 1, 1, 1)), literal_column(str(y))) for y in years
    ]
    return case(*whens, else_=None)


async def _first_year(session: AsyncSession) -> int | None:
    first = (
        await session.execute(select(func.min(col(Case.received_at))).where(counted()))
    ).scalar_one_or_none()
    return first.year if first is not None else None


async def _public_measures(session: AsyncSession, years: list[int]) -> dict[int, list[Any]]:
    """The measures marked public, by the year their case arrived: type, status, date, the
    unit's code and the summary written for publication, never the case."""
    rows = await session.execute(
        select(
            col(Case.received_at),
            col(Unit.code),
            col(Measure.type),
            col(Measure.status),
            col(Measure.dated_on),
            col(Measure.public_summary),
        )
        .join(Case, col(Case.id) == Measure.case_id)
        .outerjoin(Unit, col(Unit.id) == Case.unit_id)
        .where(
            col(Measure.public).is_(True),
            counted(),
            col(Case.received_at) >= stockholm_midnight(date(years[0], 1, 1)),
        )
        .order_by(col(Measure.dated_on), col(Measure.id))
    )
    out: dict[int, list[Any]] = {}
    for received, unit, kind, status, dated, summary in rows.all():
        year = received.astimezone(STOCKHOLM).year
        out.setdefault(year, []).append(
            {
                "unit": unit,
                "type": kind,
                "status": status,
                "date": dated.isoformat(),
                "summary": summary or "",
            }
        )
    return out


CSV_COLUMNS = [
    "year",
    "unit_code",
    "unit_name",
    "cases",
    *(f"kind_{k}" for k in KINDS),
    "cases_with_target",
    "in_time_share",
    "checkins_asked",
    "checkins_answered",
    "checkins_response_rate",
    "understood_share",
    "knows_appeal_share",
    *(f"rating_{n}" for n in range(1, 6)),
]
SUPPRESSED = "<5"


def _value(count: dict[str, Any]) -> object:
    return SUPPRESSED if count["suppressed"] else count["value"]


def as_csv(data: dict[str, Any]) -> str:
    """One row per year and unit (`unit_code` empty: all units); a suppressed count is `<5`, a
    share not published is empty."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for g in data["groups"]:
        c = g["checkins"]
        ratings = c["ratings"] or {}
        writer.writerow(
            [
                g["year"],
                g["unit"]["code"] if g["unit"] else "",
                g["unit"]["name"] if g["unit"] else "",
                _value(g["cases"]),
                *(_value(g["kinds"][k]) for k in KINDS),
                _value(g["response"]["cases_with_target"]),
                _blank(g["response"]["in_time_share"]),
                _value(c["asked"]),
                _value(c["answered"]),
                _blank(c["response_rate"]),
                _blank(c["understood_share"]),
                _blank(c["knows_appeal_share"]),
                *(_value(ratings[str(n)]) if ratings else "" for n in range(1, 6)),
            ]
        )
    return out.getvalue()


def _blank(value: object) -> object:
    return "" if value is None else value
