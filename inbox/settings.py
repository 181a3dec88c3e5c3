"""Settings, read once from the environment (prefix `SYNPUNKT_`) or a `.env` file.

Only the composition root (`inbox.cli`) constructs `Settings`; everything else receives the values
it needs as arguments, so nothing reads the environment behind the caller's back.
"""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
import tempfile
from email.utils import parseaddr
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def _split_list(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.replace(";", ",").split(",") if part.strip()]
    return value


# OpenID Connect id_token signatures: public-key ones only. `none` proves nothing, and an HMAC
# "signed" with the provider's public key (algorithm confusion) proves nothing either.
SIGNING_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SYNPUNKT_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # The database and the log ---------------------------------------------------------------------
    database_url: str = "sqlite+aiosqlite:///var/synpunkt.db"
    log_level: str = "INFO"
    # `text` (a line each) or `json` (an object each, every logger alike); the web's access log.
    log_format: str = "text"
    access_log: bool = False

    # The organisation and its cases ---------------------------------------------------------------
    case_prefix: str = "SP"
    organisation_name: str = "Socialtjänsten"
    appeal_info_url: str = "https://www.domstol.se/forvaltningsratt/"
    # After "Vid akut fara, ring 112." in every acknowledgement and the bot's greeting: the social
    # on-call service (socialjouren) and its number, as the public should read it.
    emergency_text: str = ""
    acks_per_sender_per_day: int = 3

    # The privacy notice at /integritet (GDPR art. 13): the controller (the nämnd; default the
    # organisation's name), how to reach it and its data protection officer, how long cases are
    # kept, and a UTF-8 text file of further paragraphs, all in the organisation's own words.
    privacy_controller: str | None = None
    privacy_contact: str | None = None
    privacy_dpo_contact: str | None = None
    privacy_retention: str | None = None
    privacy_notice_file: str | None = None

    # Gallring: a TOML file of retention rules per record class with the gallringsbeslut each
    # follows (`inbox.records.retention`); unset, `synpunkt retention` removes nothing.
    retention_file: str | None = None
    # The public web form at /synpunkt: each attachment's size, the submissions (and follow-up
    # messages) one address may send an hour, how soon after the form was given out a submit
    # counts as a machine's, and where to report an accessibility barrier
    # (/tillganglighet; default the privacy notice's contact).
    webform_attachment_mb: int = Field(default=10, ge=1, le=50)
    webform_per_hour: int = Field(default=10, ge=1)
    webform_min_fill_seconds: float = Field(default=3.0, ge=0)
    accessibility_contact: str | None = None

    # The web inbox and the API --------------------------------------------------------------------
    web_listen: str = "127.0.0.1:8000"
    # Where people reach the web app: check-in links, the Telegram webhook, the OpenID Connect
    # redirect; https here makes the session cookie Secure (unless `secure_cookies` says otherwise).
    public_url: str | None = None
    # HTTP request bodies; routes that take uploads allow SYNPUNKT_MAX_MESSAGE_SIZE instead.
    max_request_bytes: int = Field(default=1024 * 1024, ge=1024)
    # Proxies whose X-Forwarded-For is believed (addresses or networks; `*` for any). Empty: the
    # client is the address that connected, whatever headers it sends.
    forwarded_allow_ips: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Signs session cookies and check-in links. Unset: a random key kept in `secret_key_file`.
    secret_key: str | None = None
    secret_key_file: str = "var/secret_key"
    secure_cookies: bool | None = None
    # The API's documentation: Swagger UI at /docs (served from our origin) and /openapi.json.
    api_docs: bool = True

    # Staff sign-in with OpenID Connect ------------------------------------------------------------
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = None
    oidc_username_claim: str = "preferred_username"  # the claim that names a StaffUser.username
    # The id_token signatures accepted, whatever the provider's discovery document offers.
    oidc_algorithms: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["RS256"])

    # Mail in: the SMTP listener -------------------------------------------------------------------
    smtp_listen: str = "127.0.0.1:8025"
    smtp_hostname: str = "synpunkt.localhost"
    intake_addresses: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["synpunkt@synpunkt.localhost"]
    )
    max_message_size: int = 25 * 1024 * 1024  # one message, by SMTP, IMAP or upload
    # Sessions at once, how long one may stay idle, and STARTTLS when both are set.
    smtp_max_sessions: int = Field(default=100, ge=1)
    smtp_timeout_seconds: float = Field(default=300.0, gt=0)
    smtp_tls_cert: str | None = None
    smtp_tls_key: str | None = None

    # Mail in: the IMAP poller ---------------------------------------------------------------------
    imap_url: str | None = None
    imap_password: str | None = None
    imap_processed_folder: str = "Synpunkt/Behandlat"
    imap_require_tls: bool = True
    imap_idle_seconds: float = 540.0
    imap_poll_seconds: float = 60.0
    imap_timeout_seconds: float = 60.0
    imap_batch_size: int = 200

    # Mail out -------------------------------------------------------------------------------------
    mail_from: str = "Synpunkt <synpunkt@synpunkt.localhost>"
    mail_transport: str = "file://var/outbox"

    # The Telegram bot (see the README) ------------------------------------------------------------
    telegram_token: str | None = None
    telegram_api_base: str = "https://api.telegram.org"
    telegram_mode: str = "polling"
    # The webhook's secret (derived from SYNPUNKT_SECRET_KEY when unset; the webhook's URL is
    # SYNPUNKT_PUBLIC_URL's) and the sending pace (messages a second, all chats together).
    telegram_webhook_secret: str | None = None
    telegram_rate: float = 29.0

    # The worker: intake (parsing under a budget) --------------------------------------------------
    parse_processes: int = Field(default_factory=lambda: min(2, os.cpu_count() or 1))
    # The parse budget (see the README): a parse past its time is stopped and its message failed;
    # a parse process may use this much memory (0: no limit). Claims and batches of intake rows.
    parse_timeout_seconds: float = Field(default=30.0, gt=0)
    parse_memory_mb: int = Field(default=1024, ge=0)
    intake_max_attempts: int = Field(default=3, ge=1)
    intake_batch_mb: int = Field(default=32, ge=1)

    # The worker: the outbox -----------------------------------------------------------------------
    worker_concurrency: int = 8  # sends at once
    outbox_max_attempts: int = 8
    # The hour (Stockholm time, 0-23) from which each staff member's daily digest of overdue
    # cases and open tasks is sent, once a day (those who asked for it under /installningar).
    notify_digest_hour: int = Field(default=7, ge=0, le=23)
    # A claimed outbox row's lease (renewed while its send runs), and the most one send may take:
    # at most half the lease, so that a send ends in time even when a renewal cannot get through.
    outbox_lease_seconds: float = Field(default=300.0, gt=0)
    outbox_send_timeout_seconds: float = Field(default=120.0, gt=0)

    # Health ---------------------------------------------------------------------------------------
    # /healthz answers 503 for more failed messages than this in the window, or mail pending longer.
    health_failed_burst: int = Field(default=10, ge=0)
    health_window_minutes: int = Field(default=15, ge=1)
    health_backlog_minutes: int = Field(default=15, ge=1)
    # ... or a send due longer; every running part beats this often (seconds), and one silent for
    # three beats is stale, as is mail waiting two beats with no worker running.
    health_outbox_backlog_minutes: int = Field(default=15, ge=1)
    health_heartbeat_seconds: float = Field(default=15.0, gt=0)

    # Metrics -------------------------------------------------------------------------------------
    # /metrics (Prometheus) is off (404) unless one of these allows someone: a bearer token, or
    # networks (addresses or CIDRs) whose clients need none. A process without the web part
    # (worker, smtp, imap, bot) serves its own /metrics on `metrics_listen`, when set.
    metrics_token: str | None = None
    metrics_networks: Annotated[list[str], NoDecode] = Field(default_factory=list)
    metrics_listen: str | None = None

    # Check-ins after decisions (their links point to SYNPUNKT_PUBLIC_URL) -------------------------
    checkin_delay_days: int = Field(default=3, ge=0, le=10)
    checkin_send_window: str = "09:00-18:00"  # Stockholm time on working days, or `always`

    # Checks ---------------------------------------------------------------------------------------
    @model_validator(mode="after")
    def _check_send_timeout(self) -> Settings:
        if self.outbox_send_timeout_seconds > self.outbox_lease_seconds / 2:
            raise ValueError(
                f"SYNPUNKT_OUTBOX_SEND_TIMEOUT_SECONDS ({self.outbox_send_timeout_seconds:g}) must "
                "be at most half of SYNPUNKT_OUTBOX_LEASE_SECONDS "
                f"({self.outbox_lease_seconds:g}): a send that outlasts its lease is sent twice"
            )
        return self

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError, NoSuchModuleError

        try:
            url = make_url(value)
            dialect = url.get_dialect()
        except (ArgumentError, NoSuchModuleError, ValueError):
            raise ValueError(f"not a database URL we can use; {_DATABASE_URLS}") from None
        if not getattr(dialect, "is_async", False):
            raise ValueError(f"needs an asynchronous driver; {_DATABASE_URLS}")
        return value

    @field_validator("web_listen", "smtp_listen", "metrics_listen")
    @classmethod
    def _check_listen(cls, value: str | None) -> str | None:
        if value is not None:
            split_listen(value, 1)
        return value

    @field_validator("log_format")
    @classmethod
    def _check_log_format(cls, value: str) -> str:
        if value.lower() not in ("text", "json"):
            raise ValueError("SYNPUNKT_LOG_FORMAT must be text or json")
        return value.lower()

    @field_validator("metrics_token")
    @classmethod
    def _check_metrics_token(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None  # unset: no token lets anyone in
        if len(value.strip()) < 16:
            raise ValueError("SYNPUNKT_METRICS_TOKEN is shorter than 16 characters")
        return value.strip()

    @field_validator("metrics_networks", mode="before")
    @classmethod
    def _parse_metrics_networks(cls, value: object) -> object:
        value = _split_list(value)
        if isinstance(value, list):
            for item in value:
                try:
                    ipaddress.ip_network(str(item), strict=False)
                except ValueError:
                    raise ValueError(
                        f"SYNPUNKT_METRICS_NETWORKS: {item!r} is not an address or a network"
                    ) from None
        return value

    @field_validator("telegram_mode")
    @classmethod
    def _check_telegram_mode(cls, value: str) -> str:
        if value not in ("polling", "webhook"):
            raise ValueError("SYNPUNKT_TELEGRAM_MODE must be polling or webhook")
        return value

    @field_validator("checkin_send_window")
    @classmethod
    def _check_window(cls, value: str) -> str:
        from inbox.checkins.schedule import parse_window

        parse_window(value)  # raises a clear error at start-up
        return value

    @field_validator("oidc_algorithms", mode="before")
    @classmethod
    def _parse_algorithms(cls, value: object) -> object:
        value = _split_list(value)
        if isinstance(value, list):
            wrong = [str(v) for v in value if v not in SIGNING_ALGORITHMS]
            if wrong or not value:
                raise ValueError(
                    "SYNPUNKT_OIDC_ALGORITHMS must name public-key algorithms among "
                    f"{', '.join(sorted(SIGNING_ALGORITHMS))} (not {', '.join(wrong) or 'none'})"
                )
        return value

    @field_validator("secret_key")
    @classmethod
    def _check_secret_key(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None  # unset: the key file
        problem = secret_key_problem(value)
        if problem:
            raise ValueError(
                f"SYNPUNKT_SECRET_KEY {problem}; set a random one (python3 -c 'import secrets; "
                "print(secrets.token_urlsafe(48))') or unset it to use a key kept in a file"
            )
        return value

    @field_validator("forwarded_allow_ips", mode="before")
    @classmethod
    def _parse_proxies(cls, value: object) -> object:
        value = _split_list(value)
        if isinstance(value, list):
            for item in value:
                if item != "*":
                    try:
                        ipaddress.ip_network(str(item), strict=False)
                    except ValueError:
                        raise ValueError(
                            f"SYNPUNKT_FORWARDED_ALLOW_IPS: {item!r} is not an address, a network "
                            "or *"
                        ) from None
        return value

    @field_validator("intake_addresses", mode="before")
    @classmethod
    def _parse_addresses(cls, value: object) -> object:
        value = _split_list(value)
        if isinstance(value, list):
            return [str(v).strip().lower() for v in value]
        return value

    @field_validator("case_prefix")
    @classmethod
    def _check_prefix(cls, value: str) -> str:
        if not value.isalnum() or not value.isascii():
            raise ValueError("SYNPUNKT_CASE_PREFIX must be letters and digits only")
        return value.upper()

    @property
    def mail_from_address(self) -> str:
        return parseaddr(self.mail_from)[1].lower()

    @property
    def public_base_url(self) -> str:
        """Where people reach the web app: SYNPUNKT_PUBLIC_URL, else the local listen address."""
        return (self.public_url or f"http://{self.web_listen}").rstrip("/")

    @property
    def mail_domain(self) -> str:
        return self.mail_from_address.rpartition("@")[2] or self.smtp_hostname

    @property
    def session_https_only(self) -> bool:
        """Secure session cookies when told so, or else when the public address is https."""
        if self.secure_cookies is not None:
            return self.secure_cookies
        return bool(self.public_url and self.public_url.lower().startswith("https://"))

    @property
    def own_addresses(self) -> frozenset[str]:
        """Addresses that are us: never acknowledge mail from them (mail loops)."""
        return frozenset({self.mail_from_address, *self.intake_addresses})


_DATABASE_URLS = "use sqlite+aiosqlite:///path/to/file.db or postgresql+asyncpg://user@host/name"


def split_listen(value: str, default_port: int) -> tuple[str, int]:
    """`host:port`, `host` or `[v6]:port` into its parts; a ValueError that says what is wrong."""
    parts = urlsplit(f"//{value.strip()}")
    try:
        port = parts.port
    except ValueError:
        port = -1
    if port == -1 or parts.path or parts.query or parts.fragment:
        raise ValueError(f"{value!r} is not host:port with a port from 0 to 65535")
    # Port 0 asks the system for a free one (tests); no port at all is the default.
    return parts.hostname or "127.0.0.1", default_port if port is None else port


MIN_SECRET_KEY_LENGTH = 32
# Defaults and examples this project (and frameworks' documentation) published: never a real key.
_PUBLISHED_KEYS = frozenset(
    {"changeme", "secret", "secretkey", "testsecret", "anotherkey", "synpunkt", "default"}
)
_PLACEHOLDER_WORDS = ("changeme", "changethis", "replaceme", "yoursecret", "placeholder", "example")


def secret_key_problem(key: str) -> str | None:
    """Why `key` must not sign anything (a known placeholder, too short), or None."""
    plain = re.sub(r"[^a-z0-9]", "", key.lower())
    if plain in _PUBLISHED_KEYS or any(word in plain for word in _PLACEHOLDER_WORDS):
        return "is a published example, not a secret"
    if len(key) < MIN_SECRET_KEY_LENGTH:
        return f"is shorter than {MIN_SECRET_KEY_LENGTH} characters"
    if len(set(key)) < 8:
        return "repeats too few characters to be random"
    return None


def load_secret_key(path: Path) -> str:
    """The key kept in `path`, created at first use with a random key (mode 0600).

    Two processes starting together agree: the key is written to a temporary file and linked into
    place, which succeeds for one of them; the other reads the winner's key. Raises ValueError for
    a file whose key is weak, OSError when it cannot be read or written.
    """
    try:
        key = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        key = _create_key_file(path)
    problem = secret_key_problem(key)
    if problem:
        raise ValueError(f"the secret key in {path} {problem}; delete the file to get a new one")
    return key


def _create_key_file(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mode 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(key + "\n")
            file.flush()
            os.fsync(file.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            return path.read_text(encoding="utf-8").strip()
    finally:
        os.unlink(temporary)
    return key
