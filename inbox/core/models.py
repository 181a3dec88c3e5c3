"""The tables: cases and their messages, contacts, units, the intake ledger, the outbox, staff.

Rows refer to each other by id and are loaded with explicit queries (no lazy relationships, which
async sessions cannot follow). Every datetime column is `UTCDateTime`. Enumerations are stored as
their string values so that adding a value needs no schema change.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, LargeBinary, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from inbox.core.db import UTCDateTime


class CaseKind(StrEnum):
    COMPLAINT = "complaint"
    PRAISE = "praise"
    SUGGESTION = "suggestion"
    QUESTION = "question"
    OTHER = "other"


class CaseStatus(StrEnum):
    NEW = "new"
    OPEN = "open"
    WAITING = "waiting"
    CLOSED = "closed"


class SubmitterRole(StrEnum):
    CLIENT = "client"  # brukare
    CHILD = "child"  # barn eller ung (a client under 18, or a child speaking for themselves)
    RELATIVE = "relative"  # anhörig, närstående
    CITIZEN = "citizen"  # invånare
    PROFESSIONAL = "professional"  # yrkesperson/myndighet
    STAFF = "staff"  # egen personal
    ORGANISATION = "organisation"
    OTHER_PROVIDER = "other-provider"  # annan utförare (a contracted or private provider)
    VIA_IVO = "via-ivo"
    UNKNOWN = "unknown"  # okänd


class Outcome(StrEnum):
    ANSWERED = "answered"  # besvarad
    REMEDIED = "remedied"  # åtgärdad
    PARTLY_REMEDIED = "partly-remedied"  # delvis åtgärdad
    NO_ACTION = "no-action"  # ingen åtgärd
    FORWARDED = "forwarded"  # vidarebefordrad
    REFERRED_TO_APPEAL = "referred-to-appeal"  # hänvisad till överklagande
    DEVIATION_REPORTED = "deviation-reported"  # avvikelse upprättad
    LEX_SARAH_REPORTED = "lex-sarah-reported"  # lex Sarah-rapport upprättad
    ANONYMOUS = "anonymous"  # anonym


class Direction(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"
    NOTE = "note"


class Delivery(StrEnum):
    QUEUED = "queued"
    SENT = "sent"
    DEAD = "dead"
    CANCELLED = "cancelled"
    # Sent, then reported back by a delivery report (bounce): `Message.bounce_kind` says how.
    BOUNCED = "bounced"


class BounceKind(StrEnum):
    HARD = "hard"  # a permanent failure (5.x.x): the contact is unreachable
    SOFT = "soft"  # a temporary one (4.x.x), a delay, or a report that says neither


class IntakeStatus(StrEnum):
    PENDING = "pending"  # raw message committed, not yet turned into a case
    DONE = "done"
    FAILED = "failed"  # could not be parsed: kept raw for staff to inspect


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    DEAD = "dead"
    CANCELLED = "cancelled"


class Role(StrEnum):
    ADMIN = "admin"
    REGISTRAR = "registrar"
    CASEWORKER = "caseworker"
    VIEWER = "viewer"


# The `info` of a table whose rows refer to a case but are not part of it (who had it open, which
# notifications it caused): a case's fingerprint (`inbox.cases.merging`) leaves them out.
NOT_CASE_CONTENT = {"case_content": False}


def _utc(**kwargs: Any) -> Any:
    return Field(sa_type=UTCDateTime, **kwargs)


class Unit(SQLModel, table=True):
    __tablename__ = "units"
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(unique=True, max_length=64)
    name: str = Field(max_length=200)
    response_days: int = 10
    active: bool = True
    checkin_delay_days: int | None = None  # working days before a check-in; None: the setting


class Contact(SQLModel, table=True):
    __tablename__ = "contacts"
    __table_args__ = (UniqueConstraint("channel", "address"),)
    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    address: str = Field(max_length=320)  # email lower-cased; Telegram chat id
    display_name: str | None = Field(default=None, max_length=200)
    language: str | None = Field(default=None, max_length=8)
    opted_out: bool = False  # no check-ins
    blocked: bool = False
    unreachable_at: datetime | None = _utc(default=None)
    unreachable_reason: str | None = None
    created_at: datetime = _utc()


class ReferenceCounter(SQLModel, table=True):
    __tablename__ = "reference_counters"
    prefix: str = Field(primary_key=True, max_length=16)
    year: int = Field(primary_key=True)
    last: int = 0


class Case(SQLModel, table=True):
    __tablename__ = "cases"
    __table_args__ = (
        Index("ix_cases_status_unit_received", "status", "unit_id", "received_at", "id"),
        Index("ix_cases_received", "received_at", "id"),
        # The inbox list's common filters, each served in order by an index (migration 0005).
        Index("ix_cases_status_received", "status", "received_at", "id"),
        Index("ix_cases_unit_received", "unit_id", "received_at", "id"),
        Index("ix_cases_assignee_received", "assignee_id", "received_at", "id"),
        Index("ix_cases_kind_received", "kind", "received_at", "id"),
        # The list sorted by due date, earliest first (migration 0016).
        Index("ix_cases_due", "due_on", "id"),
        # Every column the annual report reads, so that it reads the index alone (0021).
        Index(
            "ix_cases_report",
            "received_at",
            "kind",
            "channel",
            "unit_id",
            "submitter_role",
            "outcome",
            "merged_into_id",
            "flag_automated",
            "flag_lex_sarah",
            "flag_decision_not_executed",
            "due_on",
            "first_response_at",
            "closed_at",
            "id",
        ),
        # Open cases only, for the overdue filter (migration 0008).
        Index(
            "ix_cases_not_closed_received",
            "received_at",
            "id",
            "due_on",
            sqlite_where=text("status <> 'closed'"),
            postgresql_where=text("status <> 'closed'"),
        ),
        # Machine mail only, for the "Maskinpost" list newest first (migration 0011).
        Index(
            "ix_cases_automated_received",
            "received_at",
            "id",
            # As the list's filter reads on each (SQLite has no boolean type).
            sqlite_where=text("flag_automated = 1"),
            postgresql_where=text("flag_automated"),
        ),
    )
    id: int | None = Field(default=None, primary_key=True)
    reference: str = Field(unique=True, max_length=32)
    kind: str = Field(default=CaseKind.OTHER, max_length=16)
    status: str = Field(default=CaseStatus.NEW, max_length=16)
    channel: str = Field(max_length=16)
    origin: str = Field(default="channel", max_length=16)  # channel, manual, checkin
    contact_id: int | None = Field(default=None, foreign_key="contacts.id", index=True)
    submitter_role: str = Field(default=SubmitterRole.UNKNOWN, max_length=16)
    unit_id: int | None = Field(default=None, foreign_key="units.id")
    assignee_id: int | None = Field(default=None, foreign_key="staff_users.id", index=True)
    priority: str = Field(default="normal", max_length=16)
    language: str | None = Field(default=None, max_length=8)
    subject: str = ""
    received_at: datetime = _utc()
    due_on: date | None = None
    first_response_at: datetime | None = _utc(default=None)
    closed_at: datetime | None = _utc(default=None)
    outcome: str | None = Field(default=None, max_length=32)
    flag_lex_sarah: bool = False
    flag_child_at_risk: bool = False
    flag_decision_not_executed: bool = False
    flag_appeal_intent: bool = False
    flag_personnummer: bool = False
    # Opened by machine mail (auto-reply, bounce, list): listed under "Maskinpost", not in the
    # inbox, until staff move it there.
    flag_automated: bool = False
    wants_reply: bool | None = None  # asked in the Telegram conversation; None: not answered
    flag_callback: bool = False  # a check-in answer asks a caseworker to call back
    # The check-in answer asks for someone other than the decision's handläggare (migration 0010).
    flag_other_handler: bool = False
    updated_at: datetime = _utc()
    # Set when the case was merged into another; it is then closed.
    merged_into_id: int | None = Field(default=None, foreign_key="cases.id")
    # The registry (migration 0014_registry). The ärendemening staff wrote; None: the neutral
    # default from kind and unit (`inbox.cases.registry.registry_title`).
    registry_title: str | None = Field(default=None, max_length=200)
    secrecy_marked: bool = Field(default=False, sa_column_kwargs={"server_default": text("false")})
    secrecy_reason: str | None = Field(default=None, max_length=500)
    # The submitter's contact details are shown to registrars and admins only (OSL 26 kap. 5 §).
    identity_protected: bool = Field(
        default=False, sa_column_kwargs={"server_default": text("false")}
    )
    identity_reason: str | None = Field(default=None, max_length=500)
    # What happened, when, where and what it led to, as far as known (SOSFS 2011:9).
    event_what: str | None = None
    event_when: str | None = Field(default=None, max_length=200)
    event_where: str | None = Field(default=None, max_length=200)
    event_consequence: str | None = None
    # Legal hold (migration 0019_records): kept whatever the retention rules say, while set.
    hold_reason: str | None = Field(default=None, max_length=500)
    hold_by: str | None = Field(default=None, max_length=100)  # user:<id>, cli:<name>
    hold_at: datetime | None = _utc(default=None)
    # When the case was first written to an archive export (`synpunkt archive export`).
    archived_at: datetime | None = _utc(default=None)


class Message(SQLModel, table=True):
    __tablename__ = "messages"
    __table_args__ = (Index("ix_messages_case", "case_id", "created_at", "id"),)
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", ondelete="CASCADE")
    direction: str = Field(max_length=16)
    channel: str = Field(max_length=16)
    kind: str | None = Field(default=None, max_length=32)  # for outbound: case.ack, case.reply …
    rfc_message_id: str | None = Field(default=None, index=True, max_length=998)
    in_reply_to: str | None = Field(default=None, max_length=998)
    sender_address: str | None = Field(default=None, max_length=320)
    sender_name: str | None = Field(default=None, max_length=200)
    recipient: str | None = Field(default=None, max_length=320)
    subject: str = ""
    text: str = ""
    display_text: str = ""
    html: str | None = None
    language: str | None = Field(default=None, max_length=8)
    automation: str = Field(default="none", max_length=16)
    defects: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    intake_id: int | None = Field(default=None, foreign_key="intake_ledger.id")
    author_id: int | None = Field(default=None, foreign_key="staff_users.id")
    delivery: str | None = Field(default=None, max_length=16)
    delivered_at: datetime | None = _utc(default=None)
    delivery_error: str | None = None
    # What a delivery report said of this outbound message (delivery "bounced"), migration 0011.
    bounce_kind: str | None = Field(default=None, max_length=16)  # BounceKind
    bounce_status: str | None = Field(default=None, max_length=16)  # RFC 3463: 5.1.1
    bounce_diagnostic: str | None = None  # the remote server's answer, as reported
    bounced_at: datetime | None = _utc(default=None)
    created_at: datetime = _utc()


class Attachment(SQLModel, table=True):
    __tablename__ = "attachments"
    id: int | None = Field(default=None, primary_key=True)
    message_id: int = Field(foreign_key="messages.id", index=True, ondelete="CASCADE")
    filename: str = Field(max_length=255)
    content_type: str = Field(max_length=255)
    size: int
    sha256: str = Field(max_length=64)
    content_id: str | None = Field(default=None, max_length=998)
    inline: bool = False
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class IntakeRecord(SQLModel, table=True):
    """The intake ledger: every message ever received, by channel and external id.

    It outlives the case (no foreign key to it), so a message delivered again after its case was
    closed or removed by retention is recognised and not ingested twice.
    """

    __tablename__ = "intake_ledger"
    __table_args__ = (
        UniqueConstraint("channel", "external_id"),
        Index("ix_intake_status", "status", "received_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    external_id: str = Field(max_length=998)
    raw: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    raw_size: int = 0
    raw_sha256: str = Field(max_length=64)
    # What the message says, without what relays add on the way (`inbox.intake.ledger.record`):
    # tells a redelivery from another message under the same external id.
    content_sha256: str | None = Field(default=None, max_length=64)
    # The row that held this message's external id first, when a different message did.
    reuses_id_of: int | None = None
    envelope_sender: str | None = Field(default=None, max_length=320)
    envelope_recipients: list[str] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    status: str = Field(default=IntakeStatus.PENDING, max_length=16)
    attempts: int = 0
    lease_until: datetime | None = _utc(default=None)
    error: str | None = None
    received_at: datetime = _utc()
    processed_at: datetime | None = _utc(default=None)
    case_id: int | None = None
    case_reference: str | None = Field(default=None, max_length=32)


class ImapMailbox(SQLModel, table=True):
    """Where the IMAP poller stands in one mailbox: written in the same transaction as the ledger
    rows of the messages it fetched, so a crash can never skip or repeat a message.

    `last_uid` counts only under `uidvalidity`; when the server reports another UIDVALIDITY the
    mailbox is read again from the start and the ledger's key drops what it already holds.
    """

    __tablename__ = "imap_mailboxes"
    id: int | None = Field(default=None, primary_key=True)
    mailbox_key: str = Field(unique=True, max_length=500)  # user@host:port/mailbox
    # UIDVALIDITY and UIDs are unsigned 32-bit numbers: too big for PostgreSQL's integer.
    uidvalidity: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    last_uid: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    last_poll_at: datetime | None = _utc(default=None)
    last_error: str | None = None
    last_error_at: datetime | None = _utc(default=None)
    updated_at: datetime = _utc()


class OutboxItem(SQLModel, table=True):
    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_due", "status", "run_at"),
        # The acknowledgements of the last day to a sender (`ack_rules.recent_acks`).
        Index("ix_outbox_kind_created", "kind", "channel", "created_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=32)  # case.ack, case.reply, followup.checkin …
    channel: str = Field(max_length=16)
    recipient: str = Field(max_length=320)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    case_id: int | None = Field(default=None, foreign_key="cases.id", ondelete="SET NULL")
    message_id: int | None = Field(default=None)  # the outbound Message row shown on the case
    idempotency_key: str = Field(unique=True, max_length=200)
    status: str = Field(default=OutboxStatus.PENDING, max_length=16)
    run_at: datetime = _utc()
    attempts: int = 0
    lease_until: datetime | None = _utc(default=None)
    last_error: str | None = None
    created_at: datetime = _utc()
    sent_at: datetime | None = _utc(default=None)


class StaffUser(SQLModel, table=True):
    __tablename__ = "staff_users"
    __table_args__ = (Index("ux_staff_users_oidc_subject", "oidc_subject", unique=True),)
    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(unique=True, max_length=100)
    display_name: str = Field(default="", max_length=200)
    role: str = Field(max_length=16)
    password_hash: str | None = None
    active: bool = True
    created_at: datetime = _utc()
    # Every unit (and, as registrar or admin, the cases with none); else only `StaffUnit` rows.
    all_units: bool = Field(default=False, sa_column_kwargs={"server_default": text("false")})
    # Raised to end every session of this user at once; the session cookie carries the version.
    session_version: int = Field(default=0, sa_column_kwargs={"server_default": text("0")})
    # The identity provider's `sub`, bound at the first OpenID Connect sign-in.
    oidc_subject: str | None = Field(default=None, max_length=255)
    last_signin_at: datetime | None = _utc(default=None)  # migration 0017_people
    # Where this user's notifications go (migration 0022_notify); None: no notifications.
    email: str | None = Field(default=None, max_length=320)


class StaffUnit(SQLModel, table=True):
    __tablename__ = "staff_units"
    user_id: int = Field(foreign_key="staff_users.id", primary_key=True, ondelete="CASCADE")
    unit_id: int = Field(foreign_key="units.id", primary_key=True, ondelete="CASCADE")


class ApiToken(SQLModel, table=True):
    __tablename__ = "api_tokens"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100)
    token_hash: str = Field(unique=True, max_length=64)
    role: str = Field(default=Role.REGISTRAR, max_length=16)
    created_at: datetime = _utc()
    last_used_at: datetime | None = _utc(default=None)
    revoked_at: datetime | None = _utc(default=None)
    # Every unit; else only the `ApiTokenUnit` rows (see `StaffUser.all_units`).
    all_units: bool = Field(default=False, sa_column_kwargs={"server_default": text("false")})


class AuditEvent(SQLModel, table=True):
    """Append-only: who read or changed what, when and from where."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_case", "case_id", "at"),)
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _utc()
    actor: str = Field(max_length=100)  # user:<id>, token:<id>, system
    action: str = Field(max_length=64)
    case_id: int | None = None  # no foreign key: the trail outlives the case
    case_reference: str | None = Field(default=None, max_length=32)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    remote_addr: str | None = Field(default=None, max_length=64)


