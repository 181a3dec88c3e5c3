"""The `synpunkt` command: migrations, units, users and tokens through their lifecycle, the secret
key, and clear errors for bad input."""

from __future__ import annotations

import asyncio
import getpass
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from inbox.cli.errors import ConfigError
from inbox.cli.wiring import secret_key
from inbox.core.db import create_engine, session_factory
from inbox.core.models import AuditEvent, StaffUnit, StaffUser, Unit
from inbox.settings import Settings
from inbox.staff.passwords import DEFAULT_PASSWORDS
from inbox.staff.tokens import authenticate
from tests.conftest import Clock
from tests.factories import cli_env, synpunkt
from tests.inbox.web.conftest import forged_session

DEFAULT_UNITS = {
    "mottagning",
    "ekonomiskt-bistand",
    "barn-och-familj",
    "vuxen",
    "funktionsstod",
    "aldreomsorg",
}


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
    assert user.role == "caseworker" and DEFAULT_PASSWORDS.verify(
        "hemligt lösenord", user.password_hash
    )  # type: ignore[attr-defined]
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


def users_add(cli_db: Path, name: str, *grant: str, password: str = "") -> None:
    args = ("--password-stdin",) if password else ()
    result = synpunkt(cli_db, "users", "add", name, *grant, *args, stdin=password + "\n")
    assert result.returncode == 0, result.stderr


def table(stdout: str) -> dict[str, list[str]]:
    """`users list` / `tokens list` output by its first column (names have no spaces here)."""
    return {line.split()[0]: line.split() for line in stdout.splitlines()[1:]}


async def _user(cli_db: Path, name: str) -> StaffUser:
    [user] = await _load(cli_db, select(StaffUser).where(StaffUser.username == name))
    assert isinstance(user, StaffUser)
    return user


async def test_passwords_shorter_than_12_or_containing_the_username_are_refused(
    cli_db: Path,
) -> None:
    for name, password, message in (
        ("karin", "kort-123", "at least 12 characters"),
        ("karin", "Karin-lösenord-2026", "must not contain the username"),
        ("karin", "KARIN", "at least 12"),
    ):
        result = synpunkt(
            cli_db, "users", "add", name, "--role", "viewer", "--all-units", "--password-stdin",
            stdin=password + "\n",
        )  # fmt: skip
        assert result.returncode == 2 and message in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    assert await _load(cli_db, select(StaffUser)) == []


