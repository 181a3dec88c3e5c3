"""The staff pages: the case list at `/` and one case at `/cases/{ref}`, read through the scope.

Every view of a case is audited (`case.read`). A case outside the user's units is a 404, the same
answer as a case that does not exist.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from inbox.cases import presence, saved_filters
from inbox.cases.access import (
    Forbidden,
    Need,
    active_units,
    assignable_users,
    may_sign_in,
    scopes_for_users,
)
from inbox.cases.bulk import MAX_CASES
from inbox.cases.consent import FORMS, in_force, reply_needs_confirmation
from inbox.cases.disclosure import OUTCOMES
from inbox.cases.merging import MERGE, open_moves
from inbox.cases.queries import (
    CaseFilter,
    CaseRow,
    InvalidFilter,
    count_by_status,
    find_attachment,
    find_case,
    find_message,
    get_case,
    list_cases,
)
from inbox.cases.registry import default_title, hides_identity
from inbox.cases.saved_filters import FILTER_KEYS
from inbox.cases.tasks import case_tasks
from inbox.cases.templates import list_templates, render, unfilled
from inbox.checkins.callbacks import callback_details
from inbox.core.audit import audit
from inbox.core.models import Attachment, Case, IntakeRecord, StaffUser
from inbox.core.time import STOCKHOLM
from inbox.intake.receive import IntakePolicy
from inbox.records.subject_access import rights_requests_of
from inbox.web.auth.csrf import verify_csrf
from inbox.web.auth.sessions import ReadSession, Session, Staff, signed_in
from inbox.web.auth.signin import sign_in_page
from inbox.web.deps import StaffReader
from inbox.web.downloads import SNIFF_BYTES, download, inline_view, raw_form, sniff_viewable
from inbox.web.inputs import Id
from inbox.web.pages.bulk import SELECTED
from inbox.web.pages.reports import reporting_view
from inbox.web.render import LABELS, local_time, page
from inbox.web.state import Clock, Oidc, Policy

router = APIRouter(dependencies=[Depends(verify_csrf)], include_in_schema=False)

LIST_FIELDS = FILTER_KEYS  # the list's filters, which a user may also save under a name
# The pages before this one, so that "Föregående sida" needs no offset: the cursors walked, each
# a short URL-safe string, the newest last (at most this many; further back is "Första sidan").
MAX_BACK = 20
# The list's views: the inbox staff triage, and machine mail beside it (`Case.flag_automated`).
MACHINE_VIEW = saved_filters.MACHINE_VIEW
VIEWS = saved_filters.VIEWS


async def _staff_users(session: Session) -> list[StaffUser]:
    rows = await session.execute(
        select(StaffUser).where(col(StaffUser.active).is_(True)).order_by(col(StaffUser.username))
    )
    return list(rows.scalars())


def _filters(params: dict[str, str], staff: Staff) -> CaseFilter:
    assignee = params.get("assignee", "")
    flag = params.get("flag", "")
    return CaseFilter(
        status=params.get("status") or None,
        kind=params.get("kind") or None,
        unit=params.get("unit") or None,
        channel=params.get("channel") or None,
        q=params.get("q") or None,
        # "mine" is the signed-in user; otherwise a username or "unassigned".
        assignee=staff.user.id if assignee == "mine" else (assignee or None),
        overdue=bool(params.get("overdue")),
        flags=(flag,) if flag else (),
        machine=params.get("view") == MACHINE_VIEW,
    )


@router.get("/", response_class=HTMLResponse)
async def inbox_list(request: Request, session: ReadSession, clock: Clock, oidc: Oidc) -> Response:
    staff = await signed_in(request, session)
    if staff is None:
        next_url = str(request.query_params.get("next", "/"))
        return sign_in_page(request, next_url=next_url, oidc=oidc is not None)
    now = clock()
    params = {k: request.query_params.get(k, "").strip() for k in LIST_FIELDS}
    users = await _staff_users(session)
    filters = _filters(params, staff)
    if params["view"] not in VIEWS:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail="Okänd vy av listan.")
    cursor = request.query_params.get("cursor") or None
    back = [c for c in request.query_params.get("back", "").split(",") if c][-MAX_BACK:]
    try:
        result = await list_cases(
            session,
            filters=filters,
            scope=staff.scope,
            limit=50,
            cursor=cursor,
            now=now,
            sort=params["sort"] or "received",
        )
        counts = await count_by_status(session, filters=filters, scope=staff.scope, now=now)
    except InvalidFilter as exc:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST, detail="Ogiltigt filter eller ogiltig sida i listan."
        ) from exc
    names = {u.id: u.display_name or u.username for u in users}
    rows = [
        {
            "reference": row.reference,
            "title": row.registry_title,
            "secrecy_marked": row.secrecy_marked,
            "identity_protected": row.identity_protected,
            "preview": row.preview[:160],
            "kind": row.kind,
            "status": row.status,
            "channel": row.channel,
            "unit": row.unit_name,
            "received_at": row.received_at,
            "due_on": row.due_on,
            "overdue": _overdue(row, now),
            "assignee": names.get(row.assignee_id) if row.assignee_id else None,
            "flags": [f for f in LABELS["flag"] if f in row.flags],
        }
        for row in result.items
    ]
    kept = {k: v for k, v in params.items() if v}

    def at(position: str | None, walked: list[str]) -> dict[str, str]:
        """The query of the list's page at `position`, with the pages walked to get there."""
        where = {"cursor": position} if position else {}
        return {**kept, **where, **({"back": ",".join(walked)} if walked else {})}

    here = at(cursor, back)
    previous = "/?" + urlencode(at(back[-1], back[:-1]) if back else kept) if cursor else None
    status_filter = params["status"]
    context = {
        "staff": staff,
        "rows": rows,
        "params": params,
        "kept": kept,
        "saved": [
            {
                "id": f.id,
                "name": f.name,
                "url": "/?" + urlencode({k: f.params[k] for k in LIST_FIELDS if k in f.params}),
                "current": f.params == kept,
            }
            for f in await saved_filters.saved_filters(session, user=staff.user)
        ],
        # The bulk form: who may be given cases (each case's own check is update_case's).
        "bulk": staff.scope.can_write,
        "assignees": (
            await _assignees(session, users, oidc=oidc is not None) if staff.scope.can_write else []
        ),
        "selected": set(request.query_params.get(SELECTED, "").split(",")[:MAX_CASES]) - {""},
        "units": await active_units(session),
        "users": users,
        "counts": counts,
        "machine": filters.machine,
        # The list refreshes the page it is on, not the first.
        "self_url": "/" + (f"?{urlencode(here)}" if here else ""),
        "next_url": (
            "/?"
            + urlencode(at(result.next_cursor, [*back, cursor][-MAX_BACK:] if cursor else back))
            if result.next_cursor
            else None
        ),
        "previous_url": previous,
        "first_url": "/?" + urlencode(kept) if back else None,
        "total": counts.get(status_filter, 0) if status_filter else sum(counts.values()),
        "status_url": lambda s: "/?" + urlencode({**kept, "status": s}),
    }
    if request.headers.get("hx-request"):  # app.js refreshes the counts and the list in place
        return page(request, "_live.html", context)
    return page(request, "list.html", context)


