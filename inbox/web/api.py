"""The JSON API under `/api`: thin endpoints over the core, authenticated with bearer tokens.

Every read of a case is an audit event. Originals and attachments are served on their own, always
as downloads (`Content-Disposition: attachment`, `nosniff`), never inside the case JSON.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import (
    APIRouter,
    BackgroundTasks,
    HTTPException,
    Query,
    Request,
    Response,
    status,
)
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.cases.access import EVERYTHING, Scope
from inbox.cases.audit_trail import list_events
from inbox.cases.merging import MergeError, merge_cases, split_message
from inbox.cases.queries import (
    ROW_FLAGS,
    CaseDetail,
    CaseFilter,
    InvalidFilter,
    count_by_status,
    find_attachment,
    find_case,
    find_message,
    get_case,
    list_cases,
)
from inbox.cases.replies import ReplyError, add_reply
from inbox.cases.triage import TriageError, update_case
from inbox.core.audit import audit
from inbox.core.inbound import Channel
from inbox.core.models import Attachment, Case, IntakeRecord, Message
from inbox.intake.ledger import get_record, list_records
from inbox.intake.registration import Registration, RegistrationError, register_case
from inbox.web.deps import (
    ApiAdmin,
    ApiListReader,
    ApiReader,
    ApiRegistrar,
    ApiWriter,
    Caller,
    ReadSession,
    Session,
)
from inbox.web.inputs import Id
from inbox.web.schemas import (
    REFUSED,
    AttachmentOut,
    AuditEventOut,
    AuditList,
    CaseList,
    CaseOut,
    CaseRef,
    CaseSummary,
    IntakeOut,
    MergeIn,
    MergeOut,
    MessageOut,
    OutboxOut,
    RegistrationIn,
    ReplyIn,
    TriageIn,
)

router = APIRouter(prefix="/api", tags=["api"])


def _flags(case: Case) -> list[str]:
    return [name for name in ROW_FLAGS if getattr(case, f"flag_{name}")]


def _audit(
    request: Request,
    session: AsyncSession,
    token: Caller,
    action: str,
    case: Case,
    **detail: object,
) -> None:
    audit(
        session,
        actor=token.actor,
        action=action,
        case=case,
        now=request.app.state.clock(),
        token=token.name,
        **detail,
    )


@router.get("/cases", response_model=CaseList, summary="List cases, newest first")
async def cases_index(
    request: Request,
    session: ReadSession,
    token: ApiListReader,
    status_: Annotated[str | None, Query(alias="status")] = None,
    kind: str | None = None,
    unit: str | None = None,
    channel: str | None = None,
    assignee: Annotated[
        str | None, Query(description="A user id or username, or `unassigned`")
    ] = None,
    overdue: bool = False,
    flag: Annotated[list[str], Query(description="Every named flag set (repeatable)")] = [],  # noqa: B006
    q: Annotated[str | None, Query(max_length=500, description="Full-text search")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
) -> CaseList:
    filters = CaseFilter(
        status=status_,
        kind=kind,
        unit=unit,
        channel=channel,
        assignee=assignee,
        overdue=overdue,
        flags=tuple(flag),
        q=q,
    )
    try:
        page = await list_cases(
            session,
            filters=filters,
            scope=token.scope,
            limit=limit,
            cursor=cursor,
            now=request.app.state.clock(),
        )
    except InvalidFilter as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=str(exc)) from exc
    items = [
        CaseSummary(
            reference=row.reference,
            kind=row.kind,
            status=row.status,
            channel=row.channel,
            origin=row.origin,
            unit=row.unit_code,
            subject=row.subject,
            preview=row.preview,
            sender=row.contact_address,
            received_at=row.received_at,
            due_on=row.due_on,
            flags=list(row.flags),
        )
        for row in page.items
    ]
    return CaseList(items=items, next_cursor=page.next_cursor)


@router.get("/cases/{reference}", response_model=CaseOut, summary="One case with its thread")
async def case_show(
    reference: str, request: Request, session: Session, token: ApiReader
) -> CaseOut:
    detail = await get_case(session, reference=reference, scope=token.scope)
    if detail is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="No such case")
    _audit(request, session, token, "case.read", detail.case)
    return _case_out(detail)


def _case_out(detail: CaseDetail) -> CaseOut:
    case = detail.case
    messages = [
        _message_out(case, m, detail.attachments.get(m.id or 0, [])) for m in detail.messages
    ]
    contact = detail.contact
    return CaseOut(
        reference=case.reference,
        kind=case.kind,
        status=case.status,
        channel=case.channel,
        origin=case.origin,
        unit=detail.unit_code,
        submitter_role=case.submitter_role,
        priority=case.priority,
        language=case.language,
        subject=case.subject,
        contact=contact.address if contact else None,
        contact_name=contact.display_name if contact else None,
        contact_unreachable=bool(contact and contact.unreachable_at),
        received_at=case.received_at,
        due_on=case.due_on,
        first_response_at=case.first_response_at,
        closed_at=case.closed_at,
        outcome=case.outcome,
        flags=_flags(case),
        messages=messages,
        outbox=[
            OutboxOut(
                id=o.id or 0,
                kind=o.kind,
                channel=o.channel,
                status=o.status,
                attempts=o.attempts,
                run_at=o.run_at,
                sent_at=o.sent_at,
                last_error=o.last_error,
            )
            for o in detail.outbox
        ],
    )


def _message_out(case: Case, m: Message, attachments: Sequence[Attachment]) -> MessageOut:
    base = f"/api/cases/{case.reference}"
    return MessageOut(
        id=m.id or 0,
        direction=m.direction,
        channel=m.channel,
        kind=m.kind,
        sender=m.sender_address,
        sender_name=m.sender_name,
        recipient=m.recipient,
        subject=m.subject,
        text=m.text,
        display_text=m.display_text,
        html=m.html,
        language=m.language,
        automation=m.automation,
        created_at=m.created_at,
        delivery=m.delivery,
        delivered_at=m.delivered_at,
        delivery_error=m.delivery_error,
        attachments=[
            AttachmentOut(
                id=a.id or 0,
                filename=a.filename,
                content_type=a.content_type,
                size=a.size,
                sha256=a.sha256,
                inline=a.inline,
                url=f"{base}/attachments/{a.id}",
            )
            for a in attachments
        ],
        original_url=f"{base}/messages/{m.id}/original" if m.intake_id else None,
    )


@router.post(
    "/cases/{reference}/replies",
    response_model=MessageOut,
    status_code=status.HTTP_201_CREATED,
    summary="Answer the case's contact through the case's channel",
)
async def case_reply(
    reference: str,
    body: ReplyIn,
    request: Request,
    session: Session,
    token: ApiWriter,
    background: BackgroundTasks,
) -> MessageOut:
    case = await _case_or_404(session, reference, token.scope)
    try:
        message = await add_reply(
            session,
            case=case,
            text=body.text,
            actor=token.actor,
            now=request.app.state.clock(),
            mail_domain=request.app.state.policy.mail_domain,
        )
    except ReplyError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from exc
    background.add_task(request.app.state.wake_worker)  # runs after the commit
    return _message_out(case, message, [])


def _download_doc(*media_types: str) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI description of a download: a file in one of these media types."""
    return {200: {"description": "A download", "content": {t: {} for t in media_types}}}