async def test_users_list_disable_enable_passwd_and_set(cli_db: Path) -> None:
    users_add(
        cli_db, "karin", "--role", "caseworker", "--unit", "vuxen", password="första-lösenordet"
    )
    users_add(cli_db, "ada", "--role", "admin", "--all-units")
    listed = synpunkt(cli_db, "users", "list")
    assert listed.returncode == 0, listed.stderr
    rows = table(listed.stdout)
    assert rows["karin"][:6] == ["karin", "caseworker", "vuxen", "password", "active", "-"]
    assert rows["ada"][:6] == ["ada", "admin", "all", "units", "oidc", "(unbound)"]

    version = (await _user(cli_db, "karin")).session_version
    disabled = synpunkt(cli_db, "users", "disable", "karin")
    assert disabled.returncode == 0 and "sessions have ended" in disabled.stdout
    karin = await _user(cli_db, "karin")
    assert not karin.active and karin.session_version > version
    assert table(synpunkt(cli_db, "users", "list").stdout)["karin"][4] == "disabled"
    assert synpunkt(cli_db, "users", "enable", "karin").returncode == 0
    assert (await _user(cli_db, "karin")).active

    version = (await _user(cli_db, "karin")).session_version
    passwd = synpunkt(
        cli_db, "users", "passwd", "karin", "--password-stdin", stdin="andra-lösenordet\n"
    )
    assert passwd.returncode == 0, passwd.stderr
    karin = await _user(cli_db, "karin")
    assert DEFAULT_PASSWORDS.verify("andra-lösenordet", karin.password_hash)
    assert karin.session_version > version
    short = synpunkt(cli_db, "users", "passwd", "karin", "--password-stdin", stdin="kort\n")
    assert short.returncode == 2 and "at least 12" in short.stderr
    no_terminal = synpunkt(cli_db, "users", "passwd", "karin")
    assert no_terminal.returncode == 2 and "--password-stdin" in no_terminal.stderr

    version = (await _user(cli_db, "karin")).session_version
    renamed = synpunkt(cli_db, "users", "set", "karin", "--display-name", "Karin Karlsson")
    assert renamed.returncode == 0 and "sessions" not in renamed.stdout
    assert (await _user(cli_db, "karin")).session_version == version
    moved = synpunkt(
        cli_db,
        "users",
        "set",
        "karin",
        "--role",
        "viewer",
        "--unit",
        "mottagning",
        "--unit",
        "vuxen",
    )
    assert moved.returncode == 0 and "sessions have ended" in moved.stdout, moved.stderr
    karin = await _user(cli_db, "karin")
    assert karin.role == "viewer" and karin.session_version > version
    assert table(synpunkt(cli_db, "users", "list").stdout)["karin"][:3] == [
        "karin",
        "viewer",
        "mottagning,vuxen",
    ]
    everywhere = synpunkt(cli_db, "users", "set", "karin", "--all-units")
    assert everywhere.returncode == 0
    assert (await _user(cli_db, "karin")).all_units
    assert len(await _load(cli_db, select(StaffUnit))) == 0

    # Where her notifications go: set, refused when it is no address, and cleared.
    mailed = synpunkt(cli_db, "users", "set", "karin", "--email", " Karin@Exempelby.se ")
    assert mailed.returncode == 0 and "sessions" not in mailed.stdout, mailed.stderr
    assert (await _user(cli_db, "karin")).email == "Karin@Exempelby.se"
    bad = synpunkt(cli_db, "users", "set", "karin", "--email", "karin@exempelby.se, eva@x.se")
    assert bad.returncode == 2 and "not an e-mail address" in bad.stderr
    assert (await _user(cli_db, "karin")).email == "Karin@Exempelby.se"
    cleared = synpunkt(cli_db, "users", "set", "karin", "--email", "")
    assert cleared.returncode == 0 and (await _user(cli_db, "karin")).email is None


async def test_users_commands_refuse_unknown_users_and_empty_changes(cli_db: Path) -> None:
    for command in (
        ("disable", "nobody"),
        ("enable", "nobody"),
        ("set", "nobody", "--role", "viewer"),
    ):
        result = synpunkt(cli_db, "users", *command)
        assert result.returncode == 2 and "no user 'nobody'" in result.stderr
    users_add(cli_db, "olle", "--role", "viewer", "--unit", "vuxen")
    nothing = synpunkt(cli_db, "users", "set", "olle")
    assert nothing.returncode == 2 and "nothing to change" in nothing.stderr
    bad_unit = synpunkt(cli_db, "users", "set", "olle", "--unit", "nope")
    assert bad_unit.returncode == 2 and "unknown unit" in bad_unit.stderr
    both = synpunkt(cli_db, "users", "set", "olle", "--unit", "vuxen", "--all-units")
    assert both.returncode == 2 and "not allowed with" in both.stderr


async def test_users_changes_are_in_the_audit_trail(cli_db: Path) -> None:
    users_add(cli_db, "olle", "--role", "viewer", "--unit", "vuxen", "--display-name", "Olle Öst")
    assert (await _user(cli_db, "olle")).display_name == "Olle Öst"
    synpunkt(cli_db, "users", "set", "olle", "--role", "caseworker", "--actor", "ola")
    synpunkt(cli_db, "users", "disable", "olle", "--actor", "ola")
    synpunkt(cli_db, "users", "enable", "olle", "--actor", "ola")
    synpunkt(cli_db, "users", "passwd", "olle", "--password-stdin", stdin="ett-långt-lösen\n")
    events = await _load(cli_db, select(AuditEvent).order_by(AuditEvent.id))
    assert [(e.actor, e.action, e.detail.get("user")) for e in events] == [  # type: ignore[attr-defined]
        (f"cli:{getpass.getuser()}", "staff.add", "olle"),
        ("cli:ola", "staff.update", "olle"),
        ("cli:ola", "staff.disable", "olle"),
        ("cli:ola", "staff.enable", "olle"),
        (f"cli:{getpass.getuser()}", "staff.password", "olle"),
    ]


