"""`/api/cases`: lists and counts, one case with its thread, replies, triage, merge, split,
registration by hand, and the downloads of originals and attachments.

Every read of a case is an audit event. Originals and attachments are served on their own, always
as downloads (`Content-Disposition: attachment`, `nosniff`), never inside the case JSON.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from fastapi import (
    APIRouter,
    BackgroundTasks,
    Depends,
    HTTPException,
    Query,
    Response,
    status,
)
from fastapi.exceptions import RequestValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.cases.access import EVERYTHING, Forbidden, Scope
from inbox.cases.merging import (
    UNDO_WINDOW,
    MergeError,
    MoveNotFound,
    UndoRefused,
    find_move,
    last_move,
    merge_cases,
    split_message,
    undo_move,
)
from inbox.cases.queries import (
    CaseFilter,
    InvalidFilter,
    count_by_status,
    find_attachment,
    find_case,
    find_message,
    get_case,
    list_cases,
)
from inbox.cases.registry import hides_identity
from inbox.cases.replies import ReplyError, add_reply
from inbox.cases.triage import TriageError, move_to_inbox, update_case
from inbox.core.audit import audit
from inbox.core.inbound import Channel
from inbox.core.models import Case, CaseKind, CaseStatus, IntakeRecord
from inbox.intake.registration import Registration, RegistrationError, register_case
from inbox.web.api.paging import Cursor, Limit
from inbox.web.api.problems import EVERY_OPERATION, problems
from inbox.web.api.schemas import (
    CaseList,
    CaseOut,
    CaseRef,
    CaseSummary,
    MergeIn,
    MergeOut,
    MessageOut,
    RegistrationIn,
    ReplyIn,
    SplitOut,
    TriageIn,
    UndoOut,
    case_out,
    download_doc,
    message_out,
)
from inbox.web.deps import (
    ApiListReader,
    ApiReader,
    ApiWriter,
    Caller,
    ReadSession,
    Session,
)
from inbox.web.downloads import RFC822, download, raw_form, stored_type
from inbox.web.inputs import Id
from inbox.web.state import Clock, Oidc, Policy, WakeWorker

router = APIRouter(prefix="/api", tags=["api"], responses=EVERY_OPERATION)
# What a list refuses (an unknown filter value or cursor), and what an operation on one case does.
LIST = problems(400)
ONE = problems(404)


def _audit(
    session: AsyncSession,
    token: Caller,
    action: str,
    case: Case,
    now: datetime,
    **detail: object,
) -> None:
    audit(
        session,
        actor=token.actor,
        action=action,
        case=case,
        now=now,
        token=token.name,
        **detail,
    )


def _one_of(values: type[StrEnum], description: str, alias: str | None = None) -> Any:
    """A query parameter that takes one of `values`: listed in the schema; another is a 400 (the
    core's `InvalidFilter`), as for every filter value a list does not know."""
    enum = [v.value for v in values]
    return Query(alias=alias, description=description, json_schema_extra={"enum": enum})


def _list_filters(
    kind: Annotated[str | None, _one_of(CaseKind, "The cases' kind")] = None,
    unit: str | None = None,
    channel: Annotated[str | None, _one_of(Channel, "The channel the case came in by")] = None,
    assignee: Annotated[
        str | None, Query(description="A user id or username, or `unassigned`")
    ] = None,
    overdue: bool = False,
    flag: Annotated[list[str], Query(description="Every named flag set (repeatable)")] = [],  # noqa: B006
    q: Annotated[str | None, Query(max_length=500, description="Full-text search")] = None,
    machine: Annotated[
        bool | None,
        Query(
            description="`false`: the inbox staff triage, without machine mail; `true`: only"
            " machine mail (bounces, auto-replies, lists: the page's Maskinpost); absent: both"
        ),
    ] = None,
) -> CaseFilter:
    """The filters a list and its counts share, read from the query string in one place."""
    return CaseFilter(
        kind=kind,
        unit=unit,
        channel=channel,
        assignee=assignee,
        overdue=overdue,
        flags=tuple(flag),
        q=q,
        machine=machine,
    )


ListFilters = Annotated[CaseFilter, Depends(_list_filters)]


@router.get("/cases", response_model=CaseList, summary="List cases, newest first", responses=LIST)
async def cases_index(
    clock: Clock,
    session: ReadSession,
    token: ApiListReader,
    shared: ListFilters,
    status_: Annotated[str | None, _one_of(CaseStatus, "The cases' status", "status")] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> CaseList:
    filters = replace(shared, status=status_)
    try:
        page = await list_cases(
            session,
            filters=filters,
            scope=token.scope,
            limit=limit,
            cursor=cursor,
            now=clock(),
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
            registry_title=row.registry_title,
            subject=row.subject,
            preview=row.preview,
            sender=row.contact_address,
            received_at=row.received_at,
            due_on=row.due_on,
            flags=list(row.flags),
            secrecy_marked=row.secrecy_marked,
            identity_protected=row.identity_protected,
        )
        for row in page.items
    ]
    return CaseList(items=items, next_cursor=page.next_cursor)


@router.get(
    "/cases/{reference}", response_model=CaseOut, summary="One case with its thread", responses=ONE
)
async def case_show(reference: str, clock: Clock, session: Session, token: ApiReader) -> CaseOut:
    detail = await get_case(session, reference=reference, scope=token.scope)
    if detail is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="No such case")
    _audit(session, token, "case.read", detail.case, clock())
    return case_out(detail)


