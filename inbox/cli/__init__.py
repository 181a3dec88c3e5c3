"""The `synpunkt` command and the composition root: the one place that reads settings and wires
the hub to its adapters (mail over SMTP and IMAP, the Telegram bot).

Every long-running command runs its parts on one event loop and stops them cleanly on SIGINT or
SIGTERM; `serve` runs all of them in one process on the configured database.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from inbox.checkins.answers import reply_claim
from inbox.checkins.plan import CheckinPolicy
from inbox.core.db import create_engine, session_factory, unit_of_work
from inbox.core.inbound import Channel
from inbox.intake.receive import IntakePolicy
from inbox.runners.health import HealthPolicy
from inbox.settings import Settings, load_secret_key, split_listen

if TYPE_CHECKING:
    import ssl

    import uvicorn
    from fastapi import FastAPI

    from inbox.runners.parse_pool import Parsing
    from inbox.web.oidc import OidcConfig
    from mail.imap import ImapConfig

log = logging.getLogger("synpunkt")


def utcnow() -> datetime:
    return datetime.now(UTC)


def secret_key(settings: Settings) -> str:
    """SYNPUNKT_SECRET_KEY, else the key kept in SYNPUNKT_SECRET_KEY_FILE (made at first start)."""
    if settings.secret_key:
        return settings.secret_key
    path = Path(settings.secret_key_file)
    try:
        return load_secret_key(path)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"SYNPUNKT_SECRET_KEY is unset and {exc}") from exc


def intake_policy(settings: Settings) -> IntakePolicy:
    return IntakePolicy(
        case_prefix=settings.case_prefix,
        mail_domain=settings.mail_domain,
        own_addresses=settings.own_addresses,
        acks_per_sender_per_day=settings.acks_per_sender_per_day,
        organisation=settings.organisation_name,
        appeal_url=settings.appeal_info_url,
        claims=(
            reply_claim(
                CheckinPolicy(case_prefix=settings.case_prefix, mail_domain=settings.mail_domain)
            ),
        ),
    )


def health_policy(settings: Settings) -> HealthPolicy:
    return HealthPolicy(
        failed_burst=settings.health_failed_burst,
        window=timedelta(minutes=settings.health_window_minutes),
        backlog=timedelta(minutes=settings.health_backlog_minutes),
        max_attempts=settings.intake_max_attempts,
    )


def checkin_policy(settings: Settings) -> CheckinPolicy:
    from inbox.checkins.schedule import parse_window

    return CheckinPolicy(
        delay_days=settings.checkin_delay_days,
        window=parse_window(settings.checkin_send_window),
        public_url=settings.public_base_url,
        secret_key=secret_key(settings),
        mail_domain=settings.mail_domain,
        organisation=settings.organisation_name,
        case_prefix=settings.case_prefix,
        appeal_url=settings.appeal_info_url,
    )


# Long-running parts ------------------------------------------------------------------------------


async def run_parts(
    settings: Settings,
    *,
    web: bool,
    smtp: bool,
    worker: bool,
    telegram: bool = False,
    imap: bool = False,
) -> None:
    """Runs the chosen parts on this loop until SIGINT/SIGTERM."""
    smtp_tls = smtp_tls_context(settings) if smtp else None  # before anything starts
    engine = create_engine(settings.database_url)
    sessions = session_factory(engine)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    tasks: list[asyncio.Task[Any]] = []
    servers: list[asyncio.AbstractServer] = []
    wake: Callable[[], None] | None = None
    closers: list[Callable[[], Any]] = []
    status: dict[str, Callable[[], Any]] = {}
    pool = parse_pool(settings) if worker else None
    try:
        if worker:
            the_worker = build_worker(settings, sessions, parsing=pool, closers=closers)
            wake = the_worker.wake
            status["worker"] = the_worker.status
            tasks.append(asyncio.create_task(the_worker.run(stop), name="worker"))
            log.info("worker running")
        if smtp:
            from mail.smtp import start_smtp_server

            host, port = split_listen(settings.smtp_listen, 8025)
            servers.append(
                await start_smtp_server(
                    sessions=sessions,
                    intake_addresses=settings.intake_addresses,
                    hostname=settings.smtp_hostname,
                    host=host,
                    port=port,
                    max_size=settings.max_message_size,
                    clock=utcnow,
                    on_commit=wake,
                    max_sessions=settings.smtp_max_sessions,
                    idle_timeout=settings.smtp_timeout_seconds,
                    tls=smtp_tls,
                )
            )
            log.info(
                "SMTP listener on %s:%s for %s%s",
                host,
                port,
                ", ".join(settings.intake_addresses),
                " (STARTTLS offered)" if smtp_tls else "",
            )
        if imap:
            from mail.imap import ImapPoller

            poller = ImapPoller(
                imap_config(settings),
                engine=engine,
                sessions=sessions,
                clock=utcnow,
                on_commit=wake,
            )
            status["imap"] = poller.status.as_dict
            tasks.append(asyncio.create_task(poller.run(stop), name="imap"))
            log.info(
                "IMAP intake from %s (processed mail to %s)",
                poller.config.key,
                poller.config.processed_folder or "flags \\Seen and $Synpunkt, left in place",
            )
        if web and settings.imap_url and "imap" not in status:
            # The poller runs in another process: show what it last stored.
            latest: dict[str, Any] = {}
            status["imap"] = lambda: dict(latest)
            tasks.append(
                asyncio.create_task(
                    _follow_imap_status(settings, sessions, stop, latest), name="imap-status"
                )
            )
        webhook = None
        if telegram and settings.telegram_token:
            the_bot = build_telegram_bot(settings, sessions, wake=wake)
            closers.append(the_bot.close)
            status["telegram"] = lambda: the_bot.status
            if settings.telegram_mode == "webhook":
                webhook = await start_telegram_webhook(settings, the_bot)
            else:
                tasks.append(asyncio.create_task(the_bot.poll(stop), name="telegram"))
                log.info("Telegram bot polling %s", settings.telegram_api_base)
        elif web and settings.telegram_token and settings.telegram_mode == "webhook":
            # A web-only process (several replicas) receives the webhook; `synpunkt bot` set it.
            the_bot = build_telegram_bot(settings, sessions, wake=wake)
            closers.append(the_bot.close)
            status["telegram"] = lambda: the_bot.status
            webhook = telegram_webhook_endpoint(settings, the_bot)
        if web:
            tasks.append(
                asyncio.create_task(
                    _serve_web(settings, sessions, stop, wake, status=status, webhook=webhook),
                    name="web",
                )
            )
        await stop.wait()
    finally:
        stop.set()
        for server in servers:
            server.close()
        for server in servers:
            await server.wait_closed()
        await asyncio.gather(*tasks, return_exceptions=True)
        for close in closers:
            with contextlib.suppress(Exception):
                await close()
        if pool is not None:
            pool.close()
        await engine.dispose()


def smtp_tls_context(settings: Settings) -> ssl.SSLContext | None:
    """STARTTLS for the SMTP listener when certificate and key are set; a ConfigError otherwise."""
    from mail.smtp_session import tls_context

    cert, key = settings.smtp_tls_cert, settings.smtp_tls_key
    if not cert and not key:
        return None
    if not cert or not key:
        raise ConfigError("set both SYNPUNKT_SMTP_TLS_CERT and SYNPUNKT_SMTP_TLS_KEY, or neither")
    try:
        return tls_context(cert, key)
    except ValueError as exc:
        raise ConfigError(f"SYNPUNKT_SMTP_TLS_CERT/SYNPUNKT_SMTP_TLS_KEY: {exc}") from exc


def imap_config(settings: Settings) -> ImapConfig:
    """The IMAP poller's configuration from the settings; a UserError when it is incomplete."""
    from mail.imap import config_from_url

    if not settings.imap_url:
        raise UserError("SYNPUNKT_IMAP_URL is not set (imaps://user:password@host:993/INBOX)")
    try:
        return config_from_url(
            settings.imap_url,
            password=settings.imap_password,
            processed_folder=settings.imap_processed_folder.strip() or None,
            require_tls=settings.imap_require_tls,
            idle_seconds=settings.imap_idle_seconds,
            poll_seconds=settings.imap_poll_seconds,
            timeout=settings.imap_timeout_seconds,
            batch_size=max(1, settings.imap_batch_size),
            max_message_size=settings.max_message_size,
        )
    except ValueError as exc:
        raise UserError(str(exc)) from exc


