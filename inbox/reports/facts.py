"""The facts a report counts, per case: from the live cases and from the anonymised statistics
of cases removed by retention (`case_statistics`), as one selectable each, so that a report over
past years counts a removed case exactly as it counted it while the case lived.

A live case's facts are computed in SQL (`live_facts`); a removed case's were computed once by
`record_removed`, with the same rules written for one case in Python, when retention removed it.
Merged cases (counted in the case they were merged into) and machine mail are not counted.

The rules:
- *handled*: the first answer sent, or the closing when no answer was (an anonymous letter);
- *response time*: whole minutes from arrival to handled;
- *in time*: handled on or before the due date (the unit's response time in working days), the
  day counted in UTC; a case not handled whose due date has passed was not; no due date: unknown;
- *IVO*: came through IVO (the channel `ivo`, or the submitter role `via-ivo`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import (
    Date,
    Integer,
    String,
    and_,
    case,
    cast,
    false,
    func,
    literal_column,
    null,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from inbox.cases.access import Scope
from inbox.core.models import (
    Case,
    CaseReview,
    CaseStatistic,
    CaseTopic,
    Measure,
    MeasureStatus,
    MeasureType,
    SubmitterRole,
    Topic,
)
from inbox.core.time import STOCKHOLM

IVO_CHANNEL = "ivo"


def stockholm_midnight(day: date) -> datetime:
    """The UTC instant at which `day` begins in Stockholm."""
    return datetime.combine(day, time(), tzinfo=STOCKHOLM).astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Window:
    """The cases a query counts: received in `[start, end)` (UTC), in `unit_ids` (None: every
    unit, and the cases with none), and within `scope` when one is given."""

    start: datetime
    end: datetime
    unit_ids: frozenset[int] | None = None
    scope: Scope | None = None

    @classmethod
    def of_days(
        cls,
        first: date,
        last: date,
        unit_ids: frozenset[int] | None = None,
        scope: Scope | None = None,
    ) -> Window:
        """From the start of `first` to the end of `last`, Stockholm's days."""
        return cls(
            stockholm_midnight(first),
            stockholm_midnight(date.fromordinal(last.toordinal() + 1)),
            unit_ids,
            scope,
        )

    def where(self, received: Any, unit: Any) -> Any:
        parts = [received >= self.start, received < self.end]
        if self.unit_ids is not None:
            parts.append(unit.in_(sorted(self.unit_ids)) if self.unit_ids else false())
        if self.scope is not None and not self.scope.sees_everything:
            parts.append(self.scope.condition(unit))
        return and_(*parts)


# Live cases --------------------------------------------------------------------------------------


def _handled_at() -> Any:
    return func.coalesce(col(Case.first_response_at), col(Case.closed_at))


def _minutes_between(dialect: str, later: Any, earlier: Any) -> Any:
    if dialect == "sqlite":
        days = func.julianday(later) - func.julianday(earlier)
        return cast(func.round(days * 1440), Integer)
    # `date_part` gives the seconds as a double (EXTRACT gives a numeric, slower to divide and
    # round), rounded half to even as Python's round() in `record_removed`. The constants are
    # written into the statement: the statistics object of migration 0027 names this expression.
    seconds = func.date_part(literal_column("'epoch'"), later - earlier)
    return cast(func.round(seconds / literal_column("60")), Integer)


def _in_time(dialect: str, today: date) -> Any:
    handled = _handled_at()
    due = col(Case.due_on)
    if dialect == "sqlite":
        handled_day: Any = func.date(handled)
        due_value: Any = func.date(due)
        today_value: Any = today.isoformat()
    else:
        handled_day = cast(func.timezone("UTC", handled), Date)
        due_value = due
        today_value = today
    return case(
        (due.is_(None), null()),
        (handled.is_(None), case((due_value < today_value, false()), else_=null())),
        (handled_day <= due_value, true()),
        else_=false(),
    )


def counted() -> Any:
    """The live cases a report counts: neither merged into another nor machine mail."""
    return and_(col(Case.merged_into_id).is_(None), col(Case.flag_automated).is_(False))


