"""`/api/audit`: the audit trail for admin tokens, newest first, paged by a cursor of event ids."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query

from inbox.cases.audit_trail import AuditFilter, list_events
from inbox.staff.users import find_unit
from inbox.web.api.paging import Cursor, Limit, cursor_id, id_cursor
from inbox.web.api.problems import EVERY_OPERATION, problems
from inbox.web.api.schemas import AuditEventOut, AuditList
from inbox.web.deps import ApiAdmin, Session

router = APIRouter(prefix="/api", tags=["api"], responses=EVERY_OPERATION)


@router.get(
    "/audit",
    response_model=AuditList,
    summary="The audit trail, newest first",
    responses=problems(400),
)
async def audit_index(
    session: Session,
    token: ApiAdmin,
    case: Annotated[
        str | None, Query(min_length=1, max_length=32, description="A case reference")
    ] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
    actor: Annotated[
        str | None,
        Query(max_length=100, description="Who: `user:<id>`, `token:<id>`, `cli:<name>`"),
    ] = None,
    action: Annotated[
        str | None, Query(max_length=64, description="An action, or a group such as `staff`")
    ] = None,
    unit: Annotated[str | None, Query(max_length=64, description="A unit code")] = None,
    since: Annotated[
        date | None, Query(alias="from", description="First day (Swedish time)")
    ] = None,
    until: Annotated[date | None, Query(alias="to", description="Last day (Swedish time)")] = None,
) -> AuditList:
    """Events of cases in the token's units; events of no case only for all-units tokens.
    Narrowed like the log review page: by who, what, unit (its cases) and days."""
    unit_id = None
    if unit:
        found = await find_unit(session, code=unit)
        unit_id = found.id if found is not None else 0  # an unknown unit has no events
    filters = AuditFilter(actor=actor, action=action, unit_id=unit_id, since=since, until=until)
    trail = await list_events(
        session,
        scope=token.scope,
        case_reference=case,
        before=cursor_id(cursor),
        limit=limit,
        filters=filters,
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
    return AuditList(items=items, next_cursor=id_cursor(trail.next_before))
