"""No parser or pattern that reads outside input is super-linear (issue 11).

Every entry point that reads mail, form, Telegram or API text runs on about 1 MB of adversarial
input (`tests/mail/adversarial.py`) and has to finish. This is a bound, not a timing: a test that
asserts "under N seconds" measures the machine and fails when CI is busy. Each case runs in a
worker process and fails only if it has not finished after `BOUND` seconds (the worker is then
killed and replaced). Linear code needs a few seconds at most for 1 MB even on a busy two-core
machine; quadratic code needs minutes to hours (before this the uuencode detector took 245 s for
400 KB, the HTML tag strip over 500 s for 600 KB), so the bound tells the two apart without
measuring either.

A message of many parts is bounded by structure, not time: the parser builds at most
`MAX_MIME_PARTS` parts of it and keeps at most `MAX_ATTACHMENTS` files, however many it has.

The last part checks that the linear scans that replaced backtracking regexes find exactly
what those regexes found, on inputs small enough for the regexes.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Iterator
from email.message import Message
from multiprocessing import get_context
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mail import parse
from mail.headers import encoded_words
from mail.mime import MAX_ATTACHMENTS
from mail.parse import _FEED_CHARS, MAX_MIME_PARTS, parse_email
from tests.mail.adversarial import CASES, attachments, serve

BOUND = 30.0


class Worker:
    """A process that runs adversarial cases by name; replaced when one does not finish."""

    def __init__(self) -> None:
        self._process: BaseProcess | None = None
        self._connection: Connection | None = None

    def run(self, name: str) -> str | None:
        """The case's error ("" for none), or None when it had not finished within `BOUND`."""
        if self._process is None or self._connection is None:
            context = get_context("spawn")  # a clean interpreter: no threads or loops of ours
            self._connection, child = context.Pipe()
            self._process = context.Process(target=serve, args=(child,), daemon=True)
            self._process.start()
            child.close()
            self._connection.send("warm-up")  # imports and language models, outside the bound
            self._connection.recv()
        self._connection.send(name)
        if self._connection.poll(BOUND):
            answer: str = self._connection.recv()
            return answer
        self.close()
        return None

    def close(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.join()
        self._process = self._connection = None


@pytest.fixture(scope="module")
def worker() -> Iterator[Worker]:
    running = Worker()
    yield running
    running.close()


@pytest.mark.slow  # about a minute for all cases: each reads a megabyte, some in Python loops
@pytest.mark.parametrize("name", [name for name in CASES if name != "warm-up"])
def test_entry_point_finishes_on_a_megabyte_of_adversarial_input(worker: Worker, name: str) -> None:
    outcome = worker.run(name)
    assert outcome is not None, f"not finished after {BOUND:.0f} s: super-linear somewhere"
    assert outcome == ""


# --- Many parts: a bounded number is read -----------------------------------------------------


@pytest.fixture
def parts_built(monkeypatch: pytest.MonkeyPatch) -> list[Message]:
    """Every MIME part the parser builds, in order."""
    built: list[Message] = []

    class Counted(Message):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]
            built.append(self)

    monkeypatch.setattr(parse, "Message", Counted)
    return built


@pytest.mark.parametrize("count", [10_000, 30_000])
def test_a_message_of_many_attachments_is_read_to_a_bounded_number_of_parts(
    parts_built: list[Message], count: int
) -> None:
    raw = attachments(count, size=20)
    message = parse_email(raw)
    # The parser stops within one fed chunk after the limit (at least 100 bytes a part here).
    assert MAX_MIME_PARTS < len(parts_built) <= MAX_MIME_PARTS + _FEED_CHARS // 100
    read = MAX_MIME_PARTS - 2  # the whole message and its text part are parts too
    assert len(message.attachments) == MAX_ATTACHMENTS
    assert [a.filename for a in message.attachments[:2]] == ["bilaga-0.pdf", "bilaga-1.pdf"]
    assert message.text == "Hej, se bilagorna."
    assert message.defects == (
        f"more than {MAX_MIME_PARTS:,} MIME parts: the first {MAX_MIME_PARTS:,} are read, the"
        " rest is only in the original message",
        f"{read - MAX_ATTACHMENTS:,} attachments over the first {MAX_ATTACHMENTS:,}: not kept as"
        " files, only in the original message",
    )  # and no missing closing boundary: that is where the parser stopped, not the message
    assert message.raw == raw


