"""Saved filters on the inbox list: save the filter set shown under a name, delete one.

Each user sees and deletes only their own (`inbox.cases.saved_filters`); the list shows them as
links above the cases. Both forms post with the CSRF token and go back to the list.
"""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from inbox.cases.saved_filters import (
    FILTER_KEYS,
    FilterError,
    clean_params,
    delete_filter,
    save_filter,
)
from inbox.web.auth.csrf import verify_csrf
from inbox.web.auth.sessions import Session
from inbox.web.deps import StaffReader
from inbox.web.inputs import Id
from inbox.web.state import Clock

router = APIRouter(dependencies=[Depends(verify_csrf)], include_in_schema=False)


def _to_list(request: Request, message: str, params: dict[str, str] | None = None) -> Response:
    request.session["flash"] = message
    return RedirectResponse("/?" + urlencode(params) if params else "/", status_code=303)


@router.post("/filters")
async def save(request: Request, session: Session, staff: StaffReader, clock: Clock) -> Response:
    """Saves the list's filters in the form under the name given (a filter of that name is
    replaced) and shows the list filtered by it."""
    form = await request.form()
    raw = {k: str(form.get(k, "")) for k in FILTER_KEYS}
    try:
        saved, new = await save_filter(
            session, user=staff.user, name=str(form.get("name", "")), raw=raw, now=clock()
        )
    except FilterError as exc:
        try:  # back to the list as it was, unless the filters themselves were refused
            shown = await clean_params(session, raw)
        except FilterError:
            shown = {}
        return _to_list(request, f"Filtret sparades inte. {exc.swedish}", shown)
    done = "är sparat" if new else "är uppdaterat"
    return _to_list(request, f"Filtret ”{saved.name}” {done}.", saved.params)


@router.post("/filters/{filter_id}/delete")
async def delete(filter_id: Id, request: Request, session: Session, staff: StaffReader) -> Response:
    name = await delete_filter(session, user=staff.user, filter_id=filter_id)
    if name is None:
        return _to_list(request, "Det sparade filtret finns inte (längre).")
    return _to_list(request, f"Filtret ”{name}” är borttaget.")
