"""The admin commands: `db upgrade`, `users`, `units`, `tokens` and `decisions import`. Each does
one unit of work on the configured database and prints what it did; the changes to users, units
and tokens go through the same functions (`inbox.staff`) as the admin pages, and are audit events
by `cli:<who>` (`--actor`, else the operating-system user).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from inbox.checkins.csv_import import ImportReport, import_decisions
from inbox.cli.errors import UserError
from inbox.cli.wiring import checkin_policy, utcnow
from inbox.core.audit import Actor
from inbox.core.db import create_engine, session_factory, unit_of_work
from inbox.core.models import StaffUser
from inbox.settings import Settings
from inbox.staff.tokens import create_token, list_tokens, revoke_tokens
from inbox.staff.users import (
    add_unit,
    add_user,
    find_user,
    list_units,
    list_users,
    set_active,
    set_password,
    update_unit,
    update_user,
)

T = TypeVar("T")

CLI_ACTOR_NAME = "cli"  # commands that do not name who runs them (the diarium extract)
CLI_ACTOR_PREFIX = "cli:"  # the audit trail names `cli:<who>` for changes made with this command


def cli_actor(args: argparse.Namespace) -> Actor:
    """Who makes a change from the command line: `--actor NAME`, else the operating-system user
    running the command (`cli:-` when even that is unknown)."""
    name = getattr(args, "actor", None) or ""
    if not name.strip():
        import getpass

        try:
            name = getpass.getuser()
        except (OSError, KeyError):
            name = "-"
    return Actor(name=(CLI_ACTOR_PREFIX + name.strip())[:100])


def _in_session(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """`work` in one transaction on the configured database, committed when it returns."""

    async def go() -> T:
        engine = create_engine(settings.database_url)
        try:
            async with unit_of_work(session_factory(engine)) as session:
                return await work(session)
        finally:
            await engine.dispose()

    return asyncio.run(go())


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    for row in (header, *rows):
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )


def _when(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if value else "-"


# db ----------------------------------------------------------------------------------------------


def cmd_db_upgrade(settings: Settings, args: argparse.Namespace) -> int:
    from inbox.core.migrate import MigrationError, upgrade  # alembic: loaded only when migrating

    try:
        at = upgrade(settings.database_url, args.revision)
    except MigrationError as exc:
        raise UserError(str(exc)) from None
    print(f"database is at revision {at}")
    return 0


def cmd_db_downgrade(settings: Settings, args: argparse.Namespace) -> int:
    from inbox.core.migrate import MigrationError, downgrade

    try:
        at = downgrade(settings.database_url, args.revision)
    except MigrationError as exc:
        raise UserError(str(exc)) from None
    print(f"database is at revision {at}")
    return 0


def cmd_db_current(settings: Settings, args: argparse.Namespace) -> int:
    from inbox.core.migrate import current, head

    at = current(settings.database_url)
    latest = head()
    if at is None:
        print(f"no revision (an empty database); the newest is {latest}")
    else:
        print(at if at == latest else f"{at} (the newest is {latest}: run `synpunkt db upgrade`)")
    return 0


def cmd_db_history(settings: Settings, args: argparse.Namespace) -> int:
    from inbox.core.migrate import current, history

    at = current(settings.database_url)
    for revision in history():
        mark = "  <- the database" if revision.id == at else ""
        print(f"{revision.id}  {revision.doc}{mark}")
    return 0


# users -------------------------------------------------------------------------------------------


def _password_from(args: argparse.Namespace, *, required: bool) -> str | None:
    """One line of stdin with --password-stdin; else asked twice on a terminal (when required)."""
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise UserError("no password on standard input")
        return password
    if not required:
        return None
    if not sys.stdin.isatty():
        raise UserError("no terminal to ask for the password: use --password-stdin")
    import getpass

    password = getpass.getpass("New password: ")
    if password != getpass.getpass("Again: "):
        raise UserError("the two passwords differ")
    return password


def cmd_users_add(settings: Settings, args: argparse.Namespace) -> int:
    password = _password_from(args, required=False)
    user = _in_session(
        settings,
        lambda s: add_user(
            s,
            username=args.name,
            role=args.role,
            unit_codes=args.unit,
            all_units=args.all_units,
            password=password,
            display_name=args.display_name or "",
            now=utcnow(),
            actor=cli_actor(args),
        ),
    )
    units = "all units" if args.all_units else ", ".join(args.unit)
    print(f"added {user.role} {user.username} ({units})")
    return 0


def cmd_users_list(settings: Settings, args: argparse.Namespace) -> int:
    users = _in_session(settings, list_users)
    _table(
        ("USER", "ROLE", "UNITS", "SIGN-IN", "STATUS", "LAST SIGN-IN", "NAME"),
        [
            (
                u.username,
                u.role,
                "all units" if u.units is None else ",".join(u.units) or "-",
                "+".join(kind for kind, on in (("password", u.password), ("oidc", u.oidc)) if on)
                or "oidc (unbound)",
                "active" if u.active else "disabled",
                _when(u.last_signin_at),
                u.display_name,
            )
            for u in users
        ],
    )
    return 0


def cmd_users_active(active: bool) -> Callable[[Settings, argparse.Namespace], int]:
    """`users enable` or `users disable`."""

    def run(settings: Settings, args: argparse.Namespace) -> int:
        _in_session(
            settings,
            lambda s: set_active(
                s,
                username=args.name,
                active=active,
                actor=cli_actor(args),
                now=utcnow(),
            ),
        )
        print(
            f"enabled {args.name}" if active else f"disabled {args.name}; their sessions have ended"
        )
        return 0

    return run


def cmd_users_passwd(settings: Settings, args: argparse.Namespace) -> int:
    password = _password_from(args, required=True)
    assert password is not None
    _in_session(
        settings,
        lambda s: set_password(
            s,
            username=args.name,
            password=password,
            actor=cli_actor(args),
            now=utcnow(),
        ),
    )
    print(f"new password for {args.name}; their sessions have ended")
    return 0


def cmd_users_set(settings: Settings, args: argparse.Namespace) -> int:
    async def work(session: AsyncSession) -> tuple[StaffUser, bool]:
        found = await find_user(session, username=args.name)
        version = found.session_version if found else None
        user = await update_user(
            session,
            username=args.name,
            role=args.role,
            unit_codes=args.unit,
            all_units=args.all_units,
            display_name=args.display_name,
            email=args.email,
            actor=cli_actor(args),
            now=utcnow(),
        )
        return user, user.session_version != version

    user, ended = _in_session(settings, work)
    print(f"updated {user.username}" + ("; their sessions have ended" if ended else ""))
    return 0


# units -------------------------------------------------------------------------------------------


def cmd_units_add(settings: Settings, args: argparse.Namespace) -> int:
    unit = _in_session(
        settings,
        lambda s: add_unit(
            s,
            code=args.code,
            name=args.name,
            response_days=args.response_days,
            checkin_delay_days=args.checkin_delay_days,
            actor=cli_actor(args),
            now=utcnow(),
        ),
    )
    print(f"added unit {unit.code}: {unit.name} ({unit.response_days} working days)")
    return 0


def cmd_units_list(settings: Settings, args: argparse.Namespace) -> int:
    units = _in_session(settings, list_units)
    _table(
        ("CODE", "RESPONSE-DAYS", "CHECK-IN-DAYS", "STATUS", "NAME"),
        [
            (
                u.code,
                str(u.response_days),
                "default" if u.checkin_delay_days is None else str(u.checkin_delay_days),
                "active" if u.active else "disabled",
                u.name,
            )
            for u in units
        ],
    )
    return 0


def cmd_units_set(settings: Settings, args: argparse.Namespace) -> int:
    unit = _in_session(
        settings,
        lambda s: update_unit(
            s,
            code=args.code,
            name=args.name,
            response_days=args.response_days,
            checkin_delay_days=args.checkin_delay_days,
            clear_checkin_delay=args.default_checkin_delay,
            actor=cli_actor(args),
            now=utcnow(),
        ),
    )
    print(f"updated unit {unit.code}: {unit.name} ({unit.response_days} working days)")
    return 0


def cmd_units_active(active: bool) -> Callable[[Settings, argparse.Namespace], int]:
    """`units enable` or `units disable`: a disabled unit is offered for no new case."""

    def run(settings: Settings, args: argparse.Namespace) -> int:
        _in_session(
            settings,
            lambda s: update_unit(
                s, code=args.code, active=active, actor=cli_actor(args), now=utcnow()
            ),
        )
        print(f"{'enabled' if active else 'disabled'} unit {args.code}")
        return 0

    return run


# tokens ------------------------------------------------------------------------------------------


def cmd_tokens_create(settings: Settings, args: argparse.Namespace) -> int:
    row, token = _in_session(
        settings,
        lambda s: create_token(
            s,
            name=args.name,
            now=utcnow(),
            role=args.role,
            unit_codes=args.unit,
            all_units=args.all_units,
            actor=cli_actor(args),
        ),
    )
    print(
        f"API token {row.name!r} created; it is shown only once. Use it as `Authorization: Bearer TOKEN`."
    )
    print(token)
    return 0


def cmd_tokens_list(settings: Settings, args: argparse.Namespace) -> int:
    tokens = _in_session(settings, list_tokens)
    _table(
        ("NAME", "ROLE", "UNITS", "CREATED", "LAST USED", "STATUS"),
        [
            (
                t.name,
                t.role,
                "all units" if t.units is None else ",".join(t.units) or "-",
                _when(t.created_at),
                _when(t.last_used_at),
                f"revoked {_when(t.revoked_at)}" if t.revoked_at else "live",
            )
            for t in tokens
        ],
    )
    return 0


def cmd_tokens_revoke(settings: Settings, args: argparse.Namespace) -> int:
    count = _in_session(
        settings,
        lambda s: revoke_tokens(s, name=args.name, actor=cli_actor(args), now=utcnow()),
    )
    print(f"revoked {count} token{'s' if count != 1 else ''} named {args.name!r}")
    return 0


# decisions ---------------------------------------------------------------------------------------


def cmd_decisions_import(settings: Settings, args: argparse.Namespace) -> int:
    """All or nothing: a refused row is reported and nothing is stored (exit status 1)."""
    try:
        text = Path(args.file).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read {args.file}: {exc}") from exc

    async def go() -> ImportReport:
        engine = create_engine(settings.database_url)
        try:
            async with session_factory(engine)() as session:
                report = await import_decisions(
                    session,
                    text=text,
                    policy=checkin_policy(settings),
                    registered_by=f"import:{Path(args.file).name}"[:100],
                    now=utcnow(),
                )
                if report.ok:
                    await session.commit()
                else:  # nothing half-imported
                    await session.rollback()
                return report
        finally:
            await engine.dispose()

    report = asyncio.run(go())
    for line in report.lines():
        print(line, file=sys.stdout if report.ok else sys.stderr)
    return 0 if report.ok else 1
