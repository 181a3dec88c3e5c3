"""`synpunkt report --from --to [--unit U ...] [--compare-years N] --format html|xlsx|csv --out
FILE [--lang sv|en]`: the report for the nämnd, written to a file (`inbox.reports`); and
`synpunkt topics list|add|deactivate|activate`: the organisation's list of topics (ämnen).

The CLI sees every unit; `--unit` (repeatable, by code) narrows the report. Making a report and
changing the topics are audited.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from inbox.cases.access import EVERYTHING
from inbox.cases.measures import MeasureError, add_topic, list_topics, set_topic_active
from inbox.cli.commands import CLI_ACTOR_NAME, _in_session
from inbox.cli.errors import UserError
from inbox.cli.registry import iso_date
from inbox.cli.wiring import utcnow
from inbox.core.audit import Actor, audit
from inbox.core.models import Topic, Unit
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

    topics = commands.add_parser(
        "topics", help="the topics (ämnen) cases are given"
    ).add_subparsers(dest="topics_command", required=True)
    topics.add_parser("list", help="every topic, inactive ones too").set_defaults(
        func=cmd_topics_list
    )
    add = topics.add_parser("add", help="add a topic, last in the list")
    add.add_argument("code")
    add.add_argument("label_sv", metavar="SWEDISH")
    add.add_argument("label_en", metavar="ENGLISH")
    add.set_defaults(func=cmd_topics_add)
    for verb, text in (
        ("deactivate", "take a topic out of the forms (cases keep it)"),
        ("activate", "put an inactive topic back in the forms"),
    ):
        toggle = topics.add_parser(verb, help=text)
        toggle.add_argument("code")
        toggle.set_defaults(func=cmd_topics_active, active=verb == "activate")


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


def cmd_topics_list(settings: Settings, args: argparse.Namespace) -> int:
    async def read(session: AsyncSession) -> list[Topic]:
        return list(await list_topics(session, active_only=False))

    for topic in _in_session(settings, read):
        state = "" if topic.active else "  (inactive)"
        print(f"{topic.code}  {topic.label_sv} / {topic.label_en}{state}")
    return 0


def cmd_topics_add(settings: Settings, args: argparse.Namespace) -> int:
    async def add(session: AsyncSession) -> Topic:
        try:
            return await add_topic(
                session,
                code=args.code,
                label_sv=args.label_sv,
                label_en=args.label_en,
                actor=Actor(name=CLI_ACTOR_NAME),
                now=utcnow(),
            )
        except MeasureError as exc:
            raise UserError(str(exc)) from None

    print(f"added topic {_in_session(settings, add).code}")
    return 0


def cmd_topics_active(settings: Settings, args: argparse.Namespace) -> int:
    async def change(session: AsyncSession) -> bool:
        try:
            return await set_topic_active(
                session,
                code=args.code,
                active=args.active,
                actor=Actor(name=CLI_ACTOR_NAME),
                now=utcnow(),
            )
        except MeasureError as exc:
            raise UserError(str(exc)) from None

    changed = _in_session(settings, change)
    print(f"{args.code}: {'changed' if changed else 'unchanged'}")
    return 0
