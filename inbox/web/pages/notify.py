"""The signed-in user's own settings (`/installningar`): where their notifications go and which
they want (`inbox.cases.notifications`); and who else has a case open (`inbox.cases.presence`),
which the case page reports every half minute while it is open.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from inbox.cases import presence
from inbox.cases.notifications import CHOICES, save_settings, settings_of, wants
from inbox.cases.queries import find_case
from inbox.core.addresses import is_mail_address
from inbox.core.audit import audit
from inbox.web.auth.csrf import verify_csrf
from inbox.web.auth.sessions import Session
from inbox.web.deps import StaffReader
from inbox.web.render import env, page
from inbox.web.state import Clock

router = APIRouter(dependencies=[Depends(verify_csrf)], include_in_schema=False)


@router.get("/installningar", response_class=HTMLResponse)
async def settings_page(request: Request, session: Session, staff: StaffReader) -> Response:
    return await _settings_page(request, session, staff)


async def _settings_page(
    request: Request,
    session: Session,
    staff: StaffReader,
    *,
    email: str | None = None,
    chosen: set[str] | None = None,
    error: str | None = None,
) -> Response:
    assert staff.user.id is not None
    setting = await settings_of(session, staff.user.id)
    return page(
        request,
        "settings.html",
        {
            "staff": staff,
            "email": staff.user.email or "" if email is None else email,
            "choices": [
                (kind, text, kind in chosen if chosen is not None else wants(setting, kind))
                for kind, text in CHOICES.items()
            ],
            "error": error,
        },
        status_code=400 if error else 200,
    )


@router.post("/installningar")
async def settings_save(
    request: Request, session: Session, staff: StaffReader, clock: Clock
) -> Response:
    form = await request.form()
    email = str(form.get("email") or "").strip()
    chosen = {str(v) for v in form.getlist("notify") if str(v) in CHOICES}
    if email and not is_mail_address(email):
        return await _settings_page(
            request,
            session,
            staff,
            email=email,
            chosen=chosen,
            error="Skriv en e-postadress som namn@exempel.se, eller lämna fältet tomt.",
        )
    await save_settings(session, user=staff.user, email=email or None, chosen=chosen)
    audit(
        session,
        actor=staff.actor,
        action="user.notifications",
        case=None,
        now=clock(),
        kinds=sorted(chosen),
        email=bool(email),
    )
    request.session["flash"] = "Dina inställningar är sparade."
    return RedirectResponse("/installningar", status_code=303)


@router.post("/cases/{reference}/presence", response_class=HTMLResponse)
async def case_presence(
    reference: str, session: Session, staff: StaffReader, clock: Clock
) -> Response:
    """The case page is open: noted, and the others who have it open, as the page's partial."""
    case = await find_case(session, reference=reference, scope=staff.scope)
    if case is None or case.id is None or staff.user.id is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="Ärendet finns inte.")
    now = clock()
    await presence.report(session, case_id=case.id, user_id=staff.user.id, now=now)
    names = await presence.others(session, case_id=case.id, user_id=staff.user.id, now=now)
    body = env.get_template("_presence.html").render(present=names, reference=case.reference)
    return HTMLResponse(body, headers={"Cache-Control": "no-store"})
