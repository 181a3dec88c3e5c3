"""The deployment files: docker-compose.yml as `docker-compose config` reads it with a .env made from
.env.example, the Dockerfile's instructions (Docker itself cannot build here), the Caddyfile as Caddy
reads it, the image's health check, the backup script, the lock file and the licence."""

from __future__ import annotations

import contextlib
import http.server
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from inbox.settings import Settings
from tests.conftest import POSTGRES_URL, require_component

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())

SYNPUNKT_SERVICES = {"migrate", "web", "worker", "smtp", "imap", "bot"}
LONG_RUNNING = SYNPUNKT_SERVICES - {"migrate"}
REQUIRED = {
    "SYNPUNKT_SECRET_KEY": "Zq3v9LkP2mX8rT4wY7bN1cD6fG0hJ5sAe",
    "POSTGRES_PASSWORD": "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
    "SYNPUNKT_PUBLIC_URL": "https://synpunkt.exempelstad.se",
    "CADDY_TLS": "internal",
    "SYNPUNKT_MAIL_FROM": "Socialtjänsten i Exempelstad <synpunkt@exempelstad.se>",
    "SYNPUNKT_MAIL_TRANSPORT": "smtp://relay.exempelstad.se:25",
    "SYNPUNKT_INTAKE_ADDRESSES": "synpunkt@exempelstad.se",
}
# Settings that only .env carries (no line in docker-compose.yml names them) must still arrive.
FROM_ENV_FILE = {
    "SYNPUNKT_TELEGRAM_TOKEN": "123456:ABC-test-token",
    "SYNPUNKT_OIDC_ISSUER": "https://login.exempelstad.se/realms/personal",
    "SYNPUNKT_OIDC_CLIENT_ID": "synpunkt",
    "SYNPUNKT_OIDC_CLIENT_SECRET": "oidc-client-secret",
    "SYNPUNKT_IMAP_URL": "imaps://synpunkt%40exempelstad.se@mail.exempelstad.se:993/INBOX",
}


# docker-compose.yml -------------------------------------------------------------------------------


def env_file_from_example(values: dict[str, str]) -> str:
    """.env.example with the required settings filled in and `values` uncommented or added."""
    text = (ROOT / ".env.example").read_text(encoding="utf-8")
    for name, value in values.items():
        line = re.compile(rf"^(# )?{name}=.*$", re.MULTILINE)
        text, found = line.subn(lambda _m, n=name, v=value: f"{n}={v}", text)
        if not found:
            text += f"{name}={value}\n"
    return text


def compose_config(folder: Path, env_file: str | None) -> subprocess.CompletedProcess[str]:
    """`docker-compose config` of the repository's file, with `env_file` as the project's .env and
    nothing from the caller's environment (a developer's settings must not leak in)."""
    binary = shutil.which("docker-compose")
    require_component("docker-compose", binary is not None, "apt-get install docker-compose")
    assert binary is not None
    if env_file is not None:
        (folder / ".env").write_text(env_file, encoding="utf-8")
    compose = [binary, "-f", str(ROOT / "docker-compose.yml"), "--project-directory", str(folder)]
    return subprocess.run(
        [*compose, "config"],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(folder)},
        timeout=60,
    )


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("compose")
    result = compose_config(folder, env_file_from_example(REQUIRED | FROM_ENV_FILE))
    assert result.returncode == 0, result.stderr
    parsed: dict[str, Any] = yaml.safe_load(result.stdout)
    return parsed


def test_compose_runs_every_part_with_imap_and_bot_under_profiles(config: dict[str, Any]) -> None:
    services = config["services"]
    assert set(services) == SYNPUNKT_SERVICES | {"db", "caddy", "backup"}
    profiles = {name: service.get("profiles") for name, service in services.items()}
    assert profiles.pop("imap") == ["imap"] and profiles.pop("bot") == ["telegram"]
    assert set(profiles.values()) == {None}
    commands = {name: services[name]["command"] for name in SYNPUNKT_SERVICES}
    assert commands["migrate"] == ["synpunkt", "db", "upgrade"]
    assert all(commands[name] == ["synpunkt", name] for name in LONG_RUNNING)
    assert "version" not in yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_every_setting_in_env_reaches_every_synpunkt_container(config: dict[str, Any]) -> None:
    for name in SYNPUNKT_SERVICES:
        environment = config["services"][name]["environment"]
        for setting, value in (REQUIRED | FROM_ENV_FILE).items():
            if setting != "POSTGRES_PASSWORD":
                assert environment[setting] == value, (name, setting)
        assert environment["SYNPUNKT_DATABASE_URL"] == (
            f"postgresql+asyncpg://synpunkt:{REQUIRED['POSTGRES_PASSWORD']}@db:5432/synpunkt"
        )
        assert config["services"][name]["volumes"] == ["data:/data:rw"]
    database = config["services"]["db"]["environment"]
    assert database["POSTGRES_PASSWORD"] == REQUIRED["POSTGRES_PASSWORD"]


