"""The report on a staff page: `/rapporter` with its filters (period, units, years compared,
language) and the report itself, and `/rapporter/fil` to download it as HTML, xlsx or CSV.

Every signed-in role may make the report over its own scope: registrars and admins over every
unit, anyone else — a unit's lead among them — over their units only (`inbox.cases.access`).
Also what the case page shows of a case's reporting (`reporting_view`).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.cases.access import active_units
from inbox.cases.measures import (
    LEX_SARAH_OUTCOMES,
    MEASURE_STATUSES,
    MEASURE_TYPES,
    case_reporting,
    list_topics,
)
from inbox.core.audit import audit
from inbox.core.models import Case, Unit
from inbox.core.time import STOCKHOLM
from inbox.reports.figures import Request as ReportRequest
from inbox.reports.render import FORMATS, MEDIA_TYPES, STYLE, body, rendered
from inbox.reports.report import build
from inbox.web.auth.csrf import verify_csrf
from inbox.web.auth.sessions import ReadSession, Session, Staff
from inbox.web.deps import StaffReader
from inbox.web.downloads import download
from inbox.web.render import LABELS, page
from inbox.web.state import Clock

router = APIRouter(dependencies=[Depends(verify_csrf)], include_in_schema=False)

MAX_COMPARE = 5


async def reporting_view(session: AsyncSession, case: Case) -> dict[str, Any]:
    """The case page's part on topics, measures, the lex Sarah assessment and the example."""
    return {
        "data": await case_reporting(session, case_id=case.id or 0),
        "topics": await list_topics(session, active_only=False),
        "types": MEASURE_TYPES,
        "statuses": MEASURE_STATUSES,
        "lex_sarah": LEX_SARAH_OUTCOMES,
    }


class _Filters:
    """The page's filters as read from the query, with the first problem found."""

    def __init__(self, request: Request, units: list[Unit], today: date) -> None:
        q = request.query_params
        self.error: str | None = None
        self.first = self._date(q.get("from"), date(today.year, 1, 1))
        self.last = self._date(q.get("to"), today)
        if self.last < self.first:
            self.error = "Slutdatumet ligger före startdatumet."
            self.first, self.last = date(today.year, 1, 1), today
        codes = {u.code: u.id for u in units if u.id is not None}
        self.units = [c for c in q.getlist("unit") if c in codes]
        self.unit_ids = frozenset(codes[c] for c in self.units) if self.units else None
        try:
            self.compare = min(MAX_COMPARE, max(1, int(q.get("jamfor", "3"))))
        except ValueError:
            self.compare = 3
        self.lang = "en" if q.get("lang") == "en" else "sv"

    def _date(self, value: str | None, default: date) -> date:
        if not value:
            return default
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            self.error = "Skriv datum som ÅÅÅÅ-MM-DD."
            return default

    def request(self) -> ReportRequest:
        return ReportRequest(self.first, self.last, self.unit_ids, self.compare)

    def query(self) -> list[tuple[str, str]]:
        return [
            ("from", self.first.isoformat()),
            ("to", self.last.isoformat()),
            *(("unit", c) for c in self.units),
            ("jamfor", str(self.compare)),
            ("lang", self.lang),
        ]


async def _report(session: AsyncSession, staff: Staff, filters: _Filters, today: date) -> Any:
    return await build(
        session,
        filters.request(),
        scope=staff.scope,
        today=today,
        lang=filters.lang,
        swedish=LABELS,
    )


@router.get("/rapporter", response_class=HTMLResponse)
async def reports_page(
    request: Request, session: ReadSession, staff: StaffReader, clock: Clock
) -> Response:
    today = clock().astimezone(STOCKHOLM).date()
    units = await active_units(session, staff.scope)
    filters = _Filters(request, units, today)
    report = await _report(session, staff, filters, today)
    return page(
        request,
        "reports.html",
        {
            "staff": staff,
            "units": units,
            "filters": filters,
            "query": filters.query(),
            "formats": FORMATS,
            "content": body(report, inline_charts=False),
            "error": filters.error,
        },
    )


@router.get("/rapporter/fil")
async def report_file(
    request: Request, session: Session, staff: StaffReader, clock: Clock
) -> Response:
    now = clock()
    today = now.astimezone(STOCKHOLM).date()
    filters = _Filters(request, await active_units(session, staff.scope), today)
    fmt = request.query_params.get("format", "html")
    if fmt not in FORMATS:
        fmt = "html"
    report = await _report(session, staff, filters, today)
    audit(
        session,
        actor=staff.actor,
        action="report.made",
        case=None,
        now=now,
        start=filters.first.isoformat(),
        end=filters.last.isoformat(),
        units=filters.units,
        format=fmt,
    )
    name = f"rapport-{filters.first.isoformat()}-{filters.last.isoformat()}.{fmt}"
    return download(rendered(report, fmt), filename=name, media_type=MEDIA_TYPES[fmt])


@router.get("/rapporter/rapport.css")
async def report_style(staff: StaffReader) -> Response:
    """The report's own style, as the HTML file carries it (the page's CSP forbids inline style)."""
    return Response(STYLE, media_type="text/css; charset=utf-8")
