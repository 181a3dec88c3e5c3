"""The public check-in page in a real browser (Debian's Chromium, Playwright): the form, a refused
answer and the thanks pass axe-core with no serious or critical violation, in Swedish and English,
on a phone's width and a desktop's, under the page's own CSP. `SYNPUNKT_SCREENSHOTS=folder` keeps
a screenshot of each for a person to look at."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from inbox.checkins.links import Links
from inbox.core.models import CheckIn
from tests.conftest import SECRET_KEY
from tests.inbox.web.conftest import DECISION, World, decision_in
from tests.inbox.web.pages.test_browser import _axe
from tests.inbox.web.pages.test_browser import page as page
from tests.inbox.web.pages.test_browser import served as served

pytestmark = pytest.mark.parametrize("db", ["sqlite"], indirect=True)
SHOTS = os.environ.get("SYNPUNKT_SCREENSHOTS")


async def _link(world: World, language: str) -> str:
    decision_id = await decision_in(
        world, DECISION | {"decided_on": "2026-03-09", "language": language}
    )
    async with world.db.sessions() as session:
        checkin = (
            await session.execute(select(CheckIn).where(CheckIn.decision_id == decision_id))
        ).scalar_one()
    assert checkin.id is not None
    token = Links(secret_key=SECRET_KEY, public_url="").answer_token(
        checkin_id=checkin.id, expires=checkin.closes_at
    )
    return f"/checkin/{token}"


async def _look(page: Any, name: str, width: int) -> None:
    assert await _axe(page) == []
    # Nothing wider than the screen (WCAG 1.4.10): a long address in the appeal text wraps.
    assert await page.evaluate("document.documentElement.scrollWidth") <= width
    if SHOTS:
        await page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)


@pytest.mark.parametrize(("language", "width"), [("sv", 390), ("sv", 1366), ("en", 390)])
async def test_the_check_in_page_passes_axe_at_a_phones_and_a_desktops_width(
    world: World, page: Any, language: str, width: int
) -> None:
    await page.set_viewport_size({"width": width, "height": 900})
    await page.goto(await _link(world, language))
    sv = language == "sv"
    await page.get_by_role(
        "heading", name="Om dina svar" if sv else "About your answers"
    ).wait_for()
    await _look(page, f"checkin-{language}-{width}", width)
    # One question at a time, each its own group: a radio button is found by its question.
    wanted = "Vill du att någon av oss kontaktar dig?" if sv else "Would you like one of us"
    group = page.get_by_role("group", name=wanted)
    await group.get_by_label("Ja" if sv else "Yes", exact=True).check()
    appeal = "Vet du hur du överklagar beslutet?" if sv else "Do you know how to appeal"
    await page.get_by_role("group", name=appeal).get_by_label("Nej" if sv else "No").check()
    await page.get_by_role("button", name="Skicka svar" if sv else "Send answers").click()
    await page.get_by_role(
        "heading", name="Tack för dina svar" if sv else "Thank you for your answers"
    ).wait_for()
    await page.get_by_text("Så överklagar du" if sv else "How to appeal").wait_for()
    await _look(page, f"checkin-done-{language}-{width}", width)
    assert page.csp_errors == []
