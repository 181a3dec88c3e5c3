"""The reporting pages in a real browser (Debian's Chromium, Playwright): the public results page
in both languages at a desktop's and a phone's width, the staff report page, the downloadable HTML
report and the case's reporting forms pass axe-core with no serious or critical violation, under
the pages' own CSP, and nothing is wider than the screen. `SYNPUNKT_SCREENSHOTS=folder` keeps a
screenshot of each for a person to look at."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from inbox.cases.access import EVERYTHING
from inbox.reports.figures import Request
from inbox.reports.render import to_html
from inbox.reports.report import build
from inbox.web.render import LABELS
from tests.inbox.reports.history import TODAY, build_history
from tests.inbox.web.conftest import PASSWORD, World
from tests.inbox.web.conftest import world as world
from tests.inbox.web.pages.test_browser import _axe
from tests.inbox.web.pages.test_browser import page as page
from tests.inbox.web.pages.test_browser import served as served

pytestmark = pytest.mark.parametrize("db", ["sqlite"], indirect=True)
SHOTS = os.environ.get("SYNPUNKT_SCREENSHOTS")


async def _look(page: Any, name: str, width: int) -> None:
    assert await _axe(page) == [], name
    if await page.evaluate("document.documentElement.scrollWidth") > width:
        # What sticks out, outside the tables that scroll on their own.
        wide = await page.evaluate(
            "w => [...document.querySelectorAll('body *')].filter(e => !e.closest("
            "'[role=region]') && e.getBoundingClientRect().right > w + 1).map(e => e.tagName"
            " + '.' + (e.getAttribute('class') || '')).slice(0, 8)",
            width,
        )
        pytest.fail(f"{name} is wider than {width} px: {wide}")
    if SHOTS:
        await page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)


@pytest.mark.parametrize("width", [1366, 390])
async def test_the_results_page_passes_axe(world: World, page: Any, width: int) -> None:
    await build_history(world.db)
    await page.set_viewport_size({"width": width, "height": 900})
    await page.goto("/resultat?ar=2026")
    await page.get_by_role("heading", name="Synpunkter och klagomål: resultat").wait_for()
    await page.get_by_role("heading", name="Så räknas siffrorna").wait_for()
    await _look(page, f"resultat-sv-{width}", width)
    await page.get_by_role("link", name="In English").click()
    await page.get_by_role("heading", name="How the figures are made").wait_for()
    await _look(page, f"resultat-en-{width}", width)
    assert page.csp_errors == []


async def test_the_report_page_and_the_report_file_pass_axe(world: World, page: Any) -> None:
    await build_history(world.db)
    await page.goto("/")
    await page.get_by_label("Användarnamn").fill("alma")
    await page.get_by_label("Lösenord").fill(PASSWORD)
    await page.get_by_role("button", name="Logga in").click()
    await page.get_by_role("link", name="Rapporter").click()
    await page.get_by_label("Från och med").fill("2026-01-01")
    await page.get_by_label("Till och med").fill("2026-12-31")
    await page.get_by_role("button", name="Visa rapporten").click()
    await page.get_by_role("heading", name="Typ av synpunkt").wait_for()
    for width in (1366, 390):
        await page.set_viewport_size({"width": width, "height": 900})
        await _look(page, f"rapporter-{width}", width)
    assert page.csp_errors == []
    async with world.db.sessions() as session:
        report = await build(
            session,
            Request(date(2026, 1, 1), date(2026, 12, 31)),
            scope=EVERYTHING,
            today=TODAY,
            swedish=LABELS,
        )
    # A file of its own, as the nämnd opens it: not under the inbox's CSP.
    await page.goto("about:blank")
    await page.set_content(to_html(report))
    for width in (1366, 390):
        await page.set_viewport_size({"width": width, "height": 900})
        await _look(page, f"rapport-fil-{width}", width)
    if SHOTS:
        await page.pdf(path=str(Path(SHOTS) / "rapport.pdf"), format="A4")


async def test_the_case_reporting_forms_pass_axe(world: World, page: Any) -> None:
    await page.goto("/")
    await page.get_by_label("Användarnamn").fill("karin")
    await page.get_by_label("Lösenord").fill(PASSWORD)
    await page.get_by_role("button", name="Logga in").click()
    await page.goto(f"/cases/{world.barn}")
    await page.get_by_label("Bemötande").check()
    await page.get_by_role("button", name="Spara ämnen").click()
    await page.get_by_text("Ämnena är sparade.").wait_for()
    await page.get_by_label("Vad gjordes").select_option("apology")
    await page.get_by_label("Visa åtgärden på den offentliga resultatsidan").check()
    await page.get_by_label("Offentlig sammanfattning").fill("Vi bad om ursäkt.")
    await page.get_by_role("button", name="Registrera åtgärden").click()
    await page.get_by_text("Åtgärden är registrerad.").wait_for()
    for width in (1366, 390):
        await page.set_viewport_size({"width": width, "height": 900})
        assert await _axe(page) == []
        if SHOTS:
            await page.screenshot(
                path=str(Path(SHOTS) / f"case-measures-{width}.png"), full_page=True
            )
    assert page.csp_errors == []