def _download(data: bytes, *, filename: str, media_type: str) -> Response:
    safe = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in filename) or "download"
    return Response(
        content=data,
        media_type=media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{safe}"',
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
        },
    )


async def _case_or_404(session: AsyncSession, reference: str, scope: Scope) -> Case:
    case = await find_case(session, reference=reference, scope=scope)
    if case is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="No such case")
    return case


@router.get(
    "/cases/{reference}/messages/{message_id}/original",
    summary="The original message",
    response_class=Response,
    responses=_download_doc("message/rfc822", "application/json"),
)
async def message_original(
    reference: str, message_id: Id, request: Request, session: Session, token: ApiReader
) -> Response:
    case = await _case_or_404(session, reference, token.scope)
    message = await find_message(session, case=case, message_id=message_id)
    if message is None or message.intake_id is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="No such message")
    record = await session.get(IntakeRecord, message.intake_id)
    if record is None or record.raw is None:
        raise HTTPException(
            status.HTTP_410_GONE, detail="The original has been removed by retention"
        )
    _audit(request, session, token, "message.original.read", case, message_id=message_id)
    suffix, media_type = (
        (".eml", "message/rfc822")
        if record.channel == Channel.EMAIL
        else (".json", "application/json")
    )
    return _download(
        record.raw, filename=f"{case.reference}-{message_id}{suffix}", media_type=media_type
    )


