"""Commands run in-process through `main()`, in an environment of their own."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.factories import cli_env

KEY = "k3Jq9-Xv2LmP8sRt4WzY6nBc1HdF5gA7eU0iO"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """The environment of a command on a fresh SQLite database in `tmp_path`, with a good key."""
    for name in [name for name in os.environ if name.startswith("SYNPUNKT_")]:
        monkeypatch.delenv(name)
    for name, value in cli_env(tmp_path, SYNPUNKT_SECRET_KEY=KEY).items():
        if name.startswith("SYNPUNKT_"):
            monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    yield monkeypatch
