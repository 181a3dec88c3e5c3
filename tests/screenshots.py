"""`make screenshots`: the inbox list and a case page, at 1366 px and at 390 px, into
`docs/screenshots/`, as a new installation shows them after `synpunkt demo`.

Everything runs as an operator would run it: the `synpunkt` commands on an empty SQLite database (with the
units its migrations bring) in a temporary folder, `synpunkt web` as a process of its own, and Debian's Chromium through Playwright
signing in as a registrar and triaging one case so that the pages show some work in progress.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
OUT = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
SIZES = {"desktop": {"width": 1366, "height": 768}, "phone": {"width": 390, "height": 844}}
PASSWORD = "skärmbild-lösenord-1"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _synpunkt(env: dict[str, str], *args: str, stdin: str | None = None) -> None:
    command = [sys.executable, "-m", "inbox.cli", *args]
    subprocess.run(command, env=env, input=stdin, text=True, check=True, capture_output=True)


def _wait_until_up(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"synpunkt web stopped with status {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/signin", timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("synpunkt web did not answer within 60 seconds")


async def _shoot(url: str) -> list[Path]:
    from playwright.async_api import async_playwright

    written: list[Path] = []
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        tab = await (await browser.new_context(base_url=url, locale="sv-SE")).new_page()
        await tab.goto("/")
        await tab.get_by_label("Användarnamn").fill("karin")
        await tab.get_by_label("Lösenord").fill(PASSWORD)
        await tab.get_by_role("button", name="Logga in").click()
        await tab.get_by_role("heading", name="Inkorg").wait_for()
        # Work in progress: the first case given a kind, a unit and a caseworker.
        await tab.locator("#case-list tr[data-ref] a").last.click()
        case_url = tab.url
        await tab.get_by_label("Typ", exact=True).select_option("complaint")
        await tab.get_by_label("Verksamhet", exact=True).select_option("ekonomiskt-bistand")
        await tab.get_by_label("Handläggare", exact=True).select_option("karin")
        await tab.get_by_role("button", name="Spara", exact=True).click()
        await tab.get_by_text("Ärendet är uppdaterat.").wait_for()
        for size, viewport in SIZES.items():
            await tab.set_viewport_size(viewport)
            for name, page_url in (("list", f"{url}/"), ("case", case_url)):
                await tab.goto(page_url)
                path = OUT / f"{name}-{size}.png"
                await tab.screenshot(path=str(path), full_page=False)
                written.append(path)
        await browser.close()
    return written


def main() -> None:
    if not os.path.exists(CHROMIUM):
        raise SystemExit("make screenshots needs Debian's Chromium: apt-get install chromium")
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        web, smtp = _free_port(), _free_port()
        env = {
            **os.environ,
            "SYNPUNKT_DATABASE_URL": f"sqlite+aiosqlite:///{folder}/synpunkt.db",
            "SYNPUNKT_SECRET_KEY": "skärmbilder-" + "x" * 40,
            "SYNPUNKT_WEB_LISTEN": f"127.0.0.1:{web}",
            "SYNPUNKT_SMTP_LISTEN": f"127.0.0.1:{smtp}",
        }
        _synpunkt(env, "db", "upgrade")
        _synpunkt(
            env, "users", "add", "karin", "--role", "registrar", "--all-units",
            "--password-stdin", stdin=PASSWORD + "\n",
        )  # fmt: skip
        _synpunkt(env, "demo")
        server = subprocess.Popen([sys.executable, "-m", "inbox.cli", "web"], env=env)
        try:
            url = f"http://127.0.0.1:{web}"
            _wait_until_up(url, server)
            for path in asyncio.run(_shoot(url)):
                print(path.relative_to(OUT.parent.parent))
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
