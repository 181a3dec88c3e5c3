"""Pages for registrars and admins: channel health, the audit trail with its log reviews and CSV
export, reply templates, and the admin area for users, units and API tokens.

Channel health shows what each channel last reported (whatever fields the channel gives), mail
kept because it could not be read, and outbox rows that are dead — so staff never learn of a
silent channel from a citizen.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from inbox.cases.access import NotFound
from inbox.cases.audit_trail import AuditFilter, list_events
from inbox.cases.templates import (
    PLACEHOLDERS,
    TemplateError,
    delete_template,
    list_templates,
    save_template,
)
from inbox.core.models import Case, IntakeStatus, OutboxItem, OutboxStatus, StaffUser, Unit
from inbox.core.time import STOCKHOLM
from inbox.intake.ledger import get_record, list_records
from inbox.staff.log_reviews import list_reviews, record_review
from inbox.staff.tokens import create_token, list_tokens, revoke_token
from inbox.staff.users import (
    OutOfReach,
    StaffError,
    add_unit,
    add_user,
    existing_unit,
    existing_user,
    find_unit,
    list_units,
    list_users,
    one_time_password,
    reset_password,
    set_active,
    set_password,
    update_unit,
    update_user,
    user_unit_codes,
)
from inbox.web.audit_text import csv_text, describe, load_names
from inbox.web.auth.csrf import verify_csrf
from inbox.web.auth.sessions import Session, Staff
from inbox.web.deps import StaffAdmin, StaffRegistrar
from inbox.web.downloads import download, raw_form
from inbox.web.inputs import Id, parse_id
from inbox.web.render import page
from inbox.web.state import Channels, Clock, PasswordHashing

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


AUDIT_ACTIONS = (
    ("case.read", "Läsningar av ärenden"),
    ("case", "Allt om ärenden"),
    ("message", "Meddelanden och original"),
    ("attachment.read", "Hämtade bilagor"),
    ("signin", "Inloggningar"),
    ("staff", "Användare"),
    ("unit", "Verksamheter"),
    ("token", "API-nycklar"),
    ("decision", "Beslut för uppföljning"),
    ("task", "Uppgifter"),
    ("logreview", "Loggranskningar"),
)
EXPORT_LIMIT = 50_000  # events in one CSV file; narrow the filters for more


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """The audit page's filters as read from the query string, with what was wrong in them."""

    values: dict[str, str]
    filters: AuditFilter
    errors: list[tuple[str, str]]

    def url(self, path: str, **extra: object) -> str:
        params = {k: v for k, v in self.values.items() if v} | {
            k: str(v) for k, v in extra.items() if v is not None
        }
        return path + ("?" + urlencode(params) if params else "")


def _date(values: dict[str, str], key: str, errors: list[tuple[str, str]]) -> date | None:
    text = values[key]
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        errors.append((f"a-{key}", "Skriv datumet som ÅÅÅÅ-MM-DD."))
        return None


async def _audit_query(request: Request, session: AsyncSession) -> AuditQuery:
    keys = ("case", "user", "action", "unit", "from", "to")
    values = {k: request.query_params.get(k, "").strip()[:64] for k in keys}
    errors: list[tuple[str, str]] = []
    user_id = parse_id(values["user"]) if values["user"] else None
    if values["user"] and user_id is None:
        errors.append(("a-user", "Välj en användare i listan."))
    unit = await find_unit(session, code=values["unit"]) if values["unit"] else None
    if values["unit"] and unit is None:
        errors.append(("a-unit", "Välj en verksamhet i listan."))
    if values["action"] and values["action"] not in dict(AUDIT_ACTIONS):
        errors.append(("a-action", "Välj en händelse i listan."))
    since, until = _date(values, "from", errors), _date(values, "to", errors)
    if since and until and until < since:
        errors.append(("a-to", "Slutdatumet är före startdatumet."))
    filters = AuditFilter(
        actor=f"user:{user_id}" if user_id else None,
        action=values["action"] or None,
        unit_id=unit.id if unit else None,
        since=since,
        until=until,
    )
    return AuditQuery(values=values, filters=filters, errors=errors)


@router.get("/audit", response_class=HTMLResponse)
async def audit_page(
    request: Request,
    session: Session,
    staff: StaffAdmin,
    before: Id | None = None,
) -> Response:
    return await _audit(request, session, staff, before=before)


