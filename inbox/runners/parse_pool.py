"""Parsing raw messages under a budget, so that no message can stall intake or take a process down.

`ParsePool` parses in processes of their own, one message per process at a time, so the process
that runs a message is known: a parse past its time is stopped by killing that process, a process
may use only so much memory (`RLIMIT_AS`), and a process that died, was killed or ran out of memory
is replaced before its next message. The event loop talks to each process over a socket of its
own, with no threads between them: a message goes out and its parse comes back as the loop's own
I/O, so a hand-off never waits for a helper thread to get the GIL while the loop stores a batch.
`InlineParsing` parses in threads of this process (no pool): its time budget stops the wait, but a
thread cannot be killed, so a runaway parse runs on, and no memory budget can apply to one thread;
health says so while such a thread runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import pickle
import signal
import socket
import struct
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from multiprocessing.process import BaseProcess
from typing import Any, BinaryIO, Never, Protocol

from inbox.core.inbound import InboundMessage

log = logging.getLogger(__name__)

Parser = Callable[[bytes], InboundMessage]

PARSE_TIMEOUT_SECONDS = 30.0  # SYNPUNKT_PARSE_TIMEOUT_SECONDS
PARSE_MEMORY_MB = 1024  # SYNPUNKT_PARSE_MEMORY_MB
# More replacements than this within the window make the pool unhealthy: something keeps killing
# parse processes (an attack, or a budget too small for the mail that arrives).
RESTARTS_ALLOWED = 10
RESTART_WINDOW_SECONDS = 15 * 60.0
START_TIMEOUT_SECONDS = 60.0  # a new process's start and imports, not counted in a parse's time


class ParseFailed(Exception):
    """The parse of one message went over its budget; the message's own fault, probably."""


class ParseTimedOut(ParseFailed):
    """The parse took longer than its time budget and was stopped."""


class ParseCrashed(ParseFailed):
    """The process parsing the message died or ran out of memory: maybe the message, maybe not."""


class ParseProcessDied(ParseCrashed):
    pass


class ParseOutOfMemory(ParseCrashed):
    pass


class PoolUnavailable(Exception):
    """No parse process can be started: nothing to do with the message, which waits."""


class Parsing(Protocol):
    async def parse(self, parser: Parser, raw: bytes) -> InboundMessage: ...

    def status(self) -> dict[str, Any]:
        """What health shows; a non-empty "problem" makes `/healthz` answer 503."""
        ...

    def close(self) -> None: ...


# The parse process's side -----------------------------------------------------------------------

# A frame is its length (8 bytes, big-endian) and that many bytes of pickle. To the process: first
# the parsers (importing their modules there), then per message the parser and the raw message.
# Back: (_READY, its process id) or (_FAILED, why it cannot parse), then per message one of
_PARSED = "parsed"  # (_PARSED, (the message, whether its raw form was left out: the pool has it))
_FAILED = "failed"  # (_FAILED, the parser's exception)
_OUT_OF_MEMORY = "out of memory"  # (_OUT_OF_MEMORY, None): this process should go
_READY = "ready"
_LENGTH = struct.Struct(">Q")
_BUFFER = 1024 * 1024  # read ahead from a parse process: most parsed messages fit at once


def _limit_memory(limit: int | None) -> None:
    """The address space of a parse process is capped (Linux; elsewhere best effort), so a
    message that needs more ends in MemoryError or the death of that process."""
    if limit:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _serve(channel: socket.socket, limit: int | None) -> None:
    """A parse process: parses what comes in over `channel`, one message at a time, until the
    pool closes its end."""
    _limit_memory(limit)
    # The pool ends its processes (closing their sockets, or a kill); ^C is for the pool's process.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with channel, channel.makefile("rb") as incoming:
        try:
            pickle.loads(_read(incoming) or b"")  # the parsers: their modules imported now
        except Exception as exc:
            _send(channel, _pickled((_FAILED, exc)))
            return
        _send(channel, _pickled((_READY, os.getpid())))
        while (request := _read(incoming)) is not None:
            parser, raw = pickle.loads(request)
            _send(channel, _parse_here(parser, raw))


def _parse_here(parser: Parser, raw: bytes) -> bytes:
    """The reply for one message, pickled. The raw form is not sent back: the pool has it."""
    try:
        msg = parser(raw)
        elided = msg.raw == raw
        reply: tuple[str, Any] = (_PARSED, (replace(msg, raw=b"") if elided else msg, elided))
    except MemoryError:
        reply = (_OUT_OF_MEMORY, None)
    except Exception as exc:
        reply = (_FAILED, exc)
    return _pickled(reply)


def _pickled(reply: tuple[str, Any]) -> bytes:
    try:
        return pickle.dumps(reply, pickle.HIGHEST_PROTOCOL)
    except MemoryError:
        return pickle.dumps((_OUT_OF_MEMORY, None))
    except Exception as exc:  # an exception or a result that cannot be pickled
        problem = RuntimeError(f"the parse cannot be sent back: {type(exc).__name__}: {exc}")
        return pickle.dumps((_FAILED, problem))


