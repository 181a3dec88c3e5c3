"""The public check-in page: the link in a check-in mail opens a short form; no sign-in.

The link's token is signed and expiring; it is used up (in the database) by the form's POST, not
by opening the page, since mail scanners open links. That single-use signed token in the form's
address is also its CSRF protection: a forged cross-site POST would need the token itself. The
pages are plain HTML forms (no script; CSP `default-src 'self'`), WCAG 2.1 AA: labels, fieldsets
with legends, the page's language, visible focus, sufficient contrast.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request, status
from fastapi.responses import FileResponse, HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import update
from sqlmodel import col

from inbox.checkins.answers import AnswerError, Outcome, record_answers, validate
from inbox.checkins.links import LinkError
from inbox.checkins.plan import CheckinPolicy, opt_out
from inbox.checkins.texts import (
    CHOICES,
    QUESTIONS,
    appeal_explanation,
    choice_label,
    language_of,
    question_text,
)
from inbox.core.db import unit_of_work
from inbox.core.models import CheckIn, Contact, Decision, DecisionStatus, Unit
from inbox.web.render import STATIC, TEMPLATES
from inbox.web.state import Checkins, Clock, Sessions

router = APIRouter(tags=["public"], include_in_schema=False)
_env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True))
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # the token is in the address
    "Cache-Control": "no-store",
}

T: dict[str, dict[str, str]] = {
    "sv": {
        "title": "Hur var det för dig?",
        "intro": "Du har nyligen fått ett beslut från {unit}. Svara på de frågor du vill – det är frivilligt och svaren hamnar inte i din akt.",
        "send": "Skicka svar",
        "errors": "Något behöver rättas:",
        "none": "Svara på minst en fråga.",
        "thanks_title": "Tack för dina svar",
        "thanks": "Dina svar är sparade.",
        "callback": "En handläggare kommer att kontakta dig.",
        "invalid_title": "Länken fungerar inte",
        "invalid": "Länken är inte giltig. Kontrollera att du har fått med hela länken från mejlet.",
        "expired": "Länken har slutat gälla, och frågorna går inte längre att besvara.",
        "used": "Frågorna har redan besvarats via den här länken. Tack!",
        "withdrawn": "Frågorna går inte längre att besvara.",
        "comment_help": "Skriv inte personnummer eller detaljer om ditt ärende.",
        "stop_title": "Inga fler frågor",
        "stop_intro": "Vill du inte få fler frågor om hur våra beslut har varit för dig?",
        "stop_button": "Ja, skicka inga fler frågor",
        "stopped": "Klart. Du får inga fler sådana frågor från oss.",
        "skip": "Hoppa till frågorna",
    },
    "en": {
        "title": "How was it for you?",
        "intro": "You recently received a decision from {unit}. Answer the questions you like – it is voluntary and the answers are not added to your case file.",
        "send": "Send answers",
        "errors": "Something needs correcting:",
        "none": "Please answer at least one question.",
        "thanks_title": "Thank you for your answers",
        "thanks": "Your answers have been saved.",
        "callback": "A caseworker will contact you.",
        "invalid_title": "The link does not work",
        "invalid": "The link is not valid. Check that you have the whole link from the email.",
        "expired": "The link has expired, and the questions can no longer be answered.",
        "used": "The questions have already been answered through this link. Thank you!",
        "withdrawn": "The questions can no longer be answered.",
        "comment_help": "Please do not write your personal identity number or details of your case.",
        "stop_title": "No more questions",
        "stop_intro": "Would you rather not get questions about how our decisions were for you?",
        "stop_button": "Yes, send no more questions",
        "stopped": "Done. You will get no more questions like this from us.",
        "skip": "Skip to the questions",
    },
}


def _page(template: str, *, language: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    lang = language_of(language)
    html = _env.get_template(f"public/{template}").render(lang=lang, t=T[lang], **context)
    return HTMLResponse(html, status_code=status_code, headers=HEADERS)


def _message(kind: str, *, language: str = "sv", status_code: int) -> HTMLResponse:
    lang = language_of(language)
    title = T[lang]["invalid_title"] if kind in ("invalid", "expired") else T[lang]["title"]
    return _page(
        "message.html", language=lang, status_code=status_code, title=title, text=T[lang][kind]
    )


async def _load(
    session: Any, token: str, *, clock: Callable[[], datetime], checkins: CheckinPolicy
) -> CheckIn | HTMLResponse:
    now = clock()
    try:
        checkin_id = checkins.links.read_answer_token(token, now=now)
    except LinkError as exc:
        return _message(
            "expired" if exc.expired else "invalid",
            status_code=status.HTTP_410_GONE if exc.expired else status.HTTP_404_NOT_FOUND,
        )
    checkin = await session.get(CheckIn, checkin_id)
    if checkin is None:
        return _message("invalid", status_code=status.HTTP_404_NOT_FOUND)
    decision = await session.get(Decision, checkin.decision_id)
    if decision is None or decision.status == DecisionStatus.WITHDRAWN:
        return _message("withdrawn", language=checkin.language, status_code=status.HTTP_410_GONE)
    if checkin.token_used_at is not None:
        return _message("used", language=checkin.language, status_code=status.HTTP_410_GONE)
    if now >= checkin.closes_at:
        return _message("expired", language=checkin.language, status_code=status.HTTP_410_GONE)
    return checkin


def _questions(language: str, values: dict[str, str]) -> list[dict[str, Any]]:
    return [
        {
            "name": q,
            "legend": question_text(q, language),
            "choices": [(a, choice_label(q, a, language)) for a in CHOICES[q]],
            "value": values.get(q),
        }
        for q in QUESTIONS
    ]


async def _form(
    session: Any,
    checkin: CheckIn,
    *,
    token: str,
    values: dict[str, str],
    errors: list[str],
    status_code: int = 200,
) -> HTMLResponse:
    unit = await session.get(Unit, checkin.unit_id)
    lang = language_of(checkin.language)
    return _page(
        "checkin.html",
        language=lang,
        status_code=status_code,
        title=T[lang]["title"],
        intro=T[lang]["intro"].format(unit=unit.name if unit else ""),
        questions=_questions(lang, values),
        comment_label=question_text("comment", lang),
        comment=values.get("comment", ""),
        action=f"/checkin/{token}",
        errors=errors,
    )


@router.get("/checkin/{token}")
async def checkin_form(
    token: str, sessions: Sessions, clock: Clock, checkins: Checkins
) -> HTMLResponse:
    async with unit_of_work(sessions) as session:
        loaded = await _load(session, token, clock=clock, checkins=checkins)
        if isinstance(loaded, HTMLResponse):
            return loaded
        return await _form(session, loaded, token=token, values={}, errors=[])


@router.post("/checkin/{token}")
async def checkin_submit(
    token: str, request: Request, sessions: Sessions, clock: Clock, checkins: Checkins
) -> HTMLResponse:
    form = await request.form()
    values = {name: str(form.get(name) or "") for name in (*QUESTIONS, "comment")}
    values = {name: value for name, value in values.items() if value.strip()}
    now = clock()
    async with unit_of_work(sessions) as session:
        loaded = await _load(session, token, clock=clock, checkins=checkins)
        if isinstance(loaded, HTMLResponse):
            return loaded
        checkin = loaded
        lang = language_of(checkin.language)
        errors = []
        for name, value in values.items():
            try:
                validate(name, value)
            except AnswerError as exc:
                errors.append(str(exc))
        if not values:
            errors.append(T[lang]["none"])
        if errors:
            return await _form(
                session, checkin, token=token, values=values, errors=errors, status_code=400
            )
        # Single use, race-safe: only the request that flips token_used_at may record answers.
        used = await session.execute(
            update(CheckIn)
            .where(col(CheckIn.id) == checkin.id, col(CheckIn.token_used_at).is_(None))
            .values(token_used_at=now)
        )
        if used.rowcount != 1:  # type: ignore[attr-defined]
            return _message("used", language=lang, status_code=status.HTTP_410_GONE)
        await session.refresh(checkin)
        results = await record_answers(
            session, checkin=checkin, answers=values, now=now, policy=checkins, via="web"
        )
        if any(r.outcome in (Outcome.CLOSED, Outcome.WITHDRAWN) for r in results):
            return _message("withdrawn", language=lang, status_code=status.HTTP_410_GONE)
        return _page(
            "done.html",
            language=lang,
            title=T[lang]["thanks_title"],
            callback=checkin.case_id is not None,
            appeal=appeal_explanation(lang, appeal_url=checkins.appeal_url)
            if checkin.knows_appeal == "no"
            else None,
        )


@router.get("/checkin/stopp/{token}")
async def stop_form(token: str, sessions: Sessions, checkins: Checkins) -> HTMLResponse:
    try:
        contact_id = checkins.links.read_stop_token(token)
    except LinkError:
        return _message("invalid", status_code=status.HTTP_404_NOT_FOUND)
    async with sessions() as session:
        contact = await session.get(Contact, contact_id)
    if contact is None:
        return _message("invalid", status_code=status.HTTP_404_NOT_FOUND)
    language = language_of(contact.language)
    return _page(
        "stop.html",
        language=language,
        title=T[language]["stop_title"],
        action=f"/checkin/stopp/{token}",
        done=False,
    )


@router.post("/checkin/stopp/{token}")
async def stop_submit(
    token: str, sessions: Sessions, clock: Clock, checkins: Checkins
) -> HTMLResponse:
    try:
        contact_id = checkins.links.read_stop_token(token)
    except LinkError:
        return _message("invalid", status_code=status.HTTP_404_NOT_FOUND)
    async with unit_of_work(sessions) as session:
        contact = await session.get(Contact, contact_id)
        if contact is None:
            return _message("invalid", status_code=status.HTTP_404_NOT_FOUND)
        await opt_out(session, contact=contact, now=clock())
        language = language_of(contact.language)
    return _page(
        "stop.html", language=language, title=T[language]["stop_title"], action="", done=True
    )


@router.get("/static/public.css")
async def stylesheet() -> FileResponse:
    return FileResponse(
        STATIC / "public.css",
        media_type="text/css",
        headers={"Cache-Control": "max-age=3600"},
    )
