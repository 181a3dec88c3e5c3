"""The `synpunkt` command line: the argparse parser, which command each subcommand runs, and
`main()`, which reads the settings once and turns errors into exit statuses (78 for a setting, 2 for
a mistake the user can fix).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from inbox.cli.commands import (
    cmd_db_current,
    cmd_db_downgrade,
    cmd_db_history,
    cmd_db_upgrade,
    cmd_decisions_import,
    cmd_tokens_create,
    cmd_tokens_list,
    cmd_tokens_revoke,
    cmd_units_add,
    cmd_users_active,
    cmd_users_add,
    cmd_users_list,
    cmd_users_passwd,
    cmd_users_set,
)
from inbox.cli.demo import cmd_demo
from inbox.cli.errors import ConfigError, PartStopped, UserError
from inbox.cli.records import add_parser as add_records
from inbox.cli.registry import add_parser as add_diarium
from inbox.cli.report import add_parser as add_report
from inbox.cli.run import cmd_bot, cmd_part, cmd_serve
from inbox.cli.wiring import probe_database, secret_key
from inbox.settings import Settings
from inbox.staff.users import StaffError


def _setting_error(exc: ValidationError) -> str:
    """The first problem of an invalid setting as one line that names it."""
    error = exc.errors()[0]
    message = str(error["msg"]).removeprefix("Value error, ")
    if message.startswith("SYNPUNKT_") or not error["loc"]:
        return message
    return f"SYNPUNKT_{str(error['loc'][0]).upper()}: {message}"


def _unit_grant(parser: argparse.ArgumentParser) -> None:
    """`--unit U` (repeatable) or `--all-units`: users and tokens are given units the same way."""
    grant = parser.add_mutually_exclusive_group(required=True)
    grant.add_argument("--unit", action="append", default=[], help="a unit code (repeatable)")
    grant.add_argument(
        "--all-units",
        action="store_true",
        help="every unit (registrars and admins also see cases without a unit)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="synpunkt", description="Feedback intake and shared inbox."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "serve", help="web inbox, SMTP listener, worker (and IMAP poller if set) in one process"
    ).set_defaults(func=cmd_serve, needs_secret_key=True)
    for part, text in (
        ("web", "the web inbox and API"),
        ("smtp", "the SMTP listener"),
        ("worker", "the worker: intake and outbox"),
        ("imap", "the IMAP poller (SYNPUNKT_IMAP_URL)"),
    ):
        commands.add_parser(part, help=text).set_defaults(
            func=cmd_part(part), needs_secret_key=part == "web"
        )

    commands.add_parser(
        "bot", help="the Telegram bot alone (polling), or register its webhook"
    ).set_defaults(func=cmd_bot, needs_secret_key=True)

    db = commands.add_parser("db", help="database commands").add_subparsers(
        dest="db_command", required=True
    )
    up = db.add_parser(
        "upgrade", help="apply migrations up to REVISION (default: the newest); never goes back"
    )
    up.add_argument("revision", nargs="?", default="head")
    up.set_defaults(func=cmd_db_upgrade)
    down = db.add_parser(
        "downgrade",
        help="undo migrations back to REVISION (`base`: all); drops what the later ones added",
    )
    down.add_argument("revision")
    down.set_defaults(func=cmd_db_downgrade)
    db.add_parser("current", help="the database's revision").set_defaults(func=cmd_db_current)
    db.add_parser("history", help="every revision, oldest first").set_defaults(func=cmd_db_history)

    users = commands.add_parser("users", help="staff users").add_subparsers(
        dest="users_command", required=True
    )
    add = users.add_parser("add", help="add a staff user")
    add.add_argument("name")
    add.add_argument(
        "--role", required=True, choices=["admin", "registrar", "caseworker", "viewer"]
    )
    _unit_grant(add)
    add.add_argument(
        "--password-stdin", action="store_true", help="read the password from one line of stdin"
    )
    add.set_defaults(func=cmd_users_add)
    users.add_parser("list", help="every staff user, role, units and status").set_defaults(
        func=cmd_users_list
    )
    for verb, func, text in (
        ("disable", cmd_users_active(False), "stop a user signing in and end their sessions"),
        ("enable", cmd_users_active(True), "let a disabled user sign in again"),
    ):
        toggle = users.add_parser(verb, help=text)
        toggle.add_argument("name")
        toggle.set_defaults(func=func)
    passwd = users.add_parser("passwd", help="set a user's password and end their sessions")
    passwd.add_argument("name")
    passwd.add_argument(
        "--password-stdin", action="store_true", help="read the password from one line of stdin"
    )
    passwd.set_defaults(func=cmd_users_passwd)
    uset = users.add_parser(
        "set", help="change role, units or display name (role or units end their sessions)"
    )
    uset.add_argument("name")
    uset.add_argument("--role", choices=["admin", "registrar", "caseworker", "viewer"])
    grant = uset.add_mutually_exclusive_group()
    grant.add_argument(
        "--unit", action="append", default=[], help="a unit code (repeatable; replaces the units)"
    )
    grant.add_argument("--all-units", action="store_true", help="every unit")
    uset.add_argument("--display-name")
    uset.set_defaults(func=cmd_users_set)

    units = commands.add_parser("units", help="units (verksamheter)").add_subparsers(
        dest="units_command", required=True
    )
    uadd = units.add_parser("add", help="add a unit")
    uadd.add_argument("code")
    uadd.add_argument("name")
    uadd.add_argument(
        "--response-days", type=int, default=10, help="response-time target in working days"
    )
    uadd.set_defaults(func=cmd_units_add)

    tokens = commands.add_parser("tokens", help="API tokens").add_subparsers(
        dest="tokens_command", required=True
    )
    tcreate = tokens.add_parser("create", help="create an API token (printed as the last line)")
    tcreate.add_argument("name")
    tcreate.add_argument(
        "--role", default="registrar", help="admin, registrar, caseworker or viewer"
    )
    _unit_grant(tcreate)
    tcreate.set_defaults(func=cmd_tokens_create)
    tokens.add_parser("list", help="every token, revoked ones too").set_defaults(
        func=cmd_tokens_list
    )
    trevoke = tokens.add_parser("revoke", help="revoke the live tokens with this name")
    trevoke.add_argument("name")
    trevoke.set_defaults(func=cmd_tokens_revoke)

    decisions = commands.add_parser("decisions", help="decisions for check-ins").add_subparsers(
        dest="decisions_command", required=True
    )
    dimport = decisions.add_parser(
        "import", help="register decisions from a CSV file (all rows or none)"
    )
    dimport.add_argument("file", help="CSV: unit,channel,address,language,decided_on,reference")
    dimport.set_defaults(func=cmd_decisions_import, needs_secret_key=True)

    add_diarium(commands)
    add_records(commands)
    add_report(commands)

    demo = commands.add_parser("demo", help="send sample mails through the running SMTP listener")
    demo.add_argument("--count", type=int, default=6)
    demo.set_defaults(func=cmd_demo, needs_database=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings()
        if getattr(args, "needs_secret_key", False):
            # Resolved once, before anything starts: a weak or unreadable key stops the command.
            settings = settings.model_copy(update={"secret_key": secret_key(settings)})
        if getattr(args, "needs_database", True):
            probe_database(settings)
    except ValidationError as exc:
        print(f"synpunkt: {_setting_error(exc)}", file=sys.stderr)
        return 78
    except ConfigError as exc:
        print(f"synpunkt: {exc}", file=sys.stderr)
        return 78
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # aiosmtpd logs every SMTP command with the addresses in it at INFO: personal data in the log.
    # imapclient logs every closed connection at INFO; the poller logs what matters itself.
    for noisy in ("mail.log", "alembic", "imapclient"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))
    try:
        return int(args.func(settings, args))
    except ConfigError as exc:
        print(f"synpunkt: {exc}", file=sys.stderr)
        return 78
    except (UserError, StaffError) as exc:
        print(f"synpunkt: {exc}", file=sys.stderr)
        return 2
    except PartStopped as exc:
        print(f"synpunkt: {exc}", file=sys.stderr)
        return 1
