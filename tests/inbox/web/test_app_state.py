"""What `create_app` keeps on `app.state` is read back in one place, `inbox.web.state`, with its real
type: routes and their helpers declare what they need as typed dependencies instead."""

from __future__ import annotations

import re
from pathlib import Path

import inbox.web

WEB = Path(inbox.web.__file__).parent
STATE = re.compile(r"\bapp\.state(\.\w|\s*,)")  # a part of it, or getattr(app.state, …)
KEEPS = re.compile(r"^\s*app\.state\.\w+ = ")  # create_app putting a part there


def test_only_the_state_module_reads_app_state() -> None:
    readers = {}
    for path in sorted(WEB.rglob("*.py")):
        name = path.relative_to(WEB).as_posix()
        if name == "state.py":
            continue
        lines = [
            f"{name}:{number}: {line.strip()}"
            for number, line in enumerate(path.read_text().splitlines(), 1)
            if STATE.search(line) and not (name == "app.py" and KEEPS.match(line))
        ]
        if lines:
            readers[name] = lines
    assert readers == {}, "read app.state through a dependency in inbox/web/state.py"