# Telegram bot ------------------------------------------------------------------------------------


class TelegramConversation(SQLModel, table=True):
    """The bot's conversation state per chat and user (aiogram FSM), so it survives restarts."""

    __tablename__ = "telegram_fsm"
    bot_id: int = Field(primary_key=True, sa_type=BigInteger)
    chat_id: int = Field(primary_key=True, sa_type=BigInteger)
    user_id: int = Field(primary_key=True, sa_type=BigInteger)
    thread_id: int = Field(default=0, primary_key=True, sa_type=BigInteger)
    destiny: str = Field(default="default", primary_key=True, max_length=64)
    state: str | None = Field(default=None, max_length=200)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    updated_at: datetime = _utc()


# Check-ins after decisions ---------------------------------------------------------------------


class DecisionStatus(StrEnum):
    REGISTERED = "registered"
    WITHDRAWN = "withdrawn"


class Decision(SQLModel, table=True):
    """A decision (beslut) registered for a check-in; `reference` is the case system's id only."""

    __tablename__ = "decisions"
    __table_args__ = (UniqueConstraint("unit_id", "reference"),)
    id: int | None = Field(default=None, primary_key=True)
    unit_id: int = Field(foreign_key="units.id")
    contact_id: int = Field(foreign_key="contacts.id", index=True)
    channel: str = Field(max_length=16)
    language: str = Field(max_length=8)
    decided_on: date
    reference: str = Field(max_length=64)
    status: str = Field(default=DecisionStatus.REGISTERED, max_length=16)
    registered_at: datetime = _utc()
    registered_by: str = Field(max_length=100)  # token:<id>, user:<id>, import
    withdrawn_at: datetime | None = _utc(default=None)


