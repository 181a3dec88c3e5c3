"""The public privacy notice at `/integritet`: no sign-in, what GDPR art. 13 asks in Swedish and
English, the organisation's own facts shown as text, and a link to it from every public page."""

from __future__ import annotations

import httpx
import pytest

from inbox.cli.errors import ConfigError
from inbox.cli.wiring import privacy_notice
from inbox.core.privacy import PrivacyNotice, privacy_url
from inbox.settings import Settings
from inbox.web.render import env
from tests.inbox.web.conftest import World, build_world

NOTICE = PrivacyNotice(
    controller="Socialnämnden i Exempelby",
    controller_contact="Box 1, 123 45 Exempelby, 0123-45 00 00",
    dpo_contact="dataskyddsombud@exempelby.se",
    retention="Synpunkter gallras efter två år enligt socialnämndens gallringsbeslut.",
    more="Läs mer på exempelby.se/dataskydd.\n\n<script>alert(1)</script>",
)


def test_privacy_url_is_under_the_public_address() -> None:
    assert privacy_url("https://synpunkt.exempelby.se/") == (
        "https://synpunkt.exempelby.se/integritet"
    )
    assert privacy_url("https://s.example", language="en") == "https://s.example/integritet?lang=en"


async def _get(world: World, path: str) -> httpx.Response:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=world.app), base_url="http://test"
    ) as client:
        return await client.get(path)


async def test_the_notice_says_what_article_13_asks_without_sign_in(db, clock) -> None:  # type: ignore[no-untyped-def]
    world = await build_world(db, clock, privacy=NOTICE)
    response = await _get(world, "/integritet")
    assert response.status_code == 200
    assert "default-src 'self'" in response.headers["content-security-policy"]
    page = response.text
    assert '<html lang="sv">' in page and "Så behandlar vi dina personuppgifter" in page
    for fact in (
        "Socialnämnden i Exempelby är personuppgiftsansvarig",
        "Box 1, 123 45 Exempelby",
        "dataskyddsombud@exempelby.se",
        "artikel 6.1 e i dataskyddsförordningen",
        "Synpunkter gallras efter två år",
        "(artikel 15)",
        "Integritetsskyddsmyndigheten (IMY)",
        'href="https://www.imy.se/"',
        "Telegram",
        "allmän handling",
        "Läs mer på exempelby.se/dataskydd.",
        "&lt;script&gt;",
    ):
        assert fact in page, fact
    assert "<script>" not in page
    english = (await _get(world, "/integritet?lang=en")).text
    assert '<html lang="en">' in english and "How we handle your personal data" in english
    assert "Article 6(1)(e)" in english and "dataskyddsombud@exempelby.se" in english
    assert 'href="/integritet" lang="sv"' in english


async def test_without_contact_settings_the_notice_still_names_the_controller(
    world: World,
) -> None:
    page = (await _get(world, "/integritet")).text
    assert "Socialtjänsten är personuppgiftsansvarig" in page
    assert "Kontaktuppgifter till vårt dataskyddsombud får du från Socialtjänsten." in page
    assert "arkivlagen och vår dokumenthanteringsplan" in page


async def test_every_public_page_links_to_the_notice(world: World) -> None:
    invalid = await _get(world, "/checkin/not-a-token")
    assert invalid.status_code in (404, 410)
    assert '<a href="/integritet">Så behandlar vi dina personuppgifter</a>' in invalid.text
    english = env.get_template("public/message.html").render(
        lang="en", t={"skip": "Skip"}, title="Thank you", text="Saved."
    )
    assert '<a href="/integritet?lang=en">How we handle your personal data</a>' in english
    # The notice itself does not link to itself, but to the other public pages.
    notice = (await _get(world, "/integritet")).text
    assert ">Så behandlar vi dina personuppgifter</a>" not in notice
    assert '<a href="/tillganglighet">' in notice and '<a href="/sprak">' in notice


def test_the_settings_make_the_notice_and_a_missing_file_stops_the_command(tmp_path) -> None:  # type: ignore[no-untyped-def]
    more = tmp_path / "integritet.txt"
    more.write_text("Mer text.", encoding="utf-8")
    notice = privacy_notice(
        Settings(
            privacy_controller="Socialnämnden",
            privacy_dpo_contact="dso@example.se",
            privacy_notice_file=str(more),
            _env_file=None,  # type: ignore[call-arg]
        )
    )
    assert (notice.controller, notice.dpo_contact, notice.more) == (
        "Socialnämnden",
        "dso@example.se",
        "Mer text.",
    )
    assert privacy_notice(Settings(_env_file=None)).controller == "Socialtjänsten"  # type: ignore[call-arg]
    with pytest.raises(ConfigError, match="SYNPUNKT_PRIVACY_NOTICE_FILE"):
        privacy_notice(Settings(privacy_notice_file=str(tmp_path / "saknas.txt"), _env_file=None))  # type: ignore[call-arg]