async def _follow_imap_status(
    settings: Settings, sessions: Any, stop: asyncio.Event, latest: dict[str, Any]
) -> None:
    from mail.imap_state import stored_status

    config = imap_config(settings)
    # A poller in IDLE stores a poll at least every idle_seconds; allow one missed round.
    stale_after = 2 * max(config.idle_seconds, config.poll_seconds) + config.timeout
    while not stop.is_set():
        try:
            latest.update(
                await stored_status(sessions, key=config.key, now=utcnow(), stale_after=stale_after)
            )
        except Exception as exc:
            latest.update({"mailbox": config.key, "ok": False, "error": type(exc).__name__})
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=15)


def intake_parsers(settings: Settings) -> dict[str, Any]:
    """Each channel's parser of raw messages (module-level functions: parse processes import them)."""
    from mail.parse import parse_email

    parsers: dict[str, Any] = {Channel.EMAIL: parse_email}
    if settings.telegram_token:
        from bot.updates import parse_update

        parsers[Channel.TELEGRAM] = parse_update
    return parsers


def parse_pool(settings: Settings) -> Parsing:
    """Processes for parsing mail (CPU-bound) beside the event loop, each parse within the budget
    of SYNPUNKT_PARSE_TIMEOUT_SECONDS and SYNPUNKT_PARSE_MEMORY_MB. With SYNPUNKT_PARSE_PROCESSES=0,
    threads: a parse past its time is failed but runs on, and no memory budget applies."""
    from inbox.runners.parse_pool import InlineParsing, ParsePool

    if settings.parse_processes <= 0:
        return InlineParsing(timeout=settings.parse_timeout_seconds)
    return ParsePool(
        processes=settings.parse_processes,
        timeout=settings.parse_timeout_seconds,
        memory_mb=settings.parse_memory_mb,
        preload=list(intake_parsers(settings).values()),
    )