class CheckIn(SQLModel, table=True):
    """One check-in per decision: when it is asked, its single-use link, and the answers.

    The answers are feedback about the service, not part of anyone's case file; `case_id` is the
    case opened for a caseworker to call back, when an answer asked for that.
    """

    __tablename__ = "checkins"
    __table_args__ = (Index("ix_checkins_period", "period", "unit_id"),)
    id: int | None = Field(default=None, primary_key=True)
    decision_id: int = Field(foreign_key="decisions.id", unique=True)
    unit_id: int = Field(foreign_key="units.id")
    contact_id: int = Field(foreign_key="contacts.id", index=True)
    channel: str = Field(max_length=16)
    language: str = Field(max_length=8)
    status: str = Field(default="scheduled", max_length=16)  # scheduled, skipped, cancelled
    skip_reason: str | None = Field(default=None, max_length=200)
    period: str = Field(max_length=7)  # YYYY-MM (Stockholm) of the planned ask, for statistics
    ask_at: datetime | None = _utc(default=None)
    reminder_at: datetime | None = _utc(default=None)
    closes_at: datetime = _utc()  # answers (and the link) are accepted until then
    ask_outbox_id: int | None = Field(default=None, index=True)
    reminder_outbox_id: int | None = Field(default=None)
    ask_rfc_id: str | None = Field(default=None, index=True, max_length=998)
    reminder_rfc_id: str | None = Field(default=None, index=True, max_length=998)
    token_used_at: datetime | None = _utc(default=None)
    understood: str | None = Field(default=None, max_length=8)  # yes, partly, no
    knows_appeal: str | None = Field(default=None, max_length=8)  # yes, no
    knows_feedback: str | None = Field(default=None, max_length=8)  # yes, no (0010)
    rating: int | None = None  # 1-5
    wants_contact: str | None = Field(default=None, max_length=8)  # yes, no
    other_handler: str | None = Field(default=None, max_length=8)  # yes, no (0010)
    comment: str | None = None
    # The number to call, given on the page with a "yes" to contact (0026_checkin_phone).
    phone: str | None = Field(default=None, max_length=40)
    first_answer_at: datetime | None = _utc(default=None)
    last_answer_at: datetime | None = _utc(default=None)
    answered_via: str | None = Field(default=None, max_length=16)  # web, telegram, email-reply
    case_id: int | None = Field(default=None, foreign_key="cases.id", ondelete="SET NULL")
    created_at: datetime = _utc()


