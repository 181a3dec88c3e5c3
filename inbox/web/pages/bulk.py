"""Bulk actions on the inbox list: the cases ticked on the list, one change to all of them.

The list's form posts the ticked references (`ref`; with "Alla ärenden på sidan" ticked, every
reference of the page, `page_ref`) and the button pressed names the action: assign, set the unit,
set the kind, or close with an outcome. Each case goes through `inbox.cases.bulk`, that is the
scope lookup and `update_case` of the single-case forms, audited the same way; what could not be
changed is reported with its reason. Back to the list page the form came from, with the result.
"""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from inbox.cases.bulk import MAX_CASES, apply_to_cases, distinct
from inbox.core.models import CaseStatus
from inbox.web.auth.csrf import verify_csrf
from inbox.web.auth.sessions import Session
from inbox.web.deps import StaffWriter
from inbox.web.render import CLOSE_OUTCOMES, LABELS
from inbox.web.state import Clock, Oidc

router = APIRouter(dependencies=[Depends(verify_csrf)], include_in_schema=False)

NOBODY = "-"  # the assignee choice that takes the assignment away
# The query parameter that ticks cases on the list again after a form that changed nothing.
SELECTED = "valda"


def list_url(back: str) -> str:
    """The list page the form came from (its filters and page), never anywhere else."""
    parts = urlsplit(back)
    if parts.scheme or parts.netloc or parts.path != "/":
        return "/"
    return f"/?{parts.query}" if parts.query else "/"


def _back(request: Request, url: str, message: str, selected: list[str] | None = None) -> Response:
    request.session["flash"] = message
    if selected:
        url += ("&" if "?" in url else "?") + urlencode({SELECTED: ",".join(selected)})
    return RedirectResponse(url, status_code=303)


@router.post("/cases/bulk")
async def bulk(
    request: Request, session: Session, staff: StaffWriter, clock: Clock, oidc: Oidc
) -> Response:
    form = await request.form()
    back = list_url(str(form.get("back", "")))
    named = [str(v) for v in form.getlist("ref")]
    if form.get("all") == "1":
        named += [str(v) for v in form.getlist("page_ref")]
    references = distinct(named)
    action = str(form.get("action", ""))
    if not references:
        return _back(request, back, "Markera minst ett ärende i listan först.")
    if len(references) > MAX_CASES:
        return _back(request, back, f"Du kan ändra högst {MAX_CASES} ärenden åt gången.")

    def value(name: str) -> str:
        return str(form.get(name, "")).strip()

    changes: dict[str, object] | None = None
    missing = "Välj vad de markerade ärendena ska ändras till."
    if action == "assign" and value("assignee"):
        chosen = value("assignee")
        changes = {"assignee": None if chosen == NOBODY else chosen}
    elif action == "unit" and value("unit"):
        changes = {"unit": value("unit")}
    elif action == "kind" and value("kind") in LABELS["kind"]:
        changes = {"kind": value("kind")}
    elif action == "close" and value("outcome") in CLOSE_OUTCOMES:
        changes = {"status": CaseStatus.CLOSED.value, "outcome": value("outcome")}
    elif action == "assign":
        missing = "Välj en handläggare."
    elif action == "unit":
        missing = "Välj en verksamhet."
    elif action == "kind":
        missing = "Välj en typ."
    elif action == "close":
        missing = "Välj ett utfall för att avsluta ärendena."
    else:
        missing = "Välj en åtgärd."
    if changes is None:
        return _back(request, back, f"Inget ändrades. {missing}", references)
    result = await apply_to_cases(
        session,
        references=references,
        changes=changes,
        scope=staff.scope,
        actor=staff.actor,
        now=clock(),
        oidc=oidc is not None,
    )
    return _back(request, back, result.summary())