async def _assignees(
    session: AsyncSession, users: list[StaffUser], *, oidc: bool
) -> list[StaffUser]:
    """The users who can sign in and may act on cases at all (not viewers): the bulk form's
    choices. Whether one may take each ticked case is checked per case (`inbox.cases.bulk`)."""
    scopes = await scopes_for_users(session, users=users)
    return [u for u in users if u.id and scopes[u.id].may(Need.WRITE) and may_sign_in(u, oidc=oidc)]


def _overdue(case: Case | CaseRow, now: Any) -> bool:
    today = now.astimezone(STOCKHOLM).date()
    return bool(case.due_on and case.due_on < today and case.status != "closed")


@dataclass(frozen=True, slots=True)
class CaseView:
    """Renders one case for a staff member, an audited view; a form re-renders it with its error.

    A route that shows the case takes it as `case_page: CasePage` and calls it.
    """

    request: Request
    session: AsyncSession
    clock: Callable[[], datetime]
    policy: IntakePolicy
    oidc: bool  # the municipality's login is offered: users without a password can sign in

    async def __call__(
        self,
        staff: Staff,
        reference: str,
        *,
        reply_text: str = "",
        note_text: str = "",
        template_id: str | None = None,
        error: str | None = None,
        status_code: int = 200,
    ) -> Response:
        """`template_id`: a reply template to add to `reply_text`, filled in for this case."""
        return await _case_page(
            self.request,
            self.session,
            staff,
            reference,
            now=self.clock(),
            organisation=self.policy.organisation,
            oidc=self.oidc,
            reply_text=reply_text,
            note_text=note_text,
            template_id=template_id,
            error=error,
            status_code=status_code,
        )


async def case_view(
    request: Request, session: Session, clock: Clock, policy: Policy, oidc: Oidc
) -> CaseView:
    return CaseView(
        request=request, session=session, clock=clock, policy=policy, oidc=oidc is not None
    )


CasePage = Annotated[CaseView, Depends(case_view)]


