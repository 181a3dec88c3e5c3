"""Every template and static file of the web face is in the package data, so an installed (not
editable) Synpunkt, such as the Docker image's, has them too."""

from __future__ import annotations

import tomllib
from fnmatch import fnmatch
from pathlib import Path

import inbox

ROOT = Path(inbox.__file__).parent
PYPROJECT = ROOT.parent / "pyproject.toml"


def test_every_template_and_static_file_is_package_data() -> None:
    globs = tomllib.loads(PYPROJECT.read_text())["tool"]["setuptools"]["package-data"]["inbox"]
    files = [
        path.relative_to(ROOT).as_posix()
        for folder in ("web/templates", "web/static", "reports/templates")
        for path in (ROOT / folder).rglob("*")
        if path.is_file()
    ]
    # setuptools' `*` does not cross a `/`; fnmatch's does, so compare the depth as well.
    left_out = [
        name
        for name in files
        if not any(fnmatch(name, g) and name.count("/") == g.count("/") for g in globs)
    ]
    assert files and left_out == []
