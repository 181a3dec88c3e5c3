"""What `mail.parse.parse_email` costs over the stdlib's MIME parser alone, in one run.

(a) `email.parser.BytesParser(policy=compat32).parsebytes`: the MIME tree only, nothing decoded;
(b) `parse_email`: the same parse plus everything the worker needs (text and HTML decoded and
rendered, quotes stripped, the language guessed, attachments named, the sender classified).

On the SMTP benchmark's normal messages (`BENCH_PARSE_MESSAGES`, default 500; rounds alternate (a)
and (b), `BENCH_PARSE_ROUNDS`, default 5), then where (b)'s time goes on them: its main steps
timed alone on the same messages (best of three passes), and a cProfile of one pass by the
functions `parse_email` calls; then on messages of many parts: 10,000 attachments and a megabyte
of tiny parts, each the best of three parses.
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

from inbox.core.language import detect_language
from mail import mime
from mail.automation import classify
from mail.html import sanitize_html
from mail.parse import parse_email
from mail.quotes import strip_quotes
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

    print("\nIts main steps timed alone on the same messages (best of three passes; one after")
    print("another in a parse each takes longer, its data no longer in the CPU's caches):\n")
    print("| step | ms a message | share of (b) |")
    print("|---|---:|---:|")
    timed = alone(messages)
    rest = 1000 / b - sum(ms for _, ms in timed)
    timed.append((_REST, rest))
    for name, ms in timed:
        print(f"| {name} | {ms:.3f} | {ms / (1000 / b):.0%} |")

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


def alone(messages: list[bytes]) -> list[tuple[str, float]]:
    """The main steps of `parse_email`, each timed alone on the messages: ms a message."""
    parsed = [stdlib(raw) for raw in messages]
    bodies = [mime.extract(msg, hint=None) for msg in parsed]  # type: ignore[arg-type]
    texts = [body.text for body in bodies]
    languages = [detect_language(text) for text in texts]
    steps: dict[str, Callable[[], object]] = {
        "the MIME parse (as (a))": lambda: [stdlib(raw) for raw in messages],
        "text, HTML and attachments (`mime.extract`)": lambda: [
            mime.extract(msg, hint=None)  # type: ignore[arg-type]
            for msg in parsed
        ],
        "the language (`detect_language`)": lambda: [detect_language(text) for text in texts],
        "quotes stripped (`strip_quotes`)": lambda: [
            strip_quotes(text, language_hint=language)
            for text, language in zip(texts, languages, strict=True)
        ],
        "machine-made? (`classify`)": lambda: [
            classify(msg, "person@example.org")  # type: ignore[arg-type]
            for msg in parsed
        ],
        "HTML sanitised (`sanitize_html`)": lambda: [
            sanitize_html(body.html) for body in bodies if body.html
        ],
    }
    timed = []
    for name, step in steps.items():
        times = []
        for _ in range(3):
            start = time.perf_counter()
            step()
            times.append(time.perf_counter() - start)
        timed.append((name, min(times) * 1000 / len(messages)))
    return timed


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
_REST = "the rest: headers, addresses, ids, charset checks; the steps' extra cost in one parse"


def _rounds(rates: list[float]) -> str:
    return ", ".join(f"{rate:,.0f}" for rate in rates)


if __name__ == "__main__":
    main()
