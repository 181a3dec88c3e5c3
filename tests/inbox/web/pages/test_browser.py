"""The inbox in a real browser: Debian's Chromium driven by Playwright (never a downloaded one).

One caseworker's day: sign in, find a case by search, triage it, answer it, see the answer
delivered by the worker, close it — and axe-core finds no serious or critical accessibility
violation on the sign-in, list and case pages. The pages run under their real CSP throughout.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from sqlalchemy import select

from inbox.core.db import unit_of_work
from inbox.core.inbound import Automation
from inbox.core.models import Contact, Message
from inbox.runners.intake_runner import IntakeRunner
from inbox.runners.outbox_runner import OutboxRunner
from inbox.runners.worker import Worker
from mail.sender import EmailSender
from tests.conftest import Database, require_component
from tests.factories import POLICY
from tests.inbox.web.conftest import PASSWORD, World, _case

CHROMIUM = "/usr/bin/chromium"
HAVE_CHROMIUM = os.path.exists(CHROMIUM)
AXE = (Path(__file__).parent / "vendor" / "axe.min.js").read_text(encoding="utf-8")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
pytestmark = pytest.mark.parametrize("db", ["sqlite"], indirect=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def served(world: World) -> AsyncIterator[str]:
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(world.app, host="127.0.0.1", port=port, log_config=None, lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    for _ in range(400):  # uvicorn offers no event for "listening"
        if server.started or task.done():
            break
        await asyncio.sleep(0.05)
    assert server.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task


@pytest.fixture
async def page(served: str) -> AsyncIterator[Any]:
    require_component("Chromium", HAVE_CHROMIUM, "apt-get install chromium (Debian's package)")
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        context = await browser.new_context(base_url=served, locale="sv-SE")
        tab = await context.new_page()
        tab.csp_errors = []
        tab.on(
            "console",
            lambda m: (
                tab.csp_errors.append(m.text) if "Content Security Policy" in m.text else None
            ),
        )
        # A script that does not parse or throws fails every test that loads it (app.js once lost
        # a closing brace, and no script ran on any staff page: the pages still worked without).
        script_errors: list[str] = []
        tab.on("pageerror", lambda error: script_errors.append(f"{tab.url}: {error}"))
        yield tab
        await browser.close()
        assert script_errors == [], script_errors


async def _axe(page: Any) -> list[str]:
    """The serious and critical axe-core violations on the current page."""
    await page.evaluate(AXE)
    result = await page.evaluate(
        "axe.run(document).then(r => ({passes: r.passes.length,"
        " violations: r.violations.map(v => ({id: v.id, impact: v.impact}))}))"
    )
    assert result["passes"] > 10  # axe really looked at the page
    return [v["id"] for v in result["violations"] if v["impact"] in ("serious", "critical")]


async def test_sign_in_search_triage_answer_deliver_close(
    world: World, page: Any, db: Database, tmp_path: Path
) -> None:
    await page.goto("/")
    assert await _axe(page) == []
    await page.get_by_label("Användarnamn").fill("rut")
    await page.get_by_label("Lösenord").fill(PASSWORD)
    await page.get_by_role("button", name="Logga in").click()
    await page.get_by_role("heading", name="Inkorg").wait_for()
    assert await _axe(page) == []

    await page.get_by_label("Sök i ämne och text").fill("fördelad")
    await page.get_by_role("button", name="Visa").click()
    await page.get_by_role("link", name=world.loose).click()
    await page.get_by_role("heading", name=world.loose).wait_for()
    assert await _axe(page) == []

    await page.get_by_label("Typ", exact=True).select_option("complaint")
    await page.get_by_label("Verksamhet").select_option("mottagning")
    await page.get_by_label("Handläggare").select_option("rut")
    await page.get_by_label("Möjlig lex Sarah").check()
    await page.get_by_role("button", name="Spara", exact=True).click()
    await page.get_by_text("Ärendet är uppdaterat.").wait_for()
    case = await world.case(world.loose)
    assert (case.kind, case.assignee_id, case.flag_lex_sarah) == (
        "complaint",
        await world.user_id("rut"),
        True,
    )

    await page.get_by_label("Svar till avsändaren").fill("Tack för att du hörde av dig.")
    await page.get_by_role("button", name="Skicka svar").click()
    await page.get_by_text("Svaret är köat").wait_for()
    worker = Worker(
        IntakeRunner(db.sessions, parsers={}, policy=POLICY, clock=world.clock),
        OutboxRunner(
            db.sessions,
            senders={
                "email": EmailSender(
                    mail_from="Synpunkt <synpunkt@synpunkt.example>",
                    transport=f"file://{tmp_path}",
                    clock=world.clock,
                )
            },
            clock=world.clock,
        ),
    )
    await worker.drain()
    sent = await asyncio.to_thread(lambda: [f.read_bytes() for f in tmp_path.glob("*.eml")])
    assert any(b"Tack f" in raw for raw in sent)
    await page.reload()
    answer = page.locator("li.message.outbound", has_text="Tack för att du hörde av dig.")
    await answer.locator(".delivery.sent").wait_for()

    await page.get_by_label("Utfall", exact=True).select_option("answered")
    page.once("dialog", lambda dialog: dialog.accept())  # "Avsluta ärendet …?"
    await page.get_by_role("button", name="Avsluta ärendet").click()
    await page.get_by_text("Ärendet är avslutat.", exact=True).wait_for()
    closed = await world.case(world.loose)
    assert (closed.status, closed.outcome) == ("closed", "answered")
    assert page.csp_errors == []


async def test_the_decision_form_and_check_in_statistics_pass_axe(world: World, page: Any) -> None:
    await page.goto("/")
    await page.get_by_label("Användarnamn").fill("rut")
    await page.get_by_label("Lösenord").fill(PASSWORD)
    await page.get_by_role("button", name="Logga in").click()
    await page.get_by_role("heading", name="Inkorg").wait_for()
    await page.get_by_role("link", name="Registrera beslut").click()
    await page.get_by_role("heading", name="Registrera beslut för uppföljning").wait_for()
    assert await _axe(page) == []
    await page.get_by_label("E-postadress eller Telegram-chatt-id").fill("klient@example.se")
    await page.get_by_label("Beslutsdatum").fill("2026-03-09")
    await page.get_by_label("Ärendets id i verksamhetssystemet").fill("19121212-1212")
    await page.get_by_role("button", name="Registrera beslutet").click()
    await page.get_by_text("innehåller ett personnummer").wait_for()
    assert await _axe(page) == []
    await page.get_by_label("Ärendets id i verksamhetssystemet").fill("MO-2026-7")
    await page.get_by_role("button", name="Registrera beslutet").click()
    await page.get_by_text("Beslutet MO-2026-7 är registrerat").wait_for()
    assert await _axe(page) == []
    await page.get_by_role("link", name="Uppföljning").click()
    await page.get_by_role("heading", name="Uppföljning efter beslut").wait_for()
    assert await _axe(page) == []
    assert page.csp_errors == []


async def test_register_by_hand_then_merge_and_split(world: World, page: Any) -> None:
    await page.goto("/")
    await page.get_by_label("Användarnamn").fill("rut")
    await page.get_by_label("Lösenord").fill(PASSWORD)
    await page.get_by_role("button", name="Logga in").click()
    await page.get_by_role("link", name="Registrera ärende").click()
    await page.get_by_role("heading", name="Registrera ärende").wait_for()
    assert await _axe(page) == []

    await page.get_by_label("Brev").check()
    await page.get_by_label("Rubrik").fill("Brev om färdtjänsten")
    await page.get_by_label("Vad gäller synpunkten?").fill("Bilen kom inte.")
    await page.get_by_label("Skicka en bekräftelse").check()  # but no address to send it to
    await page.get_by_role("button", name="Registrera", exact=True).click()
    await page.get_by_text("En bekräftelse kan bara skickas till en e-postadress.").wait_for()
    assert await page.get_by_label("Rubrik").input_value() == "Brev om färdtjänsten"
    assert await _axe(page) == []
    await page.get_by_label("Skicka en bekräftelse").uncheck()
    await page.get_by_role("button", name="Registrera", exact=True).click()
    await page.get_by_text("är registrerat.").wait_for()
    reference = (await page.locator("h1 .ref").inner_text()).strip()
    assert await _axe(page) == []

    page.on("dialog", lambda dialog: dialog.accept())  # merging and splitting ask first
    await page.get_by_role("heading", name="Slå ihop med ärende").click()  # the folded section
    await page.get_by_label("Flytta allt i det här ärendet till ärende (referens)").fill(
        world.loose
    )
    await page.get_by_role("button", name="Slå ihop").click()
    await page.get_by_text(f"{reference} är sammanslaget med det här ärendet").wait_for()
    assert await _axe(page) == []
    split = page.locator("li.message", has_text="Bilen kom inte.").get_by_role(
        "button", name="till nytt ärende"
    )
    await split.click()
    await page.get_by_text(f"Meddelandet är flyttat hit från {world.loose}.").wait_for()
    assert await page.locator("h1 .ref").inner_text() not in (reference, world.loose)
    assert page.csp_errors == []


async def test_a_flag_opens_a_task_on_the_case_and_on_att_gora_until_marked_done(
    world: World, page: Any, tmp_path: Path
) -> None:
    await page.goto("/")
    await page.get_by_label("Användarnamn").fill("karin")
    await page.get_by_label("Lösenord").fill(PASSWORD)
    await page.get_by_role("button", name="Logga in").click()
    await page.get_by_role("heading", name="Inkorg").wait_for()
    await page.get_by_role("link", name=world.barn).click()
    await page.get_by_label("Barn som kan fara illa").check()
    await page.get_by_role("button", name="Spara", exact=True).click()
    await page.get_by_text("Ärendet är uppdaterat.").wait_for()
    tasks = page.get_by_role("region", name="Att göra")
    await tasks.get_by_text("Orosanmälan om barn").wait_for()
    await tasks.get_by_text("Senast 2026-03-10").wait_for()
    assert await _axe(page) == []
    await page.screenshot(path=tmp_path / "case-1366.png", full_page=True)

    await (
        page.get_by_role("navigation", name="Huvudmeny")
        .get_by_role("link", name="Att göra")
        .click()
    )
    await page.get_by_role("heading", name="Att göra", level=1).wait_for()
    await page.get_by_role("heading", name="Barn och familj").wait_for()
    for width, height in ((1366, 900), (390, 844)):
        await page.set_viewport_size({"width": width, "height": height})
        assert await _axe(page) == [], width
        await page.screenshot(path=tmp_path / f"tasks-{width}.png", full_page=True)
    await page.get_by_role("button", name="Markera som klar").click()
    await page.get_by_text(f"Uppgiften i {world.barn} är markerad som klar.").wait_for()
    await page.get_by_text("Inget att göra just nu.").wait_for()
    assert await _axe(page) == []
    await page.get_by_role("link", name="Inkorg").click()
    await page.get_by_role("link", name=world.barn).click()
    await page.get_by_role("region", name="Att göra").get_by_text("Klar 2026-03-10").wait_for()
    await page.screenshot(path=tmp_path / "case-390.png", full_page=True)
    assert await _axe(page) == []
    assert page.csp_errors == []


async def test_api_docs_render_offline_under_the_csp(page: Any, served: str) -> None:
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    await page.goto("/docs")
    await page.locator(".opblock-summary-path", has_text="/api/cases").first.wait_for()
    assert await page.locator(".opblock").count() > 10
    assert requested and all(url.startswith(served + "/") for url in requested), requested
    assert page.csp_errors == []


async def test_machine_mail_list_move_to_inbox_and_a_bounced_acknowledgement(
    world: World, page: Any, tmp_path: Path
) -> None:
    machine = await _case(world.db, world.clock, 40, None, automation=Automation.BOUNCE)
    async with unit_of_work(world.db.sessions) as session:
        case = await world.case(world.loose)
        ack = (
            await session.execute(
                select(Message).where(Message.case_id == case.id, Message.direction == "outbound")  # type: ignore[arg-type]
            )
        ).scalar_one()
        ack.delivery, ack.delivered_at = "bounced", world.clock()
        ack.bounce_kind, ack.bounce_status, ack.bounced_at = "hard", "5.1.1", world.clock()
        ack.bounce_diagnostic = "550 5.1.1 <person3@example.se>: Recipient address rejected"
        contact = await session.get(Contact, case.contact_id)
        assert contact is not None
        contact.unreachable_at, contact.unreachable_reason = world.clock(), "hard bounce 5.1.1"

    await page.goto("/")
    await page.get_by_label("Användarnamn").fill("rut")
    await page.get_by_label("Lösenord").fill(PASSWORD)
    await page.get_by_role("button", name="Logga in").click()
    await page.get_by_role("heading", name="Inkorg").wait_for()
    assert await page.get_by_role("link", name=machine).count() == 0
    await page.get_by_role("link", name="Maskinpost").click()
    await page.get_by_role("heading", name="Maskinpost").wait_for()
    assert await page.get_by_role("link", name=machine).count() == 1
    assert await _axe(page) == []
    for width, height in ((1366, 900), (390, 844)):
        await page.set_viewport_size({"width": width, "height": height})
        await page.screenshot(path=str(tmp_path / f"maskinpost-{width}.png"), full_page=True)
        assert await _axe(page) == []
    await page.set_viewport_size({"width": 1366, "height": 900})

    await page.get_by_role("button", name=f"Flytta till inkorgen: {machine}").click()
    await page.get_by_text(f"{machine} är flyttat till inkorgen.").wait_for()
    assert await page.get_by_role("link", name=machine).count() == 0
    assert not (await world.case(machine)).flag_automated

    views = page.get_by_role("navigation", name="Inkorg och maskinpost")
    await views.get_by_role("link", name="Inkorg").click()
    await page.get_by_role("link", name=world.loose).click()
    bounced = page.locator("li.message.outbound .delivery.bounced")
    await bounced.wait_for()
    assert (await bounced.inner_text()).startswith("Kom i retur")
    await page.get_by_text("Kunde inte levereras (permanent fel), status 5.1.1").wait_for()
    await page.get_by_text("E-post kunde inte levereras: inga fler automatiska utskick").wait_for()
    assert await _axe(page) == []
    await page.screenshot(path=str(tmp_path / "bounced-case-1366.png"), full_page=True)
    assert page.csp_errors == []


@pytest.mark.parametrize("width", [1366, 390])
async def test_the_privacy_notice_passes_axe_on_a_desktop_and_a_phone(
    world: World, page: Any, width: int, tmp_path: Path
) -> None:
    await page.set_viewport_size({"width": width, "height": 900})
    for path, heading in (
        ("/integritet", "Så behandlar vi dina personuppgifter"),
        ("/integritet?lang=en", "How we handle your personal data"),
    ):
        await page.goto(path)
        await page.get_by_role("heading", name=heading, level=1).wait_for()
        assert await _axe(page) == []
        # Nothing wider than the screen: no sideways scrolling on a phone (WCAG 1.4.10).
        assert await page.evaluate("document.documentElement.scrollWidth") <= width
        shot = tmp_path / f"privacy-{width}-{'en' if 'en' in path else 'sv'}.png"
        await page.screenshot(path=str(shot), full_page=True)
    await page.get_by_role("link", name="På svenska").click()
    await page.get_by_role("heading", name="Så behandlar vi dina personuppgifter").wait_for()
    assert page.csp_errors == []


async def test_the_registry_forms_on_a_case_pass_axe(world: World, page: Any) -> None:
    await page.goto("/")
    await page.get_by_label("Användarnamn").fill("rut")
    await page.get_by_label("Lösenord").fill(PASSWORD)
    await page.get_by_role("button", name="Logga in").click()
    await page.goto(f"/cases/{world.loose}")
    await page.get_by_label("Avsändarens roll").select_option("relative")
    await page.get_by_label("Ärendemening").fill("Fråga om handläggningstid")
    await page.get_by_role("button", name="Spara", exact=True).click()
    await page.get_by_text("Ärendet är uppdaterat.").wait_for()
    await page.get_by_role("heading", name="Fråga om handläggningstid").wait_for()
    assert await _axe(page) == []

    await page.get_by_role("heading", name="Sekretess och identitet").click()  # folded
    await page.get_by_label("Sekretessmarkera ärendet – skäl").fill("26 kap. 1 § OSL")
    await page.get_by_role("button", name="Sekretessmarkera").click()
    await page.get_by_text("Ärendet är sekretessmarkerat.").wait_for()
    await page.get_by_role("heading", name="Samtycke").click()  # folded while there is none
    await page.get_by_label("Lämnat av (den enskilde)").fill("Brukaren")
    await page.get_by_label("Till (närstående)").fill("Dottern")
    await page.get_by_label("Vad samtycket omfattar").fill("Hur ärendet handläggs")
    await page.get_by_label("Skriftligt").check()
    await page.get_by_role("button", name="Registrera samtycke").click()
    await page.get_by_text("Samtycket är registrerat.").wait_for()
    await page.get_by_role("heading", name="Begäran om allmän handling").click()
    await page.get_by_label("Vad begäran gäller").fill("Synpunkten")
    await page.get_by_label("Avslag", exact=True).check()
    await page.get_by_label("Sekretessbestämmelse").fill("26 kap. 1 § OSL")
    await page.get_by_role("button", name="Registrera begäran och beslut").click()
    await page.get_by_text("Begäran och beslutet är registrerade.").wait_for()
    await page.get_by_text("Beslut med överklagandehänvisning").click()
    assert await _axe(page) == []
    await page.set_viewport_size({"width": 390, "height": 900})
    assert await _axe(page) == []
    await page.goto("/")
    await page.get_by_text("Sekretessmarkerad").first.wait_for()
    assert await _axe(page) == []
    assert page.csp_errors == []


async def test_legal_hold_a_rights_request_and_the_register_extract_pass_axe(
    world: World, page: Any
) -> None:
    await page.goto("/")
    await page.get_by_label("Användarnamn").fill("alma")
    await page.get_by_label("Lösenord").fill(PASSWORD)
    await page.get_by_role("button", name="Logga in").click()
    await page.goto(f"/cases/{world.barn}")
    await page.get_by_text("Bevarande (gallringsstopp)").click()
    await page.get_by_label("Bevara ärendet – skäl").fill("Tvist i förvaltningsrätten")
    await page.get_by_role("button", name="Bevara ärendet").click()
    await page.get_by_text("Ärendet bevaras.").wait_for()
    await page.get_by_text("Rättelse, begränsning och radering").click()
    await page.get_by_label("Begäran om", exact=True).select_option("erasure")
    await page.get_by_label("Från", exact=True).fill("Avsändaren")
    await page.get_by_label("Vad personen begär").fill("Radera mitt mejl.")
    await page.get_by_role("button", name="Registrera begäran", exact=True).click()
    await page.get_by_text("Begäran är registrerad på ärendet.").wait_for()
    await page.get_by_text("Svar", exact=True).click()
    assert await _axe(page) == []
    await page.goto("/admin/subject-access")
    assert await _axe(page) == []
    await page.get_by_label("Adress eller nummer").fill("person1@example.se")
    await page.get_by_label("Vem begärde utdraget").fill("Brev 2026-03-01")
    async with page.expect_download() as download:
        await page.get_by_role("button", name="Ta fram utdraget").click()
    assert (await download.value).suggested_filename.startswith("registerutdrag-")
    assert page.csp_errors == []
