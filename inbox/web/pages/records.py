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
from inbox.web.deps import StaffAdmin
from inbox.web.downloads import download
from inbox.web.pages.actions import CasePost, RegistrarCasePost
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
async def hold(post: RegistrarCasePost) -> Response:
    on = post.form.get("action") != "remove"
    try:
        changed = await set_hold(
            post.session,
            case=post.case,
            on=on,
            reason=post.text("reason"),
            scope=post.staff.scope,
            actor=post.staff.actor,
            now=post.now,
        )
    except HoldError as exc:
        return await post.refused(str(exc))
    if not changed:
        return post.done("Inget ändrades.")
    return post.done("Ärendet bevaras." if on else "Bevarandet är borttaget.")


@router.post("/cases/{reference}/rights-requests")
async def rights_request(post: CasePost, policy: Policy) -> Response:
    try:
        requested_on = date.fromisoformat(post.text("requested_on").strip())
    except ValueError:
        return await post.refused("Ange när begäran kom in (ÅÅÅÅ-MM-DD).")
    try:
        await record_rights_request(
            post.session,
            case=post.case,
            kind=post.text("kind"),
            requested_by=post.text("requested_by"),
            requested_on=requested_on,
            request=post.text("request"),
            response=post.text("response"),
            organisation=policy.organisation,
            actor=post.staff.actor,
            now=post.now,
        )
    except SubjectError:
        return await post.refused(
            "Fyll i vem som begär, vad som begärs och, för rättelse och begränsning, svaret."
        )
    return post.done("Begäran är registrerad på ärendet.")


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
