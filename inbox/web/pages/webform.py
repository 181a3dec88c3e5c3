"""The citizen's own channel: the web form `/synpunkt`, its receipt, and `/synpunkt/folj`.

No sign-in and no JavaScript: plain HTML forms under the same CSP as every page. The form carries a
signed one-time token (a random nonce and when the form was given out): a second submit of it is
the same ledger row, so one case, and a submit sooner than a person could fill the form in is
asked to be sent again. A honeypot field that people never see (and screen readers skip) and a
limit per address keep machines out without a captcha. Every text comes from the catalogues in the
language negotiated by `inbox.core.i18n`; errors are listed at the top, each linked to its field,
and the form keeps everything typed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select
from sqlmodel import col
from starlette.datastructures import FormData, UploadFile

from inbox.core import i18n
from inbox.core.addresses import is_mail_address
from inbox.core.db import unit_of_work
from inbox.core.models import Unit
from inbox.intake import web_form
from inbox.intake.web_form import Submission, Upload, WebFormPolicy
from inbox.staff.signin import client_key
from inbox.web.render import env
from inbox.web.state import Clock, Policy, ReadSessions, Sessions, WakeWorker, WebForm

router = APIRouter(tags=["public"], include_in_schema=False)
LANG_COOKIE = "synpunkt_lang"
FORM_PATH = "/synpunkt"
FOLLOW_UP_PATH = "/synpunkt/folj"
MAX_MESSAGE = 20_000
MAX_SHORT = 200


def chosen_language(request: Request) -> i18n.Language:
    return i18n.negotiate(
        chosen=request.query_params.get("lang"),
        saved=request.cookies.get(LANG_COOKIE),
        accept_language=request.headers.get("accept-language"),
    )


def render_public(
    request: Request, template: str, language: i18n.Language, status_code: int = 200, **context: Any
) -> HTMLResponse:
    """A citizen page in `language`; an explicit choice (`?lang=`) is remembered in a cookie."""
    body = env.get_template(template).render(
        lang=language.html,
        locale=language.code,
        dir=language.dir,
        languages=i18n.offered(),
        current=language,
        path=request.url.path,
        t={"skip": i18n.gettext(language.code, "Hoppa till innehållet")},
        **context,
    )
    response = HTMLResponse(body, status_code=status_code)
    if i18n.language(request.query_params.get("lang")) is not None:
        response.set_cookie(
            LANG_COOKIE, language.code, max_age=365 * 24 * 3600, samesite="lax", httponly=True
        )
    return response


# --- the one-time token and the follow-up code --------------------------------------------------


def _serializer(policy: WebFormPolicy) -> URLSafeSerializer:
    return URLSafeSerializer(policy.secret_key, salt="synpunkt.webform")


def new_token(policy: WebFormPolicy, now: datetime) -> str:
    return _serializer(policy).dumps({"n": secrets.token_urlsafe(16), "t": now.timestamp()})


@dataclass(frozen=True, slots=True)
class Token:
    nonce: str
    issued: float


def read_token(policy: WebFormPolicy, value: str) -> Token | None:
    try:
        data = _serializer(policy).loads(value)
        return Token(nonce=str(data["n"]), issued=float(data["t"]))
    except (BadSignature, KeyError, TypeError, ValueError):
        return None


def follow_up_code(policy: WebFormPolicy, nonce: str) -> str:
    """128 bits derived from the form's nonce with the secret key, in groups of four: only the
    browser holding the token can be shown it (again, after a double submit)."""
    digest = hmac.new(policy.secret_key.encode(), f"followup:{nonce}".encode(), hashlib.sha256)
    letters = base64.b32encode(digest.digest()[:16]).decode().rstrip("=")
    return "-".join(letters[i : i + 4] for i in range(0, len(letters), 4))


def _sender_key(policy: WebFormPolicy, request: Request) -> str:
    return web_form.sender_key(
        policy.secret_key, client_key(request.client.host if request.client else None)
    )


# --- the form -------------------------------------------------------------------------------------

FIELDS = ("kind", "unit", "role", "message", "what", "when", "where", "email", "phone")


async def _units(read: Any) -> list[tuple[int, str]]:
    async with read() as session:
        rows = await session.execute(
            select(col(Unit.id), col(Unit.name)).where(col(Unit.active)).order_by(col(Unit.name))
        )
        return [(int(i), str(n)) for i, n in rows.all()]


async def _form_page(
    request: Request,
    language: i18n.Language,
    policy: WebFormPolicy,
    read: Any,
    now: datetime,
    *,
    values: dict[str, str] | None = None,
    errors: list[tuple[str, str]] | None = None,
    token: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    token = token or new_token(policy, now)
    return render_public(
        request,
        "public/webform.html",
        language,
        status_code=status_code,
        challenge=await _challenge(request, policy, read, now, token),
        pow_strings=_pow_strings(language.code),
        title=i18n.gettext(language.code, "Lämna en synpunkt"),
        values={name: "" for name in FIELDS} | (values or {}),
        errors=errors or [],
        token=token,
        units=await _units(read),
        kinds=web_form.KINDS,
        roles=web_form.ROLES,
        max_uploads=web_form.MAX_UPLOADS,
        max_mb=policy.attachment_bytes // (1024 * 1024),
    )


# The proof-of-work widget's texts, from the catalogues (its own are in English).
_POW_TEXTS = {
    "label": i18n.N_("Kontrollen görs automatiskt"),
    "loading": i18n.N_("Laddar …"),
    "verifying": i18n.N_("Kontrollerar, vänta lite …"),
    "waitAlert": i18n.N_("Kontrollerar, vänta lite …"),
    "verified": i18n.N_("Klart"),
    "verificationRequired": i18n.N_("Vänta tills kontrollen är klar."),
    "error": i18n.N_("Kontrollen fungerade inte. Vänta en stund och försök igen."),
    "expired": i18n.N_("Kontrollen hann gå ut. Ladda sidan på nytt."),
}


def _pow_strings(code: str) -> str:
    return json.dumps({key: i18n.gettext(code, text) for key, text in _POW_TEXTS.items()})


async def _near_limit(request: Request, policy: WebFormPolicy, read: Any, now: datetime) -> bool:
    """Whether this address has sent enough lately that the form asks for a proof of work."""
    async with read() as session:
        recent = await web_form.recent_submissions(
            session, sender_key=_sender_key(policy, request), now=now, window=policy.window
        )
    return recent >= policy.pow_threshold


async def _challenge(
    request: Request, policy: WebFormPolicy, read: Any, now: datetime, token: str
) -> str | None:
    """The form's proof-of-work challenge (JSON), when the address is near its limit."""
    parsed = read_token(policy, token)
    if parsed is None or not await _near_limit(request, policy, read, now):
        return None
    challenge = web_form.pow_challenge(
        policy.secret_key, token_nonce=parsed.nonce, now=now, cost=policy.pow_cost
    )
    return json.dumps(challenge)


