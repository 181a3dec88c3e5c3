"""The `synpunkt` command line: the argparse parser, which command each subcommand runs, and
`main()`, which reads the settings once and turns errors into exit statuses (78 for a setting, 2 for
a mistake the user can fix).

Every command explains itself: its `--help` says what it does (the text the command list shows)
and which settings it reads, from `READS` — one table, so a new command is added there once (a test
holds every command to it, and the README's command table to the parser).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence
from importlib.metadata import PackageNotFoundError, version

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
    cmd_units_active,
    cmd_units_add,
    cmd_units_list,
    cmd_units_set,
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
from inbox.core import logs
from inbox.settings import Settings
from inbox.staff.users import StaffError

# The settings (Settings fields, read as SYNPUNKT_<NAME>) each part of Synpunkt reads.
DATABASE = ("database_url", "log_level")
SECRET = ("secret_key", "secret_key_file")
POLICY = (
    "case_prefix",
    "organisation_name",
    "appeal_info_url",
    "emergency_text",
    "acks_per_sender_per_day",
    "intake_addresses",
    "mail_from",
    "public_url",
)
WEB = (
    "web_listen",
    "max_request_bytes",
    "max_message_size",
    "forwarded_allow_ips",
    "secure_cookies",
    "api_docs",
    "oidc_issuer",
    "oidc_client_id",
    "oidc_client_secret",
    "oidc_username_claim",
    "oidc_algorithms",
    "privacy_controller",
    "privacy_contact",
    "privacy_dpo_contact",
    "privacy_retention",
    "privacy_notice_file",
    "health_failed_burst",
    "health_window_minutes",
    "health_backlog_minutes",
    "telegram_webhook_secret",
)
SMTP = (
    "smtp_listen",
    "smtp_hostname",
    "max_message_size",
    "smtp_max_sessions",
    "smtp_timeout_seconds",
    "smtp_tls_cert",
    "smtp_tls_key",
)
IMAP = (
    "imap_url",
    "imap_password",
    "imap_processed_folder",
    "imap_require_tls",
    "imap_idle_seconds",
    "imap_poll_seconds",
    "imap_timeout_seconds",
    "imap_batch_size",
    "max_message_size",
)
CHECKINS = ("checkin_delay_days", "checkin_send_window")
WORKER = (
    "parse_processes",
    "parse_timeout_seconds",
    "parse_memory_mb",
    "intake_max_attempts",
    "intake_batch_mb",
    "worker_concurrency",
    "outbox_max_attempts",
    "notify_digest_hour",
    "outbox_lease_seconds",
    "outbox_send_timeout_seconds",
    "mail_transport",
    "telegram_token",
    "telegram_api_base",
    "telegram_rate",
    *CHECKINS,
)
BOT = ("telegram_token", "telegram_api_base", "telegram_mode", "telegram_rate", *CHECKINS)
# Which command reads which settings: every command the parser has, by its words.
READS: dict[str, tuple[str, ...]] = {
    "serve": (*DATABASE, *SECRET, *POLICY, *WEB, *SMTP, *IMAP, *WORKER, *BOT),
    "web": (*DATABASE, *SECRET, *POLICY, *WEB, "telegram_token", "telegram_mode"),
    "smtp": (*DATABASE, *POLICY, *SMTP),
    "worker": (*DATABASE, *POLICY, *WORKER),
    "imap": (*DATABASE, *POLICY, *IMAP),
    "bot": (*DATABASE, *SECRET, *POLICY, *BOT, "telegram_webhook_secret"),
    "db upgrade": DATABASE,
    "db downgrade": DATABASE,
    "db current": DATABASE,
    "db history": DATABASE,
    "users add": DATABASE,
    "users list": DATABASE,
    "users disable": DATABASE,
    "users enable": DATABASE,
    "users passwd": DATABASE,
    "users set": DATABASE,
    "units add": DATABASE,
    "units list": DATABASE,
    "units set": DATABASE,
    "units disable": DATABASE,
    "units enable": DATABASE,
    "topics list": DATABASE,
    "topics add": DATABASE,
    "topics deactivate": DATABASE,
    "topics activate": DATABASE,
    "report": DATABASE,
    "archive export": DATABASE,
    "archive verify": (),
    "subject-access": DATABASE,
    "rights-request": DATABASE,
    "retention plan": (*DATABASE, "retention_file"),
    "retention apply": (*DATABASE, "retention_file"),
    "hold": DATABASE,
    "tokens create": DATABASE,
    "tokens list": DATABASE,
    "tokens revoke": DATABASE,
    "decisions import": (*DATABASE, *SECRET, *POLICY, *CHECKINS),
    "diarium": DATABASE,
    "demo": ("smtp_listen", "smtp_hostname", "intake_addresses", "max_message_size", "log_level"),
}


def settings_epilog(command: str) -> str:
    """The `--help` line naming the settings a command reads, each once, in the table's order."""
    names = dict.fromkeys(f"SYNPUNKT_{name.upper()}" for name in READS[command])
    return "Settings: " + (", ".join(names) or "none")


