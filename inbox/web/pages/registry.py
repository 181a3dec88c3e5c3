"""The case's registry forms: secrecy marking, protected identity, consent for relatives, and
requests for documents — each a POST that redirects back to the case, over `inbox.cases`.

Who may do what is the core's to decide (`inbox.cases.registry`): anyone who may act on the case
marks or protects, only a registrar or admin takes a marking or a protection away. Bad input
re-renders the case with the error.
"""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from inbox.cases.consent import ConsentError, ConsentInput, record_consent, revoke_consent
from inbox.cases.disclosure import DisclosureError, RequestInput, record_request
from inbox.cases.registry import RegistryError, mark_secrecy, protect_identity
from inbox.web.auth.csrf import verify_csrf
from inbox.web.auth.sessions import Session
from inbox.web.deps import StaffWriter
from inbox.web.inputs import Id
from inbox.web.pages.actions import back_to_case, writable_case
from inbox.web.pages.cases import CasePage
from inbox.web.state import Clock, Policy

router = APIRouter(dependencies=[Depends(verify_csrf)], include_in_schema=False)


class _BadDate(ValueError):
    pass


def _date(value: object, what: str) -> date:
    try:
        return date.fromisoformat(str(value or "").strip())
    except ValueError:
        raise _BadDate(f"Ange {what} som ett datum (ÅÅÅÅ-MM-DD).") from None


@router.post("/cases/{reference}/secrecy")
async def secrecy(
    reference: str,
    request: Request,
    session: Session,
    staff: StaffWriter,
    case_page: CasePage,
    clock: Clock,
) -> Response:
    case = await writable_case(session, staff, reference)
    form = await request.form()
    marked = form.get("action") != "remove"
    try:
        changed = await mark_secrecy(
            session,
            case=case,
            marked=marked,
            reason=str(form.get("reason", "")),
            scope=staff.scope,
            actor=staff.actor,
            now=clock(),
        )
    except RegistryError as exc:
        return await case_page(staff, reference, error=str(exc), status_code=422)
    if not changed:
        return back_to_case(request, case, "Inget ändrades.")
    done = "Ärendet är sekretessmarkerat." if marked else "Sekretessmarkeringen är borttagen."
    return back_to_case(request, case, done)


@router.post("/cases/{reference}/identity")
async def identity(
    reference: str,
    request: Request,
    session: Session,
    staff: StaffWriter,
    case_page: CasePage,
    clock: Clock,
) -> Response:
    case = await writable_case(session, staff, reference)
    form = await request.form()
    protected = form.get("action") != "remove"
    try:
        changed = await protect_identity(
            session,
            case=case,
            protected=protected,
            reason=str(form.get("reason", "")),
            scope=staff.scope,
            actor=staff.actor,
            now=clock(),
        )
    except RegistryError as exc:
        return await case_page(staff, reference, error=str(exc), status_code=422)
    if not changed:
        return back_to_case(request, case, "Inget ändrades.")
    done = (
        "Avsändarens kontaktuppgifter visas nu bara för registratorer och administratörer."
        if protected
        else "Skyddet av avsändarens identitet är borttaget."
    )
    return back_to_case(request, case, done)


@router.post("/cases/{reference}/consents")
async def consent_add(
    reference: str,
    request: Request,
    session: Session,
    staff: StaffWriter,
    case_page: CasePage,
    clock: Clock,
) -> Response:
    case = await writable_case(session, staff, reference)
    form = await request.form()
    try:
        await record_consent(
            session,
            case=case,
            data=ConsentInput(
                given_by=str(form.get("given_by", "")),
                given_to=str(form.get("given_to", "")),
                scope=str(form.get("scope", "")),
                given_on=_date(form.get("given_on"), "när samtycket lämnades"),
                form=str(form.get("form", "")),
            ),
            actor=staff.actor,
            now=clock(),
        )
    except (ConsentError, _BadDate) as exc:
        return await case_page(staff, reference, error=str(exc), status_code=422)
    return back_to_case(request, case, "Samtycket är registrerat.")


@router.post("/cases/{reference}/consents/{consent_id}/revoke")
async def consent_revoke(
    reference: str,
    consent_id: Id,
    request: Request,
    session: Session,
    staff: StaffWriter,
    case_page: CasePage,
    clock: Clock,
) -> Response:
    case = await writable_case(session, staff, reference)
    form = await request.form()
    try:
        await revoke_consent(
            session,
            case=case,
            consent_id=consent_id,
            revoked_on=_date(form.get("revoked_on"), "när samtycket återkallades"),
            actor=staff.actor,
            now=clock(),
        )
    except (ConsentError, _BadDate) as exc:
        return await case_page(staff, reference, error=str(exc), status_code=422)
    return back_to_case(request, case, "Samtycket är återkallat.")


@router.post("/cases/{reference}/document-requests")
async def document_request(
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
        await record_request(
            session,
            case=case,
            data=RequestInput(
                requested_by=str(form.get("requested_by", "")),
                requested_on=_date(form.get("requested_on"), "när begäran kom in"),
                documents=str(form.get("documents", "")),
                outcome=str(form.get("outcome", "")),
                decided_on=_date(form.get("decided_on"), "beslutsdatum"),
                grounds=str(form.get("grounds", "")),
                reasoning=str(form.get("reasoning", "")),
            ),
            organisation=policy.organisation,
            decided_by=staff.user.display_name or staff.user.username,
            actor=staff.actor,
            now=clock(),
        )
    except (DisclosureError, _BadDate) as exc:
        return await case_page(staff, reference, error=str(exc), status_code=422)
    return back_to_case(request, case, "Begäran och beslutet är registrerade.")
