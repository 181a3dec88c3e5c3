"""Wiring: the parts of Synpunkt built from `Settings` — policies, parsers, senders, the worker,
the Telegram bot, the web app and its server — and nothing that runs them (see `run`).

The adapters (`mail`, `bot`) and the web face are imported inside the functions that need them, so
that an admin command does not pay for loading aiogram, uvicorn or FastAPI.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox.cases.notifications import NotifyPolicy
from inbox.checkins.answers import reply_claim
from inbox.checkins.plan import CheckinPolicy
from inbox.checkins.schedule import parse_window
from inbox.cli.errors import ConfigError, UserError
from inbox.core.db import create_engine
from inbox.core.inbound import Channel
from inbox.core.metrics import MetricsAccess
from inbox.core.privacy import PrivacyNotice
from inbox.intake.receive import IntakePolicy
from inbox.intake.web_form import PublishedOnFollowUp, WebFormPolicy, parse_web
from inbox.runners.delivery import Sender
from inbox.runners.health import HealthPolicy
from inbox.runners.heartbeat import Heartbeats
from inbox.runners.intake_runner import IntakeRunner
from inbox.runners.notifier import Notifier
from inbox.runners.outbox_runner import OutboxRunner
from inbox.runners.parse_pool import InlineParsing, ParsePool, Parser, Parsing
from inbox.runners.worker import Worker
from inbox.settings import Settings, load_secret_key, split_listen

if TYPE_CHECKING:
    import ssl

    import uvicorn
    from fastapi import FastAPI

    from bot.app import TelegramBot
    from bot.webhook import WebhookEndpoint
    from inbox.web.app import ChannelStatus, Webhook
    from inbox.web.oidc import OidcConfig
    from mail.imap_config import ImapConfig

log = logging.getLogger("synpunkt")

Sessions = async_sessionmaker[AsyncSession]
# What a long-running command awaits on its way out (a bot's HTTP session, say).
Closer = Callable[[], Awaitable[None]]


def utcnow() -> datetime:
    return datetime.now(UTC)


# How long a command waits for the database to answer before it gives up with one line.
DATABASE_PROBE_SECONDS = 10.0


def probe_database(settings: Settings) -> None:
    """Connects once before the command starts, so that a database that cannot be reached (or
    opened) stops the command with one line naming the setting (exit status 78), instead of a
    traceback from whichever part touched it first, or a service that runs without one."""

    async def connect() -> None:
        engine = create_engine(settings.database_url)
        try:
            async with asyncio.timeout(DATABASE_PROBE_SECONDS), engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        finally:
            await engine.dispose()

    try:
        asyncio.run(connect())
    except TimeoutError:
        raise ConfigError(
            f"SYNPUNKT_DATABASE_URL: the database did not answer within "
            f"{DATABASE_PROBE_SECONDS:g} s"
        ) from None
    except (OSError, SQLAlchemyError) as exc:
        reason = getattr(exc, "orig", None) or exc
        detail = str(reason).splitlines()[0] if str(reason) else type(reason).__name__
        raise ConfigError(
            f"SYNPUNKT_DATABASE_URL: cannot connect to the database: {detail}"
        ) from None


def secret_key(settings: Settings) -> str:
    """SYNPUNKT_SECRET_KEY, else the key kept in SYNPUNKT_SECRET_KEY_FILE (made at first start)."""
    if settings.secret_key:
        return settings.secret_key
    path = Path(settings.secret_key_file)
    try:
        return load_secret_key(path)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"SYNPUNKT_SECRET_KEY is unset and {exc}") from exc


# Policies ----------------------------------------------------------------------------------------


def intake_policy(settings: Settings) -> IntakePolicy:
    return IntakePolicy(
        case_prefix=settings.case_prefix,
        mail_domain=settings.mail_domain,
        own_addresses=settings.own_addresses,
        acks_per_sender_per_day=settings.acks_per_sender_per_day,
        organisation=settings.organisation_name,
        emergency_text=settings.emergency_text,
        public_url=settings.public_base_url,
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
        outbox_backlog=timedelta(minutes=settings.health_outbox_backlog_minutes),
        max_attempts=settings.intake_max_attempts,
        heartbeat=timedelta(seconds=settings.health_heartbeat_seconds),
    )


def heartbeats(settings: Settings, sessions: Sessions) -> Heartbeats:
    """This process's heartbeat task, beating as often as `/healthz` expects (add its parts)."""
    return Heartbeats(
        sessions, clock=utcnow, interval=health_policy(settings).heartbeat.total_seconds()
    )


