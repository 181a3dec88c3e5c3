"""A bad setting stops a command with one line that names it (exit status 78), and a part of a
running command that stops on its own stops the whole command with a non-zero status.

In-process through `main()` where the command stops before anything runs; the part that fails
while running is checked on `run_parts`' own wait.
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from inbox.cli.errors import PartStopped
from inbox.cli.main import main
from inbox.cli.run import _until_stopped_or_failed


def one_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize("command", ["web", "serve"])
@pytest.mark.parametrize(
    ("setting", "value", "says"),
    [
        ("WEB_LISTEN", "nonsense:abc", "is not host:port with a port from 0 to 65535"),
        ("WEB_LISTEN", "127.0.0.1:99999", "is not host:port with a port from 0 to 65535"),
        ("SMTP_LISTEN", "127.0.0.1:65536", "is not host:port with a port from 0 to 65535"),
        ("DATABASE_URL", "nonsense://x", "not a database URL we can use"),
        ("DATABASE_URL", "postgresql://u@127.0.0.1/x", "needs an asynchronous driver"),
        ("TELEGRAM_MODE", "bogus", "must be polling or webhook"),
    ],
)
def test_a_bad_setting_is_one_line_naming_it_and_exit_status_78(
    env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: str,
    setting: str,
    value: str,
    says: str,
) -> None:
    env.setenv(f"SYNPUNKT_{setting}", value)
    assert main([command]) == 78
    line = one_line(capsys)
    assert line.startswith(f"synpunkt: SYNPUNKT_{setting}") and says in line, line


def test_a_database_that_cannot_be_reached_is_one_line_and_78(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as closed:  # bound, never listening: the connection is refused
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        env.setenv("SYNPUNKT_DATABASE_URL", f"postgresql+asyncpg://u@127.0.0.1:{port}/x")
        assert main(["users", "list"]) == 78
    line = one_line(capsys)
    assert line.startswith("synpunkt: SYNPUNKT_DATABASE_URL: cannot connect to the database")


def test_a_database_file_that_cannot_be_opened_is_one_line_and_78(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    env.setenv("SYNPUNKT_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/a-file/x.db")
    assert main(["db", "upgrade"]) == 78
    assert one_line(capsys).startswith("synpunkt: SYNPUNKT_DATABASE_URL: cannot connect")


@pytest.mark.parametrize(("command", "setting"), [("web", "WEB_LISTEN"), ("smtp", "SMTP_LISTEN")])
def test_an_address_in_use_is_one_line_naming_the_setting_and_78(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], command: str, setting: str
) -> None:
    assert main(["db", "upgrade"]) == 0
    capsys.readouterr()
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        env.setenv(f"SYNPUNKT_{setting}", f"127.0.0.1:{port}")
        assert main([command]) == 78
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith(f"synpunkt: SYNPUNKT_{setting}: cannot listen on 127.0.0.1:{port}")


async def test_a_part_that_ends_on_its_own_stops_the_command() -> None:
    async def fails() -> None:
        raise RuntimeError("boom")

    stop = asyncio.Event()
    running = asyncio.create_task(stop.wait(), name="worker")
    failing = asyncio.create_task(fails(), name="web")
    with pytest.raises(PartStopped, match="the web part stopped: RuntimeError: boom"):
        await _until_stopped_or_failed(stop, [running, failing])  # type: ignore[list-item]
    stop.set()
    await running


async def test_a_stop_that_was_asked_for_is_not_a_failure() -> None:
    stop = asyncio.Event()
    part = asyncio.create_task(stop.wait(), name="worker")
    asyncio.get_running_loop().call_soon(stop.set)
    await _until_stopped_or_failed(stop, [part])  # type: ignore[list-item]
    await part