async def _case_page(
    request: Request,
    session: AsyncSession,
    staff: Staff,
    reference: str,
    *,
    now: datetime,
    organisation: str,
    oidc: bool,
    reply_text: str,
    note_text: str,
    template_id: str | None,
    error: str | None,
    status_code: int,
) -> Response:
    detail = await get_case(session, reference=reference, scope=staff.scope)
    if detail is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="Ärendet finns inte.")
    case = detail.case
    audit(session, actor=staff.actor, action="case.read", case=case, now=now, via="page")
    users = await _staff_users(session)
    templates = await list_templates(session) if staff.scope.can_write else []
    chosen = [t for t in templates if template_id and str(t.id) == template_id]
    if chosen:
        # What was typed stays; the template comes after it. A value the case lacks (no unit, no
        # name) leaves its placeholder in the text, which then cannot be sent until it is edited.
        unit = next((u for u in await active_units(session) if u.id == case.unit_id), None)
        filled = render(
            chosen[0].body,
            {
                "referens": case.reference,
                "namn": (detail.contact.display_name or "") if detail.contact else "",
                "enhet": unit.name if unit else "",
                "handläggare": staff.user.display_name,
                "organisation": organisation,
            },
        )
        reply_text = f"{reply_text.rstrip()}\n\n{filled}" if reply_text.strip() else filled
    placeholders = unfilled(reply_text)
    if chosen and placeholders and error is None:
        error = f"Fyll i eller ta bort {', '.join(placeholders)} innan du skickar svaret."
    names = {u.id: u.display_name or u.username for u in users}
    # Who else has it open: this view counts as having it open too (inbox.cases.presence).
    assert case.id is not None and staff.user.id is not None
    await presence.report(session, case_id=case.id, user_id=staff.user.id, now=now)
    present = await presence.others(session, case_id=case.id, user_id=staff.user.id, now=now)
    assignable = await assignable_users(session, case, oidc=oidc) if staff.scope.can_write else []
    merged_into = await session.get(Case, case.merged_into_id) if case.merged_into_id else None
    today = now.astimezone(STOCKHOLM).date()
    return page(
        request,
        "case.html",
        {
            "staff": staff,
            "case": case,
            "detail": detail,
            "names": names,
            "users": assignable,
            "units": await active_units(session),
            "templates": templates,
            "overdue": _overdue(case, now),
            "first_response": (
                case.first_response_at - case.received_at if case.first_response_at else None
            ),
            "reply_text": reply_text,
            "note_text": note_text,
            "error": error,
            "template_id": template_id or "",
            "unfilled": placeholders,
            "merged_into": merged_into.reference if merged_into else None,
            "inbound_count": sum(1 for m in detail.messages if m.direction == "inbound"),
            "default_title": default_title(case.kind, detail.unit_name),
            "consents": [(c, in_force(c, on=today)) for c in detail.consents],
            "consent_forms": FORMS,
            "needs_confirmation": await reply_needs_confirmation(session, case=case, now=now),
            "requests": detail.requests,
            "rights_requests": await rights_requests_of(session, case=case),
            "request_outcomes": OUTCOMES,
            "today": today.isoformat(),
            "tasks": await case_tasks(session, case_id=case.id or 0, now=now),
            "reporting": await reporting_view(session, case),
            "show_case": False,
            "present": present,
            "reference": case.reference,
            "back": f"/cases/{case.reference}",
            "moves": await _undo_offers(session, staff, case, names=names, now=now),
            "callback": await callback_details(session, case) if case.flag_callback else None,
            "viewable": await _viewable(session, detail.attachments.values()),
        },
        status_code=status_code,
    )


async def _viewable(session: AsyncSession, found: Iterable[list[Attachment]]) -> dict[int, str]:
    """The attachments the page's viewer shows, by id: their media type, from their first bytes
    (read alone: the data itself stays in the database)."""
    ids = [a.id for atts in found for a in atts if a.id is not None]
    if not ids:
        return {}
    rows = await session.execute(
        select(col(Attachment.id), func.substr(col(Attachment.data), 1, SNIFF_BYTES)).where(
            col(Attachment.id).in_(ids)
        )
    )
    return {
        attachment_id: kind
        for attachment_id, head in rows.all()
        if (kind := sniff_viewable(bytes(head or b""))) is not None
    }


@dataclass(frozen=True, slots=True)
class UndoOffer:
    """A merge or split of the case that may still be undone, as the case page says it."""

    move_id: int
    text: str  # what happened, a Swedish sentence
    button: str
    consequence: str  # what the undo does, and until when
    confirm: str