# Staff inbox: sign-in throttling, token unit restrictions, reply templates -----------------------


class SignInFailure(SQLModel, table=True):
    """One failed sign-in, counted per username and per address to throttle guessing."""

    __tablename__ = "sign_in_failures"
    __table_args__ = (Index("ix_sign_in_failures_key", "key", "at"),)
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=200)  # user:<name> or addr:<ip>
    at: datetime = _utc()


class ApiTokenUnit(SQLModel, table=True):
    """The units a token may see, unless it has `all_units`."""

    __tablename__ = "api_token_units"
    token_id: int = Field(foreign_key="api_tokens.id", primary_key=True, ondelete="CASCADE")
    unit_id: int = Field(foreign_key="units.id", primary_key=True, ondelete="CASCADE")


class ReplyTemplate(SQLModel, table=True):
    """A reusable answer with placeholders such as `{referens}` and `{namn}`, kept by admins."""

    __tablename__ = "reply_templates"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, max_length=100)
    body: str
    updated_at: datetime = _utc()


# Tasks: what the law requires someone to do about a case, by when -------------------------------


class Task(SQLModel, table=True):
    """A duty on a case with its deadline and who acts (`inbox.cases.tasks` has the rules): a
    possible appeal's rättidsprövning, a lex Sarah report, an orosanmälan, a report to IVO.

    It follows its case's unit; it outlives the case (the case id is cleared by retention), so
    that the statistics of what was done, and in time, survive. At most one open task of a kind
    per case.
    """

    __tablename__ = "tasks"
    __table_args__ = (
        Index(
            "ux_tasks_open_case_kind",
            "case_id",
            "kind",
            unique=True,
            sqlite_where=text("done_at IS NULL"),
            postgresql_where=text("done_at IS NULL"),
        ),
        Index(
            "ix_tasks_open_due",
            "due_on",
            "id",
            sqlite_where=text("done_at IS NULL"),
            postgresql_where=text("done_at IS NULL"),
        ),
    )
    id: int | None = Field(default=None, primary_key=True)
    case_id: int | None = Field(
        default=None, foreign_key="cases.id", index=True, ondelete="SET NULL"
    )
    kind: str = Field(max_length=32)  # appeal_intent, lex_sarah, child_at_risk, …
    due_on: date
    actor: str = Field(max_length=200)  # who acts, as a role in words
    created_at: datetime = _utc()
    created_by: str = Field(max_length=100)  # user:<id>, token:<id>, system
    done_at: datetime | None = _utc(default=None)
    done_by: str | None = Field(default=None, max_length=100)