def checkin_policy(settings: Settings) -> CheckinPolicy:
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


def privacy_notice(settings: Settings) -> PrivacyNotice:
    """The privacy notice's facts from the settings; its further text read from its file now, so
    that a missing file stops the command at start rather than a citizen's page later."""
    more = None
    if settings.privacy_notice_file:
        try:
            more = Path(settings.privacy_notice_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"SYNPUNKT_PRIVACY_NOTICE_FILE: cannot read it: {exc}") from exc
    notice = PrivacyNotice(
        controller=(settings.privacy_controller or "").strip() or settings.organisation_name,
        controller_contact=(settings.privacy_contact or "").strip() or None,
        dpo_contact=(settings.privacy_dpo_contact or "").strip() or None,
        retention=(settings.privacy_retention or "").strip() or None,
        more=more,
    )
    if not notice.complete:
        log.warning(
            "the privacy notice at /integritet lacks contact details: set "
            "SYNPUNKT_PRIVACY_CONTACT and SYNPUNKT_PRIVACY_DPO_CONTACT (GDPR art. 13)"
        )
    return notice


# Mail --------------------------------------------------------------------------------------------


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
    from mail.imap_config import config_from_url

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


# The worker --------------------------------------------------------------------------------------


def intake_parsers(settings: Settings) -> Mapping[str, Parser]:
    """Each channel's parser of raw messages (module-level functions: parse processes import them)."""
    from mail.parse import parse_email

    parsers: dict[str, Parser] = {Channel.EMAIL: parse_email, Channel.WEB: parse_web}
    if settings.telegram_token:
        from bot.updates import parse_update

        parsers[Channel.TELEGRAM] = parse_update
    return parsers


def parse_pool(settings: Settings) -> Parsing:
    """Processes for parsing mail (CPU-bound) beside the event loop, each parse within the budget
    of SYNPUNKT_PARSE_TIMEOUT_SECONDS and SYNPUNKT_PARSE_MEMORY_MB. With SYNPUNKT_PARSE_PROCESSES=0,
    threads: a parse past its time is failed but runs on, and no memory budget applies."""
    if settings.parse_processes <= 0:
        return InlineParsing(timeout=settings.parse_timeout_seconds)
    return ParsePool(
        processes=settings.parse_processes,
        timeout=settings.parse_timeout_seconds,
        memory_mb=settings.parse_memory_mb,
        preload=list(intake_parsers(settings).values()),
    )


def senders(settings: Settings, *, closers: list[Closer] | None = None) -> Mapping[str, Sender]:
    """Each channel's sender; a Telegram bot's HTTP session is added to `closers`."""
    from mail.sender import EmailSender

    by_channel: dict[str, Sender] = {
        Channel.EMAIL: EmailSender(
            mail_from=settings.mail_from, transport=settings.mail_transport, clock=utcnow
        ),
        # An answer "via webben" is published on the web form's follow-up page.
        Channel.WEB: PublishedOnFollowUp(),
    }
    if settings.telegram_token:
        from bot.app import make_bot
        from bot.conversation import decorate
        from bot.sender import Pacer, TelegramSender

        sending_bot = make_bot(settings.telegram_token, settings.telegram_api_base)
        if closers is not None:
            closers.append(sending_bot.session.close)
        by_channel[Channel.TELEGRAM] = TelegramSender(
            sending_bot, pacer=Pacer(rate=settings.telegram_rate), decorate=decorate
        )
    return by_channel


