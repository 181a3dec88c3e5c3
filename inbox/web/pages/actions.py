"""The case forms: answer, note, triage, close, reopen, merge, split (and undoing them for a while)
and moving machine mail into the inbox — each a POST that redirects.

A viewer (läsare) may read but not act. Bad input re-renders the case with the error and the text
the user typed, so nothing is lost.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, HTTPException, Request, status
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData

from inbox.cases.merging import (
    MERGE,
    MergeError,
    MoveNotFound,
    UndoRefused,
    find_move,
    merge_cases,
    split_message,
    undo_move,
)
from inbox.cases.queries import find_case
from inbox.cases.registry import EVENT_FIELDS
from inbox.cases.replies import (
    ConfirmationNeeded,
    ReplyError,
    UnfilledPlaceholder,
    add_note,
    add_reply,
)
from inbox.cases.triage import TRIAGE_FLAGS, TriageError, move_to_inbox, update_case
from inbox.core.models import Case, CaseStatus
from inbox.web.auth.csrf import verify_csrf
from inbox.web.auth.sessions import Session, Staff
from inbox.web.deps import StaffRegistrar, StaffWriter
from inbox.web.inputs import Id
from inbox.web.pages.cases import MACHINE_VIEW, CasePage, CaseView
from inbox.web.render import CLOSE_OUTCOMES, label
from inbox.web.state import Clock, Policy, WakeWorker

router = APIRouter(dependencies=[Depends(verify_csrf)], include_in_schema=False)


async def writable_case(session: Session, staff: Staff, reference: str) -> Case:
    case = await find_case(session, reference=reference, scope=staff.scope)
    if case is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="Ärendet finns inte.")
    return case


def back_to_case(request: Request, case: Case, message: str) -> Response:
    request.session["flash"] = message
    return RedirectResponse(f"/cases/{case.reference}", status_code=303)


@dataclass(frozen=True, slots=True)
class CaseForm:
    """A form posted on a case's page by someone who may change cases: the case (404 when the
    writer cannot see it), the form's fields, the writer, the session and the time. `refused`
    shows the case again with the reason (422), `done` goes back to it with a message.

    A route that changes a case takes it as `post: CasePost` and calls one or the other."""

    request: Request
    session: AsyncSession
    staff: Staff
    reference: str
    case: Case
    form: FormData
    now: datetime
    page: CaseView

    async def refused(self, error: str) -> Response:
        return await self.page(self.staff, self.reference, error=error, status_code=422)

    def done(self, message: str) -> Response:
        return back_to_case(self.request, self.case, message)

    def text(self, name: str) -> str:
        """A field as text ("" when it is not in the form)."""
        return str(self.form.get(name, ""))


async def _case_form(
    reference: str,
    request: Request,
    session: AsyncSession,
    staff: Staff,
    case_page: CaseView,
    clock: Callable[[], datetime],
) -> CaseForm:
    case = await writable_case(session, staff, reference)
    return CaseForm(
        request=request,
        session=session,
        staff=staff,
        reference=reference,
        case=case,
        form=await request.form(),
        now=clock(),
        page=case_page,
    )


async def case_form(
    reference: str,
    request: Request,
    session: Session,
    staff: StaffWriter,
    case_page: CasePage,
    clock: Clock,
) -> CaseForm:
    return await _case_form(reference, request, session, staff, case_page, clock)


async def registrar_case_form(
    reference: str,
    request: Request,
    session: Session,
    staff: StaffRegistrar,
    case_page: CasePage,
    clock: Clock,
) -> CaseForm:
    return await _case_form(reference, request, session, staff, case_page, clock)


CasePost = Annotated[CaseForm, Depends(case_form)]
# The same, for what only a registrar (or an admin) may do to a case.
RegistrarCasePost = Annotated[CaseForm, Depends(registrar_case_form)]


@router.post("/cases/{reference}/reply")
async def reply(
    reference: str,
    request: Request,
    session: Session,
    staff: StaffWriter,
    case_page: CasePage,
    clock: Clock,
    policy: Policy,
    wake_worker: WakeWorker,
    background: BackgroundTasks,
) -> Response:
    case = await writable_case(session, staff, reference)
    form = await request.form()
    text = str(form.get("text", ""))
    # "Skicka och avsluta": the answer and the closing in one transaction, or neither.
    closing = form.get("and_close") == "1"
    outcome = str(form.get("outcome", "")).strip()
    if closing and outcome not in CLOSE_OUTCOMES:
        message = "Välj ett utfall för att avsluta ärendet. Svaret är inte skickat."
        return await case_page(staff, reference, reply_text=text, error=message, status_code=422)
    try:
        await add_reply(
            session,
            case=case,
            text=text,
            actor=staff.actor,
            now=clock(),
            mail_domain=policy.mail_domain,
            confirmed_no_personal_details=form.get("confirm_no_personal_details") == "on",
        )
    except UnfilledPlaceholder as exc:
        message = (
            f"Svaret har kvar {', '.join(exc.placeholders)} från svarsmallen. Fyll i det eller "
            "ta bort det innan du skickar."
        )
        return await case_page(staff, reference, reply_text=text, error=message, status_code=422)
    except ConfirmationNeeded:
        message = (
            "Avsändaren är närstående och inget samtycke är registrerat. Bekräfta att svaret inte "
            "innehåller något om den enskildes personliga förhållanden, eller registrera samtycket "
            "först."
        )
        return await case_page(staff, reference, reply_text=text, error=message, status_code=422)
    except ReplyError as exc:
        message = exc.swedish or f"Svaret kunde inte skickas: {exc}."
        return await case_page(staff, reference, reply_text=text, error=message, status_code=422)
    if closing:
        try:
            await update_case(
                session,
                case=case,
                changes={"status": CaseStatus.CLOSED, "outcome": outcome},
                actor=staff.actor,
                now=clock(),
                oidc=case_page.oidc,
            )
        except TriageError as exc:  # raised through the unit of work: the answer is not sent
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_ENTITY,
                detail=f"Ärendet kunde inte avslutas ({exc}). Svaret är inte skickat.",
            ) from exc
    background.add_task(wake_worker)
    done = "Svaret är köat och skickas strax."
    return back_to_case(request, case, f"{done} Ärendet är avslutat." if closing else done)


@router.post("/cases/{reference}/reply/template")
async def reply_template(
    reference: str, request: Request, session: Session, staff: StaffWriter, case_page: CasePage
) -> Response:
    """Adds the chosen reply template to what was typed, filled in for the case; nothing is sent
    and nothing typed is lost (the page without JavaScript posts the reply form here)."""
    await writable_case(session, staff, reference)
    form = await request.form()
    return await case_page(
        staff,
        reference,
        reply_text=str(form.get("text", "")),
        template_id=str(form.get("mall", "")) or None,
    )


@router.post("/cases/{reference}/note")
async def note(post: CasePost) -> Response:
    text = post.text("text")
    try:
        await add_note(
            post.session, case=post.case, text=text, actor=post.staff.actor, now=post.now
        )
    except ReplyError:
        return await post.page(
            post.staff,
            post.reference,
            note_text=text,
            error="Anteckningen är tom eller för lång.",
            status_code=422,
        )
    return post.done("Anteckningen är sparad.")


async def _update(post: CaseForm, changes: Mapping[str, object], done: str) -> Response:
    try:
        changed = await update_case(
            post.session,
            case=post.case,
            changes=changes,
            actor=post.staff.actor,
            now=post.now,
            oidc=post.page.oidc,
        )
    except TriageError as exc:
        reason = exc.swedish or "Ett värde i formuläret är ogiltigt."
        return await post.refused(f"Ändringen kunde inte sparas. {reason}")
    return post.done(done if changed else "Inget ändrades.")


@router.post("/cases/{reference}/triage")
async def triage(post: CasePost) -> Response:
    def field(name: str) -> str | None:
        return post.text(name).strip() or None

    changes: dict[str, object] = {
        "kind": field("kind"),
        "submitter_role": field("submitter_role"),
        "priority": field("priority"),
        "status": field("status"),
        "unit": field("unit"),
        "assignee": field("assignee"),
        "flags": {name: post.form.get(f"flag_{name}") == "on" for name in TRIAGE_FLAGS},
    }
    for required in ("kind", "submitter_role", "priority", "status"):
        if changes[required] is None:
            del changes[required]
    # The ärendemening and what happened are in the form when it shows them; empty clears them
    # (the ärendemening goes back to its default).
    for name in ("registry_title", *EVENT_FIELDS):
        if name in post.form:
            changes[name] = post.text(name)
    return await _update(post, changes, "Ärendet är uppdaterat.")


@router.post("/cases/{reference}/close")
async def close(post: CasePost) -> Response:
    outcome = post.text("outcome").strip() or None
    if outcome is None:
        return await post.refused("Välj ett utfall.")
    return await _update(post, {"status": "closed", "outcome": outcome}, "Ärendet är avslutat.")


@router.post("/cases/{reference}/reopen")
async def reopen(post: CasePost) -> Response:
    return await _update(post, {"status": "open"}, "Ärendet är öppnat igen.")


@router.post("/cases/{reference}/to-inbox")
async def to_inbox(post: CasePost) -> Response:
    """Moves a case of machine mail ("Maskinpost") into the inbox: a person was behind it. Back to
    the machine-mail list when the form was sent from there, else to the case."""
    case = post.case
    moved = await move_to_inbox(post.session, case=case, actor=post.staff.actor, now=post.now)
    message = (
        f"{case.reference} är flyttat till inkorgen." if moved else "Ärendet låg redan i inkorgen."
    )
    if post.form.get("back") == "list":
        post.request.session["flash"] = message
        return RedirectResponse(f"/?view={MACHINE_VIEW}", status_code=303)
    return post.done(message)


@router.post("/cases/{reference}/merge")
async def merge(post: CasePost) -> Response:
    """Merges this case into the one named in the form (which the user must be able to see)."""
    source = post.case
    into = post.text("into").strip()
    target = await find_case(post.session, reference=into, scope=post.staff.scope) if into else None
    if target is None:
        return await post.page(
            post.staff,
            post.reference,
            error=f"Det finns inget ärende {into or '(tomt)'} som du har tillgång till.",
            status_code=status.HTTP_404_NOT_FOUND,
        )
    try:
        moved = await merge_cases(
            post.session, source=source, target=target, actor=post.staff.actor, now=post.now
        )
    except MergeError as exc:
        return await post.refused(str(exc))
    return back_to_case(
        post.request,
        target,
        f"{source.reference} är sammanslaget med det här ärendet "
        f"({'1 meddelande flyttat' if moved == 1 else f'{moved} meddelanden flyttade'}). "
        "Du kan ångra sammanslagningen en stund, se ovan.",
    )


@router.post("/cases/{reference}/messages/{message_id}/split")
async def split(message_id: Id, post: CasePost, policy: Policy) -> Response:
    """Moves one inbound message to a new case of its own and opens that case."""
    try:
        new = await split_message(
            post.session,
            case=post.case,
            message_id=message_id,
            actor=post.staff.actor,
            now=post.now,
            prefix=policy.case_prefix,
            response_days=policy.response_days,
        )
    except MergeError as exc:
        return await post.refused(str(exc))
    return back_to_case(
        post.request,
        new,
        f"Meddelandet är flyttat hit från {post.case.reference}. Du kan ångra det en stund, se "
        "ovan.",
    )


@router.post("/cases/{reference}/moves/{move_id}/undo")
async def undo(move_id: Id, post: CasePost) -> Response:
    """Undoes a merge or a split of this case (either side) while that is possible. The same
    checks as the merge or split itself: a writer who can see both cases."""
    try:
        move = await find_move(
            post.session, case=post.case, move_id=move_id, scope=post.staff.scope
        )
    except MoveNotFound as exc:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, detail="Det finns ingen sådan sammanslagning eller delning."
        ) from exc
    try:
        back_on, kept = await undo_move(
            post.session, move=move, actor=post.staff.actor, now=post.now
        )
    except UndoRefused as exc:
        return await post.refused(str(exc))
    if move.kind == MERGE:
        assert kept is not None
        done = (
            f"Sammanslagningen är ångrad: {back_on.reference} har sina meddelanden igen och är "
            f"{label('status', back_on.status).lower()} som före sammanslagningen med "
            f"{kept.reference}."
        )
    else:
        done = "Delningen är ångrad: meddelandet är tillbaka här och det nya ärendet är borttaget."
    return back_to_case(post.request, back_on, done)
