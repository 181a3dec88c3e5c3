"""The `synpunkt` command: migrations, units, users, tokens, and clear errors for bad input."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from inbox.db import create_engine, session_factory
from inbox.models import StaffUnit, StaffUser, Unit
from inbox.staff import verify_password
from inbox.tokens import authenticate
from tests.conftest import Clock

DEFAULT_UNITS = {
    "mottagning",
    "ekonomiskt-bistand",
    "barn-och-familj",
    "vuxen",
    "funktionsstod",
    "aldreomsorg",
}


def synpunkt(tmp_path: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SYNPUNKT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/cli.db"}
    return subprocess.run(
        [sys.executable, "-m", "inbox.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=False,
        timeout=120,
    )


@pytest.fixture
def cli_db(tmp_path: Path) -> Path:
    result = synpunkt(tmp_path, "db", "upgrade")
    assert result.returncode == 0, result.stderr
    return tmp_path


async def _load(tmp_path: Path, query: object) -> list[object]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/cli.db")
    try:
        async with session_factory(engine)() as session:
            return list((await session.execute(query)).scalars())  # type: ignore[call-overload]
    finally:
        await engine.dispose()


async def test_fresh_database_has_the_default_units_and_units_add_adds_one(cli_db: Path) -> None:
    result = synpunkt(cli_db, "units", "add", "familjeratt", "Familjerätt", "--response-days", "5")
    assert result.returncode == 0, result.stderr
    units = await _load(cli_db, select(Unit))
    assert {u.code for u in units} == DEFAULT_UNITS | {"familjeratt"}  # type: ignore[attr-defined]
    again = synpunkt(cli_db, "units", "add", "familjeratt", "Familjerätt")
    assert again.returncode == 2 and "already exists" in again.stderr


async def test_users_add_reads_password_from_stdin_and_links_units(cli_db: Path) -> None:
    result = synpunkt(
        cli_db,
        "users",
        "add",
        "karin",
        "--role",
        "caseworker",
        "--unit",
        "vuxen",
        "--unit",
        "mottagning",
        "--password-stdin",
        stdin="hemligt lösenord\n",
    )
    assert result.returncode == 0, result.stderr
    [user] = await _load(cli_db, select(StaffUser))
    assert user.role == "caseworker" and verify_password("hemligt lösenord", user.password_hash)  # type: ignore[attr-defined]
    assert len(await _load(cli_db, select(StaffUnit))) == 2
    bad_unit = synpunkt(cli_db, "users", "add", "olle", "--role", "viewer", "--unit", "nope")
    assert bad_unit.returncode == 2 and "unknown unit" in bad_unit.stderr
    bad_role = synpunkt(cli_db, "users", "add", "olle", "--role", "boss", "--all-units")
    assert bad_role.returncode == 2 and "invalid choice" in bad_role.stderr


async def test_users_and_tokens_are_refused_without_units_or_all_units(cli_db: Path) -> None:
    for command in (("users", "add", "olle", "--role", "viewer"), ("tokens", "create", "olle")):
        result = synpunkt(cli_db, *command)
        assert result.returncode == 2
        assert "--unit" in result.stderr and "--all-units" in result.stderr
        both = synpunkt(cli_db, *command, "--unit", "vuxen", "--all-units")
        assert both.returncode == 2 and "not allowed with" in both.stderr


async def test_tokens_create_prints_a_working_token_as_last_line(
    cli_db: Path, clock: Clock
) -> None:
    result = synpunkt(cli_db, "tokens", "create", "ärendesystem", "--all-units")
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip().splitlines()[-1]
    engine = create_engine(f"sqlite+aiosqlite:///{cli_db}/cli.db")
    try:
        async with session_factory(engine)() as session:
            row = await authenticate(session, token=token, now=clock())
            assert row is not None and row.name == "ärendesystem"
    finally:
        await engine.dispose()
