"""`synpunkt diarium --from --to [--format csv|text]`: the public registry extract.

What a municipality hands anyone who asks for its diarium: each case's reference, date received,
kind, unit and ärendemening, and nothing else — never a name, an address or a word of a message
(`inbox.cases.registry.registry_extract`). Printed to standard output; the extract is audited.
"""

from __future__ import annotations

import argparse
import csv
import io
from collections.abc import Sequence
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from inbox.cases.registry import DIARIUM_COLUMNS, RegistryEntry, registry_extract
from inbox.cli.commands import CLI_ACTOR_NAME, _in_session
from inbox.cli.errors import UserError
from inbox.cli.wiring import utcnow
from inbox.core.audit import Actor, audit
from inbox.settings import Settings

FORMATS = ("csv", "text")


def iso_date(value: str) -> date:
    """An argparse type: YYYY-MM-DD."""
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date (YYYY-MM-DD)") from None


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    diarium = commands.add_parser(
        "diarium",
        help="the public registry extract: reference, date, kind, unit and ärendemening",
    )
    diarium.add_argument("--from", dest="start", required=True, type=iso_date, metavar="DATE")
    diarium.add_argument("--to", dest="end", required=True, type=iso_date, metavar="DATE")
    diarium.add_argument("--format", choices=FORMATS, default="text")
    diarium.set_defaults(func=cmd_diarium)


def cmd_diarium(settings: Settings, args: argparse.Namespace) -> int:
    if args.end < args.start:
        raise UserError("--to is before --from")

    async def extract(session: AsyncSession) -> Sequence[RegistryEntry]:
        entries = await registry_extract(session, start=args.start, end=args.end)
        audit(
            session,
            actor=Actor(name=CLI_ACTOR_NAME),
            action="diarium.extracted",
            case=None,
            now=utcnow(),
            start=args.start.isoformat(),
            end=args.end.isoformat(),
            cases=len(entries),
        )
        return entries

    entries = _in_session(settings, extract)
    if args.format == "csv":
        print(as_csv(entries), end="")
    else:
        print(as_text(entries, start=args.start, end=args.end), end="")
    return 0


def _cells(entry: RegistryEntry) -> tuple[str, ...]:
    return (entry.reference, entry.received_on.isoformat(), entry.kind, entry.unit, entry.title)


def as_csv(entries: Sequence[RegistryEntry]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(DIARIUM_COLUMNS)
    writer.writerows(_cells(e) for e in entries)
    return out.getvalue()


def as_text(entries: Sequence[RegistryEntry], *, start: date, end: date) -> str:
    rows = [DIARIUM_COLUMNS, *(_cells(e) for e in entries)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(DIARIUM_COLUMNS) - 1)]
    lines = [
        f"Diarium {start.isoformat()} – {end.isoformat()}: {len(entries)} ärenden",
        "",
    ]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines) + "\n"