@router.get(FORM_PATH, response_class=HTMLResponse)
async def form(request: Request, policy: WebForm, read: ReadSessions, clock: Clock) -> HTMLResponse:
    return await _form_page(request, chosen_language(request), policy, read, clock())


def _text(form: FormData, name: str, limit: int) -> str:
    value = form.get(name)
    return value.replace("\r\n", "\n").strip()[:limit] if isinstance(value, str) else ""


async def _uploads(
    form: FormData, policy: WebFormPolicy, errors: list[tuple[str, str]], code: str
) -> list[Upload]:
    files = [f for f in form.getlist("attachments") if isinstance(f, UploadFile) and f.filename]
    if len(files) > web_form.MAX_UPLOADS:
        errors.append(("attachments", i18n.gettext(code, "Du kan bifoga högst tre filer.")))
        return []
    uploads = []
    for number, file in enumerate(files, start=1):
        data = await file.read(policy.attachment_bytes + 1)
        found = web_form.sniff(data)
        if len(data) > policy.attachment_bytes:
            errors.append(
                (
                    "attachments",
                    i18n.gettext(code, "En av filerna är för stor.") + f" ({file.filename})",
                )
            )
        elif found is None:
            errors.append(
                (
                    "attachments",
                    i18n.gettext(code, "Du kan bara bifoga bilder och PDF-filer.")
                    + f" ({file.filename})",
                )
            )
        else:
            content_type, extension = found
            uploads.append(Upload(f"bilaga-{number}.{extension}", content_type, data))
    return uploads


