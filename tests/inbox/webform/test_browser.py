"""Every public page in a real browser (Debian's Chromium, Playwright), in every language offered,
at a desktop's 1366×768 and a phone's 390×844: axe-core finds no violation of any impact, with
and without errors shown, nothing is wider than the screen, right-to-left languages render right
to left, no page loads a font of its own, and no page breaks its CSP. A person then sends the form
and follows the case up."""

from __future__ import annotations

import re
from typing import Any

import pytest

from inbox.core import i18n
from inbox.intake.web_form import WebFormPolicy
from tests.conftest import SECRET_KEY
from tests.inbox.web.conftest import World, build_world
from tests.inbox.web.pages.test_browser import AXE
from tests.inbox.web.pages.test_browser import page as page
from tests.inbox.web.pages.test_browser import served as served

pytestmark = pytest.mark.parametrize("db", ["sqlite"], indirect=True)
SIZES = [(1366, 768), (390, 844)]


@pytest.fixture
async def world(db: Any, clock: Any, request: pytest.FixtureRequest) -> World:
    # A browser fills the form in far faster than a person: no minimum fill time here. A test
    # marked with `guarded_world` gets a form that always asks for the proof of work (cheap).
    guarded = "guarded_world" in request.fixturenames
    policy = WebFormPolicy(
        secret_key=SECRET_KEY, min_fill_seconds=0, pow_from=0 if guarded else None, pow_cost=50
    )
    return await build_world(db, clock, web_form=policy)


async def _violations(page: Any) -> list[str]:
    """Every axe-core violation on the page, whatever its impact."""
    await page.evaluate(AXE)
    result = await page.evaluate(
        "axe.run(document).then(r => ({passes: r.passes.length,"
        " violations: r.violations.map(v => v.id + ' ' + v.nodes.map(n => n.target).join(','))}))"
    )
    assert result["passes"] > 10  # axe really looked at the page
    return list(result["violations"])


async def _check(page: Any, language: i18n.Language, width: int, name: str) -> None:
    assert await _violations(page) == [], name
    assert await page.evaluate("document.documentElement.scrollWidth") <= width, name
    assert await page.get_attribute("html", "dir") == language.dir, name
    assert await page.get_attribute("html", "lang") == language.html, name
    # No font of its own (no @font-face, nothing downloaded): every script, Ethiopic included,
    # is drawn with the system's fonts.
    assert await page.evaluate("document.fonts.size") == 0, name


@pytest.mark.parametrize("language", i18n.offered(), ids=lambda one: one.code)
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_every_public_page_in_every_language(
    world: World, page: Any, language: i18n.Language, size: tuple[int, int]
) -> None:
    width, height = size
    code = language.code
    say = lambda text: i18n.gettext(code, text)  # noqa: E731
    await page.set_viewport_size({"width": width, "height": height})
    await page.goto(f"/synpunkt?lang={code}")
    await _check(page, language, width, "form")
    # Sent empty, with a wrong e-mail address: the errors on top, each a link to its field.
    await page.get_by_label(say("E-post")).fill("inte-en-adress")
    await page.get_by_role("button", name=say("Skicka"), exact=True).click()
    await page.get_by_role("heading", name=say("Rätta det här innan du skickar")).wait_for()
    await _check(page, language, width, "form with errors")
    assert await page.get_by_label(say("E-post")).input_value() == "inte-en-adress"
    await page.get_by_role("link", name=say("Skriv ditt meddelande.")).click()
    await page.get_by_label(say("Ditt meddelande")).fill("Ett meddelande")
    await page.get_by_label(say("E-post")).fill("")
    await page.get_by_role("button", name=say("Skicka"), exact=True).click()
    await page.get_by_text(say("Din kod för att följa ärendet:")).wait_for()
    await _check(page, language, width, "receipt")
    reference, follow_code = await page.locator("strong.code").all_inner_texts()
    await page.goto("/synpunkt/folj")  # the cookie remembers the language
    await _check(page, language, width, "follow-up")
    await page.get_by_label(say("Ärendenummer"), exact=True).fill(reference)
    await page.get_by_label(say("Kod"), exact=True).fill("fel")
    await page.get_by_role("button", name=say("Visa ärendet")).click()
    await page.get_by_role("alert").wait_for()
    await _check(page, language, width, "follow-up refused")
    await page.get_by_label(say("Ärendenummer"), exact=True).fill(reference)
    await page.get_by_label(say("Kod"), exact=True).fill(follow_code)
    await page.get_by_role("button", name=say("Visa ärendet")).click()
    await page.get_by_text(say("Ärendet registreras just nu. Titta igen om en stund.")).wait_for()
    await _check(page, language, width, "follow-up view")
    for path in ("/sprak", "/tillganglighet"):
        await page.goto(path)
        await _check(page, language, width, path)
    assert re.fullmatch(r"[A-Z]+-\d{4}-\d{4,}", reference)
    assert page.csp_errors == []


@pytest.mark.parametrize("lang", ["sv", "en"])
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_the_privacy_notice_links_the_other_public_pages(
    world: World, page: Any, lang: str, size: tuple[int, int]
) -> None:
    await page.set_viewport_size({"width": size[0], "height": size[1]})
    await page.goto(f"/integritet?lang={lang}")
    assert await _violations(page) == []
    assert await page.evaluate("document.documentElement.scrollWidth") <= size[0]
    assert await page.locator('footer a[href="/tillganglighet"]').count() == 1


@pytest.fixture
def guarded_world() -> None:
    """Marks a test whose form always asks for the proof of work (see `world`)."""


@pytest.mark.parametrize("code", ["sv", "ar"])
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.usefixtures("guarded_world")
async def test_the_proof_of_work_solves_itself_and_passes_axe(
    page: Any, code: str, size: tuple[int, int]
) -> None:
    language = i18n.BY_CODE[code]
    say = lambda text: i18n.gettext(code, text)  # noqa: E731
    await page.set_viewport_size({"width": size[0], "height": size[1]})
    await page.goto(f"/synpunkt?lang={code}")
    await page.get_by_text(say("Klart"), exact=True).wait_for()  # solved without a click
    await _check(page, language, size[0], "form with the proof of work")
    await page.get_by_label(say("Ditt meddelande")).fill("Ett meddelande")
    await page.get_by_role("button", name=say("Skicka"), exact=True).click()
    await page.get_by_text(say("Din kod för att följa ärendet:")).wait_for()
    assert page.csp_errors == []
