"""`synpunkt report --from --to [--unit U ...] [--compare-years N] --format html|xlsx|csv --out
FILE [--lang sv|en]`: the report for the nämnd, written to a file (`inbox.reports`).

The CLI sees every unit; `--unit` (repeatable, by code) narrows the report. Making a report is
audited, as the diarium extract is.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from inbox.cases.access import EVERYTHING
from inbox.cli.commands import CLI_ACTOR_NAME, _in_session
from inbox.cli.errors import UserError
from inbox.cli.registry import iso_date
from inbox.cli.wiring import utcnow
from inbox.core.audit import Actor, audit
from inbox.core.models import Unit
from inbox.core.time import STOCKHOLM
from inbox.reports.figures import Request
from inbox.reports.render import FORMATS, rendered
from inbox.reports.report import build
from inbox.settings import Settings
from inbox.web.render import LABELS


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    report = commands.add_parser(
        "report", help="the report on feedback for a period: html, xlsx or csv"
    )
    report.add_argument("--from", dest="start", required=True, type=iso_date, metavar="DATE")
    report.add_argument("--to", dest="end", required=True, type=iso_date, metavar="DATE")
    report.add_argument(
        "--unit", action="append", default=[], help="a unit code (repeatable); default: all"
    )
    report.add_argument(
        "--compare-years",
        type=int,
        default=3,
        metavar="N",
        help="years compared, the period's own included (default 3)",
    )
    report.add_argument("--format", choices=FORMATS, required=True)
    report.add_argument("--lang", choices=("sv", "en"), default="sv")
    report.add_argument("--out", required=True, type=Path, metavar="FILE")
    report.set_defaults(func=cmd_report)


def cmd_report(settings: Settings, args: argparse.Namespace) -> int:
    if args.end < args.start:
        raise UserError("--to is before --from")
    if not 1 <= args.compare_years <= 10:
        raise UserError("--compare-years must be from 1 to 10")

    async def make(session: AsyncSession) -> bytes:
        unit_ids = None
        if args.unit:
            rows = await session.execute(
                select(col(Unit.code), col(Unit.id)).where(col(Unit.code).in_(args.unit))
            )
            found = dict(rows.tuples().all())
            missing = sorted(set(args.unit) - set(found))
            if missing:
                raise UserError(f"no such unit: {', '.join(missing)}")
            unit_ids = frozenset(i for i in found.values() if i is not None)
        now = utcnow()
        request = Request(args.start, args.end, unit_ids, args.compare_years)
        report = await build(
            session,
            request,
            scope=EVERYTHING,
            today=now.astimezone(STOCKHOLM).date(),
            lang=args.lang,
            swedish=LABELS,
        )
        audit(
            session,
            actor=Actor(name=CLI_ACTOR_NAME),
            action="report.made",
            case=None,
            now=now,
            start=args.start.isoformat(),
            end=args.end.isoformat(),
            units=sorted(args.unit),
            format=args.format,
        )
        return rendered(report, args.format)

    data = _in_session(settings, make)
    args.out.write_bytes(data)
    print(f"{args.out}: {len(data)} bytes")
    return 0
