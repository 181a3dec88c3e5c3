"""What `mail.parse.parse_email` costs over the stdlib's MIME parser alone, in one run.

(a) `email.parser.BytesParser(policy=compat32).parsebytes`: the MIME tree only, nothing decoded;
(b) `parse_email`: the same parse plus everything the worker needs (text and HTML decoded and
rendered, quotes stripped, the language guessed, attachments named, the sender classified).

On the SMTP benchmark's normal messages (`BENCH_PARSE_MESSAGES`, default 500; rounds alternate (a)
and (b), `BENCH_PARSE_ROUNDS`, default 5), then on messages of many parts: 10,000 attachments and
a megabyte of tiny parts, each the best of three parses.
"""

from __future__ import annotations

import os
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
    print("| parser | messages/s (median) | rounds | ÷ (a) |")
    print("|---|---:|---|---:|")
    print(f"| (a) stdlib BytesParser, compat32 | {a:,.0f} | {_rounds(rates['a'])} | 100% |")
    print(f"| (b) parse_email | {b:,.0f} | {_rounds(rates['b'])} | {b / a:.1%} |")

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


_MIXED = "multipart/mixed; boundary=b"


def _rounds(rates: list[float]) -> str:
    return ", ".join(f"{rate:,.0f}" for rate in rates)


if __name__ == "__main__":
    main()
