"""The case's reporting forms: its topics, a new measure or a change to one, the lex Sarah
assessment, and the report example — each a POST that redirects back to the case, over
`inbox.cases.measures`, which decides what is allowed. Bad input re-renders the case with the
error."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Depends
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
from inbox.web.inputs import Id
from inbox.web.pages.actions import CasePost

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
async def topics(post: CasePost) -> Response:
    chosen = [str(v) for v in post.form.getlist("topic")]
    try:
        if not all(v.isdigit() for v in chosen):
            raise MeasureError("Välj ämnen ur listan.")
        changed = await set_topics(
            post.session,
            case=post.case,
            topic_ids=[int(v) for v in chosen],
            scope=post.staff.scope,
            actor=post.staff.actor,
            now=post.now,
        )
    except MeasureError as exc:
        return await post.refused(str(exc))
    return post.done("Ämnena är sparade." if changed else "Inget ändrades.")


@router.post("/cases/{reference}/measures")
async def measure_add(post: CasePost) -> Response:
    try:
        await add_measure(
            post.session,
            case=post.case,
            data=_measure(post.form),
            scope=post.staff.scope,
            actor=post.staff.actor,
            now=post.now,
        )
    except MeasureError as exc:
        return await post.refused(str(exc))
    return post.done("Åtgärden är registrerad.")


@router.post("/cases/{reference}/measures/{measure_id}")
async def measure_change(measure_id: Id, post: CasePost) -> Response:
    try:
        changed = await update_measure(
            post.session,
            case=post.case,
            measure_id=measure_id,
            data=_measure(post.form),
            scope=post.staff.scope,
            actor=post.staff.actor,
            now=post.now,
        )
    except MeasureError as exc:
        return await post.refused(str(exc))
    return post.done("Åtgärden är ändrad." if changed else "Inget ändrades.")


@router.post("/cases/{reference}/lex-sarah")
async def lex_sarah(post: CasePost) -> Response:
    try:
        changed = await set_lex_sarah(
            post.session,
            case=post.case,
            assessed=post.form.get("assessed") == "yes",
            outcome=post.text("outcome") or None,
            scope=post.staff.scope,
            actor=post.staff.actor,
            now=post.now,
        )
    except MeasureError as exc:
        return await post.refused(str(exc))
    return post.done("Lex Sarah-bedömningen är sparad." if changed else "Inget ändrades.")


@router.post("/cases/{reference}/example")
async def example(post: CasePost) -> Response:
    try:
        changed = await set_example(
            post.session,
            case=post.case,
            example=post.form.get("example") == "yes",
            summary=post.text("summary"),
            handling=post.text("handling"),
            scope=post.staff.scope,
            actor=post.staff.actor,
            now=post.now,
        )
    except MeasureError as exc:
        return await post.refused(str(exc))
    return post.done("Exemplet är sparat." if changed else "Inget ändrades.")
