"""Each role's working day in Debian's Chromium, on a desktop (1366×768) and a phone (390×844).

Every page a role's menu leads to, and every state the role's main flow puts a page in (a saved
note, a refusal listed at the top of a form, a registered case, a closed one), is checked by axe
(no serious or critical violation) and fits the window without scrolling sideways.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from tests.inbox.web.conftest import World
from tests.inbox.web.pages.test_browser import _axe
from tests.inbox.web.pages.test_browser import page as page
from tests.inbox.web.pages.test_browser import served as served
from tests.inbox.web.pages.test_small_screens import DESKTOP, PHONE, _sideways, _sign_in

pytestmark = pytest.mark.parametrize("db", ["sqlite"], indirect=True)  # the browser is the point
SIZES = [pytest.param(DESKTOP, id="desktop"), pytest.param(PHONE, id="phone")]


class Walk:
    """What a role saw: each page state's axe violations and sideways overflow, by name."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.problems: dict[str, Any] = {}
        self.seen: list[str] = []

    async def check(self, name: str) -> None:
        self.seen.append(name)
        violations = await _axe(self.page)
        overflow = await _sideways(self.page)
        if violations or overflow > 0:
            self.problems[name] = {"axe": violations, "px too wide": overflow}

    async def menu(self) -> None:
        """Every page of the main menu, as this role has it."""
        links = self.page.get_by_role("navigation", name="Huvudmeny").get_by_role("link")
        hrefs = [await link.get_attribute("href") for link in await links.all()]
        assert hrefs and "/" in hrefs
        for href in hrefs:
            await self.page.goto(href)
            await self.check(f"menu {href}")


async def _caseworker(world: World, walk: Walk) -> None:
    page = walk.page
    await page.goto(f"/cases/{world.barn}")
    await walk.check("case")
    await page.get_by_label("Anteckning (skickas inte till avsändaren)").fill(
        "Ringt upp, lämnat besked."
    )
    await page.get_by_role("button", name="Spara anteckning").click()
    await page.get_by_text("Ringt upp, lämnat besked.").first.wait_for()
    await walk.check("case with a note")
    await page.get_by_label("Svar till avsändaren", exact=False).fill("Tack för ditt meddelande.")
    await page.get_by_role("button", name="Skicka svar").click()
    await page.get_by_text("Svaret är köat").wait_for()
    await walk.check("case with a queued answer")
    # Another unit's case is not there for her.
    response = await page.goto(f"/cases/{world.vuxen}")
    assert response is not None and response.status in (403, 404)
    await walk.check("another unit's case refused")


async def _registrar(world: World, walk: Walk) -> None:
    page = walk.page
    await page.goto("/cases/new")
    await walk.check("register by hand")
    await page.get_by_role("button", name="Registrera").click()  # nothing filled in
    await page.locator(".error-summary").wait_for()
    assert await page.evaluate("document.activeElement.className") == "error-summary"
    await walk.check("register by hand, errors listed")
    await page.locator("input[name=channel]").first.check()
    await page.get_by_label("Rubrik").fill("Samtal om väntetid")
    await page.get_by_label("Vad gäller synpunkten?").fill("Ringde och berättade om lång väntan.")
    await page.get_by_label("Verksamhet").select_option("mottagning")
    await page.get_by_label("Namn").fill("Karl Andersson")
    await page.get_by_role("button", name="Registrera").click()
    await page.get_by_text("är registrerat.").wait_for()
    await walk.check("registered case")
    await page.goto(f"/cases/{world.loose}")
    await page.get_by_label("Verksamhet").select_option("mottagning")
    await page.get_by_role("button", name="Spara", exact=True).click()
    await page.get_by_text("Ärendet är uppdaterat.").wait_for()
    await walk.check("triaged case")


async def _viewer(world: World, walk: Walk) -> None:
    page = walk.page
    await page.goto(f"/cases/{world.barn}")
    await walk.check("case, read only")
    assert await page.get_by_role("button", name="Skicka svar").count() == 0
    assert await page.locator("#triage-h").count() == 0


async def _admin(world: World, walk: Walk) -> None:
    page = walk.page
    await page.goto("/admin/users")
    links = page.get_by_role("navigation").filter(has=page.get_by_role("link", name="Enheter"))
    hrefs = {await a.get_attribute("href") for a in await links.get_by_role("link").all()}
    for href in sorted(h for h in hrefs if h and h.startswith("/admin")):
        await page.goto(href)
        await walk.check(f"admin {href}")
    await page.goto(f"/cases/{world.vuxen}")
    await page.get_by_label("Utfall", exact=True).select_option("answered")
    page.once("dialog", lambda dialog: dialog.accept())
    await page.get_by_role("button", name="Avsluta ärendet").click()
    await page.get_by_text("Ärendet är avslutat.").first.wait_for()
    await walk.check("closed case")


FLOWS: dict[str, tuple[str, Callable[[World, Walk], Awaitable[None]]]] = {
    "caseworker": ("karin", _caseworker),
    "registrar": ("rut", _registrar),
    "viewer": ("vera", _viewer),
    "admin": ("alma", _admin),
}


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("role", list(FLOWS))
async def test_each_role_walks_its_day_at_both_sizes(
    world: World, page: Any, role: str, size: dict[str, int]
) -> None:
    username, flow = FLOWS[role]
    await page.set_viewport_size(size)
    await _sign_in(page, username)
    walk = Walk(page)
    await walk.check("inbox")
    await walk.menu()
    await flow(world, walk)
    assert len(walk.seen) >= 4  # the walk really went somewhere
    assert walk.problems == {}, walk.problems
    assert page.csp_errors == []
