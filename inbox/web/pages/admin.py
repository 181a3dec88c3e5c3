"""Pages for registrars and admins: channel health, the audit trail and reply templates.

Channel health shows what each channel last reported (whatever fields the channel gives), mail
kept because it could not be read, and outbox rows that are dead — so staff never learn of a
silent channel from a citizen.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlmodel import col

from inbox.cases.audit_trail import list_events
from inbox.cases.templates import (
    PLACEHOLDERS,
    TemplateError,
    delete_template,
    list_templates,
    save_template,
)
from inbox.core.models import (
    Case,
    IntakeStatus,
    OutboxItem,
    OutboxStatus,
    StaffUser,
)
from inbox.intake.ledger import get_record, list_records
from inbox.web.auth.csrf import verify_csrf
from inbox.web.auth.sessions import Session, Staff
from inbox.web.deps import StaffAdmin, StaffRegistrar
from inbox.web.downloads import download, raw_form
from inbox.web.inputs import Id, parse_id
from inbox.web.render import page
from inbox.web.state import Channels, Clock

router = APIRouter(dependencies=[Depends(verify_csrf)], include_in_schema=False)
AUDIT_PAGE = 100


def _fields(value: Any) -> list[tuple[str, str]]:
    if isinstance(value, dict):
        return [(str(k), _text(v)) for k, v in value.items()]
    return [("status", _text(value))]


def _text(value: Any) -> str:
    if value is None:
        return "–"
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    return str(value)


@router.get("/health", response_class=HTMLResponse)
async def health(
    request: Request, session: Session, staff: StaffRegistrar, channel_status: Channels
) -> Response:
    try:
        channels = dict(channel_status())
    except Exception as exc:  # the page must render even when a channel's report fails
        channels = {"kanalstatus": {"fel": f"{type(exc).__name__}: {exc}"}}
    failed = (
        await list_records(session, scope=staff.scope, status=IntakeStatus.FAILED, limit=50)
    ).records
    dead = (
        await session.execute(
            select(OutboxItem, col(Case.reference))
            .outerjoin(Case, col(Case.id) == OutboxItem.case_id)
            .where(
                col(OutboxItem.status) == OutboxStatus.DEAD,
                staff.scope.linked_condition(),
            )
            .order_by(col(OutboxItem.id).desc())
            .limit(50)
        )
    ).all()
    return page(
        request,
        "health.html",
        {
            "staff": staff,
            "channels": [(name, _fields(value)) for name, value in sorted(channels.items())],
            "failed": list(failed),
            "dead": dead,
        },
    )


@router.get("/intake/{record_id}/raw")
async def intake_raw(
    record_id: Id, request: Request, session: Session, staff: StaffRegistrar
) -> Response:
    row = await get_record(session, scope=staff.scope, record_id=record_id)
    assert row.raw is not None  # get_record finds only rows that still have it
    suffix, media_type = raw_form(row.channel)
    return download(row.raw, filename=f"intake-{record_id}{suffix}", media_type=media_type)


@router.get("/audit", response_class=HTMLResponse)
async def audit_page(
    request: Request,
    session: Session,
    staff: StaffAdmin,
    case: str = "",
    before: Id | None = None,
) -> Response:
    trail = await list_events(
        session, scope=staff.scope, case_reference=case, before=before, limit=AUDIT_PAGE
    )
    events = trail.events
    users = {
        f"user:{u.id}": u.username for u in (await session.execute(select(StaffUser))).scalars()
    }
    next_url = None
    if trail.next_before is not None:
        params = {**({"case": case.strip()} if case.strip() else {}), "before": trail.next_before}
        next_url = "/audit?" + urlencode(params)
    return page(
        request,
        "audit.html",
        {"staff": staff, "events": events, "users": users, "case": case, "next_url": next_url},
    )


@router.get("/templates", response_class=HTMLResponse)
async def templates_page(
    request: Request, session: Session, staff: StaffAdmin, error: str | None = None
) -> Response:
    return await _templates(request, session, staff)


async def _templates(
    request: Request,
    session: Session,
    staff: Staff,
    *,
    error: str | None = None,
    draft: dict[str, str] | None = None,
) -> Response:
    return page(
        request,
        "templates.html",
        {
            "staff": staff,
            "templates": await list_templates(session),
            "placeholders": PLACEHOLDERS,
            "error": error,
            "draft": draft or {"id": "", "name": "", "body": ""},
        },
        status_code=422 if error else 200,
    )


@router.post("/templates")
async def templates_save(
    request: Request, session: Session, staff: StaffAdmin, clock: Clock
) -> Response:
    form = await request.form()
    raw_id = str(form.get("id", "")).strip()
    name, body = str(form.get("name", "")), str(form.get("body", ""))
    template_id = parse_id(raw_id) if raw_id else None
    try:
        if raw_id and template_id is None:
            raise TemplateError("Mallen finns inte.")
        await save_template(session, template_id=template_id, name=name, body=body, now=clock())
    except TemplateError as exc:
        draft = {"id": raw_id, "name": name, "body": body}
        return await _templates(request, session, staff, error=str(exc), draft=draft)
    request.session["flash"] = "Mallen är sparad."
    return RedirectResponse("/templates", status_code=303)


@router.post("/templates/{template_id}/delete")
async def templates_delete(
    template_id: Id, request: Request, session: Session, staff: StaffAdmin
) -> Response:
    await delete_template(session, template_id=template_id)
    request.session["flash"] = "Mallen är borttagen."
    return RedirectResponse("/templates", status_code=303)
