"""Rendering the staff pages: one Jinja2 environment (autoescape always on) and the Swedish labels.

Code keeps English identifiers; everything a person reads on a page is looked up here.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_context
from jinja2.runtime import Context

from inbox.core import i18n
from inbox.core.inbound import Channel
from inbox.core.time import STOCKHOLM
from inbox.web.auth.csrf import csrf_token

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"

LABELS: dict[str, dict[str, str]] = {
    "status": {"new": "Ny", "open": "Öppen", "waiting": "Väntar", "closed": "Avslutad"},
    "kind": {
        "complaint": "Klagomål",
        "praise": "Beröm",
        "suggestion": "Förbättringsförslag",
        "question": "Fråga",
        "other": "Övrigt",
    },
    "submitter_role": {
        "client": "Brukare",
        "child": "Barn eller ung",
        "relative": "Anhörig eller närstående",
        "citizen": "Invånare",
        "professional": "Yrkesperson/myndighet",
        "staff": "Egen personal",
        "organisation": "Organisation",
        "other-provider": "Annan utförare",
        "via-ivo": "Via IVO",
        "unknown": "Okänd",
    },
    "priority": {"low": "Låg", "normal": "Normal", "high": "Hög", "urgent": "Brådskande"},
    "outcome": {
        "answered": "Besvarad",
        "remedied": "Åtgärdad",
        "partly-remedied": "Delvis åtgärdad",
        "no-action": "Ingen åtgärd",
        "forwarded": "Vidarebefordrad",
        "referred-to-appeal": "Hänvisad till överklagande",
        "deviation-reported": "Avvikelse upprättad",
        "lex-sarah-reported": "Lex Sarah-rapport upprättad",
        "anonymous": "Anonym",
    },
    "flag": {
        "lex_sarah": "Möjlig lex Sarah",
        "child_at_risk": "Barn som kan fara illa",
        "decision_not_executed": "Beslut ej verkställt",
        "appeal_intent": "Möjligt överklagande",
        "personnummer": "Innehåller personnummer",
        "automated": "Automatiskt meddelande",
        "callback": "Återkoppling önskas",
    },
    "role": {
        "admin": "Administratör",
        "registrar": "Registrator",
        "caseworker": "Handläggare",
        "viewer": "Läsare",
    },
    "channel": {
        Channel.EMAIL: "E-post",
        Channel.TELEGRAM: "Telegram",
        "phone": "Telefon",
        "letter": "Brev",
        "visit": "Besök",
        "ivo": "Via IVO",
        "web": "Webbformulär",
        "internal": "Internt",
    },
    "delivery": {
        "queued": "Väntar på att skickas",
        "sent": "Skickat",
        "dead": "Kunde inte skickas",
        "cancelled": "Stoppat",
        "bounced": "Kom i retur",
    },
    # What a delivery report said of a message that came back ("Kom i retur").
    "bounce": {
        "hard": "Kunde inte levereras (permanent fel)",
        "soft": "Tillfälligt leveransfel",
    },
    "direction": {"inbound": "Inkommande", "outbound": "Utgående", "note": "Intern anteckning"},
    "rights": {
        "rectification": "Rättelse",
        "restriction": "Begränsning",
        "erasure": "Radering",
    },
}
# The outcomes staff choose when closing (the eight; "anonym" is set by the system).
CLOSE_OUTCOMES = [k for k in LABELS["outcome"] if k != "anonymous"]


def label(group: str, value: object) -> str:
    if value is None:
        return "–"
    return LABELS.get(group, {}).get(str(value), str(value))


def local_time(value: datetime | None) -> str:
    return value.astimezone(STOCKHOLM).strftime("%Y-%m-%d %H:%M") if value else "–"


def iso_date(value: date | None) -> str:
    return value.isoformat() if value else "–"


def file_size(size: int | None) -> str:
    """A file's size as people read it, in Swedish: "67 B", "12 kB", "3,4 MB"."""
    if size is None:
        return "–"
    if size < 1000:
        return f"{size} B"
    for unit, scale in (("kB", 1000), ("MB", 1000**2), ("GB", 1000**3)):
        value = size / scale
        if value < 999.5 or unit == "GB":
            shown = f"{value:.1f}" if value < 9.95 else f"{value:.0f}"
            return f"{shown.replace('.', ',')} {unit}"
    raise AssertionError("unreachable")


def duration(delta: timedelta | None) -> str:
    if delta is None:
        return "–"
    minutes = max(0, int(delta.total_seconds() // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = ([f"{days} d"] if days else []) + ([f"{hours} tim"] if hours or days else [])
    return " ".join([*parts, f"{minutes} min"]) if not days else " ".join(parts)


env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=True,  # every template, whatever its name: no message text is ever trusted
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


@pass_context
def _gettext(context: Context, message: str) -> str:
    """A citizen page's text in its language: the page's `locale` (a code of `inbox.core.i18n`),
    else its `lang`; the staff pages have neither and stay Swedish."""
    code = context.get("locale") or context.get("lang") or i18n.DEFAULT
    return i18n.gettext(str(code), message)


@pass_context
def _ngettext(context: Context, singular: str, plural: str, n: int) -> str:
    code = str(context.get("locale") or context.get("lang") or i18n.DEFAULT)
    found = i18n.BY_CODE.get(code, i18n.BY_CODE[i18n.DEFAULT])
    return i18n.translations(found.catalogue).ngettext(singular, plural, n)


def with_citizen_texts(environment: Environment) -> Environment:
    """`environment` translating its templates' `_()` by the page's language (see `_gettext`)."""
    if "jinja2.ext.InternationalizationExtension" not in environment.extensions:
        environment.add_extension("jinja2.ext.i18n")
    environment.install_gettext_callables(_gettext, _ngettext, newstyle=True)  # type: ignore[attr-defined]
    return environment


with_citizen_texts(env)
env.globals.update(label=label, LABELS=LABELS, CLOSE_OUTCOMES=CLOSE_OUTCOMES)
env.filters.update(local=local_time, iso_date=iso_date, duration=duration, file_size=file_size)


def page(
    request: Request, template: str, context: dict[str, Any], *, status_code: int = 200
) -> HTMLResponse:
    """Renders a template with what every page needs: the CSRF token, the user, a flash message."""
    flash = request.session.pop("flash", None)
    body = env.get_template(template).render(
        request=request,
        csrf=csrf_token(request),
        flash=flash,
        staff=context.pop("staff", None),
        **context,
    )
    return HTMLResponse(body, status_code=status_code)