def _read(incoming: BinaryIO) -> bytes | None:
    """The next frame's bytes, or None once the pool closed its end."""
    header = incoming.read(_LENGTH.size)
    if len(header) < _LENGTH.size:
        return None
    return incoming.read(_LENGTH.unpack(header)[0])


def _send(channel: socket.socket, data: bytes) -> None:
    channel.sendall(_LENGTH.pack(len(data)))
    channel.sendall(data)


# The pool's side --------------------------------------------------------------------------------


@dataclass
class _Slot:
    process: BaseProcess | None = None
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    pid: int = 0


class ParsePool:
    """Processes that parse one message each at a time, within a time and memory budget."""

    def __init__(
        self,
        *,
        processes: int,
        timeout: float = PARSE_TIMEOUT_SECONDS,
        memory_mb: int | None = PARSE_MEMORY_MB,
        preload: Sequence[Parser] = (),
        restarts_allowed: int = RESTARTS_ALLOWED,
        restart_window: float = RESTART_WINDOW_SECONDS,
    ) -> None:
        if processes < 1:
            raise ValueError("a parse pool needs at least one process")
        self._timeout = timeout
        self._memory_mb = memory_mb or None
        self._preload = tuple(preload)
        self._slots = [_Slot() for _ in range(processes)]
        self._free: asyncio.Queue[_Slot] = asyncio.Queue()
        for slot in self._slots:
            self._free.put_nowait(slot)
        self._restarts: deque[float] = deque()
        self._restart_total = 0
        self._last_restart: str | None = None
        self._restarts_allowed = restarts_allowed
        self._restart_window = restart_window
        self._cannot_start: str | None = None

    @property
    def pids(self) -> list[int]:
        """The running parse processes (for tests and diagnostics)."""
        return [slot.pid for slot in self._slots if slot.process is not None]

    async def parse(self, parser: Parser, raw: bytes) -> InboundMessage:
        """The parsed message, or the parser's own exception, or a `ParseFailed` for a budget."""
        request = pickle.dumps((parser, raw), pickle.HIGHEST_PROTOCOL)
        slot = await self._free.get()
        try:
            if slot.process is not None and slot.process.exitcode is not None:
                self._replace(slot, "an idle parse process died", kill=False)
            if slot.process is None:
                await self._start(slot)
            assert slot.reader is not None and slot.writer is not None
            try:
                await _request(slot.writer, request)
            except ConnectionError:  # it died while idle: nothing to do with this message
                self._replace(slot, "an idle parse process died", kill=False)
                await self._start(slot)
                assert slot.writer is not None
                await _request(slot.writer, request)
            assert slot.reader is not None
            try:
                async with asyncio.timeout(self._timeout):  # no task of its own, unlike wait_for
                    kind, value = await _receive(slot.reader)
            except TimeoutError:
                self._replace(slot, "a parse ran out of time", kill=True)
                raise ParseTimedOut(
                    f"stopped after {self._timeout:g} s (the parse time budget)"
                ) from None
            except (asyncio.IncompleteReadError, ConnectionError):
                self._replace(slot, "a parse process died", kill=False)
                raise ParseProcessDied(
                    "the parse process died (killed, or over its memory budget)"
                ) from None
            except asyncio.CancelledError:
                # Whoever waited is gone (the worker stops): the parse must not run on unseen.
                self._stop(slot, kill=True)
                raise
            if kind == _OUT_OF_MEMORY:
                self._replace(slot, "a parse ran out of memory", kill=True)
                raise ParseOutOfMemory(f"out of memory (the parse budget is {self._memory_mb} MB)")
            if kind == _FAILED:
                raise value
            msg, elided = value
            return replace(msg, raw=raw) if elided else msg  # type: ignore[no-any-return]
        finally:
            self._free.put_nowait(slot)

    async def _start(self, slot: _Slot) -> None:
        limit = self._memory_mb * 1024 * 1024 if self._memory_mb else None
        ours, theirs = socket.socketpair()
        process = multiprocessing.get_context("spawn").Process(
            target=_serve, args=(theirs, limit), name="synpunkt-parse", daemon=True
        )
        try:
            try:
                process.start()
            finally:
                theirs.close()
            reader, writer = await asyncio.open_unix_connection(sock=ours, limit=_BUFFER)
        except BaseException as exc:
            ours.close()
            _kill(process)
            if not isinstance(exc, Exception):
                raise
            self._unavailable(exc)
        try:
            await _request(writer, pickle.dumps(self._preload, pickle.HIGHEST_PROTOCOL))
            kind, value = await asyncio.wait_for(_receive(reader), START_TIMEOUT_SECONDS)
            if kind != _READY:
                raise value
        except BaseException as exc:
            writer.close()
            _kill(process)
            if not isinstance(exc, Exception):
                raise
            if isinstance(exc, asyncio.IncompleteReadError):
                exc = RuntimeError("the process ended while starting (see its error output)")
            self._unavailable(exc)
        self._cannot_start = None
        slot.process, slot.reader, slot.writer, slot.pid = process, reader, writer, value

    def _unavailable(self, exc: Exception) -> Never:
        self._cannot_start = f"cannot start a parse process: {type(exc).__name__}: {exc}"
        log.error("parse pool: %s", self._cannot_start)
        raise PoolUnavailable(self._cannot_start) from exc

    def _replace(self, slot: _Slot, reason: str, *, kill: bool) -> None:
        """Ends the slot's process; the slot starts a fresh one before its next message."""
        log.warning("parse pool: %s; replacing process %s", reason, slot.pid)
        self._stop(slot, kill=kill)
        now = time.monotonic()
        self._restarts.append(now)
        self._restart_total += 1
        self._last_restart = reason

    def _stop(self, slot: _Slot, *, kill: bool) -> None:
        if slot.process is None:
            return
        if kill:  # alive (busy or over its budget): only a kill stops a parse in progress
            _kill(slot.process)
        if slot.writer is not None:
            # An idle process reads the end of its input and exits. (A dead one is reaped when
            # the next process starts: multiprocessing does that.)
            with contextlib.suppress(RuntimeError):  # the event loop is closed already
                slot.writer.close()
        slot.process, slot.reader, slot.writer, slot.pid = None, None, None, 0

    def _recent_restarts(self) -> int:
        horizon = time.monotonic() - self._restart_window
        while self._restarts and self._restarts[0] < horizon:
            self._restarts.popleft()
        return len(self._restarts)

    def status(self) -> dict[str, Any]:
        recent = self._recent_restarts()
        problem = None
        if self._cannot_start:
            problem = f"parse pool broken: {self._cannot_start}"
        elif recent > self._restarts_allowed:
            minutes = self._restart_window / 60
            problem = (
                f"parse processes replaced {recent} times in the last {minutes:g} minutes "
                f"(last: {self._last_restart})"
            )
        return {
            "mode": "processes",
            "processes": len(self._slots),
            "pids": self.pids,
            "timeout_seconds": self._timeout,
            "memory_mb": self._memory_mb,
            "restarts": self._restart_total,
            "restarts_recent": recent,
            "last_restart": self._last_restart,
            "problem": problem,
        }

    def close(self) -> None:
        for slot in self._slots:
            self._stop(slot, kill=True)


