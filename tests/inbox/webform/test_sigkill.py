"""Written first: `synpunkt web` killed with SIGKILL right after it showed the receipt loses
nothing. The worker, started afterwards, makes the case under the reference the receipt showed."""

from __future__ import annotations

import asyncio
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from inbox.core.db import create_engine, session_factory
from inbox.core.inbound import Channel
from inbox.core.models import Case
from inbox.intake.web_form import parse_web
from tests.conftest import SECRET_KEY, Clock
from tests.factories import cli_env, eventually, make_worker, synpunkt

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_a_sigkill_right_after_the_receipt_loses_nothing(tmp_path: Path) -> None:
    assert (await asyncio.to_thread(synpunkt, tmp_path, "db", "upgrade")).returncode == 0
    port = _free_port()
    settings = {
        "SYNPUNKT_SECRET_KEY": SECRET_KEY,
        "SYNPUNKT_WEB_LISTEN": f"127.0.0.1:{port}",
        "SYNPUNKT_WEBFORM_MIN_FILL_SECONDS": "0",
    }
    server = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "inbox.cli",
        "web",
        env=cli_env(tmp_path, **settings),
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:

            async def listening() -> bool:
                try:
                    return (await http.get("/synpunkt")).status_code == 200
                except httpx.TransportError:
                    return server.returncode is not None  # died: fails below

            await eventually(listening, "synpunkt web answers")
            assert server.returncode is None
            form = await http.get("/synpunkt")
            token = re.search(r'name="token" value="([^"]+)"', form.text)
            assert token
            receipt = await http.post(
                "/synpunkt", data={"token": token.group(1), "message": "Sparas det här?"}
            )
            assert receipt.status_code == 200
            shown = re.search(r'class="code">([A-Z]+-\d{4}-\d{4,})<', receipt.text)
            assert shown
        server.send_signal(signal.SIGKILL)
        assert await asyncio.wait_for(server.wait(), 30) == -signal.SIGKILL
    finally:
        if server.returncode is None:
            server.kill()
            await server.wait()
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/cli.db")
    try:
        sessions = session_factory(engine)
        await make_worker(sessions, Clock(), parsers={Channel.WEB: parse_web}).drain()
        async with sessions() as session:
            case = (
                await session.execute(select(Case).where(Case.reference == shown.group(1)))
            ).scalar_one()
            assert case.channel == Channel.WEB and case.contact_id is None
    finally:
        await engine.dispose()
