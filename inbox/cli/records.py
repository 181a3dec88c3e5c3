"""The records commands: `archive export|verify`, `subject-access`, `rights-request` and
`retention plan|apply` (`inbox.records` has the rules; this module reads arguments and prints).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from inbox.cases.access import EVERYTHING
from inbox.cases.queries import CaseRemoved, find_case
from inbox.cli.commands import _in_session
from inbox.cli.errors import ConfigError, UserError
from inbox.cli.registry import iso_date
from inbox.cli.wiring import utcnow
from inbox.core.audit import Actor
from inbox.core.db import create_engine, session_factory
from inbox.records import archive, retention
from inbox.records.hold import HoldError, set_hold
from inbox.records.subject_access import (
    Subject,
    SubjectError,
    extract_zip,
    gather,
    record_extract,
    record_rights_request,
)
from inbox.settings import Settings
from inbox.web.pages.records import summary_html

Commands = argparse._SubParsersAction  # type: ignore[type-arg]


def add_parser(commands: Commands) -> None:
    _archive(commands)
    _subject_access(commands)
    _retention(commands)
    _hold(commands)


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


# subject-access and rights-request ---------------------------------------------------------------


def _subject_access(commands: Commands) -> None:
    extract = commands.add_parser(
        "subject-access",
        help="a register extract (GDPR art. 15): everything about one person, as a ZIP",
    )
    who = extract.add_mutually_exclusive_group(required=True)
    who.add_argument("--email", metavar="ADDRESS")
    who.add_argument("--phone", metavar="NUMBER")
    who.add_argument("--telegram", metavar="CHAT_ID")
    extract.add_argument("--out", required=True, type=Path, metavar="FILE.zip")
    extract.add_argument(
        "--requested-by", default="den registrerade", help="who asked for the extract"
    )
    extract.add_argument("--actor", help="who the audit trail names (default: the OS user)")
    extract.set_defaults(func=cmd_subject_access)

    rights = commands.add_parser(
        "rights-request",
        help="record a request for rectification, restriction or erasure on a case",
    )
    rights.add_argument("reference")
    rights.add_argument(
        "--kind", required=True, choices=["rectification", "restriction", "erasure"]
    )
    rights.add_argument("--by", required=True, help="who made the request")
    rights.add_argument("--request", required=True, help="what they asked for")
    rights.add_argument(
        "--response", help="the answer (an erasure request is refused with the reason anyway)"
    )
    rights.add_argument("--on", type=iso_date, help="when it came in (default: today)")
    rights.add_argument("--actor", help="who the audit trail names (default: the OS user)")
    rights.set_defaults(func=cmd_rights_request)


def _subject(args: argparse.Namespace) -> Subject:
    kind, value = next(
        (kind, getattr(args, kind))
        for kind in ("email", "phone", "telegram")
        if getattr(args, kind)
    )
    try:
        return Subject.of(kind, value)
    except SubjectError as exc:
        raise UserError(str(exc)) from None


def cmd_subject_access(settings: Settings, args: argparse.Namespace) -> int:
    subject = _subject(args)
    if args.out.exists():
        raise UserError(f"{args.out} exists; give a new file")

    async def work(session: AsyncSession) -> tuple[bytes, dict[str, int]]:
        extract = await gather(session, subject, now=utcnow())
        record_extract(session, extract, requested_by=args.requested_by, actor=cli_actor(args))
        html = summary_html(extract, organisation=settings.organisation_name)
        return extract_zip(extract, html), extract.counts()

    data, counts = _in_session(settings, work)
    args.out.write_bytes(data)
    found = ", ".join(f"{n} {name}" for name, n in counts.items())
    print(f"{args.out}: {found}")
    return 0


def cmd_rights_request(settings: Settings, args: argparse.Namespace) -> int:
    async def work(session: AsyncSession) -> str:
        try:
            case = await find_case(session, reference=args.reference, scope=EVERYTHING)
        except CaseRemoved as exc:
            raise UserError(str(exc)) from None
        if case is None:
            raise UserError(f"no case {args.reference}")
        now = utcnow()
        try:
            row = await record_rights_request(
                session,
                case=case,
                kind=args.kind,
                requested_by=args.by,
                requested_on=args.on or now.date(),
                request=args.request,
                response=args.response,
                organisation=settings.organisation_name,
                actor=cli_actor(args),
                now=now,
            )
        except SubjectError as exc:
            raise UserError(str(exc)) from None
        return row.response

    response = _in_session(settings, work)
    print(f"recorded on {args.reference.upper()}; the answer:\n\n{response}")
    return 0


# retention ---------------------------------------------------------------------------------------


def _retention(commands: Commands) -> None:
    group = commands.add_parser(
        "retention", help="gallring under the rules in SYNPUNKT_RETENTION_FILE"
    ).add_subparsers(dest="retention_command", required=True)
    group.add_parser("plan", help="what the rules would remove now, per record class").set_defaults(
        func=cmd_retention_plan
    )
    run = group.add_parser("apply", help="remove it, in batches; safe to stop and run again")
    run.add_argument(
        "--batch", type=int, default=retention.DEFAULT_BATCH, help="rows per transaction"
    )
    run.add_argument("--actor", help="who the audit trail names (default: the OS user)")
    run.set_defaults(func=cmd_retention_apply)


def retention_rules(settings: Settings) -> dict[retention.RecordClass, retention.Rule]:
    """The rules of `SYNPUNKT_RETENTION_FILE` (none when unset); a bad file stops the command."""
    path = Path(settings.retention_file) if settings.retention_file else None
    try:
        return retention.load_rules(path)
    except retention.RulesError as exc:
        raise ConfigError(f"SYNPUNKT_RETENTION_FILE: {exc}") from None


def cmd_retention_plan(settings: Settings, args: argparse.Namespace) -> int:
    rules = retention_rules(settings)
    if not rules:
        print("no retention rules (SYNPUNKT_RETENTION_FILE is not set): nothing is removed")
        return 0

    async def work(session: AsyncSession) -> dict[retention.RecordClass, int]:
        return await retention.plan(session, rules, now=utcnow())

    due = _in_session(settings, work)
    for which, rule in rules.items():
        print(f"{which.value}: {due[which]} due (kept {rule.keep}; {rule.decision})")
    return 0


def cmd_retention_apply(settings: Settings, args: argparse.Namespace) -> int:
    if args.batch < 1:
        raise UserError("--batch must be at least 1")
    rules = retention_rules(settings)
    if not rules:
        print("no retention rules (SYNPUNKT_RETENTION_FILE is not set): nothing is removed")
        return 0

    async def go() -> dict[retention.RecordClass, int]:
        engine = create_engine(settings.database_url)
        try:
            return await retention.apply(
                session_factory(engine),
                rules,
                now=utcnow(),
                actor=cli_actor(args),
                batch=args.batch,
            )
        finally:
            await engine.dispose()

    removed = asyncio.run(go())
    for which, n in removed.items():
        print(f"{which.value}: {n} removed")
    return 0


# hold --------------------------------------------------------------------------------------------


def _hold(commands: Commands) -> None:
    hold = commands.add_parser(
        "hold", help="put a case under legal hold (kept whatever the retention rules say)"
    )
    hold.add_argument("reference")
    what = hold.add_mutually_exclusive_group(required=True)
    what.add_argument("--reason", help="why the case must be kept")
    what.add_argument("--remove", action="store_true", help="take the hold away")
    hold.add_argument("--actor", help="who the audit trail names (default: the OS user)")
    hold.set_defaults(func=cmd_hold)


def cmd_hold(settings: Settings, args: argparse.Namespace) -> int:
    async def work(session: AsyncSession) -> bool:
        try:
            case = await find_case(session, reference=args.reference, scope=EVERYTHING)
        except CaseRemoved as exc:
            raise UserError(str(exc)) from None
        if case is None:
            raise UserError(f"no case {args.reference}")
        try:
            return await set_hold(
                session,
                case=case,
                on=not args.remove,
                reason=args.reason or "",
                scope=None,
                actor=cli_actor(args),
                now=utcnow(),
            )
        except HoldError as exc:
            raise UserError(str(exc)) from None

    changed = _in_session(settings, work)
    state = "no longer held" if args.remove else "under legal hold"
    print(f"{args.reference.upper()} is {state}" + ("" if changed else " (unchanged)"))
    return 0
