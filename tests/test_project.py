"""The project's shape: the import rule that keeps it a star, and a valid docker-compose file."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import require_component

ROOT = Path(__file__).resolve().parent.parent


def test_import_rule_hub_never_imports_adapters_and_adapters_not_each_other() -> None:
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 3 kept, 0 broken." in result.stdout


def test_docker_compose_file_is_valid() -> None:
    binary = shutil.which("docker-compose")
    require_component("docker-compose", binary is not None, "apt-get install docker-compose")
    assert binary is not None
    result = subprocess.run(
        [binary, "-f", str(ROOT / "docker-compose.yml"), "config", "--services"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert {"db", "web", "worker", "smtp"} <= set(result.stdout.split())
