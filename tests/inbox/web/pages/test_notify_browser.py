"""Notifications and presence in Debian's Chromium: the settings page and the case page's note of
who else has it open pass axe at desktop and phone sizes without sideways scrolling, and the note
appears while the page stays open (the half-minute report in app.js, on the browser's clock)."""

from __future__ import annotations

from typing import Any

import pytest

from inbox.cases import presence
from inbox.core.db import unit_of_work
from tests.inbox.web.conftest import World
from tests.inbox.web.pages.test_browser import _axe
from tests.inbox.web.pages.test_browser import page as page
from tests.inbox.web.pages.test_browser import served as served
from tests.inbox.web.pages.test_small_screens import DESKTOP, PHONE, _sideways, _sign_in

pytestmark = pytest.mark.parametrize("db", ["sqlite"], indirect=True)


async def test_the_settings_page_saves_refuses_a_bad_address_and_passes_axe(
    world: World, page: Any
) -> None:
    await page.set_viewport_size(DESKTOP)
    await _sign_in(page, "karin")
    await page.get_by_role("link", name="Inställningar").click()
    await page.get_by_role("heading", name="E-post om ärenden").wait_for()
    assert await _axe(page) == []
    await page.get_by_label("Din e-postadress").fill("inte en adress")
    await page.get_by_role("button", name="Spara inställningarna").click()
    await page.get_by_text("Skriv en e-postadress som").first.wait_for()
    assert await page.get_by_label("Din e-postadress").get_attribute("aria-invalid") == "true"
    assert await _axe(page) == []

    await page.get_by_label("Din e-postadress").fill("karin@exempelby.example")
    await page.get_by_label("Ett nytt ärende kommer in i mina verksamheter").check()
    await page.get_by_label("En sammanfattning varje morgon", exact=False).uncheck()
    await page.get_by_role("button", name="Spara inställningarna").click()
    await page.get_by_text("Dina inställningar är sparade.").wait_for()
    assert await page.get_by_label("Ett nytt ärende kommer in i mina verksamheter").is_checked()
    assert not await page.get_by_label("En sammanfattning varje morgon", exact=False).is_checked()
    await page.set_viewport_size(PHONE)
    assert await _sideways(page) == 0
    assert await _axe(page) == []
    assert page.csp_errors == []


async def test_the_case_page_shows_who_else_has_it_open_and_learns_of_a_newcomer(
    world: World, page: Any
) -> None:
    await page.clock.install()
    await page.set_viewport_size(DESKTOP)
    await _sign_in(page, "karin")
    await page.goto(f"/cases/{world.barn}")
    note = page.locator("#presence")
    assert await note.get_attribute("aria-live") == "polite"
    assert (await note.inner_text()).strip() == ""

    # Alma opens the case elsewhere; Karin's page reports again after half a minute and says so.
    alma, karin = await world.user_id("alma"), await world.user_id("karin")
    barn = await world.case(world.barn)
    assert barn.id is not None
    async with unit_of_work(world.db.sessions) as session:
        await presence.report(session, case_id=barn.id, user_id=alma, now=world.clock())
    await page.clock.fast_forward(31_000)
    await page.get_by_text("Alma har också ärendet öppet.").wait_for()
    assert await _axe(page) == []
    await page.set_viewport_size(PHONE)
    assert await _sideways(page) == 0
    assert await _axe(page) == []

    # Karin's own report reached the server too: Alma's page, loaded now, names her.
    async with world.db.sessions() as session:
        names = await presence.others(session, case_id=barn.id, user_id=alma, now=world.clock())
    assert names == ["Karin"]
    assert karin != alma
    assert page.csp_errors == []
