"""The pages a public authority must have beside its form: `/tillganglighet`, the accessibility
statement the DOS law (lagen (2018:1937) om tillgänglighet till digital offentlig service) asks
for, and `/sprak`, which languages the pages are offered in and how honest each translation is.
The organisation's own facts (its name, where to report a barrier) come from its settings.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from inbox.core import i18n
from inbox.web.pages.webform import chosen_language, render_public
from inbox.web.state import Notice, WebForm

router = APIRouter(tags=["public"], include_in_schema=False)
DIGG_REPORT = "https://www.digg.se/tdosanmalan"


@router.get("/tillganglighet", response_class=HTMLResponse)
async def accessibility(request: Request, notice: Notice, policy: WebForm) -> HTMLResponse:
    language = chosen_language(request)
    return render_public(
        request,
        "public/accessibility.html",
        language,
        title=i18n.gettext(language.code, "Tillgänglighetsredogörelse"),
        organisation=notice.controller,
        contact=policy.accessibility_contact or notice.controller_contact,
        digg=DIGG_REPORT,
    )


@router.get("/sprak", response_class=HTMLResponse)
async def languages(request: Request) -> HTMLResponse:
    language = chosen_language(request)
    offered = i18n.offered()
    return render_public(
        request,
        "public/languages.html",
        language,
        title=i18n.gettext(language.code, "Språk"),
        statuses=i18n.statuses(offered),
        missing=[one for one in i18n.LANGUAGES if one not in offered],
    )