# The registry: consent for relatives, requests for documents (migration 0014_registry) ----------


class ConsentForm(StrEnum):
    ORAL = "oral"  # muntligt
    WRITTEN = "written"  # skriftligt


class Consent(SQLModel, table=True):
    """The person a case concerns agreed that information may be shared with the närstående who
    wrote (OSL 26 kap. 1 §: secrecy yields to the person's own consent, 12 kap. 2 §).

    Never deleted: a revoked consent keeps its row with `revoked_on`, so the trail shows what was
    allowed when an answer went out.
    """

    __tablename__ = "consents"
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True, ondelete="CASCADE")
    given_by: str = Field(max_length=200)  # the person concerned, who consented
    given_to: str = Field(max_length=200)  # who may be told: the närstående
    scope: str = Field(max_length=1000)  # what may be shared
    given_on: date
    form: str = Field(max_length=16)  # ConsentForm
    revoked_on: date | None = None
    recorded_by: int | None = Field(default=None, foreign_key="staff_users.id")
    recorded_at: datetime = _utc()
    revoked_by: int | None = Field(default=None, foreign_key="staff_users.id")
    revoked_at: datetime | None = _utc(default=None)


class DisclosureOutcome(StrEnum):
    RELEASED = "released"  # lämnas ut
    MASKED = "released-masked"  # lämnas ut med maskering
    REFUSED = "refused"  # avslag