@router.post(
    "/cases/{reference}/replies",
    response_model=MessageOut,
    status_code=status.HTTP_201_CREATED,
    summary="Answer the case's contact through the case's channel",
    responses=problems(404, 409),
)
async def case_reply(
    reference: str,
    body: ReplyIn,
    clock: Clock,
    policy: Policy,
    wake_worker: WakeWorker,
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
            now=clock(),
            mail_domain=policy.mail_domain,
            confirmed_no_personal_details=body.confirm_no_personal_details,
        )
    except ReplyError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from exc
    background.add_task(wake_worker)  # runs after the commit
    return message_out(case, message, [])


async def _case_or_404(session: AsyncSession, reference: str, scope: Scope) -> Case:
    case = await find_case(session, reference=reference, scope=scope)
    if case is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="No such case")
    return case


@router.get(
    "/cases/{reference}/messages/{message_id}/original",
    summary="The original message",
    response_class=Response,
    responses={
        **download_doc(
            "A mail as received (`.eml`), or another channel's JSON", RFC822, "application/json"
        ),
        **problems(404, 410),
    },
)
async def message_original(
    reference: str, message_id: Id, clock: Clock, session: Session, token: ApiReader
) -> Response:
    case = await _case_or_404(session, reference, token.scope)
    message = await find_message(session, case=case, message_id=message_id)
    if message is None or message.intake_id is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="No such message")
    if hides_identity(case, token.scope):
        raise Forbidden("the sender's identity is protected: registrars and admins only")
    record = await session.get(IntakeRecord, message.intake_id)
    if record is None or record.raw is None:
        raise HTTPException(
            status.HTTP_410_GONE, detail="The original has been removed by retention"
        )
    _audit(session, token, "message.original.read", case, clock(), message_id=message_id)
    suffix, media_type = raw_form(record.channel)
    return download(
        record.raw, filename=f"{case.reference}-{message_id}{suffix}", media_type=media_type
    )


@router.get(
    "/cases/{reference}/attachments/{attachment_id}",
    summary="Download an attachment",
    response_class=Response,
    responses={
        **download_doc("The attachment, as the media type it was received with", "*/*"),
        **ONE,
    },
)
async def attachment_download(
    reference: str, attachment_id: Id, clock: Clock, session: Session, token: ApiReader
) -> Response:
    case = await _case_or_404(session, reference, token.scope)
    row = await find_attachment(session, case=case, attachment_id=attachment_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="No such attachment")
    _audit(session, token, "attachment.read", case, clock(), attachment_id=attachment_id)
    return download(row.data, filename=row.filename, media_type=stored_type(row.content_type))


@router.patch("/cases/{reference}", response_model=CaseOut, summary="Triage a case", responses=ONE)
async def case_patch(
    reference: str, body: TriageIn, clock: Clock, session: Session, token: ApiWriter, oidc: Oidc
) -> CaseOut:
    """Changes only the fields sent; each change is audited (before → after)."""
    case = await _case_or_404(session, reference, token.scope)
    changes: dict[str, Any] = body.model_dump(exclude_unset=True)
    try:
        await update_case(
            session,
            case=case,
            changes=changes,
            actor=token.actor,
            now=clock(),
            oidc=oidc is not None,
        )
    except TriageError as exc:
        raise RequestValidationError(
            [{"loc": ("body", exc.field), "msg": str(exc), "type": "value_error"}]
        ) from exc
    # The case may have just left the token's units: answer with what was done to it all the same.
    detail = await get_case(
        session, reference=case.reference, scope=EVERYTHING, shown_to=token.scope
    )
    assert detail is not None
    return case_out(detail)