def build_worker(
    settings: Settings,
    sessions: Any,
    *,
    parsing: Parsing | None = None,
    closers: list[Callable[[], Any]] | None = None,
) -> Any:
    from inbox.runners.parse_pool import InlineParsing
    from inbox.runners.worker import Worker
    from mail.sender import EmailSender

    senders: dict[str, Any] = {
        Channel.EMAIL: EmailSender(
            mail_from=settings.mail_from, transport=settings.mail_transport, clock=utcnow
        )
    }
    parsers = intake_parsers(settings)
    if settings.telegram_token:
        from bot.app import make_bot
        from bot.conversation import decorate
        from bot.sender import Pacer, TelegramSender

        sending_bot = make_bot(settings.telegram_token, settings.telegram_api_base)
        if closers is not None:
            closers.append(sending_bot.session.close)
        senders[Channel.TELEGRAM] = TelegramSender(
            sending_bot, pacer=Pacer(rate=settings.telegram_rate), decorate=decorate
        )
    return Worker(
        sessions,
        senders=senders,
        parsers=parsers,
        policy=intake_policy(settings),
        clock=utcnow,
        max_attempts=settings.outbox_max_attempts,
        concurrency=settings.worker_concurrency,
        lease=timedelta(seconds=settings.outbox_lease_seconds),
        send_timeout=timedelta(seconds=settings.outbox_send_timeout_seconds),
        parsing=parsing or InlineParsing(timeout=settings.parse_timeout_seconds),
        intake_batch_bytes=settings.intake_batch_mb * 1024 * 1024,
        intake_max_attempts=settings.intake_max_attempts,
    )


def build_telegram_bot(
    settings: Settings, sessions: Any, *, wake: Callable[[], None] | None
) -> Any:
    from bot.app import TelegramBot, make_bot
    from bot.context import BotContext

    assert settings.telegram_token
    context = BotContext(
        sessions=sessions,
        clock=utcnow,
        wake=wake or (lambda: None),
        organisation=settings.organisation_name,
        response_days=intake_policy(settings).response_days,
        appeal_url=settings.appeal_info_url,
        email=settings.intake_addresses[0] if settings.intake_addresses else "",
        web_url=settings.public_url,
        checkins=checkin_policy(settings),
    )
    return TelegramBot(make_bot(settings.telegram_token, settings.telegram_api_base), context)


def telegram_webhook_endpoint(settings: Settings, the_bot: Any) -> Any:
    from bot.app import webhook_secret
    from bot.webhook import WebhookEndpoint

    secret = settings.telegram_webhook_secret or webhook_secret(secret_key(settings))
    return WebhookEndpoint(the_bot, secret=secret)


