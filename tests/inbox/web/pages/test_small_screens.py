"""The staff pages on a phone and with a keyboard, in Debian's Chromium.

Every staff page fits a 390 px wide phone without scrolling sideways (the list turns into cards);
the list refreshes itself without taking keyboard focus, waits while the user is in it, refreshes
the counts with it and announces new cases politely; the focus ring stands out at least 3:1
against whatever is behind it.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.inbox.web.conftest import PASSWORD, World, _case
from tests.inbox.web.pages.test_browser import _axe
from tests.inbox.web.pages.test_browser import page as page
from tests.inbox.web.pages.test_browser import served as served

pytestmark = pytest.mark.parametrize("db", ["sqlite"], indirect=True)  # the browser is the point
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 768}


async def _sign_in(page: Any, username: str) -> None:
    await page.goto("/")
    await page.get_by_label("Användarnamn").fill(username)
    await page.get_by_label("Lösenord").fill(PASSWORD)
    await page.get_by_role("button", name="Logga in").click()
    await page.get_by_role("heading", name="Inkorg").wait_for()


async def _sideways(page: Any) -> int:
    """How many pixels the page is wider than the window (0: no horizontal scrolling)."""
    return int(
        await page.evaluate(
            "Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"
            " - document.documentElement.clientWidth"
        )
    )


async def test_every_staff_page_fits_a_phone(world: World, page: Any) -> None:
    await page.set_viewport_size(PHONE)
    await _sign_in(page, "alma")
    paths = [
        "/",
        "/?view=maskinpost",
        f"/cases/{world.barn}",
        "/cases/new",
        "/tasks",
        "/checkins",
        "/decisions/new",
        "/health",
        "/audit",
        "/templates",
    ]
    wide = {}
    for path in paths:
        await page.goto(path)
        overflow = await _sideways(page)
        if overflow > 0:
            wide[path] = overflow
    assert wide == {}, f"pages wider than a 390 px phone (px too wide): {wide}"
    await page.goto("/")
    # The list is cards: each case's facts are labelled, and the table header is not shown.
    card = page.locator(f"tr[data-ref='{world.barn}']")
    assert await card.evaluate("row => getComputedStyle(row).display") == "block"
    label = await card.locator("td[data-label='Status']").evaluate(
        "cell => getComputedStyle(cell, '::before').content"
    )
    assert label == '"Status: "'
    assert await _axe(page) == []
    await page.set_viewport_size(DESKTOP)
    assert await card.evaluate("row => getComputedStyle(row).display") == "table-row"


async def test_the_list_refreshes_without_taking_focus_and_announces_new_cases(
    world: World, page: Any
) -> None:
    await _sign_in(page, "alma")
    before = int(await page.locator("#counts a", has_text="Ny").locator(".count").inner_text())

    # Working in the search field: a refresh waits, and nothing moves.
    await page.get_by_label("Sök i ämne och text").focus()
    fresh = await _case(world.db, world.clock, 40, "mottagning", subject="Helt ny synpunkt")
    await page.evaluate("document.dispatchEvent(new Event('synpunkt:refresh'))")
    await page.wait_for_timeout(300)  # a refresh that should not happen has nothing to wait for
    assert await page.locator(f"tr[data-ref='{fresh}']").count() == 0
    assert await page.evaluate("document.activeElement.id") == "q"

    # Focus on the main menu: the list and the counts are replaced around it.
    menu_link = page.get_by_role("navigation", name="Huvudmeny").get_by_role(
        "link", name="Att göra"
    )
    await menu_link.focus()
    refreshed = page.evaluate(
        "new Promise(done => document.addEventListener('synpunkt:refreshed',"
        " e => done(e.detail), {once: true}))"
    )
    await page.evaluate("document.dispatchEvent(new Event('synpunkt:refresh'))")
    assert await refreshed == 1
    await page.locator(f"tr[data-ref='{fresh}']").wait_for()
    assert await page.evaluate("document.activeElement.textContent") == "Att göra"
    after = int(await page.locator("#counts a", has_text="Ny").locator(".count").inner_text())
    assert after == before + 1
    news = page.locator("#list-news")
    assert await news.get_attribute("aria-live") == "polite"
    assert await news.inner_text() == "1 nytt ärende i listan."
    assert page.csp_errors == []


CONTRAST = """
(element) => {
  const rgb = (text) => text.match(/[\\d.]+/g).slice(0, 4).map(Number);
  const lum = ([r, g, b]) => {
    const c = [r, g, b].map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
  };
  // The ring lies outside the element (outline-offset), so it is seen against its parents.
  let node = element.parentElement, behind = [255, 255, 255];
  while (node) {
    const bg = rgb(getComputedStyle(node).backgroundColor);
    if (bg.length < 4 || bg[3] > 0) { behind = bg.slice(0, 3); break; }
    node = node.parentElement;
  }
  const style = getComputedStyle(element);
  if (style.outlineStyle === "none" || parseFloat(style.outlineWidth) < 2) return 0;
  const [a, b] = [lum(rgb(style.outlineColor)), lum(behind)];
  return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
}
"""


async def test_the_focus_ring_has_3_to_1_contrast_everywhere_the_keyboard_goes(
    world: World, page: Any
) -> None:
    await _sign_in(page, "alma")
    for path in ("/", f"/cases/{world.barn}"):
        await page.goto(path)
        weakest: dict[str, float] = {}
        seen = 0
        for _ in range(40):
            await page.keyboard.press("Tab")
            name = await page.evaluate(
                "document.activeElement.tagName + ' ' + (document.activeElement.id"
                " || document.activeElement.textContent.trim().slice(0, 30))"
            )
            if name.startswith("BODY"):  # past the last control: focus left the page
                continue
            ratio = await page.evaluate(f"({CONTRAST})(document.activeElement)")
            seen += 1
            if ratio < 3:
                weakest[name] = round(ratio, 2)
        assert seen >= 20  # the keyboard really went through the page
        assert weakest == {}, f"focus rings under 3:1 on {path}: {weakest}"


async def test_the_case_page_puts_the_thread_beside_its_facts_and_confirms_closing(
    world: World, page: Any
) -> None:
    await page.set_viewport_size(DESKTOP)
    await _sign_in(page, "alma")
    await page.goto(f"/cases/{world.barn}")
    thread = await page.locator(".case-main").bounding_box()
    side = await page.locator("aside.case-side").bounding_box()
    assert thread and side and side["x"] >= thread["x"] + thread["width"]  # beside, not below
    assert side["y"] < 400  # the facts and handling are in view from the start
    assert await _axe(page) == []

    # The reply box is one link away.
    await (
        page.get_by_role("navigation", name="Genvägar på sidan")
        .get_by_role("link", name="Svara")
        .click()
    )
    assert await page.evaluate("location.hash") == "#answer-h"

    # Closing asks first: "no" leaves the case open, "yes" closes it.
    await page.get_by_label("Utfall", exact=True).select_option("answered")
    questions: list[str] = []

    async def say(answer: bool, dialog: Any) -> None:
        questions.append(dialog.message)
        await (dialog.accept() if answer else dialog.dismiss())

    page.once("dialog", lambda d: say(False, d))
    await page.get_by_role("button", name="Avsluta ärendet").click()
    await page.wait_for_timeout(200)  # a submit that must not happen has nothing to wait for
    assert (await world.case(world.barn)).status != "closed"
    page.once("dialog", lambda d: say(True, d))
    await page.get_by_role("button", name="Avsluta ärendet").click()
    await page.get_by_text("Ärendet är avslutat.").first.wait_for()
    assert questions == [f"Avsluta ärendet {world.barn}?"] * 2
    assert (await world.case(world.barn)).status == "closed"

    # A closed case offers neither an answer nor handling, only to open it again.
    assert await page.get_by_label("Svar till avsändaren", exact=False).count() == 0
    assert await page.locator("#triage-h").count() == 0
    assert await page.get_by_role("button", name="Öppna ärendet igen").count() == 1
    await page.set_viewport_size(PHONE)
    assert await _sideways(page) == 0
    assert await _axe(page) == []
    assert page.csp_errors == []


async def test_an_unknown_address_is_a_swedish_page_for_a_person_and_a_problem_for_a_client(
    world: World, page: Any, served: str
) -> None:
    response = await page.goto("/finns-inte")
    assert response.status == 404
    assert await page.title() == "Finns inte – Synpunkt"
    await page.get_by_text("Kontrollera adressen").wait_for()
    assert await page.evaluate("document.documentElement.lang") == "sv"
    assert await _axe(page) == []
    api = await page.request.get(f"{served}/finns-inte", headers={"Accept": "application/json"})
    assert api.status == 404 and api.headers["content-type"] == "application/problem+json"