def test_attachments_under_the_part_limit_are_read_and_kept_to_the_attachment_limit(
    parts_built: list[Message],
) -> None:
    message = parse_email(attachments(MAX_ATTACHMENTS + 5))
    # The message, its text, the attachments, and one the parser makes to try its factory.
    assert len(parts_built) == 1 + 1 + MAX_ATTACHMENTS + 5 + 1
    assert len(message.attachments) == MAX_ATTACHMENTS
    assert message.attachments[-1].filename == f"bilaga-{MAX_ATTACHMENTS - 1}.pdf"
    assert message.defects == (
        f"5 attachments over the first {MAX_ATTACHMENTS:,}: not kept as files, only in the"
        " original message",
    )
    assert not parse_email(attachments(MAX_ATTACHMENTS)).defects


def test_uuencoded_files_count_towards_the_attachment_limit() -> None:
    block = binascii.b2a_uu(b"Hej").decode()
    text = "Hej\n" + "".join(f"begin 644 f{i}.txt\n{block}`\nend\n" for i in range(1_200))
    message = parse_email(f"From: a@example.se\nSubject: x\n\n{text}".encode())
    assert len(message.attachments) == MAX_ATTACHMENTS
    assert any(d.startswith("200 attachments over the first") for d in message.defects)


# --- The linear scans find what the regexes they replaced found --------------------------------

_OLD_ENCODED_WORD = re.compile(r"=\?([^?\s]+?)\?([qQbB])\?(.*?)\?=", re.DOTALL)
_OLD_UUENCODED = re.compile(
    r"^begin [0-7]{3,4} ([^\n]+)\n(.*?)^end[ \t]*$\n?", re.MULTILINE | re.DOTALL
)
_UU_LINE = binascii.b2a_uu(b"Hej hej").decode().rstrip("\n")
_WORD_PIECES = ["=?", "?=", "?q?", "?B?", "=?utf-8?q?", "a", " ", "\n", "=", "?", ",", '"', "<"]
_UU_PIECES = ["begin 644 a.txt", "begin 6444 b", "begin 64 c", "end", "end \t", "endx", _UU_LINE]


@settings(max_examples=500, deadline=None, derandomize=True, database=None)
@given(st.lists(st.sampled_from(_WORD_PIECES), max_size=30).map("".join))
def test_encoded_words_are_found_as_the_regex_found_them(value: str) -> None:
    expected = [(m.start(), m.end(), *m.groups()) for m in _OLD_ENCODED_WORD.finditer(value)]
    assert list(encoded_words(value)) == expected


@settings(
    max_examples=500,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.lists(st.sampled_from([*_UU_PIECES, "`", "", "Hej", "Måndag"]), max_size=12))
def test_uuencoded_blocks_are_found_as_the_regex_found_them(lines: list[str]) -> None:
    text = "\n".join(lines)
    decoded: list[bytes] = []

    def replace(match: re.Match[str]) -> str:
        try:
            data = b"".join(_uu_line(line) for line in match.group(2).split("\n"))
        except ValueError:  # binascii.Error, or a line that is not ASCII: not uuencoded
            return match.group(0)
        decoded.append(data)
        return ""

    expected = _OLD_UUENCODED.sub(replace, text)
    message = parse_email(f"From: a@example.se\nSubject: x\n\n{text}".encode())
    assert [part.data for part in message.attachments] == decoded
    assert message.text == (expected.strip("\n") if expected.strip() else "")


def _uu_line(line: str) -> bytes:
    if not line.strip() or line.strip() == "`":
        return b""
    try:
        return binascii.a2b_uu(line)
    except binascii.Error:  # a line padded short: decoded by its length byte only
        return binascii.a2b_uu(line[: ((ord(line[0]) - 32) & 63) * 4 // 3 + 1])
