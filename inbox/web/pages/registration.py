"""Registering a case by hand at `/cases/new`: what came by phone, letter, visit or from IVO.

The form is a thin layer over `inbox.intake.registration.register_case` (which audits); a registrar, admin
or caseworker may use it, a viewer may not. The unit must be one the user can see, so the new case
the form redirects to is always theirs to open. Bad input re-renders the form with what was typed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from fastapi import APIRouter, BackgroundTasks, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from inbox.cases.access import Forbidden, active_units
from inbox.core.time import STOCKHOLM
from inbox.intake.registration import (
    MANUAL_CHANNELS,
    Problem,
    Registration,
    RegistrationError,
    problems,
    register_case,
)
from inbox.web.auth.csrf import verify_csrf
from inbox.web.auth.sessions import Session, Staff
from inbox.web.deps import StaffWriter
from inbox.web.render import page
from inbox.web.state import Clock, Policy, WakeWorker

router = APIRouter(dependencies=[Depends(verify_csrf)], include_in_schema=False)

FIELDS = (
    "channel",
    "subject",
    "text",
    "kind",
    "unit",
    "submitter_role",
    "contact_name",
    "contact_email",
    "contact_phone",
    "received_at",
    "event_what",
    "event_when",
    "event_where",
    "event_consequence",
)
DEFAULTS = {"channel": "phone", "kind": "other", "submitter_role": "unknown"}
# The form's field each problem links to (`Registration` field → element id).
FIELD_IDS = {
    "channel": f"r-channel-{MANUAL_CHANNELS[0]}",
    "subject": "r-subject",
    "text": "r-text",
    "kind": "r-kind",
    "unit": "r-unit",
    "submitter_role": "r-role",
    "contact_email": "r-email",
    "acknowledge": "r-ack",
    "received_at": "r-received",
    "event_what": "r-event-what",
    "event_when": "r-event-when",
    "event_where": "r-event-where",
    "event_consequence": "r-event-consequence",
}


async def _form(
    request: Request,
    session: Session,
    staff: Staff,
    values: dict[str, Any],
    *,
    errors: Sequence[Problem] = (),
    status_code: int = 200,
) -> Response:
    """The form with what was typed; `errors` listed at the top, each linked to its field."""
    return page(
        request,
        "register.html",
        {
            "staff": staff,
            "values": values,
            "units": await active_units(session, staff.scope),
            "channels": MANUAL_CHANNELS,
            "errors": [(FIELD_IDS.get(p.field or ""), p.message) for p in errors],
            "invalid": {FIELD_IDS[p.field] for p in errors if p.field in FIELD_IDS},
        },
        status_code=status_code,
    )


def _received_at(value: str) -> datetime | None:
    """The form's `datetime-local` value, read as Stockholm time; empty means now."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise RegistrationError(
            Problem("received_at", "Ange när det kom in som datum och klockslag.")
        ) from None
    return moment.replace(tzinfo=STOCKHOLM) if moment.tzinfo is None else moment


@router.get("/cases/new", response_class=HTMLResponse)
async def register_form(request: Request, session: Session, staff: StaffWriter) -> Response:
    blank: dict[str, Any] = {**{f: "" for f in FIELDS}, **DEFAULTS, "acknowledge": False}
    return await _form(request, session, staff, blank)


@router.post("/cases/new")
async def register_submit(
    request: Request,
    session: Session,
    staff: StaffWriter,
    clock: Clock,
    policy: Policy,
    wake_worker: WakeWorker,
    background: BackgroundTasks,
) -> Response:
    form = await request.form()
    values: dict[str, Any] = {f: str(form.get(f, "")).strip() for f in FIELDS}
    for multiline in ("text", "event_what", "event_consequence"):
        values[multiline] = str(form.get(multiline, "")).replace("\r\n", "\n")
    values["acknowledge"] = form.get("acknowledge") == "on"
    now = clock()
    found: list[Problem] = []
    try:
        received_at = _received_at(values["received_at"])
    except RegistrationError as exc:
        found, received_at = list(exc.problems), None
    registration = Registration(
        channel=values["channel"],
        subject=values["subject"],
        text=values["text"],
        kind=values["kind"] or "other",
        unit=values["unit"] or None,
        submitter_role=values["submitter_role"] or "unknown",
        contact_name=values["contact_name"] or None,
        contact_email=values["contact_email"] or None,
        contact_phone=values["contact_phone"] or None,
        received_at=received_at,
        acknowledge=values["acknowledge"],
        event_what=values["event_what"] or None,
        event_when=values["event_when"] or None,
        event_where=values["event_where"] or None,
        event_consequence=values["event_consequence"] or None,
    )
    found += problems(registration, now)
    if found:  # every problem at once, before anything is written
        return await _form(request, session, staff, values, errors=found, status_code=422)
    try:
        case = await register_case(
            session,
            registration=registration,
            scope=staff.scope,
            actor=staff.actor,
            policy=policy,
            now=now,
        )
    except RegistrationError as exc:
        return await _form(request, session, staff, values, errors=exc.problems, status_code=422)
    except Forbidden:
        error = Problem(
            "unit", "Du kan bara registrera ärenden för verksamheter du har tillgång till."
        )
        return await _form(request, session, staff, values, errors=[error], status_code=422)
    if registration.acknowledge:
        background.add_task(wake_worker)  # after the commit: send the receipt
    request.session["flash"] = f"Ärendet {case.reference} är registrerat."
    return RedirectResponse(f"/cases/{case.reference}", status_code=303)