class DocumentRequest(SQLModel, table=True):
    """A begäran om utlämnande av allmän handling (TF 2 kap.) and its menprövning's outcome.

    `decision_text` is the written decision with how to appeal it, for a refusal or a release with
    masking (both refuse some of what was asked for).
    """

    __tablename__ = "document_requests"
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True, ondelete="CASCADE")
    requested_by: str | None = Field(default=None, max_length=200)  # None: anonymous (TF 2:18)
    requested_on: date
    documents: str = Field(max_length=2000)  # what was asked for
    outcome: str = Field(max_length=16)  # DisclosureOutcome
    grounds: str | None = Field(default=None, max_length=500)  # the secrecy provision applied
    reasoning: str | None = Field(default=None, max_length=4000)  # the menprövning, briefly
    decision_text: str | None = None
    decided_on: date
    decided_by: int | None = Field(default=None, foreign_key="staff_users.id")
    recorded_at: datetime = _utc()


# Reports: topics, measures, report examples, statistics of removed cases (migration 0015) -------


class Topic(SQLModel, table=True):
    """What a case concerns (ämne), from a list the organisation keeps; several per case.

    A topic no longer wanted is made inactive, never deleted: cases and statistics name it.
    """

    __tablename__ = "topics"
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(unique=True, max_length=64)
    label_sv: str = Field(max_length=200)
    label_en: str = Field(max_length=200)
    position: int = 0
    active: bool = True


class CaseTopic(SQLModel, table=True):
    __tablename__ = "case_topics"
    case_id: int = Field(foreign_key="cases.id", primary_key=True, ondelete="CASCADE")
    topic_id: int = Field(foreign_key="topics.id", primary_key=True, index=True)


class MeasureType(StrEnum):
    APOLOGY = "apology"  # ursäkt
    CORRECTION = "correction"  # rättelse
    DECISION_EXPLAINED = "decision-explained"  # förklaring av beslut
    NEW_SERVICE = "new-service"  # ny insats
    CHANGED_ROUTINE = "changed-routine"  # ändrad rutin
    TRAINING = "training"  # utbildning
    NO_ACTION = "no-action"  # ingen åtgärd
    OTHER = "other"  # annan åtgärd


class MeasureStatus(StrEnum):
    PLANNED = "planned"  # planerad
    ONGOING = "ongoing"  # pågår
    DONE = "done"  # genomförd


class Measure(SQLModel, table=True):
    """Something done (or planned) because of a case: an åtgärd, with who owns it and its state.

    `public` with `public_summary` puts it on the public results page ("Ni sa – vi gjorde"); the
    summary is the only text of it that ever leaves the inbox.
    """

    __tablename__ = "measures"
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True, ondelete="CASCADE")
    type: str = Field(max_length=32)  # MeasureType
    text: str = Field(default="", max_length=2000)
    owner_id: int | None = Field(default=None, foreign_key="staff_users.id")
    status: str = Field(default=MeasureStatus.PLANNED, max_length=16)  # MeasureStatus
    dated_on: date
    public: bool = False
    public_summary: str | None = Field(default=None, max_length=1000)
    created_at: datetime = _utc()
    updated_at: datetime = _utc()


class LexSarahOutcome(StrEnum):
    SERIOUS = "serious"  # allvarligt missförhållande (rapporteras till IVO)
    RISK_SERIOUS = "risk-serious"  # påtaglig risk för ett allvarligt missförhållande
    NOT_SERIOUS = "not-serious"  # missförhållande, inte allvarligt
    NONE = "none"  # inget missförhållande


class CaseReview(SQLModel, table=True):
    """What staff concluded of a case as a whole, at most one row per case: whether a lex Sarah
    assessment was made and its outcome, and whether the case is an example for the report, with
    the anonymised summary and how it was handled (the only text of the case a report shows)."""

    __tablename__ = "case_reviews"
    case_id: int = Field(foreign_key="cases.id", primary_key=True, ondelete="CASCADE")
    lex_sarah_assessed: bool = False
    lex_sarah_outcome: str | None = Field(default=None, max_length=16)  # LexSarahOutcome
    example: bool = False
    example_summary: str | None = Field(default=None, max_length=2000)
    example_handling: str | None = Field(default=None, max_length=2000)
    updated_at: datetime = _utc()


