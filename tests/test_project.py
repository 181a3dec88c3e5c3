"""The project's shape: the import rule that keeps it a star (the deployment files: test_deployment)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_import_rules_hold_the_hub_layers_and_keep_adapters_apart() -> None:
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 5 kept, 0 broken." in result.stdout
    assert "Records use only the core, the case rules and the reports KEPT" in result.stdout
    assert "The hub's layers: each imports only the layers below it KEPT" in result.stdout
