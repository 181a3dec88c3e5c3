"""`/api/intake`: the intake ledger's rows (the failed ones by default) and their raw form."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from inbox.intake.ledger import get_record, list_records
from inbox.web.api.schemas import IntakeOut, download_doc
from inbox.web.deps import ApiRegistrar, Session
from inbox.web.downloads import download
from inbox.web.inputs import Id

router = APIRouter(prefix="/api", tags=["api"])


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
    responses=download_doc("application/octet-stream"),
)
async def intake_raw(record_id: Id, session: Session, token: ApiRegistrar) -> Response:
    row = await get_record(session, scope=token.scope, record_id=record_id)
    assert row.raw is not None
    return download(
        row.raw, filename=f"intake-{record_id}.eml", media_type="application/octet-stream"
    )