class CaseStatistic(SQLModel, table=True):
    """One anonymised row per case removed by retention (gallring): what the report counts of it,
    and nothing that points at a person (`inbox.reports.facts.record_removed` writes it).

    `received_at` is Stockholm's midnight of the day the case arrived; `topics` and `measures`
    are code lists written `,a,,b,` and `,type:status,,type:status,` so that SQL can count them.
    """

    __tablename__ = "case_statistics"
    __table_args__ = (Index("ix_case_statistics_received", "received_at"),)
    id: int | None = Field(default=None, primary_key=True)
    received_at: datetime = _utc()
    kind: str = Field(max_length=16)
    channel: str = Field(max_length=16)
    submitter_role: str = Field(max_length=16)
    unit_id: int | None = None  # no foreign key: the statistics outlive a unit
    outcome: str | None = Field(default=None, max_length=32)
    closed: bool = True
    # Minutes from arrival to the first answer (or to closing, when none was sent); None: neither.
    response_minutes: int | None = None
    in_time: bool | None = None  # answered by the due date; None: no due date
    flag_lex_sarah: bool = False
    flag_decision_not_executed: bool = False
    flag_child_at_risk: bool = False
    lex_sarah_assessed: bool = False
    lex_sarah_outcome: str | None = Field(default=None, max_length=16)
    topics: str = Field(default=",", max_length=2000)
    measures: str = Field(default=",", max_length=2000)


# People and access: periodic reviews of the audit trail (migration 0017_people) ------------------


class LogReview(SQLModel, table=True):
    """A completed periodic review of the audit trail (loggkontroll): which period was read, by
    whom, and what was found. Never changed once recorded."""

    __tablename__ = "log_reviews"
    id: int | None = Field(default=None, primary_key=True)
    period_from: date
    period_to: date
    reviewer: str = Field(max_length=200)  # who read the trail, as written by the admin
    findings: str = Field(max_length=4000)
    recorded_at: datetime = _utc()
    recorded_by: int | None = Field(default=None, foreign_key="staff_users.id")


# Heartbeats: which long-running parts are alive (migration 0018_heartbeats) ---------------------


class Heartbeat(SQLModel, table=True):
    """A long-running part's sign of life: one row per part and process, written every few seconds
    (`inbox.runners.heartbeat`) and read by `/healthz`, which calls a part stale when no process of
    it has beaten lately. A clean shutdown sets `stopped_at`; rows a day old are pruned.
    """

    __tablename__ = "heartbeats"
    __table_args__ = (Index("ix_heartbeats_beat", "beat_at"),)
    part: str = Field(primary_key=True, max_length=16)  # web, worker, smtp, imap, bot
    instance: str = Field(primary_key=True, max_length=200)  # host:pid
    version: str = Field(max_length=32)
    started_at: datetime = _utc()
    beat_at: datetime = _utc()
    stopped_at: datetime | None = _utc(default=None)


# Records: legal hold, gallring, archive export, rights requests (migration 0019_records) --------


class CaseTombstone(SQLModel, table=True):
    """What is left of a case removed by gallring: its reference, when, and under which decision,
    so that every link to it answers 410 "Gallrad enligt beslut …" instead of a bare 404."""

    __tablename__ = "case_tombstones"
    id: int | None = Field(default=None, primary_key=True)
    reference: str = Field(unique=True, max_length=32)
    case_id: int  # no foreign key: the case is gone
    removed_at: datetime = _utc()
    rule: str = Field(max_length=32)  # the record class of the retention rules
    decision: str = Field(max_length=1000)  # the gallringsbeslut, as the rules file quotes it


class RightsRequestKind(StrEnum):
    RECTIFICATION = "rectification"  # rättelse, GDPR art. 16
    RESTRICTION = "restriction"  # begränsning, GDPR art. 18
    ERASURE = "erasure"  # radering, GDPR art. 17: refused for allmänna handlingar


class RightsRequest(SQLModel, table=True):
    """A data subject's request about a case (rectification, restriction, erasure) and what was
    answered; recorded on the case so that whoever reads it next knows."""

    __tablename__ = "rights_requests"
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True, ondelete="CASCADE")
    kind: str = Field(max_length=16)  # RightsRequestKind
    requested_by: str = Field(max_length=200)
    requested_on: date
    request: str = Field(max_length=4000)  # what the person asked for
    response: str = Field(max_length=8000)  # what was decided or answered
    recorded_by: str = Field(max_length=100)  # user:<id>, cli:<name>
    recorded_at: datetime = _utc()


class AuditDeletionPermit(SQLModel, table=True):
    """While a row exists here, the database lets audit events be deleted (never updated).

    Gallring of the audit trail inserts one, deletes the events its rule allows and removes the
    permit in the same transaction, so no other transaction ever sees it; without it the
    database's triggers refuse every DELETE on `audit_events` (migration 0019_records).
    """

    __tablename__ = "audit_deletion_permits"
    id: int | None = Field(default=None, primary_key=True)
    granted_at: datetime = _utc()
    decision: str = Field(max_length=1000)