async def _audit(
    request: Request,
    session: AsyncSession,
    staff: Staff,
    *,
    before: int | None = None,
    review_errors: list[tuple[str, str]] | None = None,
    review: dict[str, str] | None = None,
) -> Response:
    query = await _audit_query(request, session)
    trail = await list_events(
        session,
        scope=staff.scope,
        case_reference=query.values["case"],
        before=before,
        limit=AUDIT_PAGE,
        filters=query.filters,
    )
    names = await load_names(session)
    next_url = None
    if trail.next_before is not None:
        next_url = query.url("/audit", before=trail.next_before)
    return page(
        request,
        "audit.html",
        {
            "staff": staff,
            "events": [(e, names.actor(e.actor), describe(e, names)) for e in trail.events],
            "q": query.values,
            "errors": query.errors,
            "users": await list_users(session, within=staff.scope.unit_ids),
            "units": await list_units(session),
            "actions": AUDIT_ACTIONS,
            "csv_url": query.url("/audit.csv"),
            "next_url": next_url,
            "reviews": await list_reviews(session),
            "review_errors": review_errors or [],
            "review": review or {"from": "", "to": "", "reviewer": "", "findings": ""},
        },
        status_code=422 if review_errors else 200,
    )


@router.get("/audit.csv")
async def audit_csv(
    request: Request, session: Session, staff: StaffAdmin, clock: Clock
) -> Response:
    query = await _audit_query(request, session)
    trail = await list_events(
        session,
        scope=staff.scope,
        case_reference=query.values["case"],
        limit=EXPORT_LIMIT,
        filters=query.filters,
    )
    text = csv_text(trail.events, await load_names(session))
    stamp = clock().astimezone(STOCKHOLM).strftime("%Y-%m-%d")
    return download(
        ("\ufeff" + text).encode("utf-8"),  # the BOM makes spreadsheets read UTF-8
        filename=f"logg-{stamp}.csv",
        media_type="text/csv; charset=utf-8",
    )


@router.post("/audit/reviews")
async def audit_review(
    request: Request, session: Session, staff: StaffAdmin, clock: Clock
) -> Response:
    form = await request.form()
    values = {k: str(form.get(k, "")).strip() for k in ("from", "to", "reviewer", "findings")}
    errors: list[tuple[str, str]] = []
    dates = {}
    for key in ("from", "to"):
        try:
            dates[key] = date.fromisoformat(values[key])
        except ValueError:
            errors.append((f"r-{key}", "Skriv datumet som ÅÅÅÅ-MM-DD."))
    if not errors:
        try:
            await record_review(
                session,
                period_from=dates["from"],
                period_to=dates["to"],
                reviewer=values["reviewer"],
                findings=values["findings"],
                actor=staff.actor,
                now=clock(),
            )
        except StaffError as exc:
            field = {"period_to": "to"}.get(exc.field or "", exc.field or "findings")
            errors.append((f"r-{field}", exc.swedish))
    if errors:
        return await _audit(request, session, staff, review_errors=errors, review=values)
    request.session["flash"] = "Loggranskningen är registrerad."
    return RedirectResponse("/audit#granskningar", status_code=303)


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


# The admin area: users, units and API tokens ------------------------------------------------------
#
# Every change goes through the same functions as the `synpunkt users|units|tokens` commands
# (`inbox.staff`), which hold the rules and write the audit events. An admin limited to some units
# sees and changes only the users and tokens whose units all lie within theirs, and gives only those.

ROLES = ("admin", "registrar", "caseworker", "viewer")
Errors = list[tuple[str, str]]


def _within(staff: Staff) -> frozenset[int] | None:
    return staff.scope.unit_ids


def _error(exc: StaffError, prefix: str, default: str) -> Errors:
    return [(f"{prefix}-{exc.field or default}", exc.swedish)]


def _grant(form: Any) -> tuple[list[str], bool]:
    """The units ticked in a form (`unit`, repeated) and whether `all_units` was."""
    codes = [str(v) for v in form.getlist("unit") if str(v)]
    return codes, form.get("all_units") == "1"