async def start_telegram_webhook(settings: Settings, the_bot: Any) -> Any:
    """Registers our webhook with the Bot API (setWebhook) and returns its endpoint."""
    from bot.app import WEBHOOK_PATH, webhook_secret

    if not settings.public_url:
        raise UserError("SYNPUNKT_TELEGRAM_MODE=webhook needs SYNPUNKT_PUBLIC_URL")
    secret = settings.telegram_webhook_secret or webhook_secret(secret_key(settings))
    url = settings.public_url.rstrip("/") + WEBHOOK_PATH
    await the_bot.register_webhook(url=url, secret=secret)
    log.info("Telegram webhook set to %s", url)
    return telegram_webhook_endpoint(settings, the_bot)


def oidc_config(settings: Settings) -> OidcConfig | None:
    """OpenID Connect sign-in when issuer, client id and secret are all set (else None)."""
    from inbox.web.oidc import OidcConfig

    values = (settings.oidc_issuer, settings.oidc_client_id, settings.oidc_client_secret)
    if not all(values):
        if any(values):
            log.warning(
                "OpenID Connect is off: set all of SYNPUNKT_OIDC_ISSUER, "
                "SYNPUNKT_OIDC_CLIENT_ID and SYNPUNKT_OIDC_CLIENT_SECRET"
            )
        return None
    issuer, client_id, secret = (str(v) for v in values)
    return OidcConfig(
        issuer=issuer,  # exactly as the provider writes it in `iss`
        client_id=client_id,
        client_secret=secret,
        username_claim=settings.oidc_username_claim,
        algorithms=tuple(settings.oidc_algorithms),
        redirect_url=(
            settings.public_url.rstrip("/") + "/auth/oidc/callback" if settings.public_url else None
        ),
    )


async def _serve_web(
    settings: Settings,
    sessions: Any,
    stop: asyncio.Event,
    wake: Callable[[], None] | None,
    *,
    status: dict[str, Callable[[], Any]] | None = None,
    webhook: Any = None,
) -> None:
    import uvicorn

    from inbox.web.app import create_app

    class _Server(uvicorn.Server):
        # The loop's own handlers (run_parts) stop every part together; uvicorn must not take them.
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    host, port = split_listen(settings.web_listen, 8000)
    parts = status or {}
    app = create_app(
        sessions=sessions,
        clock=utcnow,
        policy=intake_policy(settings),
        wake_worker=wake,
        channel_status=lambda: {name: get() for name, get in parts.items()},
        telegram_webhook=webhook,
        checkins=checkin_policy(settings),
        secret_key=secret_key(settings),
        https_only=settings.session_https_only,
        oidc=oidc_config(settings),
        api_docs=settings.api_docs,
        max_request_bytes=settings.max_request_bytes,
        max_upload_bytes=settings.max_message_size,
        health=health_policy(settings),
    )
    server = _Server(web_server_config(settings, app))
    serving = asyncio.create_task(server.serve())
    log.info("web inbox on http://%s:%s/%s", host, port, " (API docs at /docs)" * settings.api_docs)
    await stop.wait()
    server.should_exit = True
    await serving


def web_server_config(settings: Settings, app: FastAPI) -> uvicorn.Config:
    """uvicorn's configuration; X-Forwarded-For/-Proto count only from SYNPUNKT_FORWARDED_ALLOW_IPS.

    uvicorn would otherwise believe them from 127.0.0.1 (or $FORWARDED_ALLOW_IPS), so a client on
    the same host could pick the address that sign-in throttling counts.
    """
    import uvicorn

    host, port = split_listen(settings.web_listen, 8000)
    proxies = list(settings.forwarded_allow_ips)
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        proxy_headers=bool(proxies),
        forwarded_allow_ips=proxies,
    )


# Commands ----------------------------------------------------------------------------------------


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    from inbox.core.migrate import upgrade

    imap = bool(settings.imap_url)
    if imap:
        imap_config(settings)  # a mistake in the IMAP settings stops `serve` before it starts
    upgrade(settings.database_url)
    asyncio.run(run_parts(settings, web=True, smtp=True, worker=True, telegram=True, imap=imap))
    return 0