@dataclass(frozen=True, slots=True)
class Posted:
    """A submitted form as read: what was typed, its token, whether the honeypot was filled in,
    the attachments that passed, and what must be corrected."""

    values: dict[str, str]
    token_text: str
    token: Token | None
    trapped: bool
    uploads: list[Upload]
    errors: list[tuple[str, str]]
    proof: str  # the proof-of-work widget's payload, when it ran


async def _posted(
    request: Request, policy: WebFormPolicy, code: str, units: list[tuple[int, str]]
) -> Posted:
    async with request.form(max_files=web_form.MAX_UPLOADS + 1) as form:  # closes the files
        values = {
            name: _text(form, name, MAX_MESSAGE if name in ("message", "what") else MAX_SHORT)
            for name in FIELDS
        }
        errors = _check(values, code, units)
        uploads = await _uploads(form, policy, errors, code)
        token_text = _text(form, "token", 500)
        return Posted(
            values=values,
            token_text=token_text,
            token=read_token(policy, token_text),
            trapped=bool(_text(form, "website", 500)),
            uploads=uploads,
            errors=errors,
            proof=_text(form, "altcha", 20_000),
        )


async def _too_soon_or_too_many(
    posted: Posted, policy: WebFormPolicy, read: Any, key: str, now: datetime, code: str
) -> list[tuple[str, str]]:
    """Why a form otherwise right is not taken now: sent sooner than a person fills it in, one
    address over its limit, or near it without the proof of work the form then asks for. Each
    keeps what was typed; a person sends again, or later."""
    assert posted.token is not None
    if now.timestamp() - posted.token.issued < policy.min_fill_seconds:
        text = i18n.N_("Formuläret skickades mycket snabbt. Kontrollera det och skicka igen.")
        return [("message", i18n.gettext(code, text))]
    async with read() as session:
        recent = await web_form.recent_submissions(
            session, sender_key=key, now=now, window=policy.window
        )
    if recent >= policy.per_address:
        text = i18n.N_(
            "Många meddelanden har skickats härifrån den senaste timmen. "
            "Vänta en stund och försök igen."
        )
        return [("message", i18n.gettext(code, text))]
    if recent >= policy.pow_threshold and not web_form.pow_solved(
        policy.secret_key, posted.proof, token_nonce=posted.token.nonce, now=now
    ):
        text = i18n.N_(
            "Formuläret behöver en kontroll som webbläsaren gör automatiskt med JavaScript. "
            "Om den inte fungerar för dig, vänta en stund och försök igen."
        )
        return [("message", i18n.gettext(code, text))]
    return []


def _broken(request: Request, language: i18n.Language) -> HTMLResponse:
    """A form with a forged token or a filled-in honeypot: a machine's, most likely."""
    code = language.code
    return render_public(
        request,
        "public/message.html",
        language,
        status_code=400,
        title=i18n.gettext(code, "Något gick fel"),
        text=i18n.gettext(
            code, "Formuläret kunde inte skickas. Ladda sidan på nytt och försök igen."
        ),
    )