async def _reached_user(session: AsyncSession, staff: Staff, user_id: int) -> StaffUser:
    user = await session.get(StaffUser, user_id)
    if user is None:
        raise NotFound("no such user")
    try:
        return await existing_user(session, user.username, within=_within(staff))
    except OutOfReach:
        raise NotFound("no such user") from None


def _int(text: str, field: str, errors: Errors) -> int | None:
    text = text.strip()
    if not text:
        return None
    if not text.isascii() or not text.isdigit() or len(text) > 4:
        errors.append((field, "Skriv ett helt antal dagar."))
        return None
    return int(text)


# users --------------------------------------------------------------------------------------------


@router.get("/admin/users", response_class=HTMLResponse)
async def users_page(request: Request, session: Session, staff: StaffAdmin) -> Response:
    return await _users(request, session, staff)


async def _users(
    request: Request,
    session: AsyncSession,
    staff: Staff,
    *,
    errors: Errors | None = None,
    draft: dict[str, Any] | None = None,
) -> Response:
    return page(
        request,
        "admin_users.html",
        {
            "staff": staff,
            "users": await list_users(session, within=_within(staff)),
            "units": await _grantable_units(session, staff),
            "roles": ROLES,
            "errors": errors or [],
            "draft": draft
            or {
                "username": "",
                "display_name": "",
                "role": "caseworker",
                "units": [],
                "all": False,
            },
        },
        status_code=422 if errors else 200,
    )


async def _grantable_units(session: AsyncSession, staff: Staff) -> list[Unit]:
    return [u for u in await list_units(session, within=_within(staff)) if u.active]


@router.post("/admin/users")
async def users_add(
    request: Request, session: Session, staff: StaffAdmin, clock: Clock, passwords: PasswordHashing
) -> Response:
    form = await request.form()
    codes, all_units = _grant(form)
    username, display_name, role = (
        str(form.get(key, "")).strip() for key in ("username", "display_name", "role")
    )
    draft = {
        "username": username,
        "display_name": display_name,
        "role": role,
        "units": codes,
        "all": all_units,
    }
    password = one_time_password()
    try:
        user = await add_user(
            session,
            username=username,
            display_name=display_name,
            role=role,
            unit_codes=codes,
            all_units=all_units,
            password=password,
            now=clock(),
            actor=staff.actor,
            passwords=passwords,
            within=_within(staff),
        )
    except StaffError as exc:
        return await _users(
            request, session, staff, errors=_error(exc, "u", "username"), draft=draft
        )
    return await _user(request, session, staff, user, new_password=password, added=True)


@router.get("/admin/users/{user_id}", response_class=HTMLResponse)
async def user_page(user_id: Id, request: Request, session: Session, staff: StaffAdmin) -> Response:
    user = await _reached_user(session, staff, user_id)
    return await _user(request, session, staff, user)


async def _user(
    request: Request,
    session: AsyncSession,
    staff: Staff,
    user: StaffUser,
    *,
    errors: Errors | None = None,
    new_password: str | None = None,
    added: bool = False,
) -> Response:
    assert user.id is not None
    return page(
        request,
        "admin_user.html",
        {
            "staff": staff,
            "user": user,
            "user_units": await user_unit_codes(session, user_id=user.id),
            "units": await _grantable_units(session, staff),
            "roles": ROLES,
            "errors": errors or [],
            "new_password": new_password,
            "added": added,
            "may_grant_all": _within(staff) is None,
        },
        status_code=422 if errors else 200,
    )


@router.post("/admin/users/{user_id}")
async def user_update(
    user_id: Id, request: Request, session: Session, staff: StaffAdmin, clock: Clock
) -> Response:
    user = await _reached_user(session, staff, user_id)
    form = await request.form()
    codes, all_units = _grant(form)
    try:
        if not codes and not all_units:
            raise StaffError(
                "no units", swedish="Välj minst en verksamhet (eller alla).", field="units"
            )
        await update_user(
            session,
            username=user.username,
            role=str(form.get("role", "")),
            unit_codes=codes,
            all_units=all_units,
            display_name=str(form.get("display_name", "")),
            email=str(form["email"]) if "email" in form else None,
            actor=staff.actor,
            now=clock(),
            within=_within(staff),
        )
    except StaffError as exc:
        if exc.swedish != "Inget att ändra.":
            await session.refresh(user)
            return await _user(request, session, staff, user, errors=_error(exc, "e", "role"))
    request.session["flash"] = f"Ändringarna för {user.display_name} är sparade."
    return RedirectResponse(f"/admin/users/{user_id}", status_code=303)