def build_worker(
    settings: Settings,
    sessions: Sessions,
    *,
    parsing: Parsing | None = None,
    closers: list[Closer] | None = None,
) -> Worker:
    return Worker(
        IntakeRunner(
            sessions,
            parsers=intake_parsers(settings),
            policy=intake_policy(settings),
            clock=utcnow,
            parsing=parsing or InlineParsing(timeout=settings.parse_timeout_seconds),
            batch_bytes=settings.intake_batch_mb * 1024 * 1024,
            max_attempts=settings.intake_max_attempts,
        ),
        OutboxRunner(
            sessions,
            senders=senders(settings, closers=closers),
            clock=utcnow,
            max_attempts=settings.outbox_max_attempts,
            concurrency=settings.worker_concurrency,
            lease=timedelta(seconds=settings.outbox_lease_seconds),
            send_timeout=timedelta(seconds=settings.outbox_send_timeout_seconds),
        ),
        notifier=Notifier(sessions, policy=notify_policy(settings), clock=utcnow),
    )


def notify_policy(settings: Settings) -> NotifyPolicy:
    return NotifyPolicy(
        base_url=settings.public_base_url,
        mail_domain=settings.mail_domain,
        digest_hour=settings.notify_digest_hour,
    )


# The Telegram bot --------------------------------------------------------------------------------


def build_telegram_bot(
    settings: Settings, sessions: Sessions, *, wake: Callable[[], None] | None
) -> TelegramBot:
    from bot.app import TelegramBot, make_bot
    from bot.context import BotContext

    assert settings.telegram_token
    context = BotContext(
        sessions=sessions,
        clock=utcnow,
        wake=wake or (lambda: None),
        organisation=settings.organisation_name,
        response_days=intake_policy(settings).response_days,
        public_url=settings.public_base_url,
        emergency_text=settings.emergency_text,
        email=settings.intake_addresses[0] if settings.intake_addresses else "",
        web_url=settings.public_url,
        checkins=checkin_policy(settings),
    )
    return TelegramBot(make_bot(settings.telegram_token, settings.telegram_api_base), context)


def telegram_webhook_secret(settings: Settings) -> str:
    """SYNPUNKT_TELEGRAM_WEBHOOK_SECRET, else one derived from the secret key."""
    from bot.app import webhook_secret

    return settings.telegram_webhook_secret or webhook_secret(secret_key(settings))


def telegram_webhook_endpoint(settings: Settings, the_bot: TelegramBot) -> WebhookEndpoint:
    from bot.webhook import WebhookEndpoint

    return WebhookEndpoint(the_bot, secret=telegram_webhook_secret(settings))


# The web app -------------------------------------------------------------------------------------


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


def build_app(
    settings: Settings,
    sessions: Sessions,
    *,
    wake: Callable[[], None] | None,
    channel_status: ChannelStatus,
    webhook: Webhook | None,
) -> FastAPI:
    from inbox.web.app import create_app

    return create_app(
        sessions=sessions,
        clock=utcnow,
        policy=intake_policy(settings),
        wake_worker=wake,
        channel_status=channel_status,
        telegram_webhook=webhook,
        checkins=checkin_policy(settings),
        secret_key=secret_key(settings),
        https_only=settings.session_https_only,
        oidc=oidc_config(settings),
        api_docs=settings.api_docs,
        max_request_bytes=settings.max_request_bytes,
        max_upload_bytes=settings.max_message_size,
        health=health_policy(settings),
        privacy=privacy_notice(settings),
        metrics=metrics_access(settings),
        access_log=settings.access_log,
        web_form=WebFormPolicy(
            secret_key=secret_key(settings),
            attachment_bytes=settings.webform_attachment_mb * 1024 * 1024,
            per_address=settings.webform_per_hour,
            min_fill_seconds=settings.webform_min_fill_seconds,
            accessibility_contact=(settings.accessibility_contact or "").strip() or None,
        ),
    )


def metrics_access(settings: Settings) -> MetricsAccess:
    """Who may read /metrics: SYNPUNKT_METRICS_TOKEN's bearer and SYNPUNKT_METRICS_NETWORKS."""
    return MetricsAccess.of(settings.metrics_token, settings.metrics_networks)


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
