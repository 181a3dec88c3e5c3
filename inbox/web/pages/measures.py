"""The case's reporting forms: its topics, a new measure or a change to one, the lex Sarah
assessment, and the report example — each a POST that redirects back to the case, over
`inbox.cases.measures`, which decides what is allowed. Bad input re-renders the case with the
error."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from inbox.cases.measures import (
    MeasureError,
    MeasureInput,
    add_measure,
    set_example,
    set_lex_sarah,
    set_topics,
    update_measure,
)
from inbox.web.auth.csrf import verify_csrf
from inbox.web.auth.sessions import Session
from inbox.web.deps import StaffWriter
from inbox.web.inputs import Id
from inbox.web.pages.actions import back_to_case, writable_case
from inbox.web.pages.cases import CasePage
from inbox.web.state import Clock

router = APIRouter(dependencies=[Depends(verify_csrf)], include_in_schema=False)


def _measure(form: FormData) -> MeasureInput:
    try:
        dated_on = date.fromisoformat(str(form.get("dated_on", "")).strip())
    except ValueError:
        raise MeasureError("Ange datumet som ÅÅÅÅ-MM-DD.") from None
    owner = str(form.get("owner", "")).strip()
    if owner and not owner.isdigit():
        raise MeasureError("Välj en ansvarig ur listan.")
    return MeasureInput(
        type=str(form.get("type", "")),
        text=str(form.get("text", "")),
        status=str(form.get("status", "")),
        dated_on=dated_on,
        owner_id=int(owner) if owner else None,
        public=form.get("public") == "yes",
        public_summary=str(form.get("public_summary", "")),
    )


@router.post("/cases/{reference}/topics")
async def topics(
    reference: str,
    request: Request,
    session: Session,
    staff: StaffWriter,
    case_page: CasePage,
    clock: Clock,
) -> Response:
    case = await writable_case(session, staff, reference)
    form = await request.form()
    chosen = [str(v) for v in form.getlist("topic")]
    try:
        if not all(v.isdigit() for v in chosen):
            raise MeasureError("Välj ämnen ur listan.")
        changed = await set_topics(
            session,
            case=case,
            topic_ids=[int(v) for v in chosen],
            scope=staff.scope,
            actor=staff.actor,
            now=clock(),
        )
    except MeasureError as exc:
        return await case_page(staff, reference, error=str(exc), status_code=422)
    return back_to_case(request, case, "Ämnena är sparade." if changed else "Inget ändrades.")


@router.post("/cases/{reference}/measures")
async def measure_add(
    reference: str,
    request: Request,
    session: Session,
    staff: StaffWriter,
    case_page: CasePage,
    clock: Clock,
) -> Response:
    case = await writable_case(session, staff, reference)
    form = await request.form()
    try:
        await add_measure(
            session,
            case=case,
            data=_measure(form),
            scope=staff.scope,
            actor=staff.actor,
            now=clock(),
        )
    except MeasureError as exc:
        return await case_page(staff, reference, error=str(exc), status_code=422)
    return back_to_case(request, case, "Åtgärden är registrerad.")


@router.post("/cases/{reference}/measures/{measure_id}")
async def measure_change(
    reference: str,
    measure_id: Id,
    request: Request,
    session: Session,
    staff: StaffWriter,
    case_page: CasePage,
    clock: Clock,
) -> Response:
    case = await writable_case(session, staff, reference)
    form = await request.form()
    try:
        changed = await update_measure(
            session,
            case=case,
            measure_id=measure_id,
            data=_measure(form),
            scope=staff.scope,
            actor=staff.actor,
            now=clock(),
        )
    except MeasureError as exc:
        return await case_page(staff, reference, error=str(exc), status_code=422)
    return back_to_case(request, case, "Åtgärden är ändrad." if changed else "Inget ändrades.")


@router.post("/cases/{reference}/lex-sarah")
async def lex_sarah(
    reference: str,
    request: Request,
    session: Session,
    staff: StaffWriter,
    case_page: CasePage,
    clock: Clock,
) -> Response:
    case = await writable_case(session, staff, reference)
    form = await request.form()
    try:
        changed = await set_lex_sarah(
            session,
            case=case,
            assessed=form.get("assessed") == "yes",
            outcome=str(form.get("outcome", "")) or None,
            scope=staff.scope,
            actor=staff.actor,
            now=clock(),
        )
    except MeasureError as exc:
        return await case_page(staff, reference, error=str(exc), status_code=422)
    done = "Lex Sarah-bedömningen är sparad." if changed else "Inget ändrades."
    return back_to_case(request, case, done)


@router.post("/cases/{reference}/example")
async def example(
    reference: str,
    request: Request,
    session: Session,
    staff: StaffWriter,
    case_page: CasePage,
    clock: Clock,
) -> Response:
    case = await writable_case(session, staff, reference)
    form = await request.form()
    try:
        changed = await set_example(
            session,
            case=case,
            example=form.get("example") == "yes",
            summary=str(form.get("summary", "")),
            handling=str(form.get("handling", "")),
            scope=staff.scope,
            actor=staff.actor,
            now=clock(),
        )
    except MeasureError as exc:
        return await case_page(staff, reference, error=str(exc), status_code=422)
    return back_to_case(request, case, "Exemplet är sparat." if changed else "Inget ändrades.")