def cmd_bot(settings: Settings, args: argparse.Namespace) -> int:
    """Polling: runs the bot alone. Webhook: registers it (the web processes receive updates)."""
    if not settings.telegram_token:
        raise UserError("set SYNPUNKT_TELEGRAM_TOKEN to run the Telegram bot")
    if settings.telegram_mode == "webhook":

        async def register() -> None:
            engine = create_engine(settings.database_url)
            the_bot = build_telegram_bot(settings, session_factory(engine), wake=None)
            try:
                await start_telegram_webhook(settings, the_bot)
            finally:
                await the_bot.close()
                await engine.dispose()

        asyncio.run(register())
        print("Telegram webhook registered; `synpunkt web` receives the updates")
        return 0
    asyncio.run(run_parts(settings, web=False, smtp=False, worker=False, telegram=True))
    return 0


def cmd_part(part: str) -> Callable[[Settings, argparse.Namespace], int]:
    def run(settings: Settings, args: argparse.Namespace) -> int:
        if part == "imap":
            imap_config(settings)
        asyncio.run(
            run_parts(
                settings,
                web=part == "web",
                smtp=part == "smtp",
                worker=part == "worker",
                imap=part == "imap",
            )
        )
        return 0

    return run


def cmd_db_upgrade(settings: Settings, args: argparse.Namespace) -> int:
    from inbox.core.migrate import upgrade

    upgrade(settings.database_url, args.revision)
    print(f"database is at revision {args.revision}")
    return 0


def _in_session(settings: Settings, work: Callable[[Any], Any]) -> Any:
    async def go() -> Any:
        engine = create_engine(settings.database_url)
        try:
            async with unit_of_work(session_factory(engine)) as session:
                return await work(session)
        finally:
            await engine.dispose()

    return asyncio.run(go())


CLI_ACTOR_NAME = "cli"  # who the audit trail names for changes made with this command


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
    from inbox.core.audit import Actor
    from inbox.staff.users import add_user

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
            now=utcnow(),
            actor=Actor(name=CLI_ACTOR_NAME),
        ),
    )
    units = "all units" if args.all_units else ", ".join(args.unit)
    print(f"added {user.role} {user.username} ({units})")
    return 0


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    for row in (header, *rows):
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )


