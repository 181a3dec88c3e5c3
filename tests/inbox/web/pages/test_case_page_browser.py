"""The case page in Debian's Chromium (issue 18): a merge undone from the page, and a PDF shown
in its viewer, at desktop and phone sizes, with axe on every state and no sideways scrolling."""

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


async def _checked(page: Any) -> None:
    """The page as it is now passes axe and fits the window."""
    assert await _axe(page) == []
    assert await _sideways(page) == 0


@pytest.mark.parametrize("size", SIZES, ids=list(SIZES))
async def test_merge_then_undo_in_the_browser(world: World, page: Any, size: str) -> None:
    target = await _case(world.db, world.clock, 11, "barn-och-familj", subject="Om skolskjuts")
    await page.set_viewport_size(SIZES[size])
    await page.goto("/")
    await page.get_by_label("Användarnamn").fill("karin")
    await page.get_by_label("Lösenord").fill(PASSWORD)
    await page.get_by_role("button", name="Logga in").click()
    await page.get_by_role("heading", name="Inkorg").wait_for()
    await page.goto(f"/cases/{world.barn}")
    await page.get_by_role("heading", name=world.barn).wait_for()
    await _checked(page)

    questions: list[str] = []

    async def accept(dialog: Any) -> None:
        questions.append(dialog.message)
        await dialog.accept()

    page.on("dialog", accept)  # merging and undoing ask first
    await page.get_by_role("heading", name="Slå ihop med ärende").click()  # the folded section
    await page.get_by_label("Flytta allt i det här ärendet till ärende (referens)").fill(target)
    await page.get_by_role("button", name="Slå ihop").click()
    await page.get_by_text(f"{world.barn} är sammanslaget med det här ärendet").wait_for()
    assert await page.locator("h1 .ref").inner_text() == target
    undo = page.get_by_role("button", name="Ångra sammanslagningen")
    await undo.wait_for()
    await page.get_by_text("Meddelandena flyttas tillbaka").wait_for()
    await _checked(page)
    assert (await world.case(world.barn)).merged_into_id is not None

    await undo.click()
    await page.get_by_text("Sammanslagningen är ångrad").wait_for()
    assert await page.locator("h1 .ref").inner_text() == world.barn
    assert await page.get_by_role("button", name="Ångra sammanslagningen").count() == 0
    await _checked(page)
    back = await world.case(world.barn)
    assert (back.status, back.merged_into_id) == ("new", None)
    assert questions == [
        f"Slå ihop {world.barn} med det andra ärendet? Det här ärendet avslutas.",
        f"Ångra sammanslagningen? Meddelandena flyttas tillbaka till {world.barn}.",
    ]

    # The PDF it came with, in the page's viewer: loaded, not blocked by the browser.
    await page.get_by_text("Visa bilaga1.pdf här").click()
    frame = page.frame_locator("iframe[title='PDF: bilaga1.pdf']")
    await frame.locator("body").wait_for(state="attached")
    urls = [f.url for f in page.frames]
    assert any(url.endswith("/view") for url in urls), urls
    assert not any(url.startswith("chrome-error:") for url in urls), urls
    await _checked(page)
    assert page.csp_errors == []