# --- The web form (issue 15) ----------------------------------------------------------------


class WebFollowUp(SQLModel, table=True):
    """The follow-up code of a case sent through the web form: only its SHA-256 is kept.

    The row is written with the submission's ledger row, under the reference reserved for it, so
    the code works from the receipt on, before the worker has made the case."""

    __tablename__ = "web_followups"
    reference: str = Field(primary_key=True, max_length=32)
    code_sha256: str = Field(max_length=64)
    created_at: datetime = _utc()


# Staff are told about work: notifications and presence (migration 0022_notify) -----------------


class NotificationKind(StrEnum):
    NEW_CASE = "new_case"  # a new case in the user's units
    ASSIGNED = "assigned"  # a case assigned to the user, by someone else
    REPLY = "reply"  # a message in on a case assigned to the user
    DIGEST = "digest"  # the daily digest of overdue cases and open tasks


class NotificationEvent(SQLModel, table=True):
    """Something staff may be told about, written in the transaction that did it (opening a case,
    assigning it, a message in); the worker turns it into notification mail through the outbox
    (`inbox.cases.notifications`) and marks it done. Holds ids only, never what a case says."""

    __tablename__ = "notification_events"
    # Not part of the case (`NOT_CASE_CONTENT`): undoing a merge does not ask about them.
    __table_args__ = (
        Index("ix_notification_events_pending", "done_at", "id"),
        {"info": NOT_CASE_CONTENT},
    )
    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)  # NotificationKind, not the digest
    case_id: int = Field(foreign_key="cases.id", ondelete="CASCADE")
    user_id: int | None = None  # the assignee, for "assigned"
    actor_user_id: int | None = None  # who did it, when a staff user: not told of their own act
    message_id: int | None = None  # the message in, for "reply"
    created_at: datetime = _utc()
    done_at: datetime | None = _utc(default=None)


class NotificationSetting(SQLModel, table=True):
    """A staff user's choice of notifications, and the day their last digest went out (Stockholm
    date), so that the digest goes once a day whatever the worker's restarts. No row: defaults."""

    __tablename__ = "notification_settings"
    user_id: int = Field(foreign_key="staff_users.id", primary_key=True, ondelete="CASCADE")
    new_case: bool = False
    assigned: bool = True
    reply: bool = True
    digest: bool = True
    digest_sent_on: date | None = None


class CasePresence(SQLModel, table=True):
    """Who has a case open now: the page reports it when opened and every half minute while open,
    one row per case and user, overwritten (`inbox.cases.presence`)."""

    __tablename__ = "case_presence"
    __table_args__ = (Index("ix_case_presence_seen", "seen_at"), {"info": NOT_CASE_CONTENT})
    case_id: int = Field(foreign_key="cases.id", primary_key=True, ondelete="CASCADE")
    user_id: int = Field(foreign_key="staff_users.id", primary_key=True, ondelete="CASCADE")
    seen_at: datetime = _utc()


# --- Saved filters of the inbox list (issue 18, item 4) -------------------------------------


class SavedFilter(SQLModel, table=True):
    """A filter set of the inbox list that one user saved under a name ("Mina försenade").

    Only the list's own filter parameters are kept (`inbox.cases.saved_filters`), as a JSON object
    of strings; nobody else sees or deletes another user's filters."""

    __tablename__ = "saved_filters"
    __table_args__ = (UniqueConstraint("user_id", "name", name="uq_saved_filters_user_name"),)
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="staff_users.id", index=True, ondelete="CASCADE")
    name: str = Field(max_length=60)
    params: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = _utc()


# --- The case page (issue 18): merges and splits that can be undone for a while --------------


class CaseMove(SQLModel, table=True):
    """A merge or a split, recorded so that it can be undone exactly for a while (migration
    0024_casepage).

    `case_id` is the case the messages left: a merge's source, the case a message was split off
    from. `other_case_id` is where they went: the merge's target, the case the split opened (no
    foreign key: undoing a split removes that case, and the record of it stays). `before` holds
    what an undo puts back (the moved messages and outbox rows, the columns the move changed);
    `after` the fingerprint of both cases right after the move, so that an undo is refused once
    either has changed.
    """

    __tablename__ = "case_moves"
    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=8)  # merge, split
    case_id: int = Field(foreign_key="cases.id", index=True, ondelete="CASCADE")
    other_case_id: int = Field(index=True)
    actor: str = Field(max_length=100)  # user:<id>, token:<id>, system
    done_at: datetime = _utc()
    undo_until: datetime = _utc()
    before: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    after: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    undone_at: datetime | None = _utc(default=None)
    undone_by: str | None = Field(default=None, max_length=100)