@router.post("/admin/users/{user_id}/active")
async def user_active(
    user_id: Id, request: Request, session: Session, staff: StaffAdmin, clock: Clock
) -> Response:
    user = await _reached_user(session, staff, user_id)
    active = (await request.form()).get("active") == "1"
    try:
        await set_active(
            session,
            username=user.username,
            active=active,
            actor=staff.actor,
            now=clock(),
            within=_within(staff),
        )
    except StaffError as exc:
        return await _user(request, session, staff, user, errors=[("e-active", exc.swedish)])
    request.session["flash"] = (
        f"{user.display_name} kan logga in igen."
        if active
        else f"{user.display_name} är avstängd och utloggad överallt."
    )
    return RedirectResponse(f"/admin/users/{user_id}", status_code=303)


@router.post("/admin/users/{user_id}/password")
async def user_password(
    user_id: Id,
    request: Request,
    session: Session,
    staff: StaffAdmin,
    clock: Clock,
    passwords: PasswordHashing,
) -> Response:
    """With a `password` field, that password; without, a one-time password shown once."""
    user = await _reached_user(session, staff, user_id)
    chosen = str((await request.form()).get("password", ""))
    try:
        if chosen:
            await set_password(
                session,
                username=user.username,
                password=chosen,
                actor=staff.actor,
                now=clock(),
                passwords=passwords,
                within=_within(staff),
            )
        else:
            shown = await reset_password(
                session,
                username=user.username,
                actor=staff.actor,
                now=clock(),
                passwords=passwords,
                within=_within(staff),
            )
            return await _user(request, session, staff, user, new_password=shown)
    except StaffError as exc:
        return await _user(request, session, staff, user, errors=[("p-password", exc.swedish)])
    finally:
        if user.id == staff.user.id:  # her own password: her other sessions end, not this one
            request.session["session_version"] = user.session_version
    request.session["flash"] = (
        f"{user.display_name} har ett nytt lösenord och är utloggad överallt."
    )
    return RedirectResponse(f"/admin/users/{user_id}", status_code=303)


# units --------------------------------------------------------------------------------------------


@router.get("/admin/units", response_class=HTMLResponse)
async def units_page(request: Request, session: Session, staff: StaffAdmin) -> Response:
    return await _units(request, session, staff)


async def _units(
    request: Request,
    session: AsyncSession,
    staff: Staff,
    *,
    errors: Errors | None = None,
    draft: dict[str, str] | None = None,
) -> Response:
    return page(
        request,
        "admin_units.html",
        {
            "staff": staff,
            "units": await list_units(session, within=_within(staff)),
            "errors": errors or [],
            "draft": draft or {"code": "", "name": "", "response_days": "10", "delay": ""},
        },
        status_code=422 if errors else 200,
    )


@router.post("/admin/units")
async def units_add(
    request: Request, session: Session, staff: StaffAdmin, clock: Clock
) -> Response:
    form = await request.form()
    draft = {k: str(form.get(k, "")).strip() for k in ("code", "name", "response_days", "delay")}
    errors: Errors = []
    days = _int(draft["response_days"], "n-response_days", errors)
    delay = _int(draft["delay"], "n-checkin_delay_days", errors)
    if not errors:
        try:
            unit = await add_unit(
                session,
                code=draft["code"],
                name=draft["name"],
                response_days=days or 10,
                checkin_delay_days=delay,
                actor=staff.actor,
                now=clock(),
            )
        except StaffError as exc:
            errors = _error(exc, "n", "code")
    if errors:
        return await _units(request, session, staff, errors=errors, draft=draft)
    request.session["flash"] = f"Verksamheten {unit.name} är tillagd."
    return RedirectResponse("/admin/units", status_code=303)


@router.get("/admin/units/{code}", response_class=HTMLResponse)
async def unit_page(code: str, request: Request, session: Session, staff: StaffAdmin) -> Response:
    return await _unit(request, session, staff, await _reached_unit(session, staff, code))