@router.post(FORM_PATH, response_class=HTMLResponse)
async def submit(
    request: Request,
    policy: WebForm,
    intake: Policy,
    sessions: Sessions,
    read: ReadSessions,
    clock: Clock,
    wake: WakeWorker,
) -> HTMLResponse:
    language = chosen_language(request)
    code = language.code
    posted = await _posted(request, policy, code, await _units(read))
    if posted.token is None or posted.trapped:
        return _broken(request, language)
    now = clock()
    key = _sender_key(policy, request)
    errors = posted.errors or await _too_soon_or_too_many(posted, policy, read, key, now, code)
    if errors:
        if posted.uploads:
            text = i18n.N_("Välj dina filer igen: de sparas inte när något behöver rättas.")
            errors.append(("attachments", i18n.gettext(code, text)))
        return await _form_page(
            request,
            language,
            policy,
            read,
            now,
            values=posted.values,
            errors=errors,
            token=posted.token_text,
            status_code=422,
        )
    follow_code = follow_up_code(policy, posted.token.nonce)
    try:
        async with unit_of_work(sessions) as session:
            written: web_form.Written | None = await web_form.write_submission(
                session,
                _submission(posted, code),
                token_nonce=posted.token.nonce,
                code=follow_code,
                prefix=intake.case_prefix,
                now=now,
                sender_key=key,
            )
    except web_form.SubmittedTwice:
        async with read() as session:
            written = await web_form.written_before(session, token_nonce=posted.token.nonce)
    assert written is not None
    wake()
    return render_public(
        request,
        "public/receipt.html",
        language,
        title=i18n.gettext(code, "Tack, vi har tagit emot ditt meddelande"),
        reference=written.reference,
        code=follow_code,
        email=posted.values["email"],
    )


def _submission(posted: Posted, code: str) -> Submission:
    values = posted.values
    return Submission(
        message=values["message"],
        language=code,
        kind=values["kind"] or None,
        unit_id=int(values["unit"]) if values["unit"] else None,
        role=values["role"] or None,
        what=values["what"],
        when=values["when"],
        where=values["where"],
        email=values["email"],
        phone=values["phone"],
        uploads=tuple(posted.uploads),
    )


def _check(
    values: dict[str, str], code: str, units: list[tuple[int, str]]
) -> list[tuple[str, str]]:
    """What must be corrected, each (field, text), in the form's order."""
    errors: list[tuple[str, str]] = []
    if values["kind"] and values["kind"] not in web_form.KINDS:
        errors.append(("kind", i18n.gettext(code, "Välj vad det gäller.")))
    if values["unit"] and values["unit"] not in {str(i) for i, _ in units}:
        errors.append(("unit", i18n.gettext(code, "Välj en verksamhet i listan.")))
    if values["role"] and values["role"] not in web_form.ROLES:
        errors.append(("role", i18n.gettext(code, "Välj vem du är.")))
    if not values["message"]:
        errors.append(("message", i18n.gettext(code, "Skriv ditt meddelande.")))
    email = values["email"]
    if email and not is_mail_address(email):
        errors.append(
            (
                "email",
                i18n.gettext(
                    code, "Skriv e-postadressen som namn@exempel.se, eller lämna fältet tomt."
                ),
            )
        )
    phone = values["phone"]
    if phone and (sum(c.isdigit() for c in phone) < 6 or any(c.isalpha() for c in phone)):
        errors.append(
            (
                "phone",
                i18n.gettext(code, "Skriv telefonnumret med siffror, eller lämna fältet tomt."),
            )
        )
    return errors


# --- following up -------------------------------------------------------------------------------


@router.get(FOLLOW_UP_PATH, response_class=HTMLResponse)
async def follow_up_form(request: Request) -> HTMLResponse:
    language = chosen_language(request)
    return render_public(
        request,
        "public/followup.html",
        language,
        title=i18n.gettext(language.code, "Följ ditt ärende"),
        view=None,
        error=None,
        reference="",
        code="",
        token="",
        added=False,
    )