@router.get(
    "/cases/{reference}/attachments/{attachment_id}",
    summary="Download an attachment",
    response_class=Response,
    responses=_download_doc("application/octet-stream"),
)
async def attachment_download(
    reference: str, attachment_id: Id, request: Request, session: Session, token: ApiReader
) -> Response:
    case = await _case_or_404(session, reference, token.scope)
    row = await find_attachment(session, case=case, attachment_id=attachment_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="No such attachment")
    _audit(request, session, token, "attachment.read", case, attachment_id=attachment_id)
    return _download(row.data, filename=row.filename, media_type="application/octet-stream")


@router.get(
    "/intake",
    response_model=list[IntakeOut],
    summary="Intake ledger rows (e.g. failed), newest first",
    responses={
        200: {
            "headers": {
                "Link": {
                    "description": 'The next (older) page, `<…&before=ID>; rel="next"`, when '
                    "there is one",
                    "schema": {"type": "string"},
                }
            }
        }
    },
)
async def intake_index(
    request: Request,
    response: Response,
    session: Session,
    token: ApiRegistrar,
    status_: Annotated[str, Query(alias="status")] = "failed",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    before: Annotated[Id | None, Query(description="A row id: only older rows")] = None,
) -> list[IntakeOut]:
    """Rows whose case is in the token's units; rows with no case go with the unit-less cases.

    The list stays a plain array; the next page is in the `Link` header (as `before`).
    """
    page = await list_records(
        session, scope=token.scope, status=status_, limit=limit, before=before
    )
    if page.next_before is not None:
        following = request.url.include_query_params(before=page.next_before)
        response.headers["Link"] = f'<{following.path}?{following.query}>; rel="next"'
    return [
        IntakeOut(
            id=r.id or 0,
            channel=r.channel,
            external_id=r.external_id,
            status=r.status,
            received_at=r.received_at,
            raw_size=r.raw_size,
            error=r.error,
            case_reference=r.case_reference,
            raw_url=f"/api/intake/{r.id}/raw",
        )
        for r in page.records
    ]


@router.get(
    "/intake/{record_id}/raw",
    summary="The raw form of an intake ledger row",
    response_class=Response,
    responses=_download_doc("application/octet-stream"),
)
async def intake_raw(record_id: Id, session: Session, token: ApiRegistrar) -> Response:
    row = await get_record(session, scope=token.scope, record_id=record_id)
    assert row.raw is not None
    return _download(
        row.raw, filename=f"intake-{record_id}.eml", media_type="application/octet-stream"
    )


@router.patch("/cases/{reference}", response_model=CaseOut, summary="Triage a case")
async def case_patch(
    reference: str, body: TriageIn, request: Request, session: Session, token: ApiWriter
) -> CaseOut:
    """Changes only the fields sent; each change is audited (before → after)."""
    case = await _case_or_404(session, reference, token.scope)
    changes: dict[str, Any] = body.model_dump(exclude_unset=True)
    try:
        await update_case(
            session, case=case, changes=changes, actor=token.actor, now=request.app.state.clock()
        )
    except TriageError as exc:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail=[{"loc": ["body", exc.field], "msg": str(exc), "type": "value_error"}],
        ) from exc
    # The case may have just left the token's units: answer with what was done to it all the same.
    detail = await get_case(session, reference=case.reference, scope=EVERYTHING)
    assert detail is not None
    return _case_out(detail)