async def test_units_list_set_disable_and_enable_are_audited(cli_db: Path) -> None:
    changed = synpunkt(
        cli_db,
        "units",
        "set",
        "ekonomiskt-bistand",
        "--name",
        "Ekonomiskt bistånd, vuxna",
        "--response-days",
        "7",
        "--checkin-delay-days",
        "4",
        "--actor",
        "ola",
    )
    assert changed.returncode == 0, changed.stderr
    assert synpunkt(cli_db, "units", "disable", "vuxen", "--actor", "ola").returncode == 0
    listed = synpunkt(cli_db, "units", "list")
    rows = table(listed.stdout)
    assert rows["ekonomiskt-bistand"] == [
        "ekonomiskt-bistand",
        "7",
        "4",
        "active",
        "Ekonomiskt",
        "bistånd,",
        "vuxna",
    ]
    assert rows["vuxen"][1:4] == ["10", "default", "disabled"]
    assert synpunkt(cli_db, "units", "enable", "vuxen").returncode == 0
    cleared = synpunkt(cli_db, "units", "set", "ekonomiskt-bistand", "--default-checkin-delay")
    assert cleared.returncode == 0
    assert table(synpunkt(cli_db, "units", "list").stdout)["ekonomiskt-bistand"][2] == "default"
    nothing = synpunkt(cli_db, "units", "set", "vuxen")
    assert nothing.returncode == 2 and "nothing to change" in nothing.stderr
    unknown = synpunkt(cli_db, "units", "disable", "finns-inte")
    assert unknown.returncode == 2 and "no unit 'finns-inte'" in unknown.stderr
    zero = synpunkt(cli_db, "units", "set", "vuxen", "--response-days", "0")
    assert zero.returncode == 2 and "between 1 and" in zero.stderr
    events = await _load(cli_db, select(AuditEvent).order_by(AuditEvent.id))
    assert [(e.actor, e.action, e.detail.get("unit")) for e in events] == [  # type: ignore[attr-defined]
        ("cli:ola", "unit.update", "ekonomiskt-bistand"),
        ("cli:ola", "unit.disable", "vuxen"),
        (f"cli:{getpass.getuser()}", "unit.enable", "vuxen"),
        (f"cli:{getpass.getuser()}", "unit.update", "ekonomiskt-bistand"),
    ]
    assert events[0].detail["response_days"] == [10, 7]  # type: ignore[attr-defined]


async def test_units_add_and_tokens_create_are_audited(cli_db: Path) -> None:
    added = synpunkt(
        cli_db, "units", "add", "familjeratt", "Familjerätt", "--checkin-delay-days", "5"
    )
    assert added.returncode == 0, added.stderr
    assert synpunkt(cli_db, "tokens", "create", "rapporter", "--all-units").returncode == 0
    events = await _load(cli_db, select(AuditEvent).order_by(AuditEvent.id))
    assert [(e.action, e.detail.get("name")) for e in events] == [  # type: ignore[attr-defined]
        ("unit.add", "Familjerätt"),
        ("token.create", "rapporter"),
    ]
    [unit] = await _load(cli_db, select(Unit).where(Unit.code == "familjeratt"))
    assert unit.checkin_delay_days == 5  # type: ignore[attr-defined]


async def test_tokens_list_and_revoke_by_name(cli_db: Path, clock: Clock) -> None:
    created = synpunkt(cli_db, "tokens", "create", "ärendesystem", "--unit", "vuxen")
    token = created.stdout.strip().splitlines()[-1]
    assert synpunkt(cli_db, "tokens", "create", "rapporter", "--all-units").returncode == 0
    rows = table(synpunkt(cli_db, "tokens", "list").stdout)
    assert (
        rows["ärendesystem"][1:3] == ["registrar", "vuxen"] and rows["ärendesystem"][-1] == "live"
    )
    revoked = synpunkt(cli_db, "tokens", "revoke", "ärendesystem")
    assert revoked.returncode == 0 and "revoked 1 token" in revoked.stdout
    rows = table(synpunkt(cli_db, "tokens", "list").stdout)
    assert "revoked" in rows["ärendesystem"] and rows["rapporter"][-1] == "live"
    engine = create_engine(f"sqlite+aiosqlite:///{cli_db}/cli.db")
    try:
        async with session_factory(engine)() as session:
            assert await authenticate(session, token=token, now=clock()) is None
    finally:
        await engine.dispose()
    again = synpunkt(cli_db, "tokens", "revoke", "ärendesystem")
    assert again.returncode == 2 and "no live token" in again.stderr


