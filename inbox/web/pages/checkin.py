"""The public check-in page: the personal link in a check-in mail or Telegram message opens a
short form; no sign-in. Only this page says what the questions are about (the decision and its
date, never the unit); the mail and the chat do not, and the unsubscribe page does not either.

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
    feedback_explanation,
    language_of,
    public_date,
    question_text,
)
from inbox.core import i18n
from inbox.core.db import unit_of_work
from inbox.core.i18n import N_
from inbox.core.models import CheckIn, Contact, Decision, DecisionStatus
from inbox.web.render import STATIC, TEMPLATES, with_citizen_texts
from inbox.web.state import Checkins, Clock, Sessions

router = APIRouter(tags=["public"], include_in_schema=False)
_env = with_citizen_texts(
    Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True))
)
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # the token is in the address
    "Cache-Control": "no-store",
}

# The page's texts, in Swedish: msgids of the catalogues, translated by `_texts`.
_T = {
    "title": N_("Hur upplevde du din kontakt med oss?"),
    "intro": N_(
        "{organisation} vill gärna veta hur du upplevde din senaste kontakt med oss. "
        "Frågorna gäller beslutet i ditt ärende från den {decided_on}."
    ),
    "voluntary": N_("Det är frivilligt att svara. Svara på de frågor du vill."),
    "about_title": N_("Om dina svar"),
    "about": N_(
        "Dina svar blir allmänna handlingar hos {organisation}. Uppgifter om dig skyddas i "
        "regel av sekretess och lämnas då inte ut.\n"
        "Svaren sparas skilt från din akt och förs inte in i den av sig själva.\n"
        "Vill du att vi kontaktar dig, läser en medarbetare svaren. Det ni pratar om kan då "
        "antecknas i din akt, om det har betydelse för ditt ärende.\n"
        "I statistiken visar vi bara grupper med minst fem svar."
    ),
    "send": N_("Skicka svar"),
    "errors": N_("Något behöver rättas:"),
    "none": N_("Svara på minst en fråga."),
    "thanks_title": N_("Tack för dina svar"),
    "thanks": N_("Dina svar är sparade."),
    "callback": N_("Du har bett att någon av oss kontaktar dig. Vi hör av oss."),
    "other_handler": N_(
        "Vi har noterat att du hellre vill prata med någon annan än den som handlade ditt ärende."
    ),
    "invalid_title": N_("Länken fungerar inte"),
    "invalid": N_("Länken är inte giltig. Kontrollera att du har fått med hela länken."),
    "expired": N_("Länken har slutat gälla, och frågorna går inte längre att besvara."),
    "used": N_("Frågorna har redan besvarats via den här länken. Tack!"),
    "withdrawn": N_("Frågorna går inte längre att besvara."),
    "comment_help": N_("Skriv inte ditt personnummer eller andra känsliga uppgifter om dig själv."),
    "phone": N_("Ditt telefonnummer, om du vill att vi ringer dig (frivilligt)"),
    "phone_help": N_(
        "Vi sparar numret bara om du har svarat ja på att du vill att vi kontaktar dig."
    ),
    "phone_error": N_("Skriv telefonnumret med siffror, till exempel 070-123 45 67."),
    "unreadable": N_("Ett av svaren gick inte att läsa. Välj bland svaren och skicka igen."),
    "stop_title": N_("Inga fler frågor"),
    "stop_intro": N_("Vill du inte få fler frågor om hur du upplevde din kontakt med oss?"),
    "stop_button": N_("Ja, skicka inga fler frågor"),
    "stopped": N_("Klart. Du får inga fler sådana frågor från oss."),
    "skip": N_("Hoppa till frågorna"),
}


def _text(lang: str, key: str) -> str:
    """One of the page's texts (`_T`) in the language `lang`."""
    return i18n.gettext(lang, _T[key])


def _texts(lang: str) -> dict[str, str]:
    return {key: _text(lang, key) for key in _T}


