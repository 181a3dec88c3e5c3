"""`make bench` (`python -m tests.bench [NAME ...]`): runs every `tests/bench/bench_*.py` module's
`main()` in turn, or only the named ones (`smtp` or `bench_smtp`).
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path


def available() -> list[str]:
    return sorted(path.stem for path in Path(__file__).parent.glob("bench_*.py"))


def main(argv: list[str]) -> int:
    names = available()
    wanted = [name if name.startswith("bench_") else f"bench_{name}" for name in argv] or names
    unknown = [name for name in wanted if name not in names]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; available: {', '.join(names)}")
        return 2
    for name in wanted:
        print(f"# {name}\n", flush=True)
        importlib.import_module(f"tests.bench.{name}").main()
        print(flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
