"""The JSON API under `/api`: thin endpoints over the core, authenticated with bearer tokens.

Every read of a case is an audit event. Originals and attachments are served on their own, always
as downloads (`Content-Disposition: attachment`, `nosniff`), never inside the case JSON.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import (
    APIRouter,
    BackgroundTasks,
    Depends,
    HTTPException,
    Query,
    Request,
    Response,
    status,
)
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from inbox.access import EVERYTHING, Scope, scope_for_token
from inbox.cases import (
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
from inbox.db import unit_of_work
from inbox.merging import MergeError, merge_cases, split_message
from inbox.models import ApiToken, Attachment, AuditEvent, Case, IntakeRecord, Message
from inbox.registration import Registration, RegistrationError, register_case
from inbox.replies import Actor, ReplyError, add_reply
from inbox.tokens import authenticate, record_use, use_due
from inbox.triage import TriageError, update_case
from inbox.web.schemas import (
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
bearer = HTTPBearer(auto_error=False, description="An API token from `synpunkt tokens create`")


async def session_dep(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.sessions() as session, session.begin():
        yield session


async def read_session_dep(request: Request) -> AsyncIterator[AsyncSession]:
    """A session for endpoints that only read (see `inbox.db.read_sessions`): it must not write."""
    async with request.app.state.read_sessions() as session, session.begin():
        yield session


Session = Annotated[AsyncSession, Depends(session_dep)]
ReadSession = Annotated[AsyncSession, Depends(read_session_dep)]


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated API token and the cases it may see."""

    token: ApiToken
    scope: Scope

    @property
    def id(self) -> int | None:
        return self.token.id

    @property
    def name(self) -> str:
        return self.token.name


async def token_dep(
    request: Request,
    session: Session,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Caller:
    return await _caller(request, session, credentials, read_only=False)


async def read_token_dep(
    request: Request,
    session: ReadSession,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Caller:
    return await _caller(request, session, credentials, read_only=True)


async def _caller(
    request: Request,
    session: AsyncSession,
    credentials: HTTPAuthorizationCredentials | None,
    *,
    read_only: bool,
) -> Caller:
    token = None
    now = request.app.state.clock()
    if credentials is not None and credentials.scheme.lower() == "bearer":
        token = await authenticate(
            session, token=credentials.credentials, now=now, touch=not read_only
        )
    if token is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="A valid API token is required",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if read_only and token.id is not None and use_due(token, now=now):
        # The read session must not write, so the (at most once a minute) use is recorded in a
        # short write transaction of its own.
        async with unit_of_work(request.app.state.sessions) as writer:
            await record_use(writer, token_id=token.id, now=now)
    return Caller(token=token, scope=await scope_for_token(session, token=token))


Token = Annotated[Caller, Depends(token_dep)]
ReadToken = Annotated[Caller, Depends(read_token_dep)]


def _writer(token: Caller) -> None:
    if not token.scope.can_write:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="This token may only read")


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
    client = request.client.host if request.client else None
    session.add(
        AuditEvent(
            at=request.app.state.clock(),
            actor=f"token:{token.id}",
            action=action,
            case_id=case.id,
            case_reference=case.reference,
            detail={"token": token.name, **detail},
            remote_addr=client,
        )
    )


@router.get("/cases", response_model=CaseList, summary="List cases, newest first")
async def cases_index(
    request: Request,
    session: ReadSession,
    token: ReadToken,
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
async def case_show(reference: str, request: Request, session: Session, token: Token) -> CaseOut:
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
    token: Token,
    background: BackgroundTasks,
) -> MessageOut:
    case = await _case_or_404(session, reference, token.scope)
    _writer(token)
    actor = Actor(
        name=f"token:{token.id}", remote_addr=request.client.host if request.client else None
    )
    try:
        message = await add_reply(
            session,
            case=case,
            text=body.text,
            actor=actor,
            now=request.app.state.clock(),
            mail_domain=request.app.state.policy.mail_domain,
        )
    except ReplyError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from exc
    background.add_task(request.app.state.wake_worker)  # runs after the commit
    return _message_out(case, message, [])


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


@router.get("/cases/{reference}/messages/{message_id}/original", summary="The original message")
async def message_original(
    reference: str, message_id: int, request: Request, session: Session, token: Token
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
        (".eml", "message/rfc822") if record.channel == "email" else (".json", "application/json")
    )
    return _download(
        record.raw, filename=f"{case.reference}-{message_id}{suffix}", media_type=media_type
    )


@router.get("/cases/{reference}/attachments/{attachment_id}", summary="Download an attachment")
async def attachment_download(
    reference: str, attachment_id: int, request: Request, session: Session, token: Token
) -> Response:
    case = await _case_or_404(session, reference, token.scope)
    row = await find_attachment(session, case=case, attachment_id=attachment_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="No such attachment")
    _audit(request, session, token, "attachment.read", case, attachment_id=attachment_id)
    return _download(row.data, filename=row.filename, media_type="application/octet-stream")


@router.get("/intake", response_model=list[IntakeOut], summary="Intake ledger rows (e.g. failed)")
async def intake_index(
    session: Session,
    token: Token,
    status_: Annotated[str, Query(alias="status")] = "failed",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[IntakeOut]:
    rows = (
        await session.execute(
            select(IntakeRecord)
            .where(col(IntakeRecord.status) == status_)
            .order_by(col(IntakeRecord.received_at).desc(), col(IntakeRecord.id).desc())
            .limit(limit)
        )
    ).scalars()
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
        for r in rows
    ]


@router.get("/intake/{record_id}/raw", summary="The raw form of an intake ledger row")
async def intake_raw(record_id: int, session: Session, token: Token) -> Response:
    row = await session.get(IntakeRecord, record_id)
    if row is None or row.raw is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="No such intake record")
    return _download(
        row.raw, filename=f"intake-{record_id}.eml", media_type="application/octet-stream"
    )