def live_columns(dialect: str, *, today: date) -> dict[str, Any]:
    """The facts of a live case as expressions over `cases`, by name: what `live_facts` selects
    and what the report's figures group by (the rules in one place)."""
    return {
        "received_at": col(Case.received_at),
        "kind": col(Case.kind),
        "channel": col(Case.channel),
        "submitter_role": col(Case.submitter_role),
        "unit_id": col(Case.unit_id),
        "outcome": col(Case.outcome),
        "closed": col(Case.status) == "closed",
        "response_minutes": _minutes_between(dialect, _handled_at(), col(Case.received_at)),
        "in_time": _in_time(dialect, today),
        "flag_lex_sarah": col(Case.flag_lex_sarah),
        "flag_decision_not_executed": col(Case.flag_decision_not_executed),
        "flag_child_at_risk": col(Case.flag_child_at_risk),
    }


def removed_columns() -> dict[str, Any]:
    """The same facts of a removed case, over `case_statistics`."""
    s = CaseStatistic
    return {
        name: col(getattr(s, name))
        for name in (
            "received_at",
            "kind",
            "channel",
            "submitter_role",
            "unit_id",
            "outcome",
            "closed",
            "response_minutes",
            "in_time",
            "flag_lex_sarah",
            "flag_decision_not_executed",
            "flag_child_at_risk",
        )
    }


def live_facts(dialect: str, window: Window, *, today: date) -> Any:
    """One row per live case in `window`, with the columns `live_columns` names."""
    columns = live_columns(dialect, today=today)
    return select(*(value.label(name) for name, value in columns.items())).where(
        counted(), window.where(col(Case.received_at), col(Case.unit_id))
    )


def removed_facts(window: Window) -> Any:
    """One row per removed case in `window`, the same columns as `live_facts`."""
    s = CaseStatistic
    columns = removed_columns()
    return select(*(value.label(name) for name, value in columns.items())).where(
        window.where(col(s.received_at), col(s.unit_id))
    )


def case_facts(dialect: str, window: Window, *, today: date) -> Any:
    """Every counted case in `window`, live and removed, as one subquery (`facts`)."""
    return union_all(live_facts(dialect, window, today=today), removed_facts(window)).subquery(
        "facts"
    )


def ivo(facts: Any) -> Any:
    """A case that came through IVO, on a `case_facts` subquery."""
    return or_(facts.c.channel == IVO_CHANNEL, facts.c.submitter_role == SubmitterRole.VIA_IVO)


# Many per case: topics, measures, and the lex Sarah assessment -----------------------------------


# The lowest and highest id of the live cases in a window: a join to their topics or measures
# need read only that range of the other table (ids grow with the time cases arrive, so a year's
# cases lie in a narrow range; the join still checks every case).
CaseIds = tuple[int, int]


def _within(case_id: Any, ids: CaseIds | None) -> Any:
    return true() if ids is None else case_id.between(*ids)


def topic_facts(window: Window, ids: CaseIds | None = None) -> Any:
    """(received_at, unit_id, topic code), one row per topic of a counted case in `window`
    (whose live cases' ids lie within `ids`, when known)."""
    live: Any = (
        select(
            col(Case.received_at).label("received_at"),
            col(Case.unit_id).label("unit_id"),
            col(Topic.code).label("topic"),
        )
        .join(CaseTopic, col(CaseTopic.case_id) == Case.id)
        .join(Topic, col(Topic.id) == CaseTopic.topic_id)
        .where(
            counted(),
            window.where(col(Case.received_at), col(Case.unit_id)),
            _within(col(CaseTopic.case_id), ids),
        )
    )
    s = CaseStatistic
    removed = (
        select(col(s.received_at), col(s.unit_id), col(Topic.code))
        .join(Topic, col(s.topics).contains("," + col(Topic.code) + ","))
        .where(window.where(col(s.received_at), col(s.unit_id)))
    )
    return union_all(live, removed).subquery("topic_facts")


def _constant(value: str) -> Any:
    """A string constant written into the statement (asyncpg cannot type a bare parameter)."""
    return literal_column(f"'{value}'", String)


