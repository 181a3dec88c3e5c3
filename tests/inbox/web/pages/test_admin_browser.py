"""The admin area and the log review page in Chromium: axe-core finds no serious or critical
violation at 1366 and 390 px, nothing is wider than a phone's screen, the CSP holds, and an admin
can add a user, see the one-time password, disable the user and find it all in the log.

Screenshots go to SYNPUNKT_SCREENSHOTS when it is set (to look at), else to the test's tmp dir.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.inbox.web.conftest import PASSWORD, World
from tests.inbox.web.pages.test_browser import _axe
from tests.inbox.web.pages.test_browser import page as page
from tests.inbox.web.pages.test_browser import served as served

pytestmark = pytest.mark.parametrize("db", ["sqlite"], indirect=True)
WIDTHS = ((1366, 900), (390, 844))


def _shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("SYNPUNKT_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


async def _check(page: Any, name: str, folder: Path) -> None:
    for width, height in WIDTHS:
        await page.set_viewport_size({"width": width, "height": height})
        assert await _axe(page) == [], (name, width)
        assert await page.evaluate("document.documentElement.scrollWidth") <= width, (name, width)
        await page.screenshot(path=str(folder / f"{name}-{width}.png"), full_page=True)


async def test_the_admin_pages_and_the_log_pass_axe_on_a_desktop_and_a_phone(
    world: World, page: Any, tmp_path: Path
) -> None:
    folder = _shots(tmp_path)
    await page.goto("/")
    await page.get_by_label("Användarnamn").fill("alma")
    await page.get_by_label("Lösenord").fill(PASSWORD)
    await page.get_by_role("button", name="Logga in").click()
    await page.get_by_role("link", name="Administration").click()
    await page.get_by_role("heading", name="Användare", level=1).wait_for()
    await _check(page, "admin-users", folder)

    await page.get_by_label("Användarnamn").fill("nora")
    await page.get_by_label("Namn som visas").fill("Nora Åberg")
    await page.get_by_label("Roll").select_option("caseworker")
    await page.get_by_label("Ekonomiskt bistånd").check()
    await page.get_by_role("button", name="Lägg till användaren").click()
    await page.get_by_role("heading", name="Nora Åberg är tillagd").wait_for()
    assert await page.locator("code.secret").inner_text()
    await _check(page, "admin-user", folder)
    await page.get_by_role("button", name="Stäng av Nora Åberg").click()
    await page.get_by_text("Nora Åberg är avstängd och utloggad överallt.").wait_for()

    await page.goto("/admin/users")
    await page.get_by_label("Användarnamn").fill("karin")
    await page.get_by_role("button", name="Lägg till användaren").click()
    summary = page.get_by_role("alert")
    await summary.get_by_role("link", name="Användarnamnet karin är upptaget.").wait_for()
    assert await page.evaluate("document.activeElement.className") == "error-summary"
    await summary.get_by_role("link").click()
    assert await page.evaluate("document.activeElement.id") == "u-username"
    await _check(page, "admin-users-error", folder)

    await (
        page.get_by_role("navigation", name="Administration")
        .get_by_role("link", name="Verksamheter")
        .click()
    )
    await page.get_by_role("heading", name="Verksamheter", level=1).wait_for()
    await _check(page, "admin-units", folder)
    await page.get_by_role("link", name="Ekonomiskt bistånd").click()
    await page.get_by_label("Svarstid (arbetsdagar)").fill("7")
    await _check(page, "admin-unit", folder)
    await page.get_by_role("button", name="Spara").click()
    await page.get_by_text("Verksamheten Ekonomiskt bistånd är sparad.").wait_for()

    await (
        page.get_by_role("navigation", name="Administration")
        .get_by_role("link", name="API-nycklar")
        .click()
    )
    await page.get_by_label("Namn (vilket system som använder den)").fill("e-tjänst")
    await page.get_by_label("Alla verksamheter").check()
    await page.get_by_role("button", name="Skapa nyckeln").click()
    await page.get_by_role("heading", name="API-nyckeln e-tjänst är skapad").wait_for()
    await _check(page, "admin-tokens", folder)

    await page.get_by_role("navigation", name="Huvudmeny").get_by_role("link", name="Logg").click()
    await page.get_by_role("heading", name="Logg över läsningar och ändringar").wait_for()
    await page.get_by_label("Vad").select_option("staff")
    await page.get_by_role("button", name="Visa").click()
    await page.get_by_role("cell", name="Stängde av Nora Åberg").wait_for()
    await page.get_by_label("Perioden från och med").fill("2026-02-01")
    await page.get_by_label("Perioden till och med").fill("2026-02-28")
    await page.get_by_label("Resultat").fill("Inga obehöriga läsningar.")
    await page.get_by_role("button", name="Registrera granskningen").click()
    await page.get_by_text("Loggranskningen är registrerad.").wait_for()
    await page.get_by_role("cell", name="Inga obehöriga läsningar.").wait_for()
    await _check(page, "audit", folder)
    assert page.csp_errors == []
