"""`/api/cases/{ref}/…` for the registry: the secrecy marking, a protected identity, consents for
relatives and requests for documents — the same core functions as the case page's forms.

A caseworker may mark and protect; only a registrar or admin takes a marking or a protection away
(403 from the core, `inbox.cases.registry`). Refused input is a 422 with the reason in Swedish.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Response, status
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.cases.access import Scope
from inbox.cases.consent import ConsentError, ConsentInput, record_consent, revoke_consent
from inbox.cases.disclosure import DisclosureError, RequestInput, record_request
from inbox.cases.queries import find_case
from inbox.cases.registry import RegistryError, mark_secrecy, protect_identity
from inbox.core.models import Case
from inbox.web.api.problems import EVERY_OPERATION, problems
from inbox.web.api.schemas import (
    ConsentIn,
    ConsentOut,
    DocumentRequestIn,
    DocumentRequestOut,
    IdentityIn,
    IdentityOut,
    RevokeIn,
    SecrecyIn,
    SecrecyOut,
    consent_out,
    request_out,
)
from inbox.web.deps import ApiWriter, Session
from inbox.web.inputs import Id
from inbox.web.state import Clock, Policy

router = APIRouter(prefix="/api", tags=["api"], responses={**EVERY_OPERATION, **problems(404)})


async def _case(session: AsyncSession, reference: str, scope: Scope) -> Case:
    case = await find_case(session, reference=reference, scope=scope)
    if case is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="No such case")
    return case


def _refused(exc: ValueError) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(exc))


@router.put(
    "/cases/{reference}/secrecy",
    response_model=SecrecyOut,
    summary="Mark the case sekretessmarkerad, or take the marking away",
)
async def case_secrecy(
    reference: str, body: SecrecyIn, clock: Clock, session: Session, token: ApiWriter
) -> SecrecyOut:
    case = await _case(session, reference, token.scope)
    try:
        await mark_secrecy(
            session,
            case=case,
            marked=body.marked,
            reason=body.reason,
            scope=token.scope,
            actor=token.actor,
            now=clock(),
        )
    except RegistryError as exc:
        raise _refused(exc) from exc
    return SecrecyOut(
        reference=case.reference, marked=case.secrecy_marked, reason=case.secrecy_reason
    )


@router.put(
    "/cases/{reference}/identity",
    response_model=IdentityOut,
    summary="Show the sender's contact details to registrars and admins only, or to all again",
)
async def case_identity(
    reference: str, body: IdentityIn, clock: Clock, session: Session, token: ApiWriter
) -> IdentityOut:
    case = await _case(session, reference, token.scope)
    try:
        await protect_identity(
            session,
            case=case,
            protected=body.protected,
            reason=body.reason,
            scope=token.scope,
            actor=token.actor,
            now=clock(),
        )
    except RegistryError as exc:
        raise _refused(exc) from exc
    return IdentityOut(
        reference=case.reference, protected=case.identity_protected, reason=case.identity_reason
    )


@router.post(
    "/cases/{reference}/consents",
    response_model=ConsentOut,
    status_code=status.HTTP_201_CREATED,
    summary="Record the person concerned's consent to sharing with a relative",
)
async def consent_add(
    reference: str, body: ConsentIn, clock: Clock, session: Session, token: ApiWriter
) -> ConsentOut:
    case = await _case(session, reference, token.scope)
    try:
        consent = await record_consent(
            session,
            case=case,
            data=ConsentInput(**body.model_dump()),
            actor=token.actor,
            now=clock(),
        )
    except ConsentError as exc:
        raise _refused(exc) from exc
    return consent_out(consent)


@router.post(
    "/cases/{reference}/consents/{consent_id}/revoke",
    response_model=ConsentOut,
    summary="Record that a consent was revoked",
)
async def consent_revoke(
    reference: str,
    consent_id: Id,
    body: RevokeIn,
    clock: Clock,
    session: Session,
    token: ApiWriter,
) -> ConsentOut:
    case = await _case(session, reference, token.scope)
    try:
        consent = await revoke_consent(
            session,
            case=case,
            consent_id=consent_id,
            revoked_on=body.revoked_on,
            actor=token.actor,
            now=clock(),
        )
    except ConsentError as exc:
        raise _refused(exc) from exc
    return consent_out(consent)


@router.post(
    "/cases/{reference}/document-requests",
    response_model=DocumentRequestOut,
    status_code=status.HTTP_201_CREATED,
    summary="Record a request for documents and the menprövning's outcome",
)
async def document_request(
    reference: str,
    body: DocumentRequestIn,
    clock: Clock,
    policy: Policy,
    response: Response,
    session: Session,
    token: ApiWriter,
) -> DocumentRequestOut:
    case = await _case(session, reference, token.scope)
    try:
        request = await record_request(
            session,
            case=case,
            data=RequestInput(**body.model_dump(exclude={"decided_by"})),
            organisation=policy.organisation,
            decided_by=(body.decided_by or "").strip() or policy.organisation,
            actor=token.actor,
            now=clock(),
        )
    except DisclosureError as exc:
        raise _refused(exc) from exc
    response.headers["Location"] = f"/api/cases/{case.reference}"
    return request_out(request)