def measure_facts(window: Window, ids: CaseIds | None = None) -> Any:
    """(received_at, unit_id, type, status, n): how many measures of a type and status each
    counted case in `window` has (whose live cases' ids lie within `ids`, when known)."""
    live: Any = (
        select(
            col(Case.received_at).label("received_at"),
            col(Case.unit_id).label("unit_id"),
            col(Measure.type).label("type"),
            col(Measure.status).label("status"),
            literal_column("1", Integer).label("n"),
        )
        .join(Measure, col(Measure.case_id) == Case.id)
        .where(
            counted(),
            window.where(col(Case.received_at), col(Case.unit_id)),
            _within(col(Measure.case_id), ids),
        )
    )
    kinds = union_all(
        *(
            select(_constant(t.value).label("type"), _constant(st.value).label("status"))
            for t in MeasureType
            for st in MeasureStatus
        )
    ).subquery("measure_kinds")
    s = CaseStatistic
    token = "," + kinds.c.type + ":" + kinds.c.status + ","
    # How often `,type:status,` occurs in the list: the length it loses when each is removed.
    # Written `,a:x,,b:y,` (each entry closed by its own commas), so that entries never overlap.
    occurrences = (
        func.length(col(s.measures)) - func.length(func.replace(col(s.measures), token, ""))
    ) / func.length(token)
    removed = (
        select(col(s.received_at), col(s.unit_id), kinds.c.type, kinds.c.status, occurrences)
        .join(kinds, col(s.measures).contains(token))
        .where(window.where(col(s.received_at), col(s.unit_id)))
    )
    return union_all(live, removed).subquery("measure_facts")


def review_facts(window: Window) -> Any:
    """(received_at, unit_id, assessed, outcome): the lex Sarah assessment of each counted case
    in `window` that has one."""
    live: Any = (
        select(
            col(Case.received_at).label("received_at"),
            col(Case.unit_id).label("unit_id"),
            col(CaseReview.lex_sarah_assessed).label("assessed"),
            col(CaseReview.lex_sarah_outcome).label("outcome"),
        )
        .join(CaseReview, col(CaseReview.case_id) == Case.id)
        .where(
            counted(),
            col(CaseReview.lex_sarah_assessed).is_(True),
            window.where(col(Case.received_at), col(Case.unit_id)),
        )
    )
    s = CaseStatistic
    removed = select(
        col(s.received_at), col(s.unit_id), col(s.lex_sarah_assessed), col(s.lex_sarah_outcome)
    ).where(col(s.lex_sarah_assessed).is_(True), window.where(col(s.received_at), col(s.unit_id)))
    return union_all(live, removed).subquery("review_facts")


# Retention --------------------------------------------------------------------------------------


def _code_list(values: list[str]) -> str:
    """`,a,,b,`: every value closed by its own commas (`measure_facts` counts them so)."""
    return "".join(f",{v}," for v in values) or ","


async def record_removed(session: AsyncSession, case_id: int) -> CaseStatistic | None:
    """Writes the anonymised statistical row of a case about to be removed, in the caller's
    transaction (retention calls it before it deletes the case). None, and nothing written, for a
    case a report does not count (merged, machine mail) or that does not exist."""
    found = await session.get(Case, case_id)
    if found is None or found.merged_into_id is not None or found.flag_automated:
        return None
    topics = (
        await session.execute(
            select(col(Topic.code))
            .join(CaseTopic, col(CaseTopic.topic_id) == Topic.id)
            .where(col(CaseTopic.case_id) == case_id)
            .order_by(col(Topic.code))
        )
    ).scalars()
    measures = (
        await session.execute(
            select(col(Measure.type), col(Measure.status))
            .where(col(Measure.case_id) == case_id)
            .order_by(col(Measure.id))
        )
    ).all()
    review = await session.get(CaseReview, case_id)
    row = CaseStatistic(
        received_at=stockholm_midnight(found.received_at.astimezone(STOCKHOLM).date()),
        kind=found.kind,
        channel=found.channel,
        submitter_role=found.submitter_role,
        unit_id=found.unit_id,
        outcome=found.outcome,
        closed=found.status == "closed",
        response_minutes=_response_minutes(found),
        in_time=_in_time_of(found),
        flag_lex_sarah=found.flag_lex_sarah,
        flag_decision_not_executed=found.flag_decision_not_executed,
        flag_child_at_risk=found.flag_child_at_risk,
        lex_sarah_assessed=bool(review and review.lex_sarah_assessed),
        lex_sarah_outcome=review.lex_sarah_outcome if review else None,
        topics=_code_list(list(topics)),
        measures=_code_list([f"{t}:{s}" for t, s in measures]),
    )
    session.add(row)
    await session.flush()
    return row


def _handled(found: Case) -> datetime | None:
    return found.first_response_at or found.closed_at


def _response_minutes(found: Case) -> int | None:
    handled = _handled(found)
    if handled is None:
        return None
    return round((handled - found.received_at).total_seconds() / 60)


def _in_time_of(found: Case) -> bool | None:
    """As `_in_time` in SQL; a case removed unhandled was past its due date long ago."""
    if found.due_on is None:
        return None
    handled = _handled(found)
    return handled is not None and handled.astimezone(UTC).date() <= found.due_on