def test_the_parts_start_after_the_migrations_completed(config: dict[str, Any]) -> None:
    services = config["services"]
    assert services["migrate"]["depends_on"] == {"db": {"condition": "service_healthy"}}
    assert services["migrate"]["restart"] == "no"
    for name in LONG_RUNNING:
        assert services[name]["depends_on"] == {
            "db": {"condition": "service_healthy"},
            "migrate": {"condition": "service_completed_successfully"},
        }, name
        assert services[name]["restart"] == "unless-stopped"
    assert "healthcheck" in services["db"]


def test_web_replicas_sit_behind_caddy_with_tls_and_no_host_port(config: dict[str, Any]) -> None:
    services = config["services"]
    web, caddy = services["web"], services["caddy"]
    assert web["deploy"]["replicas"] >= 2 and "ports" not in web
    assert web["environment"]["SYNPUNKT_WEB_LISTEN"] == "0.0.0.0:8000"
    assert {p["published"] for p in caddy["ports"]} == {80, 443}
    assert caddy["environment"] == {
        "SYNPUNKT_PUBLIC_URL": REQUIRED["SYNPUNKT_PUBLIC_URL"],
        "CADDY_TLS": REQUIRED["CADDY_TLS"],
    }  # and none of the secrets
    assert any(v.endswith("/etc/caddy/Caddyfile:ro") for v in caddy["volumes"])
    # The web trusts forwarded headers from the network it shares with Caddy alone.
    subnet = config["networks"]["proxy"]["ipam"]["config"][0]["subnet"]
    assert web["environment"]["SYNPUNKT_FORWARDED_ALLOW_IPS"] == subnet
    assert set(web["networks"]) == {"default", "proxy"} and set(caddy["networks"]) == {"proxy"}
    on_proxy = {name for name, s in services.items() if "proxy" in s.get("networks", {})}
    assert on_proxy == {"web", "caddy"}


def test_backups_and_data_have_volumes(config: dict[str, Any]) -> None:
    services = config["services"]
    assert {"data", "db-data", "caddy-data"} <= set(config["volumes"])
    assert "db-data:/var/lib/postgresql/data:rw" in services["db"]["volumes"]
    backup = services["backup"]
    assert backup["depends_on"] == {"db": {"condition": "service_healthy"}}
    assert backup["environment"]["PGPASSWORD"] == REQUIRED["POSTGRES_PASSWORD"]
    assert any(v.endswith(":/backups:rw") for v in backup["volumes"])
    assert services["smtp"]["ports"] == [{"published": 25, "target": 2525}]


@pytest.mark.parametrize("missing", sorted(REQUIRED))
def test_config_refuses_a_missing_required_setting(tmp_path: Path, missing: str) -> None:
    values = {name: value for name, value in REQUIRED.items() if name != missing}
    result = compose_config(tmp_path, env_file_from_example(values))  # left empty, as copied
    assert result.returncode != 0
    assert f"set {missing} in .env" in result.stderr


def test_config_refuses_to_run_without_an_env_file(tmp_path: Path) -> None:
    result = compose_config(tmp_path, None)
    assert result.returncode != 0 and ".env" in result.stderr


def test_env_example_lists_every_setting_and_every_compose_variable() -> None:
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    listed = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)[= ]", example, re.MULTILINE))
    settings = {f"SYNPUNKT_{name.upper()}" for name in Settings.model_fields}
    assert settings - listed == set(), "add these settings to .env.example"
    compose = (ROOT / "docker-compose.yml").read_text()
    assert set(re.findall(r"\$\{([A-Z0-9_]+)", compose)) - listed == set()
    # Optional settings stay commented out: an empty value would be a value.
    assigned = re.findall(r"^([A-Z][A-Z0-9_]+)=(.*)$", example, re.MULTILINE)
    assert dict(assigned) == dict.fromkeys(REQUIRED, "")


# Dockerfile ---------------------------------------------------------------------------------------


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = (ROOT / "Dockerfile").read_text()
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    pairs = []
    for line in joined.splitlines():
        if line.strip():
            instruction, _, arguments = line.strip().partition(" ")
            pairs.append((instruction.upper(), " ".join(arguments.split())))
    return pairs


def final_stage() -> list[tuple[str, str]]:
    instructions = dockerfile()
    last_from = max(i for i, (name, _) in enumerate(instructions) if name == "FROM")
    return instructions[last_from:]