def _page(template: str, *, language: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A page in the offered language `language` names (Swedish when none): its `lang` and
    `dir`, and its texts from the catalogue."""
    found = i18n.BY_CODE[language_of(language)]
    direction = {"dir": found.dir} if found.rtl else {}
    html = _env.get_template(f"public/{template}").render(
        lang=found.html, locale=found.code, t=_texts(found.code), **direction, **context
    )
    return HTMLResponse(html, status_code=status_code, headers=HEADERS)


def _message(kind: str, *, language: str = "sv", status_code: int) -> HTMLResponse:
    lang = language_of(language)
    texts = _texts(lang)
    title = texts["invalid_title"] if kind in ("invalid", "expired") else texts["title"]
    return _page(
        "message.html", language=lang, status_code=status_code, title=title, text=texts[kind]
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


def _questions(checkin: CheckIn, language: str, values: dict[str, str]) -> list[dict[str, Any]]:
    """The page's questions still open: one answered already (in the chat) is not asked again."""
    return [
        {
            "name": q,
            "legend": question_text(q, language, page=True),
            "choices": [(a, choice_label(q, a, language)) for a in CHOICES[q]],
            "value": values.get(q),
        }
        for q in QUESTIONS
        if getattr(checkin, q) is None
    ]


async def _form(
    session: Any,
    checkin: CheckIn,
    *,
    token: str,
    values: dict[str, str],
    errors: list[str],
    checkins: CheckinPolicy,
    status_code: int = 200,
) -> HTMLResponse:
    decision = await session.get(Decision, checkin.decision_id)
    lang = language_of(checkin.language)
    texts = {"organisation": checkins.organisation}
    return _page(
        "checkin.html",
        language=lang,
        status_code=status_code,
        title=_text(lang, "title"),
        intro=_text(lang, "intro").format(
            decided_on=public_date(decision.decided_on, lang) if decision else "", **texts
        ),
        about=_text(lang, "about").format(**texts).split("\n"),
        questions=_questions(checkin, lang, values),
        comment_label=question_text("comment", lang),
        comment=values.get("comment", ""),
        ask_comment=checkin.comment is None,
        # Asked beside "Vill du att någon av oss kontaktar dig?" while that may still be "yes".
        ask_phone=checkin.phone is None and checkin.wants_contact != "no",
        phone=values.get("phone", ""),
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
        return await _form(session, loaded, token=token, values={}, errors=[], checkins=checkins)


@router.post("/checkin/{token}")
async def checkin_submit(
    token: str, request: Request, sessions: Sessions, clock: Clock, checkins: Checkins
) -> HTMLResponse:
    form = await request.form()
    values = {name: str(form.get(name) or "") for name in (*QUESTIONS, "comment", "phone")}
    values = {name: value for name, value in values.items() if value.strip()}
    now = clock()
    async with unit_of_work(sessions) as session:
        loaded = await _load(session, token, clock=clock, checkins=checkins)
        if isinstance(loaded, HTMLResponse):
            return loaded
        checkin = loaded
        lang = language_of(checkin.language)
        # A number is kept only from someone who wants us to contact them (no "yes": none).
        if "yes" not in (values.get("wants_contact"), checkin.wants_contact):
            values.pop("phone", None)
        errors = []
        for name, value in values.items():
            try:
                validate(name, value)
            except AnswerError:
                # In the person's language: a bad number, or a value the form never offers.
                problem = _text(lang, "phone_error" if name == "phone" else "unreadable")
                if problem not in errors:
                    errors.append(problem)
        if not values:
            errors.append(_text(lang, "none"))
        if errors:
            return await _form(
                session,
                checkin,
                token=token,
                values=values,
                errors=errors,
                checkins=checkins,
                status_code=400,
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
        # Contact is promised only to those who asked for it (and so have a case to call back).
        called = checkin.case_id is not None and checkin.wants_contact == "yes"
        return _page(
            "done.html",
            language=lang,
            title=_text(lang, "thanks_title"),
            callback=called,
            other_handler=called and checkin.other_handler == "yes",
            explanations=[
                text
                for wanted, text in (
                    (
                        checkin.knows_appeal == "no",
                        appeal_explanation(
                            lang,
                            appeal_url=checkins.appeal_url,
                            organisation=checkins.organisation,
                        ),
                    ),
                    (
                        checkin.knows_feedback == "no",
                        feedback_explanation(lang, channel=checkin.channel, page=True),
                    ),
                )
                if wanted
            ],
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
        title=_text(language, "stop_title"),
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
        "stop.html",
        language=language,
        title=_text(language, "stop_title"),
        action="",
        done=True,
    )


@router.get("/static/public.css")
async def stylesheet() -> FileResponse:
    return FileResponse(
        STATIC / "public.css",
        media_type="text/css",
        headers={"Cache-Control": "max-age=3600"},
    )
