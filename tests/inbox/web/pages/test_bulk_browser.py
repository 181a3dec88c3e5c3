"""Bulk actions and saved filters on the inbox list in Debian's Chromium, at desktop and phone
size: tick two cases, close them with an outcome; save a filter and open it again. axe finds
nothing serious on any state of the page, and nothing scrolls sideways on a phone."""

from __future__ import annotations

from typing import Any

import pytest

from tests.inbox.web.conftest import PASSWORD, World, _case
from tests.inbox.web.pages.test_browser import _axe
from tests.inbox.web.pages.test_browser import page as page
from tests.inbox.web.pages.test_browser import served as served
from tests.inbox.web.pages.test_small_screens import DESKTOP, PHONE, _sideways

pytestmark = pytest.mark.parametrize("db", ["sqlite"], indirect=True)  # the browser is the point
SIZES = {"desktop": DESKTOP, "phone": PHONE}


@pytest.mark.parametrize("size", sorted(SIZES))
async def test_tick_two_cases_and_close_them_with_an_outcome(
    world: World, page: Any, size: str
) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    second = await _case(world.db, world.clock, 50, "barn-och-familj", subject="Andra ärendet")
    third = await _case(world.db, world.clock, 51, "barn-och-familj", subject="Tredje ärendet")
    await page.set_viewport_size(SIZES[size])
    await page.goto("/")
    await page.get_by_label("Användarnamn").fill("karin")
    await page.get_by_label("Lösenord").fill(PASSWORD)
    await page.get_by_role("button", name="Logga in").click()
    await page.get_by_role("heading", name="Inkorg").wait_for()
    assert await _sideways(page) == 0
    caption = await page.locator("table.cases caption").bounding_box()
    assert caption and caption["width"] > SIZES[size]["width"] / 2  # not a letter a line
    assert await _axe(page) == []

    # "Markera alla" ticks every case of the page and shows when only some are ticked.
    everything = page.get_by_label("Markera alla ärenden på sidan")
    await everything.check()
    for reference in (world.barn, second, third):
        assert await page.get_by_label(f"Markera {reference}").is_checked()
    await page.get_by_label(f"Markera {third}").uncheck()
    assert await everything.evaluate("box => box.indeterminate && !box.checked")
    await page.get_by_label(f"Markera {third}").check()
    await everything.uncheck()
    assert not await page.get_by_label(f"Markera {world.barn}").is_checked()

    await page.get_by_label(f"Markera {world.barn}").check()
    await page.get_by_label(f"Markera {second}").check()
    # The list refreshing itself in place keeps what is ticked.
    await (
        page.get_by_role("navigation", name="Huvudmeny")
        .get_by_role("link", name="Att göra")
        .focus()
    )
    refreshed = page.evaluate(
        "new Promise(done => document.addEventListener('synpunkt:refreshed', () => done(true),"
        " {once: true}))"
    )
    await page.evaluate("document.dispatchEvent(new Event('synpunkt:refresh'))")
    assert await refreshed
    for reference, ticked in ((world.barn, True), (second, True), (third, False)):
        assert await page.get_by_label(f"Markera {reference}").is_checked() == ticked
    await page.get_by_label("Avsluta med utfall").select_option("answered")
    assert await _sideways(page) == 0
    assert await _axe(page) == []

    questions: list[str] = []

    async def accept(dialog: Any) -> None:
        questions.append(dialog.message)
        await dialog.accept()

    page.once("dialog", accept)
    await page.get_by_role("button", name="Avsluta markerade").click()
    await page.get_by_text("2 ärenden ändrade.").wait_for()
    assert questions == ["Avsluta de markerade ärendena?"]
    for reference in (world.barn, second):
        case = await world.case(reference)
        assert (case.status, case.outcome) == ("closed", "answered")
    assert (await world.case(third)).status != "closed"
    assert await _sideways(page) == 0
    assert await _axe(page) == []
    assert errors == [] and page.csp_errors == []


@pytest.mark.parametrize("size", sorted(SIZES))
async def test_save_a_filter_open_it_and_delete_it(world: World, page: Any, size: str) -> None:
    await page.set_viewport_size(SIZES[size])
    await page.goto("/")
    await page.get_by_label("Användarnamn").fill("karin")
    await page.get_by_label("Lösenord").fill(PASSWORD)
    await page.get_by_role("button", name="Logga in").click()
    await page.get_by_role("heading", name="Inkorg").wait_for()
    await page.get_by_label("Bara försenade").check()
    await page.get_by_role("button", name="Visa").click()
    await page.get_by_label("Spara filtren som visas nu, med namnet").fill("Mina försenade")
    await page.get_by_role("button", name="Spara filtret").click()
    await page.get_by_text("Filtret ”Mina försenade” är sparat.").wait_for()
    assert await _sideways(page) == 0
    assert await _axe(page) == []

    saved = page.get_by_role("region", name="Sparade filter")
    await page.goto("/")
    await saved.get_by_role("link", name="Mina försenade").click()
    await page.wait_for_url("**/?overdue=1")
    assert await page.get_by_label("Bara försenade").is_checked()

    page.once("dialog", lambda dialog: dialog.accept())
    await saved.get_by_role("button", name="Ta bort filtret Mina försenade").click()
    await page.get_by_text("Filtret ”Mina försenade” är borttaget.").wait_for()
    assert await saved.get_by_role("link", name="Mina försenade").count() == 0
    assert await _axe(page) == []
