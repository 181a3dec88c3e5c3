"""The public results page `/resultat` (no sign-in), in Swedish or English (`?lang=en`), per year
(`?ar=`), and the same data as open data: `/resultat.json` and `/resultat.csv`, in the schema of
`docs/results-schema.md`. The figures and their suppression are `inbox.reports.results`'.

The data are counted at most once per `CACHE_SECONDS` per app: a page anyone may load must not
cost a GROUP BY over every case each time.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.cases.measures import MEASURE_STATUSES, MEASURE_TYPES
from inbox.checkins.reports import MIN_GROUP
from inbox.core.time import STOCKHOLM
from inbox.reports.labels import ENGLISH
from inbox.reports.results import KINDS, as_csv, results
from inbox.web.auth.sessions import ReadSession
from inbox.web.render import LABELS, env
from inbox.web.state import Clock

router = APIRouter(tags=["public"], include_in_schema=False)

CACHE_SECONDS = 600
RESULTS_PATH = "/resultat"

TEXTS: dict[str, dict[str, str]] = {
    "sv": {
        "title": "Synpunkter och klagomål: resultat",
        "skip": "Hoppa till innehållet",
        "intro": (
            "Här redovisar socialtjänsten hur många som lämnat synpunkter och klagomål, hur snabbt "
            "vi svarade, vad de som fått ett beslut tyckte och vad vi har ändrat."
        ),
        "year": "År",
        "years": "Välj år",
        "all_units": "Alla verksamheter",
        "cases": "Synpunkter och klagomål {year}",
        "total": "Totalt",
        "in_time": "Besvarade inom svarstiden",
        "checkins": "Uppföljning efter beslut {year}",
        "asked": "Tillfrågade",
        "answered": "Svarande",
        "response_rate": "Svarsfrekvens",
        "understood": "Förstod beslutet",
        "knows_appeal": "Vet hur man överklagar",
        "rating": "Betyg {n} av 5",
        "measure": "Mått",
        "value": "Värde",
        "measures": "Ni sa – vi gjorde",
        "no_measures": "Inga åtgärder redovisas ännu för det här året.",
        "suppressed": "färre än {min}",
        "not_shown": "redovisas inte",
        "how": "Så räknas siffrorna",
        "how_1": (
            "Varje synpunkt räknas det år den kom in. Ärenden som slagits ihop med ett annat "
            "räknas en gång, och automatiska meddelanden räknas inte. Ärenden som gallrats finns "
            "kvar som anonyma siffror."
        ),
        "how_2": (
            "Ett svar är i tid när det första svaret, eller avslutet om inget svar kunde skickas, "
            "kom senast den dag verksamhetens svarstid i arbetsdagar gick ut."
        ),
        "how_3": (
            "Antal mellan 1 och {low} visas som ”färre än {min}”, och andelar visas bara när de "
            "bygger på minst {min} personer. Då går det inte att peka ut någon. Ibland döljs "
            "även ett annat litet antal, så att det dolda inte går att räkna fram. Siffrorna "
            "redovisas per år, inte per månad, eftersom det är få synpunkter per månad."
        ),
        "open_data": "Öppna data",
        "open_data_text": (
            "Samma siffror finns som öppna data i ett format som inte ändras (schema {schema})."
        ),
        "json": "Hämta som JSON",
        "csv": "Hämta som CSV",
        "other": "In English",
        "none": "Ingen",
    },
    "en": {
        "title": "Feedback and complaints: results",
        "skip": "Skip to the content",
        "intro": (
            "Here social services report how many gave feedback or complained, how quickly we "
            "answered, what people who got a decision thought, and what we have changed."
        ),
        "year": "Year",
        "years": "Choose a year",
        "all_units": "All units",
        "cases": "Feedback and complaints {year}",
        "total": "Total",
        "in_time": "Answered within the response time",
        "checkins": "Follow-up after decisions {year}",
        "asked": "Asked",
        "answered": "Answered",
        "response_rate": "Response rate",
        "understood": "Understood the decision",
        "knows_appeal": "Know how to appeal",
        "rating": "Rating {n} of 5",
        "measure": "Measure",
        "value": "Value",
        "measures": "You said – we did",
        "no_measures": "No measures are reported for this year yet.",
        "suppressed": "fewer than {min}",
        "not_shown": "not shown",
        "how": "How the figures are made",
        "how_1": (
            "Each piece of feedback counts in the year it arrived. Cases merged into another "
            "count once, and automatic messages do not count. Cases that have been disposed of "
            "remain as anonymous figures."
        ),
        "how_2": (
            "An answer is in time when the first reply, or the closing if no reply could be sent, "
            "came no later than the day the unit's response time in working days ran out."
        ),
        "how_3": (
            "Numbers from 1 to {low} are shown as “fewer than {min}”, and shares only when they "
            "rest on at least {min} people, so that no one can be singled out. Sometimes another "
            "small number is hidden too, so that the hidden one cannot be worked out. Figures are "
            "given per year, not per month, since there is little feedback each month."
        ),
        "open_data": "Open data",
        "open_data_text": "The same figures are open data in a stable format (schema {schema}).",
        "json": "Download as JSON",
        "csv": "Download as CSV",
        "other": "På svenska",
        "none": "None",
    },
}


async def _data(request: Request, session: AsyncSession, clock: Clock) -> dict[str, Any]:
    today = clock().astimezone(STOCKHOLM).date()
    cached = getattr(request.app.state, "results_cache", None)
    if cached and cached[0] == today and time.monotonic() - cached[1] < CACHE_SECONDS:
        return dict(cached[2])
    data = await results(session, today=today)
    request.app.state.results_cache = (today, time.monotonic(), data)
    return data


def _labels(lang: str) -> Mapping[str, Mapping[str, str]]:
    if lang == "en":
        return ENGLISH
    return {
        "kind": LABELS["kind"],
        "measure_type": MEASURE_TYPES,
        "measure_status": MEASURE_STATUSES,
    }


@router.get(RESULTS_PATH, response_class=HTMLResponse)
async def results_page(
    request: Request,
    session: ReadSession,
    clock: Clock,
    lang: Annotated[str, Query(max_length=8)] = "sv",
    ar: Annotated[str, Query(max_length=8)] = "",
) -> HTMLResponse:
    language = "en" if lang == "en" else "sv"
    data = await _data(request, session, clock)
    years = data["years"]
    year = int(ar) if ar.isdigit() and int(ar) in years else _default_year(data)
    t = TEXTS[language]
    html = env.get_template("public/results.html").render(
        lang=language,
        t=t,
        title=t["title"],
        year=year,
        years=list(reversed(years)),
        groups=[g for g in data["groups"] if g["year"] == year],
        kinds=KINDS,
        labels=_labels(language),
        min_group=MIN_GROUP,
        schema=data["schema"],
        suffix="&lang=en" if language == "en" else "",
        other=("sv", f"{RESULTS_PATH}?ar={year}")
        if language == "en"
        else ("en", f"{RESULTS_PATH}?ar={year}&lang=en"),
    )
    return HTMLResponse(html)


def _default_year(data: dict[str, Any]) -> int:
    """The last year with any case: the current one early in January has none yet."""
    for group in data["groups"]:  # newest first
        if group["unit"] is None and group["cases"]["value"] != 0:
            return int(group["year"])
    return int(data["years"][-1])


@router.get(RESULTS_PATH + ".json")
async def results_json(request: Request, session: ReadSession, clock: Clock) -> Response:
    data = await _data(request, session, clock)
    return Response(
        json.dumps(data, ensure_ascii=False, indent=1),
        media_type="application/json; charset=utf-8",
    )


@router.get(RESULTS_PATH + ".csv")
async def results_csv(request: Request, session: ReadSession, clock: Clock) -> Response:
    data = await _data(request, session, clock)
    return Response(
        as_csv(data),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="resultat.csv"'},
    )