def _when(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if value else "-"


def cmd_users_list(settings: Settings, args: argparse.Namespace) -> int:
    from inbox.staff.users import list_users

    users = _in_session(settings, list_users)
    _table(
        ("USER", "ROLE", "UNITS", "SIGN-IN", "STATUS", "NAME"),
        [
            (
                u.username,
                u.role,
                "all units" if u.units is None else ",".join(u.units) or "-",
                "+".join(kind for kind, on in (("password", u.password), ("oidc", u.oidc)) if on)
                or "oidc (unbound)",
                "active" if u.active else "disabled",
                u.display_name,
            )
            for u in users
        ],
    )
    return 0


def cmd_users_active(active: bool) -> Callable[[Settings, argparse.Namespace], int]:
    def run(settings: Settings, args: argparse.Namespace) -> int:
        from inbox.core.audit import Actor
        from inbox.staff.users import set_active

        _in_session(
            settings,
            lambda s: set_active(
                s,
                username=args.name,
                active=active,
                actor=Actor(name=CLI_ACTOR_NAME),
                now=utcnow(),
            ),
        )
        print(
            f"enabled {args.name}" if active else f"disabled {args.name}; their sessions have ended"
        )
        return 0

    return run


def cmd_users_passwd(settings: Settings, args: argparse.Namespace) -> int:
    from inbox.core.audit import Actor
    from inbox.staff.users import set_password

    password = _password_from(args, required=True)
    assert password is not None
    _in_session(
        settings,
        lambda s: set_password(
            s,
            username=args.name,
            password=password,
            actor=Actor(name=CLI_ACTOR_NAME),
            now=utcnow(),
        ),
    )
    print(f"new password for {args.name}; their sessions have ended")
    return 0


def cmd_users_set(settings: Settings, args: argparse.Namespace) -> int:
    from inbox.core.audit import Actor
    from inbox.staff.users import find_user, update_user

    async def work(session: Any) -> tuple[Any, bool]:
        found = await find_user(session, username=args.name)
        version = found.session_version if found else None
        user = await update_user(
            session,
            username=args.name,
            role=args.role,
            unit_codes=args.unit,
            all_units=args.all_units,
            display_name=args.display_name,
            actor=Actor(name=CLI_ACTOR_NAME),
            now=utcnow(),
        )
        return user, user.session_version != version

    user, ended = _in_session(settings, work)
    print(f"updated {user.username}" + ("; their sessions have ended" if ended else ""))
    return 0


def cmd_units_add(settings: Settings, args: argparse.Namespace) -> int:
    from inbox.staff.users import add_unit

    unit = _in_session(
        settings,
        lambda s: add_unit(s, code=args.code, name=args.name, response_days=args.response_days),
    )
    print(f"added unit {unit.code}: {unit.name} ({unit.response_days} working days)")
    return 0


def cmd_tokens_create(settings: Settings, args: argparse.Namespace) -> int:
    from inbox.staff.tokens import create_token

    row, token = _in_session(
        settings,
        lambda s: create_token(
            s,
            name=args.name,
            now=utcnow(),
            role=args.role,
            unit_codes=args.unit,
            all_units=args.all_units,
        ),
    )
    print(
        f"API token {row.name!r} created; it is shown only once. Use it as `Authorization: Bearer TOKEN`."
    )
    print(token)
    return 0


def cmd_tokens_list(settings: Settings, args: argparse.Namespace) -> int:
    from inbox.staff.tokens import list_tokens

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
    from inbox.core.audit import Actor
    from inbox.staff.tokens import revoke_tokens

    count = _in_session(
        settings,
        lambda s: revoke_tokens(s, name=args.name, actor=Actor(name=CLI_ACTOR_NAME), now=utcnow()),
    )
    print(f"revoked {count} token{'s' if count != 1 else ''} named {args.name!r}")
    return 0


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    """Sends samples to the running listener; without one, through a listener of its own."""
    from inbox.cli.demo import send_demo_mails

    host, port = split_listen(settings.smtp_listen, 8025)
    to = settings.intake_addresses[0]
    try:
        sent = asyncio.run(send_demo_mails(host=host, port=port, to=to, count=args.count))
        print(f"sent {sent} sample messages to {to} via the listener on {host}:{port}")
    except OSError:
        from inbox.core.migrate import upgrade

        upgrade(settings.database_url)
        sent = asyncio.run(_demo_in_process(settings, count=args.count))
        print(
            f"no listener on {host}:{port}; delivered {sent} sample messages to {to} through a "
            "temporary SMTP listener of this command and processed them"
        )
    return 0


async def _demo_in_process(settings: Settings, *, count: int) -> int:
    from inbox.cli.demo import send_demo_mails
    from mail.smtp import start_smtp_server

    engine = create_engine(settings.database_url)
    sessions = session_factory(engine)
    worker = build_worker(settings, sessions)
    server = await start_smtp_server(
        sessions=sessions,
        intake_addresses=settings.intake_addresses,
        hostname=settings.smtp_hostname,
        host="127.0.0.1",
        port=0,
        max_size=settings.max_message_size,
        clock=utcnow,
    )
    try:
        port = server.sockets[0].getsockname()[1]
        sent = await send_demo_mails(
            host="127.0.0.1", port=port, to=settings.intake_addresses[0], count=count
        )
        await worker.drain()
        return sent
    finally:
        server.close()
        await server.wait_closed()
        await engine.dispose()


def cmd_decisions_import(settings: Settings, args: argparse.Namespace) -> int:
    """All or nothing: a refused row is reported and nothing is stored (exit status 1)."""
    from pathlib import Path

    from inbox.checkins.csv_import import import_decisions

    try:
        text = Path(args.file).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read {args.file}: {exc}") from exc

    async def go() -> Any:
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


class UserError(Exception):
    """A mistake the user can fix; printed without a traceback."""


class ConfigError(Exception):
    """A setting that stops the command (exit status 78, EX_CONFIG), printed as one line."""


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
    up = db.add_parser("upgrade", help="apply migrations")
    up.add_argument("revision", nargs="?", default="head")
    up.set_defaults(func=cmd_db_upgrade)

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

    demo = commands.add_parser("demo", help="send sample mails through the running SMTP listener")
    demo.add_argument("--count", type=int, default=6)
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings()
        if getattr(args, "needs_secret_key", False):
            # Resolved once, before anything starts: a weak or unreadable key stops the command.
            settings = settings.model_copy(update={"secret_key": secret_key(settings)})
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
    from inbox.staff.users import StaffError

    try:
        return int(args.func(settings, args))
    except ConfigError as exc:
        print(f"synpunkt: {exc}", file=sys.stderr)
        return 78
    except (UserError, StaffError) as exc:
        print(f"synpunkt: {exc}", file=sys.stderr)
        return 2
