"""The records commands: `archive export|verify`, `subject-access`, `rights-request` and
`retention plan|apply` (`inbox.records` has the rules; this module reads arguments and prints).
"""

from __future__ import annotations

import argparse
import getpass
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from inbox.cli.commands import _in_session
from inbox.cli.errors import UserError
from inbox.cli.registry import iso_date
from inbox.cli.wiring import utcnow
from inbox.core.audit import Actor
from inbox.records import archive
from inbox.settings import Settings

Commands = argparse._SubParsersAction  # type: ignore[type-arg]


def add_parser(commands: Commands) -> None:
    _archive(commands)


def cli_actor(args: argparse.Namespace) -> Actor:
    """Who the audit trail names: `--actor`, else the operating system's user."""
    name = getattr(args, "actor", None) or getpass.getuser()
    return Actor(name=f"cli:{name}"[:100])


# archive -----------------------------------------------------------------------------------------


def _archive(commands: Commands) -> None:
    group = commands.add_parser("archive", help="the archive export (e-arkiv)").add_subparsers(
        dest="archive_command", required=True
    )
    export = group.add_parser(
        "export", help="write the closed cases received in the period to DIR, with checksums"
    )
    export.add_argument("--from", dest="start", required=True, type=iso_date, metavar="DATE")
    export.add_argument("--to", dest="end", required=True, type=iso_date, metavar="DATE")
    export.add_argument("--out", required=True, type=Path, metavar="DIR")
    export.add_argument("--actor", help="who the audit trail names (default: the OS user)")
    export.set_defaults(func=cmd_archive_export)
    check = group.add_parser("verify", help="check every checksum of an archive export")
    check.add_argument("dir", type=Path, metavar="DIR")
    check.set_defaults(func=cmd_archive_verify, needs_database=False)


def cmd_archive_export(settings: Settings, args: argparse.Namespace) -> int:
    if args.end < args.start:
        raise UserError("--to is before --from")
    if args.out.exists() and not args.out.is_dir():
        raise UserError(f"{args.out} is not a directory")

    async def work(session: AsyncSession) -> archive.ExportReport:
        return await archive.export_period(
            session,
            start=args.start,
            end=args.end,
            out=args.out,
            actor=cli_actor(args),
            now=utcnow(),
        )

    report = _in_session(settings, work)
    print(
        f"{len(report.references)} cases, {report.files} files written to {args.out} "
        f"({report.newly_marked} exported for the first time)"
    )
    return 0


def cmd_archive_verify(settings: Settings, args: argparse.Namespace) -> int:
    problems = archive.verify(args.dir)
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} problems: the export does not verify")
        return 1
    print("every checksum matches")
    return 0
