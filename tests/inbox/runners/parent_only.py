"""A parser that parse processes cannot import, as when a dependency is missing where they run."""

from __future__ import annotations

import multiprocessing

from inbox.core.inbound import InboundMessage
from tests.inbox.runners import faulty_parser

if multiprocessing.parent_process() is not None:
    raise ImportError("not importable in a parse process")


def parse(raw: bytes) -> InboundMessage:
    return faulty_parser.parse(raw)
