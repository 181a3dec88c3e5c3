"""`/api/intake`: the intake ledger's rows (the failed ones by default) and their raw form."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response, status

from inbox.core.models import IntakeStatus
from inbox.intake.ledger import get_record, list_records
from inbox.web.api.paging import Cursor, Limit, cursor_id, id_cursor
from inbox.web.api.problems import EVERY_OPERATION, problems
from inbox.web.api.schemas import IntakeList, IntakeOut, download_doc
from inbox.web.deps import ApiRegistrar, Session
from inbox.web.downloads import RFC822, download, raw_form
from inbox.web.inputs import Id

router = APIRouter(prefix="/api", tags=["api"], responses=EVERY_OPERATION)
STATUSES = [s.value for s in IntakeStatus]


@router.get(
    "/intake",
    response_model=IntakeList,
    summary="Intake ledger rows (e.g. failed), newest first",
    responses=problems(400),
)
async def intake_index(
    session: Session,
    token: ApiRegistrar,
    status_: Annotated[
        str, Query(alias="status", json_schema_extra={"enum": STATUSES}, description="Which rows")
    ] = IntakeStatus.FAILED.value,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> IntakeList:
    """Rows whose case is in the token's units; rows with no case go with the unit-less cases."""
    if status_ not in STATUSES:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            detail=f"unknown status {status_!r}; known: {', '.join(STATUSES)}",
        )
    page = await list_records(
        session, scope=token.scope, status=status_, limit=limit, before=cursor_id(cursor)
    )
    items = [
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
    return IntakeList(items=items, next_cursor=id_cursor(page.next_before))


@router.get(
    "/intake/{record_id}/raw",
    summary="The raw form of an intake ledger row",
    response_class=Response,
    responses={
        **download_doc(
            "A mail as received (`.eml`), or another channel's JSON", RFC822, "application/json"
        ),
        **problems(404),
    },
)
async def intake_raw(record_id: Id, session: Session, token: ApiRegistrar) -> Response:
    row = await get_record(session, scope=token.scope, record_id=record_id)
    assert row.raw is not None
    suffix, media_type = raw_form(row.channel)
    return download(row.raw, filename=f"intake-{record_id}{suffix}", media_type=media_type)
