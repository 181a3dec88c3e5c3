"""The case's registry forms: secrecy marking, protected identity, consent for relatives, and
requests for documents — each a POST that redirects back to the case, over `inbox.cases`.

Who may do what is the core's to decide (`inbox.cases.registry`): anyone who may act on the case
marks or protects, only a registrar or admin takes a marking or a protection away. Bad input
re-renders the case with the error.
"""

from __future__ import annotations

from datetime import date, datetime

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from inbox.cases.consent import ConsentError, ConsentInput, record_consent, revoke_consent
from inbox.cases.disclosure import DisclosureError, RequestInput, record_request
from inbox.cases.registry import IDENTITY, SECRECY, Marking, RegistryError, set_marking
from inbox.web.auth.csrf import verify_csrf
from inbox.web.auth.sessions import Session
from inbox.web.deps import Staff, StaffWriter
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


async def _marking(
    request: Request,
    session: Session,
    staff: Staff,
    case_page: CasePage,
    now: datetime,
    reference: str,
    marking: Marking,
    done: tuple[str, str],
) -> Response:
    """A marking form: set with a reason, or taken away (`action=remove`); `done` is what to say
    after setting it and after taking it away."""
    case = await writable_case(session, staff, reference)
    form = await request.form()
    on = form.get("action") != "remove"
    try:
        changed = await set_marking(
            session,
            marking,
            case=case,
            on=on,
            reason=str(form.get("reason", "")),
            scope=staff.scope,
            actor=staff.actor,
            now=now,
        )
    except RegistryError as exc:
        return await case_page(staff, reference, error=str(exc), status_code=422)
    if not changed:
        return back_to_case(request, case, "Inget ändrades.")
    return back_to_case(request, case, done[0] if on else done[1])


@router.post("/cases/{reference}/secrecy")
async def secrecy(
    reference: str,
    request: Request,
    session: Session,
    staff: StaffWriter,
    case_page: CasePage,
    clock: Clock,
) -> Response:
    return await _marking(
        request,
        session,
        staff,
        case_page,
        clock(),
        reference,
        SECRECY,
        done=("Ärendet är sekretessmarkerat.", "Sekretessmarkeringen är borttagen."),
    )


@router.post("/cases/{reference}/identity")
async def identity(
    reference: str,
    request: Request,
    session: Session,
    staff: StaffWriter,
    case_page: CasePage,
    clock: Clock,
) -> Response:
    return await _marking(
        request,
        session,
        staff,
        case_page,
        clock(),
        reference,
        IDENTITY,
        done=(
            "Avsändarens kontaktuppgifter visas nu bara för registratorer och administratörer.",
            "Skyddet av avsändarens identitet är borttaget.",
        ),
    )


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
