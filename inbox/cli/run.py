"""The long-running commands (`serve`, `web`, `smtp`, `worker`, `imap`, `bot`) and how they run:
each runs its parts on one event loop until SIGINT or SIGTERM, then stops them all cleanly; `serve`
runs every configured part in one process on the configured database.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING

from inbox.cli.errors import ConfigError, PartStopped, UserError
from inbox.cli.wiring import (
    Closer,
    Sessions,
    build_app,
    build_telegram_bot,
    build_worker,
    heartbeats,
    imap_config,
    metrics_access,
    parse_pool,
    smtp_tls_context,
    telegram_webhook_endpoint,
    telegram_webhook_secret,
    utcnow,
    web_server_config,
)
from inbox.core.db import create_engine, session_factory
from inbox.runners.heartbeat import Part
from inbox.settings import Settings, split_listen

if TYPE_CHECKING:
    import uvicorn

    from bot.app import TelegramBot
    from bot.webhook import WebhookEndpoint

log = logging.getLogger("synpunkt")

# A part's status for /healthz, by part ("worker", "imap", "telegram").
Status = Callable[[], Mapping[str, object]]


def _listen_error(setting: str, host: str, port: int, exc: OSError) -> ConfigError:
    reason = exc.strerror or str(exc)
    return ConfigError(f"SYNPUNKT_{setting}: cannot listen on {host}:{port}: {reason}")


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
    tasks: list[asyncio.Task[None]] = []
    servers: list[asyncio.AbstractServer] = []
    wake: Callable[[], None] | None = None
    closers: list[Closer] = []
    status: dict[str, Status] = {}
    pool = parse_pool(settings) if worker else None
    # Every part this process runs beats while its task runs (its server serves).
    heartbeat = heartbeats(settings, sessions)
    beating: asyncio.Task[None] | None = None
    clean = False
    try:
        if worker:
            the_worker = build_worker(settings, sessions, parsing=pool, closers=closers)
            wake = the_worker.wake
            status["worker"] = the_worker.status
            tasks.append(asyncio.create_task(the_worker.run(stop), name="worker"))
            heartbeat.add(Part.WORKER, _running(tasks[-1]))
            log.info("worker running")
        if smtp:
            from mail.smtp import start_smtp_server

            host, port = split_listen(settings.smtp_listen, 8025)
            try:
                smtp_server = await start_smtp_server(
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
            except OSError as exc:
                raise _listen_error("SMTP_LISTEN", host, port, exc) from None
            servers.append(smtp_server)
            heartbeat.add(Part.SMTP, smtp_server.is_serving)
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
            heartbeat.add(Part.IMAP, _running(tasks[-1]))
            log.info(
                "IMAP intake from %s (processed mail to %s)",
                poller.config.key,
                poller.config.processed_folder or "flags \\Seen and $Synpunkt, left in place",
            )
        if web and settings.imap_url and "imap" not in status:
            # The poller runs in another process: show what it last stored.
            latest: dict[str, object] = {}
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
                heartbeat.add(Part.BOT)  # it answers through this process's web part
            else:
                tasks.append(asyncio.create_task(the_bot.poll(stop), name="telegram"))
                heartbeat.add(Part.BOT, _running(tasks[-1]))
                log.info("Telegram bot polling %s", settings.telegram_api_base)
        elif web and settings.telegram_token and settings.telegram_mode == "webhook":
            # A web-only process (several replicas) receives the webhook; `synpunkt bot` set it.
            the_bot = build_telegram_bot(settings, sessions, wake=wake)
            closers.append(the_bot.close)
            status["telegram"] = lambda: the_bot.status
            webhook = telegram_webhook_endpoint(settings, the_bot)
        if settings.metrics_listen and web:
            log.info("SYNPUNKT_METRICS_LISTEN is not used here: the web part serves /metrics")
        elif settings.metrics_listen:
            metrics_listener = _bind("METRICS_LISTEN", settings.metrics_listen, 9100)
            tasks.append(
                asyncio.create_task(
                    _serve_metrics(settings, sessions, stop, metrics_listener), name="metrics"
                )
            )
        if web:
            listener = _bind("WEB_LISTEN", settings.web_listen, 8000)
            tasks.append(
                asyncio.create_task(
                    _serve_web(
                        settings,
                        sessions,
                        stop,
                        wake,
                        status=status,
                        webhook=webhook,
                        listener=listener,
                    ),
                    name="web",
                )
            )
            heartbeat.add(Part.WEB, _running(tasks[-1]))
        beating = asyncio.create_task(heartbeat.run(stop), name="heartbeat")
        await _until_stopped_or_failed(stop, tasks)
        clean = True
    finally:
        stop.set()
        for server in servers:
            server.close()
        for server in servers:
            await server.wait_closed()
        await asyncio.gather(*tasks, return_exceptions=True)
        if beating is not None:
            await beating
            if clean:  # asked to stop: not stale; a part that failed stays stale until it restarts
                await heartbeat.stopped()
        for close in closers:
            with contextlib.suppress(Exception):
                await close()
        if pool is not None:
            pool.close()
        await engine.dispose()


def _bind(setting: str, listen: str, default_port: int) -> socket.socket:
    """Bound here, not by uvicorn, which logs a bind error and exits the interpreter."""
    host, port = split_listen(listen, default_port)
    try:
        return socket.create_server((host, port), reuse_port=False)
    except OSError as exc:
        raise _listen_error(setting, host, port, exc) from None


def _running(task: asyncio.Task[None]) -> Callable[[], bool]:
    """A part is alive while its task runs."""
    return lambda: not task.done()


async def _until_stopped_or_failed(stop: asyncio.Event, tasks: list[asyncio.Task[None]]) -> None:
    """Returns on SIGINT/SIGTERM; raises `PartStopped` when a part ends on its own first."""
    stopping = asyncio.ensure_future(stop.wait())
    try:
        done, _ = await asyncio.wait({stopping, *tasks}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
    ended = [task for task in tasks if task in done]
    if ended and not stop.is_set():
        task = ended[0]
        error = None if task.cancelled() else task.exception()
        why = f"{type(error).__name__}: {error}" if error else "it ended without being asked to"
        log.error("the %s part stopped (%s); stopping everything", task.get_name(), why)
        raise PartStopped(f"the {task.get_name()} part stopped: {why}")


async def _follow_imap_status(
    settings: Settings, sessions: Sessions, stop: asyncio.Event, latest: dict[str, object]
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


async def start_telegram_webhook(settings: Settings, the_bot: TelegramBot) -> WebhookEndpoint:
    """Registers our webhook with the Bot API (setWebhook) and returns its endpoint."""
    from bot.app import WEBHOOK_PATH

    if not settings.public_url:
        raise UserError("SYNPUNKT_TELEGRAM_MODE=webhook needs SYNPUNKT_PUBLIC_URL")
    url = settings.public_url.rstrip("/") + WEBHOOK_PATH
    await the_bot.register_webhook(url=url, secret=telegram_webhook_secret(settings))
    log.info("Telegram webhook set to %s", url)
    return telegram_webhook_endpoint(settings, the_bot)


async def _serve_web(
    settings: Settings,
    sessions: Sessions,
    stop: asyncio.Event,
    wake: Callable[[], None] | None,
    *,
    status: Mapping[str, Status],
    webhook: WebhookEndpoint | None,
    listener: socket.socket,
) -> None:
    host, port = split_listen(settings.web_listen, 8000)
    app = build_app(
        settings,
        sessions,
        wake=wake,
        channel_status=lambda: {name: get() for name, get in status.items()},
        webhook=webhook,
    )
    log.info("web inbox on http://%s:%s/%s", host, port, " (API docs at /docs)" * settings.api_docs)
    await _serve_until(web_server_config(settings, app), listener, stop, what="web server")


async def _serve_metrics(
    settings: Settings, sessions: Sessions, stop: asyncio.Event, listener: socket.socket
) -> None:
    """/metrics alone, for a process without the web app (SYNPUNKT_METRICS_LISTEN)."""
    import uvicorn

    from inbox.web.metrics import metrics_app

    app = metrics_app(metrics_access(settings), sessions, utcnow)
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off")
    log.info("metrics on http://%s/metrics", settings.metrics_listen)
    await _serve_until(config, listener, stop, what="metrics server")


async def _serve_until(
    config: uvicorn.Config, listener: socket.socket, stop: asyncio.Event, *, what: str
) -> None:
    """Serves `config`'s app on `listener` until `stop`; PartStopped when it ends by itself."""
    import uvicorn

    class _Server(uvicorn.Server):
        # The loop's own handlers (run_parts) stop every part together; uvicorn must not take them.
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    server = _Server(config)
    serving = asyncio.create_task(server.serve(sockets=[listener]))
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
    server.should_exit = True
    await serving
    if not stop.is_set():  # uvicorn gave up by itself (its lifespan failed, say)
        raise PartStopped(f"the {what} stopped")


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
    """`synpunkt web`, `smtp`, `worker` or `imap`: that one part alone."""

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