# Search counts, merge, split, registration by hand, the audit trail ---------------------------------


@router.get("/counts", response_model=dict[str, int], summary="Cases per status for a list")
async def case_counts(
    request: Request,
    session: ReadSession,
    token: ApiListReader,
    kind: str | None = None,
    unit: str | None = None,
    channel: str | None = None,
    assignee: str | None = None,
    overdue: bool = False,
    flag: Annotated[list[str], Query()] = [],  # noqa: B006
    q: Annotated[str | None, Query(max_length=500)] = None,
) -> dict[str, int]:
    filters = CaseFilter(
        kind=kind,
        unit=unit,
        channel=channel,
        assignee=assignee,
        overdue=overdue,
        flags=tuple(flag),
        q=q,
    )
    try:
        return await count_by_status(
            session, filters=filters, scope=token.scope, now=request.app.state.clock()
        )
    except InvalidFilter as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=str(exc)) from exc


@router.post(
    "/cases",
    response_model=CaseRef,
    status_code=status.HTTP_201_CREATED,
    summary="Register a case by hand (phone, letter, visit, IVO)",
    responses=REFUSED,
)
async def case_register(
    body: RegistrationIn,
    request: Request,
    response: Response,
    session: Session,
    token: ApiWriter,
) -> CaseRef:
    registration = Registration(**body.model_dump())
    try:
        case = await register_case(
            session,
            registration=registration,
            scope=token.scope,
            actor=token.actor,
            policy=request.app.state.policy,
            now=request.app.state.clock(),
        )
    except RegistrationError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(exc)) from exc
    url = f"/api/cases/{case.reference}"
    response.headers["Location"] = url
    return CaseRef(reference=case.reference, url=url)


@router.post("/cases/{reference}/merge", response_model=MergeOut, summary="Merge into another case")
async def case_merge(
    reference: str, body: MergeIn, request: Request, session: Session, token: ApiWriter
) -> MergeOut:
    source = await _case_or_404(session, reference, token.scope)
    target = await _case_or_404(session, body.into.strip(), token.scope)
    try:
        moved = await merge_cases(
            session,
            source=source,
            target=target,
            actor=token.actor,
            now=request.app.state.clock(),
        )
    except MergeError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from exc
    return MergeOut(reference=source.reference, merged_into=target.reference, messages_moved=moved)


@router.post(
    "/cases/{reference}/messages/{message_id}/split",
    response_model=CaseRef,
    status_code=status.HTTP_201_CREATED,
    summary="Move an inbound message to a new case of its own",
)
async def message_split(
    reference: str,
    message_id: Id,
    request: Request,
    response: Response,
    session: Session,
    token: ApiWriter,
) -> CaseRef:
    case = await _case_or_404(session, reference, token.scope)
    policy = request.app.state.policy
    try:
        new = await split_message(
            session,
            case=case,
            message_id=message_id,
            actor=token.actor,
            now=request.app.state.clock(),
            prefix=policy.case_prefix,
            response_days=policy.response_days,
        )
    except MergeError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from exc
    url = f"/api/cases/{new.reference}"
    response.headers["Location"] = url
    return CaseRef(reference=new.reference, url=url)


@router.get("/audit", response_model=AuditList, summary="The audit trail, newest first")
async def audit_index(
    session: Session,
    token: ApiAdmin,
    case: Annotated[
        str | None, Query(min_length=1, max_length=32, description="A case reference")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    before: Annotated[Id | None, Query(description="An event id from `next_before`")] = None,
) -> AuditList:
    """Events of cases in the token's units; events of no case only for all-units tokens."""
    trail = await list_events(
        session, scope=token.scope, case_reference=case, before=before, limit=limit
    )
    items = [
        AuditEventOut(
            id=e.id or 0,
            at=e.at,
            actor=e.actor,
            action=e.action,
            case=e.case_reference,
            detail=e.detail,
            remote_addr=e.remote_addr,
        )
        for e in trail.events
    ]
    return AuditList(items=items, next_before=trail.next_before)