async def _undo_offers(
    session: AsyncSession, staff: Staff, case: Case, *, names: dict[int | None, str], now: datetime
) -> list[UndoOffer]:
    """What the page offers to undo: to a writer, the moves of this case that may still be undone
    and whose other case the writer sees too (the checks of the merge or split itself)."""
    if not staff.scope.can_write:
        return []
    offers = []
    for move in await open_moves(session, case=case, now=now):
        other = await session.get(
            Case, move.other_case_id if move.case_id == case.id else move.case_id
        )
        if other is None or not staff.scope.allows_unit(other.unit_id):
            continue
        kind, _, number = move.actor.partition(":")
        who = names.get(int(number), "någon") if kind == "user" and number.isdigit() else "systemet"
        at, until = local_time(move.done_at), local_time(move.undo_until)[-5:]
        count = len(move.before.get("messages", [])) if move.kind == MERGE else 1
        moved = "1 meddelande" if count == 1 else f"{count} meddelanden"
        if move.kind == MERGE:
            text = (
                f"{other.reference} slogs ihop med det här ärendet {at} av {who} ({moved} flyttades hit)."
                if move.other_case_id == case.id
                else f"Det här ärendet slogs ihop med {other.reference} {at} av {who}."
            )
            source = case if move.case_id == case.id else other
            offers.append(
                UndoOffer(
                    move_id=move.id or 0,
                    text=text,
                    button="Ångra sammanslagningen",
                    consequence=(
                        f"Meddelandena flyttas tillbaka och {source.reference} blir som det var "
                        f"före sammanslagningen. Det går till klockan {until}, så länge ingen "
                        "ändrar ärendena."
                    ),
                    confirm=(
                        f"Ångra sammanslagningen? Meddelandena flyttas tillbaka till "
                        f"{source.reference}."
                    ),
                )
            )
        else:
            new = other if move.case_id == case.id else case
            text = (
                f"Ett meddelande flyttades härifrån till det nya ärendet {new.reference} {at} av {who}."
                if move.case_id == case.id
                else f"Ärendet skapades {at} av {who} när ett meddelande flyttades hit från {other.reference}."
            )
            offers.append(
                UndoOffer(
                    move_id=move.id or 0,
                    text=text,
                    button="Ångra delningen",
                    consequence=(
                        f"Meddelandet flyttas tillbaka och {new.reference} tas bort. Det går till "
                        f"klockan {until}, så länge ingen ändrar ärendena."
                    ),
                    confirm=f"Ångra delningen? {new.reference} tas bort.",
                )
            )
    return offers


@router.get("/cases/{reference}", response_class=HTMLResponse)
async def case_show(reference: str, staff: StaffReader, case_page: CasePage) -> Response:
    return await case_page(staff, reference)


@router.get("/cases/{reference}/messages/{message_id}/original")
async def message_original(
    reference: str, message_id: Id, clock: Clock, session: Session, staff: StaffReader
) -> Response:
    case = await find_case(session, reference=reference, scope=staff.scope)
    message = await find_message(session, case=case, message_id=message_id) if case else None
    if case is None or message is None or message.intake_id is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="Meddelandet finns inte.")
    if hides_identity(case, staff.scope):
        raise Forbidden("the submitter's identity is protected")
    record = await session.get(IntakeRecord, message.intake_id)
    if record is None or record.raw is None:
        raise HTTPException(status.HTTP_410_GONE, detail="Originalet har gallrats.")
    audit(
        session,
        actor=staff.actor,
        action="message.original.read",
        case=case,
        now=clock(),
        message_id=message_id,
    )
    suffix, media_type = raw_form(record.channel)
    return download(
        record.raw, filename=f"{case.reference}-{message_id}{suffix}", media_type=media_type
    )


async def _attachment(
    session: AsyncSession, staff: Staff, reference: str, attachment_id: int
) -> tuple[Case, Attachment]:
    """The case's attachment, if the case is in the staff member's scope (404 otherwise)."""
    case = await find_case(session, reference=reference, scope=staff.scope)
    found = await find_attachment(session, case=case, attachment_id=attachment_id) if case else None
    if case is None or found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="Bilagan finns inte.")
    return case, found


@router.get("/cases/{reference}/attachments/{attachment_id}")
async def attachment_download(
    reference: str, attachment_id: Id, clock: Clock, session: Session, staff: StaffReader
) -> Response:
    case, found = await _attachment(session, staff, reference, attachment_id)
    audit(
        session,
        actor=staff.actor,
        action="attachment.read",
        case=case,
        now=clock(),
        attachment_id=attachment_id,
    )
    return download(found.data, filename=found.filename, media_type="application/octet-stream")


@router.get("/cases/{reference}/attachments/{attachment_id}/view")
async def attachment_view(
    reference: str, attachment_id: Id, clock: Clock, session: Session, staff: StaffReader
) -> Response:
    """An image or a PDF for the case page's viewer, its type decided by its content; anything
    else is only a download (415)."""
    case, found = await _attachment(session, staff, reference, attachment_id)
    shown = inline_view(found.data, filename=found.filename)
    if shown is None:
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            detail="Bilagan kan inte visas här, bara laddas ned.",
        )
    audit(
        session,
        actor=staff.actor,
        action="attachment.read",
        case=case,
        now=clock(),
        attachment_id=attachment_id,
        via="viewer",
    )
    return shown
