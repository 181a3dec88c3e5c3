"""`make bench` (`python -m tests.bench [NAME ...]`): runs every `tests/bench/bench_*.py` module's
`main()` in turn, or only the named ones (`smtp` or `bench_smtp`).

`bench_inbox` and `bench_report` share a generated PostgreSQL database (`synpunkt_bench_N`),
kept while they run and dropped when the run ends; BENCH_KEEP_DB=1 keeps it for the next run (it
takes minutes to build at 1,000,000 cases). The SQLite database (`var/bench/inbox-N.db`) is a
file and stays.
"""

from __future__ import annotations

import asyncio
import importlib
import os
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
    try:
        for name in wanted:
            print(f"# {name}\n", flush=True)
            importlib.import_module(f"tests.bench.{name}").main()
            print(flush=True)
    finally:
        pg = os.environ.get("SYNPUNKT_TEST_POSTGRES_URL")
        shared = {"bench_inbox", "bench_report"} & set(wanted)
        if pg and shared and os.environ.get("BENCH_KEEP_DB") != "1":
            from tests.bench.bench_inbox import drop_cached_postgres

            asyncio.run(drop_cached_postgres(pg))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
