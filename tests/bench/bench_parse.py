"""What `mail.parse.parse_email` costs over the stdlib's MIME parser alone, in one run.

(a) `email.parser.BytesParser(policy=compat32).parsebytes`: the MIME tree only, nothing decoded;
(b) `parse_email`: the same parse plus everything the worker needs (text and HTML decoded and
rendered, quotes stripped, the language guessed, attachments named, the sender classified).

On the SMTP benchmark's normal messages (`BENCH_PARSE_MESSAGES`, default 500; rounds alternate (a)
and (b), `BENCH_PARSE_ROUNDS`, default 5), then where (b)'s time goes on them (a cProfile of one
pass, by the steps `parse_email` calls), then on messages of many parts: 10,000 attachments and a
megabyte of tiny parts, each the best of three parses.
"""

from __future__ import annotations

import cProfile
import os
import pstats
import statistics
import time
from collections.abc import Callable
from email.parser import BytesParser
from email.policy import compat32

from mail.parse import parse_email
from tests.bench.bench_smtp import build_message
from tests.mail.adversarial import MB, attachments, mail, repeat

MESSAGES = int(os.environ.get("BENCH_PARSE_MESSAGES", "500"))
ROUNDS = int(os.environ.get("BENCH_PARSE_ROUNDS", "5"))
STEPS_SHOWN = 12


def stdlib(raw: bytes) -> object:
    return BytesParser(policy=compat32).parsebytes(raw)


def rate(parser: Callable[[bytes], object], messages: list[bytes]) -> float:
    start = time.perf_counter()
    for raw in messages:
        parser(raw)
    return len(messages) / (time.perf_counter() - start)


def best(parser: Callable[[bytes], object], raw: bytes, runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        parser(raw)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    messages = [build_message("parse", i) for i in range(MESSAGES)]
    size = sum(map(len, messages)) / len(messages) / 1024
    rate(parse_email, messages[:50])  # warm-up: imports, language models
    rates: dict[str, list[float]] = {"a": [], "b": []}
    for _ in range(ROUNDS):
        rates["a"].append(rate(stdlib, messages))
        rates["b"].append(rate(parse_email, messages))
    a, b = (statistics.median(rates[key]) for key in "ab")
    print(f"{os.cpu_count()} CPUs; {MESSAGES:,} messages (mean {size:.1f} KB), {ROUNDS} rounds\n")
    print("| parser | messages/s (median) | ms a message | rounds (messages/s) | time ÷ (a) |")
    print("|---|---:|---:|---|---:|")
    print(
        f"| (a) stdlib BytesParser, compat32 | {a:,.0f} | {1000 / a:.2f} | {_rounds(rates['a'])} | 1× |"
    )
    print(f"| (b) parse_email | {b:,.0f} | {1000 / b:.2f} | {_rounds(rates['b'])} | {a / b:.1f}× |")

    print("\nWhere (b)'s time goes (cProfile of one pass; the profiler inflates Python code more")
    print("than C and Rust code, so read the shares as rough):\n")
    print("| step called by parse_email | share of parse_email |")
    print("|---|---:|")
    for name, share in steps(messages):
        print(f"| {name} | {share:.0%} |")

    many = {
        "10,000 attachments": attachments(10_000),
        "1 MB of tiny parts": mail(repeat("--b\n\nx\n", MB) + "--b--\n", ctype=_MIXED),
    }
    print("\n| message | size | (a) stdlib s | (b) parse_email s | attachments kept | defects |")
    print("|---|---:|---:|---:|---:|---|")
    for name, raw in many.items():
        message = parse_email(raw)
        print(
            f"| {name} | {len(raw) / MB:.1f} MB | {best(stdlib, raw):.2f} "
            f"| {best(parse_email, raw):.2f} | {len(message.attachments):,} "
            f"| {'; '.join(message.defects) or '–'} |"
        )


def steps(messages: list[bytes]) -> list[tuple[str, float]]:
    """The functions `parse_email` calls directly, by their share of its time, largest first;
    what it does itself is "parse_email itself"."""
    profile = cProfile.Profile()
    profile.runcall(lambda: [parse_email(raw) for raw in messages])
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    top = next(key for key in stats if key[2] == "parse_email")
    total = stats[top][3]
    shares = {"parse_email itself": stats[top][2] / total}
    for (path, _line, name), (*_, callers) in stats.items():
        if top in callers:
            module = path.rsplit("/", 1)[-1].removesuffix(".py")
            label = f"{module}.{name}" if not name.startswith("<") else name
            shares[label] = shares.get(label, 0.0) + callers[top][3] / total
    ranked = sorted(shares.items(), key=lambda item: -item[1])
    rest = sum(share for _, share in ranked[STEPS_SHOWN:])
    return ranked[:STEPS_SHOWN] + ([("everything else", rest)] if rest else [])


_MIXED = "multipart/mixed; boundary=b"


def _rounds(rates: list[float]) -> str:
    return ", ".join(f"{rate:,.0f}" for rate in rates)


if __name__ == "__main__":
    main()