async def _request(writer: asyncio.StreamWriter, request: bytes) -> None:
    writer.write(_LENGTH.pack(len(request)))
    writer.write(request)
    await writer.drain()


async def _receive(reader: asyncio.StreamReader) -> Any:
    header = await reader.readexactly(_LENGTH.size)
    return pickle.loads(await reader.readexactly(_LENGTH.unpack(header)[0]))


def _kill(process: BaseProcess) -> None:
    if process.pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGKILL)


class InlineParsing:
    """Parses in threads of this process: for tests, one-shot commands and `parse_processes=0`.

    The time budget holds for the message (it is failed, and the batch goes on), but the thread
    running it cannot be stopped and keeps its CPU until the parser returns; no memory budget can
    be set for a thread. While such a runaway thread runs, health reports it.
    """

    def __init__(self, *, timeout: float = PARSE_TIMEOUT_SECONDS, threads: int = 4) -> None:
        self._timeout = timeout
        self._threads = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="parse")
        # A parse's time starts when a thread is free for it; a runaway holds its thread.
        self._free = asyncio.Semaphore(threads)
        self._runaways: set[Future[InboundMessage]] = set()

    async def parse(self, parser: Parser, raw: bytes) -> InboundMessage:
        await self._free.acquire()
        loop = asyncio.get_running_loop()
        future: Future[InboundMessage] = self._threads.submit(parser, raw)
        future.add_done_callback(lambda done: self._ended_in_thread(loop, done))
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), self._timeout)
        except TimeoutError:
            if not future.done():
                self._runaways.add(future)
            raise ParseTimedOut(
                f"stopped waiting after {self._timeout:g} s (the parse time budget); without a "
                "parse pool its thread cannot be stopped"
            ) from None

    def _ended_in_thread(
        self, loop: asyncio.AbstractEventLoop, future: Future[InboundMessage]
    ) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody asks any more
            loop.call_soon_threadsafe(self._ended, future)

    def _ended(self, future: Future[InboundMessage]) -> None:
        self._runaways.discard(future)
        self._free.release()

    def status(self) -> dict[str, Any]:
        problem = None
        if self._runaways:
            problem = (
                f"{len(self._runaways)} parse thread(s) ran past the time budget and cannot be stopped "
                "without a parse pool (SYNPUNKT_PARSE_PROCESSES): restart the worker"
            )
        return {
            "mode": "threads",
            "timeout_seconds": self._timeout,
            "memory_mb": None,
            "runaway_threads": len(self._runaways),
            "problem": problem,
        }

    def close(self) -> None:
        self._threads.shutdown(wait=False, cancel_futures=True)