async def _reached_unit(session: AsyncSession, staff: Staff, code: str) -> Unit:
    try:
        return await existing_unit(session, code=code, within=_within(staff))
    except (OutOfReach, StaffError):
        raise NotFound("no such unit") from None


async def _unit(
    request: Request,
    session: AsyncSession,
    staff: Staff,
    unit: Unit,
    *,
    errors: Errors | None = None,
    draft: dict[str, str] | None = None,
) -> Response:
    delay = "" if unit.checkin_delay_days is None else str(unit.checkin_delay_days)
    return page(
        request,
        "admin_unit.html",
        {
            "staff": staff,
            "unit": unit,
            "errors": errors or [],
            "draft": draft
            or {"name": unit.name, "response_days": str(unit.response_days), "delay": delay},
        },
        status_code=422 if errors else 200,
    )


@router.post("/admin/units/{code}")
async def unit_update(
    code: str, request: Request, session: Session, staff: StaffAdmin, clock: Clock
) -> Response:
    unit = await _reached_unit(session, staff, code)
    form = await request.form()
    draft = {k: str(form.get(k, "")).strip() for k in ("name", "response_days", "delay")}
    errors: Errors = []
    days = _int(draft["response_days"], "e-response_days", errors)
    delay = _int(draft["delay"], "e-checkin_delay_days", errors)
    if not errors:
        try:
            await update_unit(
                session,
                code=unit.code,
                name=draft["name"],
                response_days=days,
                checkin_delay_days=delay,
                clear_checkin_delay=delay is None,
                active=form.get("active") == "1",
                actor=staff.actor,
                now=clock(),
                within=_within(staff),
            )
        except StaffError as exc:
            errors = _error(exc, "e", "name")
    if errors:
        await session.refresh(unit)
        return await _unit(request, session, staff, unit, errors=errors, draft=draft)
    request.session["flash"] = f"Verksamheten {unit.name} är sparad."
    return RedirectResponse("/admin/units", status_code=303)


# API tokens ---------------------------------------------------------------------------------------


@router.get("/admin/tokens", response_class=HTMLResponse)
async def tokens_page(request: Request, session: Session, staff: StaffAdmin) -> Response:
    return await _tokens(request, session, staff)


async def _tokens(
    request: Request,
    session: AsyncSession,
    staff: Staff,
    *,
    errors: Errors | None = None,
    draft: dict[str, Any] | None = None,
    created: tuple[str, str] | None = None,
) -> Response:
    return page(
        request,
        "admin_tokens.html",
        {
            "staff": staff,
            "tokens": await list_tokens(session, within=_within(staff)),
            "units": await _grantable_units(session, staff),
            "roles": ROLES,
            "may_grant_all": _within(staff) is None,
            "errors": errors or [],
            "draft": draft or {"name": "", "role": "registrar", "units": [], "all": False},
            "created": created,
        },
        status_code=422 if errors else 200,
    )


@router.post("/admin/tokens")
async def tokens_create(
    request: Request, session: Session, staff: StaffAdmin, clock: Clock
) -> Response:
    form = await request.form()
    codes, all_units = _grant(form)
    name, role = str(form.get("name", "")).strip(), str(form.get("role", ""))
    draft = {"name": name, "role": role, "units": codes, "all": all_units}
    try:
        row, token = await create_token(
            session,
            name=name,
            role=role,
            unit_codes=codes,
            all_units=all_units,
            now=clock(),
            actor=staff.actor,
            within=_within(staff),
        )
    except StaffError as exc:
        return await _tokens(request, session, staff, errors=_error(exc, "t", "name"), draft=draft)
    # Shown in this answer only: the token is stored hashed and cannot be shown again.
    return await _tokens(request, session, staff, created=(row.name, token))


@router.post("/admin/tokens/{token_id}/revoke")
async def tokens_revoke(
    token_id: Id, request: Request, session: Session, staff: StaffAdmin, clock: Clock
) -> Response:
    try:
        token = await revoke_token(
            session, token_id=token_id, actor=staff.actor, now=clock(), within=_within(staff)
        )
    except OutOfReach:
        raise NotFound("no such token") from None
    request.session["flash"] = f"API-nyckeln {token.name} är återkallad."
    return RedirectResponse("/admin/tokens", status_code=303)
