"""The records pages: legal hold and rights requests on a case, and the register extract
(`/admin/subject-access`), over `inbox.records`.

`summary_html()` renders the extract's readable summary; the command line uses it too, so the
person gets the same document whichever way the extract was made.
"""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from inbox.records.hold import HoldError, set_hold
from inbox.records.subject_access import (
    Extract,
    Subject,
    SubjectError,
    extract_zip,
    gather,
    record_extract,
    record_rights_request,
)
from inbox.web.auth.csrf import verify_csrf
from inbox.web.auth.sessions import Session
from inbox.web.deps import StaffAdmin, StaffRegistrar, StaffWriter
from inbox.web.downloads import download
from inbox.web.pages.actions import back_to_case, writable_case
from inbox.web.pages.cases import CasePage
from inbox.web.render import env, page
from inbox.web.state import Clock, Policy

router = APIRouter(dependencies=[Depends(verify_csrf)], include_in_schema=False)

_SUBJECT_ERRORS = {
    "email": "Ange en giltig e-postadress.",
    "phone": "Ange ett telefonnummer.",
    "telegram": "Ange ett Telegram-id (bara siffror).",
}


def summary_html(extract: Extract, *, organisation: str) -> str:
    """The extract's summary for the person, in Swedish."""
    return env.get_template("subject_access_summary.html").render(
        organisation=organisation,
        subject=extract.subject.label(),
        produced_at=extract.produced_at,
        data=extract.data,
    )


@router.post("/cases/{reference}/hold")
async def hold(
    reference: str,
    request: Request,
    session: Session,
    staff: StaffRegistrar,
    case_page: CasePage,
    clock: Clock,
) -> Response:
    case = await writable_case(session, staff, reference)
    form = await request.form()
    on = form.get("action") != "remove"
    try:
        changed = await set_hold(
            session,
            case=case,
            on=on,
            reason=str(form.get("reason", "")),
            scope=staff.scope,
            actor=staff.actor,
            now=clock(),
        )
    except HoldError as exc:
        return await case_page(staff, reference, error=str(exc), status_code=422)
    if not changed:
        return back_to_case(request, case, "Inget ändrades.")
    return back_to_case(request, case, "Ärendet bevaras." if on else "Bevarandet är borttaget.")


@router.post("/cases/{reference}/rights-requests")
async def rights_request(
    reference: str,
    request: Request,
    session: Session,
    staff: StaffWriter,
    case_page: CasePage,
    clock: Clock,
    policy: Policy,
) -> Response:
    case = await writable_case(session, staff, reference)
    form = await request.form()
    try:
        requested_on = date.fromisoformat(str(form.get("requested_on", "")).strip())
    except ValueError:
        return await case_page(
            staff, reference, error="Ange när begäran kom in (ÅÅÅÅ-MM-DD).", status_code=422
        )
    try:
        await record_rights_request(
            session,
            case=case,
            kind=str(form.get("kind", "")),
            requested_by=str(form.get("requested_by", "")),
            requested_on=requested_on,
            request=str(form.get("request", "")),
            response=str(form.get("response", "")),
            organisation=policy.organisation,
            actor=staff.actor,
            now=clock(),
        )
    except SubjectError:
        return await case_page(
            staff,
            reference,
            error="Fyll i vem som begär, vad som begärs och, för rättelse och begränsning, svaret.",
            status_code=422,
        )
    return back_to_case(request, case, "Begäran är registrerad på ärendet.")


@router.get("/admin/subject-access", response_class=HTMLResponse)
async def subject_access_form(request: Request, staff: StaffAdmin) -> Response:
    return _form(request, staff, kind="email", address="", requested_by="", error=None)


def _form(
    request: Request,
    staff: object,
    *,
    kind: str,
    address: str,
    requested_by: str,
    error: str | None,
    status_code: int = 200,
) -> Response:
    return page(
        request,
        "subject_access.html",
        {
            "staff": staff,
            "kind": kind,
            "address": address,
            "requested_by": requested_by,
            "error": error,
        },
        status_code=status_code,
    )


@router.post("/admin/subject-access")
async def subject_access(
    request: Request, session: Session, staff: StaffAdmin, clock: Clock, policy: Policy
) -> Response:
    form = await request.form()
    kind, address = str(form.get("kind", "")), str(form.get("address", ""))
    requested_by = " ".join(str(form.get("requested_by", "")).split())[:200]
    try:
        subject = Subject.of(kind, address)
    except SubjectError:
        error = _SUBJECT_ERRORS.get(kind, "Välj vad du söker på.")
        return _form(
            request,
            staff,
            kind=kind,
            address=address,
            requested_by=requested_by,
            error=error,
            status_code=422,
        )
    if not requested_by:
        return _form(
            request,
            staff,
            kind=kind,
            address=address,
            requested_by=requested_by,
            error="Ange vem som begärde utdraget.",
            status_code=422,
        )
    extract = await gather(session, subject, now=clock(), scope=staff.scope)
    record_extract(session, extract, requested_by=requested_by, actor=staff.actor)
    data = extract_zip(extract, summary_html(extract, organisation=policy.organisation))
    stamp = extract.produced_at.strftime("%Y%m%d-%H%M")
    return download(data, filename=f"registerutdrag-{stamp}.zip", media_type="application/zip")
