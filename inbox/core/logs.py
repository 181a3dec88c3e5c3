"""The log: one handler on the root logger, in text or JSON (SYNPUNKT_LOG_FORMAT), and the events.

`configure` is called once, by the command line at start. Everything logs through the standard
`logging` module, ours and the libraries' alike, and structlog's `ProcessorFormatter` on the root
handler renders every record the same way: a JSON object a line, or a line of text.

The events an operator follows (`event`) carry ids and references only, never an address, a name
or what a message says: a received message (its channel and intake row), an opened case (its id
and reference), a send's outcome (its outbox row, kind and result). A request's id is bound to
every line logged while the request is handled (`bound`), whoever logs it.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import sys
from collections.abc import Iterator
from typing import Any, TextIO

import structlog
from structlog.types import EventDict, Processor, WrappedLogger

FORMATS = ("text", "json")
_NOISY = ("mail.log", "alembic", "imapclient")

# What is added to every record: the request's id (contextvars), the level, the logger, the time.
_SHARED: list[Processor] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]

structlog.configure(
    # An event below the root's level costs a level check, not the processors.
    processors=[
        structlog.stdlib.filter_by_level,
        *_SHARED,
        structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
    ],
    logger_factory=structlog.stdlib.LoggerFactory(),
    wrapper_class=structlog.stdlib.BoundLogger,
    cache_logger_on_first_use=True,
)


def _text(_: WrappedLogger, __: str, event: EventDict) -> str:
    """`time LEVEL logger: message key=value …`, the line the text log always had, with fields."""
    head = (
        f"{event.pop('timestamp', '')} {str(event.pop('level', '')).upper()} "
        f"{event.pop('logger', '')}: {event.pop('event', '')}"
    )
    trace = event.pop("exception", None)
    fields = "".join(f" {key}={value}" for key, value in event.items())
    return head + fields + (f"\n{trace}" if trace else "")


def formatter(log_format: str) -> logging.Formatter:
    """The formatter of the root handler for SYNPUNKT_LOG_FORMAT (`text` or `json`)."""
    if log_format not in FORMATS:
        raise ValueError(f"SYNPUNKT_LOG_FORMAT must be {' or '.join(FORMATS)}")
    renderer: Processor = structlog.processors.JSONRenderer() if log_format == "json" else _text
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*_SHARED, structlog.stdlib.ExtraAdder()],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )


def configure(*, level: str, log_format: str, stream: TextIO | None = None) -> None:
    """One handler on the root logger, replacing any other, in the chosen format."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter(log_format))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # aiosmtpd logs every SMTP command with the addresses in it at INFO: personal data in the log.
    # imapclient logs every closed connection at INFO; the poller logs what matters itself.
    for noisy in _NOISY:
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


def event(logger: str, name: str, **ids: int | float | str | None) -> None:
    """Logs an operator's event at INFO: its name and ids or references, nothing personal."""
    _logger(logger).info(name, **ids)


@functools.cache
def _logger(name: str) -> Any:
    return structlog.stdlib.get_logger(name)


@contextlib.contextmanager
def bound(**values: Any) -> Iterator[None]:
    """Adds `values` to every line logged inside, in this task and the tasks it starts."""
    with structlog.contextvars.bound_contextvars(**values):
        yield