def test_the_image_installs_locked_dependencies_before_the_package() -> None:
    stage = final_stage()
    runs = [(i, args) for i, (name, args) in enumerate(stage) if name == "RUN"]
    copies = [(i, args) for i, (name, args) in enumerate(stage) if name == "COPY"]
    copy_lock = next(i for i, args in copies if args.startswith("requirements.lock "))
    locked = next(i for i, args in runs if "--require-hashes" in args and "-r " in args)
    package = next(i for i, args in runs if "--no-deps" in args)
    first_package_copy = next(i for i, args in copies if "--from=wheel" in args)
    assert copy_lock < locked < first_package_copy < package
    # The package's source reaches the final stage only as the wheel.
    assert not any(re.search(r"\b(inbox|mail|bot)\b", args) for _, args in copies)


def test_the_image_runs_as_a_user_with_an_init_a_health_check_and_a_data_folder() -> None:
    stage = final_stage()
    users = [args for name, args in stage if name == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    entrypoint = json.loads(dict(stage)["ENTRYPOINT"])
    assert Path(entrypoint[0]).name == "tini" and entrypoint[1] == "--"
    assert any(
        "apt-get install" in args and " tini" in args for name, args in stage if name == "RUN"
    )
    healthcheck = dict(stage)["HEALTHCHECK"]
    assert "CMD" in healthcheck and "synpunkt-healthcheck" in healthcheck
    assert dict(stage)["WORKDIR"] == "/data"
    assert any(
        "chown synpunkt" in args and "/data" in args for name, args in stage if name == "RUN"
    )
    assert json.loads(dict(stage)["CMD"]) == ["synpunkt", "serve"]


def test_dockerignore_lets_in_what_the_dockerfile_copies_and_nothing_else() -> None:
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    patterns = [line for line in ignore if line and not line.startswith("#")]
    assert patterns[0] == "*"  # an allowlist: .env, keys, backups and var/ never go in
    allowed = {p.removeprefix("!").rstrip("/") for p in patterns if p.startswith("!")}
    for name, args in dockerfile():
        if name == "COPY" and "--from=" not in args:
            for source in args.split()[:-1]:
                assert source.rstrip("/") in allowed, source
                assert (ROOT / source).exists(), source


# Caddyfile ---------------------------------------------------------------------------------------


def test_caddy_reads_the_caddyfile_and_proxies_to_every_web_replica(tmp_path: Path) -> None:
    caddy = shutil.which("caddy")
    require_component("Caddy", caddy is not None, "apt-get install caddy")
    assert caddy is not None
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "SYNPUNKT_PUBLIC_URL": REQUIRED["SYNPUNKT_PUBLIC_URL"],
        "CADDY_TLS": "internal",
    }
    result = subprocess.run(
        [caddy, "adapt", "--config", str(ROOT / "deploy" / "Caddyfile"), "--validate"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    adapted = json.loads(result.stdout)
    server = adapted["apps"]["http"]["servers"]["srv0"]
    assert server["listen"] == [":443"]
    route = server["routes"][0]
    assert route["match"] == [{"host": ["synpunkt.exempelstad.se"]}]
    handlers = route["handle"][0]["routes"][0]["handle"]
    proxy = next(h for h in handlers if h["handler"] == "reverse_proxy")
    assert proxy["dynamic_upstreams"] | {"refresh": 0} == {
        "source": "a",
        "name": "web",
        "port": "8000",
        "refresh": 0,
    }
    assert not any(h["handler"] == "encode" for h in handlers)


# The image's health check -----------------------------------------------------------------------


def healthcheck_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("healthcheck", ROOT / "deploy" / "healthcheck.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def http_server(status: int) -> Iterator[int]:
    """A web part stand-in whose /readyz answers `status`; yields its port."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(status if self.path == "/readyz" else 404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def greeting_server(greeting: bytes) -> Iterator[int]:
    """An SMTP listener stand-in that greets every connection with `greeting`."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        with contextlib.suppress(OSError):
            while True:
                connection, _ = listener.accept()
                with connection:
                    connection.sendall(greeting)
                    connection.recv(64)

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()


def test_health_check_finds_the_part_in_the_init_command_line() -> None:
    check = healthcheck_module()
    assert check.part(["/usr/bin/tini", "--", "synpunkt", "web"]) == "web"
    assert (
        check.part(["/sbin/docker-init", "--", "/usr/local/bin/synpunkt", "db", "upgrade"]) == "db"
    )
    assert check.part(["/bin/sh"]) == ""
    assert check.local_address("0.0.0.0:8000", 1) == ("127.0.0.1", 8000)
    assert check.local_address("[::]:2525", 1) == ("127.0.0.1", 2525)
    assert check.local_address("10.0.0.5:80", 1) == ("10.0.0.5", 80)


def test_health_check_asks_the_web_part_for_readyz() -> None:
    check = healthcheck_module()
    web = ["tini", "--", "synpunkt", "web"]
    with http_server(200) as port:
        assert check.healthy(web, {"SYNPUNKT_WEB_LISTEN": f"0.0.0.0:{port}"})
    with http_server(503) as port:
        assert not check.healthy(web, {"SYNPUNKT_WEB_LISTEN": f"0.0.0.0:{port}"})
    assert not check.healthy(web, {"SYNPUNKT_WEB_LISTEN": f"127.0.0.1:{free_port()}"})


def test_health_check_wants_the_smtp_greeting_and_nothing_from_the_worker() -> None:
    check = healthcheck_module()
    smtp = ["tini", "--", "synpunkt", "smtp"]
    with greeting_server(b"220 synpunkt ESMTP\r\n") as port:
        assert check.healthy(smtp, {"SYNPUNKT_SMTP_LISTEN": f"0.0.0.0:{port}"})
    with greeting_server(b"421 busy\r\n") as port:
        assert not check.healthy(smtp, {"SYNPUNKT_SMTP_LISTEN": f"0.0.0.0:{port}"})
    assert not check.healthy(smtp, {"SYNPUNKT_SMTP_LISTEN": f"127.0.0.1:{free_port()}"})
    for part in ("worker", "imap", "bot"):
        assert check.healthy(["tini", "--", "synpunkt", part], {})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# Backups ------------------------------------------------------------------------------------------


@pytest.mark.postgres
def test_backup_script_dumps_the_database_and_drops_old_dumps(tmp_path: Path) -> None:
    require_component("PostgreSQL", POSTGRES_URL is not None, "set SYNPUNKT_TEST_POSTGRES_URL")
    require_component(
        "pg_dump", shutil.which("pg_dump") is not None, "apt-get install postgresql-client"
    )
    assert POSTGRES_URL is not None
    url = urlsplit(POSTGRES_URL)
    old = tmp_path / "synpunkt-20000101T000000Z.dump"
    old.write_bytes(b"old")
    os.utime(old, (time.time() - 20 * 86400,) * 2)
    env = os.environ | {
        "PGHOST": url.hostname or "127.0.0.1",
        "PGPORT": str(url.port or 5432),
        "PGUSER": url.username or "postgres",
        "PGPASSWORD": url.password or "",
        "PGDATABASE": "postgres",
        "BACKUP_DIR": str(tmp_path),
        "BACKUP_KEEP_DAYS": "14",
    }
    process = subprocess.Popen(
        ["sh", str(ROOT / "deploy" / "backup.sh")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while old.exists() or not list(tmp_path.glob("synpunkt-2*Z.dump")):
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "no dump within 30 s"
            time.sleep(0.2)
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=10)
    assert process.returncode == 0, err
    (dump,) = tmp_path.glob("synpunkt-2*Z.dump")
    assert oct(dump.stat().st_mode & 0o777) == "0o600"
    listing = subprocess.run(["pg_restore", "--list", str(dump)], capture_output=True, check=False)
    assert listing.returncode == 0, listing.stderr
    assert f"backup: wrote {dump}" in out


# The lock file and the licence --------------------------------------------------------------------


def locked_versions() -> dict[str, str]:
    text = (ROOT / "requirements.lock").read_text()
    return {
        canonicalize_name(name): version
        for name, version in re.findall(r"^([A-Za-z0-9_.-]+)==([^\s;]+)", text, re.MULTILINE)
    }


def test_lock_file_pins_every_runtime_dependency_within_its_range() -> None:
    locked = locked_versions()
    stale = []
    for line in PYPROJECT["project"]["dependencies"]:
        requirement = Requirement(line)
        version = locked.get(canonicalize_name(requirement.name))
        if version is None or not requirement.specifier.contains(version, prereleases=True):
            stale.append(f"{requirement} (locked: {version})")
    assert stale == [], "requirements.lock is out of date: run deploy/lock"
    text = (ROOT / "requirements.lock").read_text()
    assert all("--hash=sha256:" in block for block in re.split(r"\n(?=\S)", text) if "==" in block)


def test_licence_is_the_eupl_1_2_as_pyproject_says() -> None:
    assert PYPROJECT["project"]["license"] == "EUPL-1.2"
    licence = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert licence.startswith("EUROPEAN UNION PUBLIC LICENCE v. 1.2\n")
    assert "15.Applicable Law" in licence and "Appendix" in licence