# Search counts, merge, split, registration by hand ------------------------------------------------


@router.get(
    "/counts", response_model=dict[str, int], summary="Cases per status for a list", responses=LIST
)
async def case_counts(
    clock: Clock, session: ReadSession, token: ApiListReader, filters: ListFilters
) -> dict[str, int]:
    try:
        return await count_by_status(session, filters=filters, scope=token.scope, now=clock())
    except InvalidFilter as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=str(exc)) from exc


@router.post(
    "/cases",
    response_model=CaseRef,
    status_code=status.HTTP_201_CREATED,
    summary="Register a case by hand (phone, letter, visit, IVO)",
)
async def case_register(
    body: RegistrationIn,
    clock: Clock,
    policy: Policy,
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
            policy=policy,
            now=clock(),
        )
    except RegistrationError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(exc)) from exc
    url = f"/api/cases/{case.reference}"
    response.headers["Location"] = url
    return CaseRef(reference=case.reference, url=url)


@router.post(
    "/cases/{reference}/to-inbox",
    response_model=CaseRef,
    summary="Move a case of machine mail into the inbox (a person was behind it)",
    responses=ONE,
)
async def case_to_inbox(
    reference: str, clock: Clock, session: Session, token: ApiWriter
) -> CaseRef:
    """Clears the machine-mail mark (`flags` no longer has `automated`), audited; a case in the
    inbox already is left as it is."""
    case = await _case_or_404(session, reference, token.scope)
    await move_to_inbox(session, case=case, actor=token.actor, now=clock())
    return CaseRef(reference=case.reference, url=f"/api/cases/{case.reference}")


@router.post(
    "/cases/{reference}/merge",
    response_model=MergeOut,
    summary="Merge into another case",
    responses=problems(404, 409),
)
async def case_merge(
    reference: str, body: MergeIn, clock: Clock, session: Session, token: ApiWriter
) -> MergeOut:
    source = await _case_or_404(session, reference, token.scope)
    target = await _case_or_404(session, body.into.strip(), token.scope)
    try:
        moved = await merge_cases(
            session,
            source=source,
            target=target,
            actor=token.actor,
            now=clock(),
        )
    except MergeError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from exc
    move = await last_move(session, case=source, other=target)
    assert move is not None and move.id is not None
    return MergeOut(
        reference=source.reference,
        merged_into=target.reference,
        messages_moved=moved,
        move_id=move.id,
    )


@router.post(
    "/cases/{reference}/messages/{message_id}/split",
    response_model=SplitOut,
    status_code=status.HTTP_201_CREATED,
    summary="Move an inbound message to a new case of its own",
    responses=problems(404, 409),
)
async def message_split(
    reference: str,
    message_id: Id,
    clock: Clock,
    policy: Policy,
    response: Response,
    session: Session,
    token: ApiWriter,
) -> SplitOut:
    case = await _case_or_404(session, reference, token.scope)
    try:
        new = await split_message(
            session,
            case=case,
            message_id=message_id,
            actor=token.actor,
            now=clock(),
            prefix=policy.case_prefix,
            response_days=policy.response_days,
        )
    except MergeError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from exc
    url = f"/api/cases/{new.reference}"
    response.headers["Location"] = url
    move = await last_move(session, case=case, other=new)
    assert move is not None and move.id is not None
    return SplitOut(reference=new.reference, url=url, move_id=move.id)


@router.post(
    "/cases/{reference}/moves/{move_id}/undo",
    response_model=UndoOut,
    summary=f"Undo a merge or a split (for {UNDO_WINDOW.seconds // 60} minutes, while neither case "
    "has changed)",
    responses=problems(404, 409),
)
async def move_undo(
    reference: str, move_id: Id, clock: Clock, session: Session, token: ApiWriter
) -> UndoOut:
    """From either case, with the same checks as the merge or split: a writer who sees both.
    409 once undone, after the window, or when either case has changed since (the reason in
    Swedish, as the case page says it)."""
    case = await _case_or_404(session, reference, token.scope)
    try:
        move = await find_move(session, case=case, move_id=move_id, scope=token.scope)
    except MoveNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="No such merge or split") from exc
    try:
        back_on, kept = await undo_move(session, move=move, actor=token.actor, now=clock())
    except UndoRefused as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from exc
    return UndoOut(
        kind=move.kind, reference=back_on.reference, other=kept.reference if kept else None
    )
