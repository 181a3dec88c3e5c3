"""The project's shape: the import rule that keeps it a star, and a valid docker-compose file."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import require_component

ROOT = Path(__file__).resolve().parent.parent


def test_import_rules_hold_the_hub_layers_and_keep_adapters_apart() -> None:
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 4 kept, 0 broken." in result.stdout
    assert "The hub's layers: each imports only the layers below it KEPT" in result.stdout


def test_docker_compose_file_is_valid_and_requires_a_secret_key(tmp_path: Path) -> None:
    binary = shutil.which("docker-compose")
    require_component("docker-compose", binary is not None, "apt-get install docker-compose")
    assert binary is not None
    env = {k: v for k, v in os.environ.items() if k != "SYNPUNKT_SECRET_KEY"}
    no_dotenv = tmp_path / "empty.env"  # not a developer's .env: only what the test sets
    no_dotenv.write_text("")

    compose = [binary, "--env-file", str(no_dotenv), "-f", str(ROOT / "docker-compose.yml")]

    def config(**extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*compose, "config", "--services"],
            capture_output=True,
            text=True,
            check=False,
            env={**env, **extra},
        )

    result = config(SYNPUNKT_SECRET_KEY="compose-test-" + "0123456789abcdef" * 2)
    assert result.returncode == 0, result.stderr
    assert {"db", "web", "worker", "smtp"} <= set(result.stdout.split())
    unset = config()
    assert unset.returncode != 0 and "set SYNPUNKT_SECRET_KEY" in unset.stderr