# The secret key ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("change-me", "published example"),
        ("Change_Me-please-change-me-now-1234567", "published example"),
        ("a-short-key-of-31-characters-xy", "shorter than 32"),
        ("x" * 40, "too few characters"),
    ],
)
def test_a_known_or_short_secret_key_stops_the_command(
    tmp_path: Path, key: str, message: str
) -> None:
    commands = (("web",), ("serve",), ("db", "upgrade")) if key == "change-me" else (("web",),)
    for command in commands:
        result = synpunkt(tmp_path, *command, SYNPUNKT_SECRET_KEY=key)
        assert result.returncode == 78, result.stderr
        [line] = result.stderr.strip().splitlines()
        assert line.startswith("synpunkt: SYNPUNKT_SECRET_KEY") and message in line


def test_without_a_key_one_is_kept_in_a_private_file_and_reused(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, secret_key_file=str(tmp_path / "var" / "secret_key"))
    key = secret_key(settings)
    path = tmp_path / "var" / "secret_key"
    assert path.read_text().strip() == key and len(key) >= 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert secret_key(settings) == key
    assert os.listdir(path.parent) == ["secret_key"]  # no temporary file left behind
    path.write_text("change-me\n")
    with pytest.raises(ConfigError, match="published example"):
        secret_key(settings)


def test_processes_starting_together_agree_on_the_key(tmp_path: Path) -> None:
    path = tmp_path / "var" / "secret_key"
    code = "import sys; from pathlib import Path; from inbox.settings import load_secret_key; "
    code += "print(load_secret_key(Path(sys.argv[1])))"
    processes = [
        subprocess.Popen([sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE, text=True)
        for _ in range(8)
    ]
    keys = {process.communicate(timeout=120)[0].strip() for process in processes}
    assert keys == {path.read_text().strip()}


def test_a_weak_key_in_the_key_file_stops_the_command(tmp_path: Path) -> None:
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "secret_key").write_text("change-me\n")
    result = synpunkt(tmp_path, "web")
    assert result.returncode == 78
    [line] = result.stderr.strip().splitlines()
    assert "var/secret_key" in line and "published example" in line


async def test_a_cookie_forged_with_the_old_default_key_does_not_sign_in_to_synpunkt_web(
    cli_db: Path,
) -> None:
    users_add(cli_db, "ada", "--role", "admin", "--all-units")  # user id 1
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "inbox.cli",
        "web",
        env=cli_env(cli_db, SYNPUNKT_WEB_LISTEN=f"127.0.0.1:{port}"),
        cwd=cli_db,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base_url) as client:
            await _wait_until_up(client, server)

        async def inbox_with(key: str) -> httpx.Response:
            cookie = forged_session(key, {"user_id": 1, "session_version": 0})
            async with httpx.AsyncClient(
                base_url=base_url, cookies={"synpunkt_session": cookie}
            ) as client:
                return await client.get("/")

        forged = await inbox_with("change-me")
        assert forged.status_code == 200 and 'action="/signin"' in forged.text
        # The key `web` made for itself (var/secret_key) does sign in: the forgery is sound.
        own_key = (cli_db / "var" / "secret_key").read_text().strip()
        genuine = await inbox_with(own_key)
        assert genuine.status_code == 200 and 'action="/signin"' not in genuine.text
    finally:
        if server.returncode is None:
            server.terminate()
        await asyncio.wait_for(server.communicate(), timeout=60)


async def _wait_until_up(client: httpx.AsyncClient, server: asyncio.subprocess.Process) -> None:
    for _ in range(600):
        if server.returncode is not None:
            raise AssertionError(f"synpunkt web exited: {(await server.communicate())[1]!r}")
        try:
            if (await client.get("/healthz")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError("synpunkt web did not start")


def test_a_proxy_setting_that_is_no_address_stops_the_command(tmp_path: Path) -> None:
    result = synpunkt(tmp_path, "web", SYNPUNKT_FORWARDED_ALLOW_IPS="10.0.0.5, proxy.example")
    assert result.returncode == 78
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("synpunkt: SYNPUNKT_FORWARDED_ALLOW_IPS") and "proxy.example" in line