@router.patch("/cases/{reference}", response_model=CaseOut, summary="Triage a case")
async def case_patch(
    reference: str, body: TriageIn, request: Request, session: Session, token: Token
) -> CaseOut:
    """Changes only the fields sent; each change is audited (before → after)."""
    case = await _case_or_404(session, reference, token.scope)
    _writer(token)
    actor = Actor(
        name=f"token:{token.id}", remote_addr=request.client.host if request.client else None
    )
    changes: dict[str, Any] = body.model_dump(exclude_unset=True)
    try:
        await update_case(
            session, case=case, changes=changes, actor=actor, now=request.app.state.clock()
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


# Search counts, merge, split, registration by hand, the audit trail (issue 5, second half) -------


def _actor(request: Request, token: Caller) -> Actor:
    return Actor(
        name=f"token:{token.id}", remote_addr=request.client.host if request.client else None
    )


@router.get("/counts", response_model=dict[str, int], summary="Cases per status for a list")
async def case_counts(
    request: Request,
    session: ReadSession,
    token: ReadToken,
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
)
async def case_register(
    body: RegistrationIn, request: Request, response: Response, session: Session, token: Token
) -> CaseRef:
    registration = Registration(**body.model_dump())
    try:
        case = await register_case(
            session,
            registration=registration,
            actor=_actor(request, token),
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
    reference: str, body: MergeIn, request: Request, session: Session, token: Token
) -> MergeOut:
    source = await _case_or_404(session, reference, token.scope)
    target = await _case_or_404(session, body.into.strip(), token.scope)
    try:
        moved = await merge_cases(
            session,
            source=source,
            target=target,
            actor=_actor(request, token),
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
    message_id: int,
    request: Request,
    response: Response,
    session: Session,
    token: Token,
) -> CaseRef:
    case = await _case_or_404(session, reference, token.scope)
    policy = request.app.state.policy
    try:
        new = await split_message(
            session,
            case=case,
            message_id=message_id,
            actor=_actor(request, token),
            now=request.app.state.clock(),
            prefix=policy.case_prefix,
            response_days=policy.response_days,
        )
    except MergeError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from exc
    url = f"/api/cases/{new.reference}"
    response.headers["Location"] = url
    return CaseRef(reference=new.reference, url=url)


@router.get("/audit", response_model=AuditList, summary="A case's audit trail, newest first")
async def audit_index(
    session: Session,
    token: Token,
    case: Annotated[
        str | None, Query(min_length=1, max_length=32, description="A case reference")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    before: Annotated[int | None, Query(ge=1, description="An event id from `next_before`")] = None,
) -> AuditList:
    if not token.scope.is_admin:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, detail="The audit trail needs an admin token"
        )
    conditions = []
    if case is not None:
        conditions.append(col(AuditEvent.case_reference) == case.strip().upper())
    if before is not None:
        conditions.append(col(AuditEvent.id) < before)
    rows = (
        (
            await session.execute(
                select(AuditEvent)
                .where(*conditions)
                .order_by(col(AuditEvent.id).desc())
                .limit(limit + 1)
            )
        )
        .scalars()
        .all()
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
        for e in rows[:limit]
    ]
    return AuditList(items=items, next_before=items[-1].id if len(rows) > limit else None)
