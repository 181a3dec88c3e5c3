"""What the parse budget costs on normal mail: the same messages parsed by (a) a plain process
pool, as the worker parsed before; (b) `ParsePool` with no budget (no memory limit, a deadline
never reached), which isolates its way of working: one message per process at a time; (c)
`ParsePool` with the default budget (a deadline per parse, `RLIMIT_AS` in each process).

All have `BENCH_PARSE_PROCESSES` processes (default 2, as `synpunkt serve`), are warmed up first,
and are fed as the worker feeds them: a batch of 50 messages in flight at once. The rounds
alternate ((a), (b), (c), (a), …) so that other load on the machine falls on both alike; the
ratio of the medians in the same run is the result.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from concurrent.futures import Executor, ProcessPoolExecutor
from multiprocessing import get_context

from inbox.runners.parse_pool import PARSE_MEMORY_MB, PARSE_TIMEOUT_SECONDS, ParsePool
from mail.parse import parse_email
from tests.bench.bench_smtp import build_message

MESSAGES = int(os.environ.get("BENCH_PARSE_MESSAGES", "500"))
ROUNDS = int(os.environ.get("BENCH_PARSE_ROUNDS", "5"))
PROCESSES = int(os.environ.get("BENCH_PARSE_PROCESSES", "2"))
BATCH = 50


async def plain(executor: Executor, messages: list[bytes]) -> float:
    loop = asyncio.get_running_loop()
    start = time.perf_counter()
    for first in range(0, len(messages), BATCH):
        batch = messages[first : first + BATCH]
        await asyncio.gather(*(loop.run_in_executor(executor, parse_email, m) for m in batch))
    return len(messages) / (time.perf_counter() - start)


async def pooled(pool: ParsePool, messages: list[bytes]) -> float:
    start = time.perf_counter()
    for first in range(0, len(messages), BATCH):
        batch = messages[first : first + BATCH]
        await asyncio.gather(*(pool.parse(parse_email, m) for m in batch))
    return len(messages) / (time.perf_counter() - start)


async def _main() -> None:
    messages = [build_message("parse-budget", i) for i in range(MESSAGES)]
    size = sum(map(len, messages)) / len(messages) / 1024
    executor = ProcessPoolExecutor(max_workers=PROCESSES, mp_context=get_context("spawn"))
    unbounded = ParsePool(processes=PROCESSES, timeout=1e9, memory_mb=0, preload=[parse_email])
    pool = ParsePool(
        processes=PROCESSES,
        timeout=PARSE_TIMEOUT_SECONDS,
        memory_mb=PARSE_MEMORY_MB,
        preload=[parse_email],
    )
    rates: dict[str, list[float]] = {"a": [], "b": [], "c": []}
    try:
        await plain(executor, messages[: BATCH * 2])  # warm-up: processes, imports, models
        await pooled(unbounded, messages[: BATCH * 2])
        await pooled(pool, messages[: BATCH * 2])
        for _ in range(ROUNDS):
            rates["a"].append(await plain(executor, messages))
            rates["b"].append(await pooled(unbounded, messages))
            rates["c"].append(await pooled(pool, messages))
        restarts = pool.status()["restarts"]
    finally:
        executor.shutdown()
        unbounded.close()
        pool.close()
    a, b, c = (statistics.median(rates[key]) for key in "abc")
    print(
        f"{os.cpu_count()} CPUs; {PROCESSES} parse processes; {MESSAGES:,} messages "
        f"(mean {size:.1f} KB) per round, {ROUNDS} rounds each, alternating\n"
    )
    print("| parsing | messages/s (median) | rounds | ÷ (a) | ÷ (b) |")
    print("|---|---:|---|---:|---:|")
    print(f"| (a) plain process pool | {a:,.0f} | {_rounds(rates['a'])} | 100% | |")
    print(f"| (b) ParsePool, no budget | {b:,.0f} | {_rounds(rates['b'])} | {b / a:.0%} | 100% |")
    print(
        f"| (c) ParsePool, {PARSE_TIMEOUT_SECONDS:g} s and {PARSE_MEMORY_MB} MB per parse "
        f"| {c:,.0f} | {_rounds(rates['c'])} | {c / a:.0%} | {c / b:.0%} |"
    )
    print(f"\nparse processes replaced during (c): {restarts}")


def _rounds(rates: list[float]) -> str:
    return ", ".join(f"{rate:,.0f}" for rate in rates)


def main() -> None:
    asyncio.run(_main())


if __name__ == "__main__":
    main()