def _version() -> str:
    try:
        return version("synpunkt")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def commands_of(
    parser: argparse.ArgumentParser, words: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], str | None, argparse.ArgumentParser]]:
    """Every subcommand under `parser`: (its words, its one-line help, its parser), groups too."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            for name, sub in action.choices.items():
                yield (*words, name), helps.get(name), sub
                yield from commands_of(sub, (*words, name))


def _explain(parser: argparse.ArgumentParser) -> None:
    """Gives every subcommand's `--help` what it does (its help text) and the settings it reads."""
    for words, text, sub in commands_of(parser):
        if text and not sub.description:
            sub.description = text[0].upper() + text[1:] + "."
        command = " ".join(words)
        if command in READS:
            sub.epilog = settings_epilog(command)


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


def _actor(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """`--actor NAME`: who the audit trail names for the change (default: the OS user)."""
    parser.add_argument(
        "--actor", help="who makes the change, for the audit trail (default: your OS user)"
    )
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="synpunkt", description="Feedback intake and shared inbox."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
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
    add = _actor(users.add_parser("add", help="add a staff user"))
    add.add_argument("name")
    add.add_argument("--display-name", help="the name shown to colleagues (default: NAME)")
    add.add_argument(
        "--role", required=True, choices=["admin", "registrar", "caseworker", "viewer"]
    )
    _unit_grant(add)
    add.add_argument(
        "--password-stdin", action="store_true", help="read the password from one line of stdin"
    )
    add.set_defaults(func=cmd_users_add)
    users.add_parser(
        "list", help="every staff user: role, units, status, last sign-in, display name"
    ).set_defaults(func=cmd_users_list)
    for verb, func, text in (
        ("disable", cmd_users_active(False), "stop a user signing in and end their sessions"),
        ("enable", cmd_users_active(True), "let a disabled user sign in again"),
    ):
        toggle = _actor(users.add_parser(verb, help=text))
        toggle.add_argument("name")
        toggle.set_defaults(func=func)
    passwd = _actor(users.add_parser("passwd", help="set a user's password and end their sessions"))
    passwd.add_argument("name")
    passwd.add_argument(
        "--password-stdin", action="store_true", help="read the password from one line of stdin"
    )
    passwd.set_defaults(func=cmd_users_passwd)
    uset = _actor(
        users.add_parser(
            "set",
            help="change role, units, display name or notification address (role or units end "
            "their sessions)",
        )
    )
    uset.add_argument("name")
    uset.add_argument("--role", choices=["admin", "registrar", "caseworker", "viewer"])
    grant = uset.add_mutually_exclusive_group()
    grant.add_argument(
        "--unit", action="append", default=[], help="a unit code (repeatable; replaces the units)"
    )
    grant.add_argument("--all-units", action="store_true", help="every unit")
    uset.add_argument("--display-name")
    uset.add_argument(
        "--email", help="where the user's notifications go ('' for none: no notifications)"
    )
    uset.set_defaults(func=cmd_users_set)

    units = commands.add_parser("units", help="units (verksamheter)").add_subparsers(
        dest="units_command", required=True
    )
    uadd = _actor(units.add_parser("add", help="add a unit"))
    uadd.add_argument("code")
    uadd.add_argument("name", help='the name staff read, e.g. "Ekonomiskt bistånd"')
    uadd.add_argument(
        "--response-days", type=int, default=10, help="response-time target in working days"
    )
    uadd.add_argument(
        "--checkin-delay-days", type=int, help="working days before a check-in (default: setting)"
    )
    uadd.set_defaults(func=cmd_units_add)
    units.add_parser("list", help="every unit, disabled ones too").set_defaults(func=cmd_units_list)
    uset_unit = _actor(units.add_parser("set", help="change a unit's name, response time or delay"))
    uset_unit.add_argument("code")
    uset_unit.add_argument("--name", help='the name staff read, e.g. "Ekonomiskt bistånd"')
    uset_unit.add_argument("--response-days", type=int, help="response-time target, working days")
    delay = uset_unit.add_mutually_exclusive_group()
    delay.add_argument("--checkin-delay-days", type=int, help="working days before a check-in")
    delay.add_argument(
        "--default-checkin-delay", action="store_true", help="use the setting's check-in delay"
    )
    uset_unit.set_defaults(func=cmd_units_set)
    for verb, func, text in (
        ("disable", cmd_units_active(False), "offer a unit for no new case (its cases stay)"),
        ("enable", cmd_units_active(True), "offer a disabled unit again"),
    ):
        toggle_unit = _actor(units.add_parser(verb, help=text))
        toggle_unit.add_argument("code")
        toggle_unit.set_defaults(func=func)

    tokens = commands.add_parser("tokens", help="API tokens").add_subparsers(
        dest="tokens_command", required=True
    )
    tcreate = _actor(
        tokens.add_parser("create", help="create an API token (printed as the last line)")
    )
    tcreate.add_argument("name")
    tcreate.add_argument(
        "--role", default="registrar", help="admin, registrar, caseworker or viewer"
    )
    _unit_grant(tcreate)
    tcreate.set_defaults(func=cmd_tokens_create)
    tokens.add_parser("list", help="every token, revoked ones too").set_defaults(
        func=cmd_tokens_list
    )
    trevoke = _actor(tokens.add_parser("revoke", help="revoke the live tokens with this name"))
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
    _explain(parser)
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
    logs.configure(level=settings.log_level, log_format=settings.log_format)
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