async def _open(
    request: Request, policy: WebFormPolicy, sessions: Any, clock: Any, reference: str, code: str
) -> tuple[i18n.Language, bool | None]:
    language = chosen_language(request)
    async with unit_of_work(sessions) as session:
        opened = await web_form.check_code(
            session,
            reference=reference,
            code=code,
            address_key=client_key(request.client.host if request.client else None),
            now=clock(),
            limits=policy.follow_up,
        )
    return language, opened


async def _follow_up_page(
    request: Request,
    language: i18n.Language,
    policy: WebFormPolicy,
    read: Any,
    now: datetime,
    reference: str,
    code: str,
    *,
    added: bool = False,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    async with read() as session:
        view = await web_form.follow_up_view(session, reference)
    return render_public(
        request,
        "public/followup.html",
        language,
        status_code=status_code,
        title=i18n.gettext(language.code, "Följ ditt ärende"),
        view=view,
        error=error,
        reference=reference,
        code=code,
        token=new_token(policy, now),
        added=added,
    )


def _refused(
    request: Request, language: i18n.Language, opened: bool | None, reference: str
) -> HTMLResponse:
    text = (
        i18n.N_("För många försök. Vänta en kvart och försök igen.")
        if opened is None
        else i18n.N_("Ärendenumret eller koden stämmer inte. Kontrollera dem och försök igen.")
    )
    return render_public(
        request,
        "public/followup.html",
        language,
        status_code=429 if opened is None else 403,
        title=i18n.gettext(language.code, "Följ ditt ärende"),
        view=None,
        error=i18n.gettext(language.code, text),
        reference=reference,
        code="",
        token="",
        added=False,
    )


@router.post(FOLLOW_UP_PATH, response_class=HTMLResponse)
async def follow_up(
    request: Request, policy: WebForm, sessions: Sessions, read: ReadSessions, clock: Clock
) -> HTMLResponse:
    form = await request.form(max_files=0)
    reference = _text(form, "reference", 40).upper()
    code = _text(form, "code", 60)
    language, opened = await _open(request, policy, sessions, clock, reference, code)
    if not opened:
        return _refused(request, language, opened, reference)
    return await _follow_up_page(request, language, policy, read, clock(), reference, code)


@router.post(FOLLOW_UP_PATH + "/meddelande", response_class=HTMLResponse)
async def follow_up_message(
    request: Request,
    policy: WebForm,
    sessions: Sessions,
    read: ReadSessions,
    clock: Clock,
    wake: WakeWorker,
) -> HTMLResponse:
    form = await request.form(max_files=0)
    reference = _text(form, "reference", 40).upper()
    code = _text(form, "code", 60)
    language, opened = await _open(request, policy, sessions, clock, reference, code)
    if not opened:
        return _refused(request, language, opened, reference)
    token = read_token(policy, _text(form, "token", 500))
    if token is None or _text(form, "website", 500):
        return _broken(request, language)
    message = _text(form, "message", MAX_MESSAGE)
    key = _sender_key(policy, request)
    async with read() as session:
        recent = await web_form.recent_submissions(
            session, sender_key=key, now=clock(), window=policy.window
        )
    problem = (
        i18n.N_("Skriv ditt meddelande.")
        if not message
        else i18n.N_(
            "Många meddelanden har skickats härifrån den senaste timmen. "
            "Vänta en stund och försök igen."
        )
        if recent >= policy.per_address
        else None
    )
    if problem is not None:
        return await _follow_up_page(
            request,
            language,
            policy,
            read,
            clock(),
            reference,
            code,
            error=i18n.gettext(language.code, problem),
            status_code=422,
        )
    async with unit_of_work(sessions) as session:
        await web_form.write_follow_up(
            session,
            Submission(message=message, language=language.code, continues=reference),
            token_nonce=token.nonce,
            now=clock(),
            sender_key=key,
        )
    wake()
    return await _follow_up_page(
        request, language, policy, read, clock(), reference, code, added=True
    )
