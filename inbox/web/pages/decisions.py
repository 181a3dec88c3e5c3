"""Staff pages for check-ins: the form registering a decision (`/decisions/new`) and the statistics
per unit and month (`/checkins`), both limited to the units in the signed-in user's scope.

The form uses the same checks and service as the API; its error messages are shown in Swedish.
Statistics come from `inbox.checkins.reports`, so small groups are suppressed exactly as in the API.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from inbox.cases.access import active_units
from inbox.checkins.decisions import (
    DecisionError,
    DuplicateDecision,
    check_input,
    register_decision,
)
from inbox.checkins.reports import MIN_GROUP, checkin_stats
from inbox.core import i18n
from inbox.core.audit import audit
from inbox.core.inbound import Channel
from inbox.core.models import Unit
from inbox.web.auth.csrf import verify_csrf
from inbox.web.auth.sessions import Session, Staff
from inbox.web.deps import StaffReader, StaffWriter
from inbox.web.render import page
from inbox.web.state import Checkins, Clock, WakeWorker

router = APIRouter(dependencies=[Depends(verify_csrf)], include_in_schema=False)

FORM_FIELDS = ("unit", "channel", "address", "language", "decided_on", "reference")
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")

# The service explains itself in English (for integrators); a person at the form reads Swedish.
_SWEDISH = (
    ("missing", "Fyll i alla fält."),
    ("channel must be", "Välj e-post eller Telegram."),
    ("address is not an email", "Adressen är inte en e-postadress."),
    ("address must be a Telegram", "Ett Telegram-chatt-id är ett positivt tal."),
    ("language must be", "Välj svenska eller engelska."),
    ("decided_on must be", "Beslutsdatumet ska skrivas ÅÅÅÅ-MM-DD."),
    ("decided_on is in the future", "Beslutsdatumet ligger i framtiden."),
    (
        "reference contains a personnummer",
        "Referensen innehåller ett personnummer. Använd bara ärendets id i verksamhetssystemet.",
    ),
    (
        "reference must be",
        "Referensen ska vara ärendets id i verksamhetssystemet: 2–64 "
        "bokstäver, siffror och -_./: med minst en siffra.",
    ),
)


def swedish(error: DecisionError) -> str:
    if isinstance(error, DuplicateDecision):
        return "Verksamheten har redan ett beslut med den referensen."
    message = str(error)
    for prefix, text in _SWEDISH:
        if message.startswith(prefix):
            return text
    return "Beslutet kunde inte registreras."


def _form_page(
    request: Request,
    staff: Staff,
    units: list[Unit],
    *,
    values: dict[str, str] | None = None,
    error: str | None = None,
    now: datetime,
    registered: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    defaults = {"channel": Channel.EMAIL, "language": "sv", "decided_on": f"{now:%Y-%m-%d}"}
    return page(
        request,
        "decisions.html",
        {
            "staff": staff,
            "units": units,
            "values": {name: "" for name in FORM_FIELDS} | defaults | (values or {}),
            "error": error,
            "registered": registered,
            "languages": [(one.code, one.swedish.capitalize()) for one in i18n.offered()],
        },
        status_code=status_code,
    )


@router.get("/decisions/new", response_class=HTMLResponse)
async def decision_form(
    request: Request, session: Session, staff: StaffWriter, clock: Clock
) -> Response:
    return _form_page(request, staff, await active_units(session, staff.scope), now=clock())


@router.post("/decisions/new", response_class=HTMLResponse)
async def decision_submit(
    request: Request,
    session: Session,
    staff: StaffWriter,
    clock: Clock,
    checkins: Checkins,
    wake_worker: WakeWorker,
) -> Response:
    units = await active_units(session, staff.scope)
    form = await request.form()
    values = {name: str(form.get(name, "")).strip() for name in FORM_FIELDS}
    by_code = {u.code: u for u in units}
    now = clock()

    def refused(message: str) -> Response:
        return _form_page(
            request, staff, units, values=values, error=message, now=clock(), status_code=422
        )

    if values["unit"] not in by_code:
        return refused("Välj en av dina verksamheter.")
    try:
        data = check_input(values, now=now)
        decision, checkin = await register_decision(
            session,
            data=data,
            scope=staff.scope,
            policy=checkins,
            registered_by=staff.actor.name,
            now=now,
            units=by_code,
        )
    except DecisionError as exc:
        return refused(swedish(exc))
    audit(
        session,
        actor=staff.actor,
        action="decision.registered",
        case=None,
        now=now,
        decision_id=decision.id,
    )
    registered = {
        "reference": decision.reference,
        "unit": by_code[data.unit].name,
        "ask_at": checkin.ask_at,
        "reminder_at": checkin.reminder_at,
        "skip_reason": checkin.skip_reason,
    }
    wake_worker()
    return _form_page(request, staff, units, registered=registered, now=clock())


@router.get("/checkins", response_class=HTMLResponse)
async def checkin_statistics(request: Request, session: Session, staff: StaffReader) -> Response:
    units = await active_units(session, staff.scope)
    names = {u.code: u.name for u in units}
    start = request.query_params.get("from", "").strip()
    end = request.query_params.get("to", "").strip()
    wanted = request.query_params.get("unit", "").strip()
    error = None
    if any(v and not _MONTH.match(v) for v in (start, end)):
        error, start, end = "Månader skrivs ÅÅÅÅ-MM.", "", ""
    if wanted and wanted not in names:
        wanted = ""
    groups = await checkin_stats(
        session, scope=staff.scope, unit=wanted or None, start=start or None, end=end or None
    )
    return page(
        request,
        "checkin_stats.html",
        {
            "staff": staff,
            "units": units,
            "names": names,
            "groups": groups,
            "min_group": MIN_GROUP,
            "filters": {"unit": wanted, "from": start, "to": end},
            "error": error,
        },
    )
