"""The JSON shapes of the API, which are also its OpenAPI documentation at `/docs`, and how the
core's objects are put into them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from inbox.cases.queries import ROW_FLAGS, CaseDetail
from inbox.core.models import Attachment, Case, Consent, DocumentRequest, Message


class CaseSummary(BaseModel):
    reference: str
    kind: str
    status: str
    channel: str
    origin: str = "channel"  # channel, manual, checkin
    unit: str | None
    registry_title: str = Field(description="The ärendemening: neutral, for lists and registry")
    subject: str = Field(description="What the sender wrote as subject (personnummer masked)")
    preview: str
    sender: str | None = Field(description="Null too when the sender's identity is protected")
    received_at: datetime
    due_on: date | None
    flags: list[str]
    secrecy_marked: bool = False
    identity_protected: bool = False


class CaseList(BaseModel):
    items: list[CaseSummary]
    next_cursor: str | None


class AttachmentOut(BaseModel):
    id: int
    filename: str
    content_type: str
    size: int
    sha256: str
    inline: bool
    url: str


class MessageOut(BaseModel):
    id: int
    direction: str
    channel: str
    kind: str | None
    sender: str | None
    sender_name: str | None
    recipient: str | None
    subject: str
    text: str
    display_text: str
    html: str | None
    language: str | None
    automation: str
    created_at: datetime
    delivery: str | None
    delivered_at: datetime | None
    delivery_error: str | None
    # What a delivery report said (delivery `bounced`): `hard` or `soft`, RFC 3463 status.
    bounce_kind: str | None = None
    bounce_status: str | None = None
    bounce_diagnostic: str | None = None
    bounced_at: datetime | None = None
    attachments: list[AttachmentOut]
    original_url: str | None


class OutboxOut(BaseModel):
    id: int
    kind: str
    channel: str
    status: str
    attempts: int
    run_at: datetime
    sent_at: datetime | None
    last_error: str | None


class ConsentOut(BaseModel):
    id: int
    given_by: str
    given_to: str
    scope: str
    given_on: date
    form: str  # oral, written
    revoked_on: date | None


class DocumentRequestOut(BaseModel):
    id: int
    requested_by: str | None
    requested_on: date
    documents: str
    outcome: str  # released, released-masked, refused
    grounds: str | None
    reasoning: str | None
    decided_on: date
    decision_text: str | None = Field(description="The decision with how to appeal (refusals)")


class CaseOut(BaseModel):
    reference: str
    kind: str
    status: str
    channel: str
    origin: str
    unit: str | None
    submitter_role: str
    priority: str
    language: str | None
    registry_title: str = Field(description="The ärendemening (staff's, or kind and unit)")
    registry_title_is_default: bool
    subject: str = Field(description="What the sender wrote as subject")
    contact: str | None = Field(description="Null too when the sender's identity is protected")
    contact_name: str | None
    contact_unreachable: bool
    identity_protected: bool
    identity_hidden: bool = Field(description="The sender's details are withheld from this token")
    identity_reason: str | None
    secrecy_marked: bool
    secrecy_reason: str | None
    event_what: str | None
    event_when: str | None
    event_where: str | None
    event_consequence: str | None
    received_at: datetime
    due_on: date | None
    first_response_at: datetime | None
    closed_at: datetime | None
    outcome: str | None
    flags: list[str]
    consents: list[ConsentOut]
    document_requests: list[DocumentRequestOut]
    messages: list[MessageOut]
    outbox: list[OutboxOut]


def case_out(detail: CaseDetail) -> CaseOut:
    case = detail.case
    messages = [
        message_out(case, m, detail.attachments.get(m.id or 0, [])) for m in detail.messages
    ]
    contact = detail.contact
    return CaseOut(
        reference=case.reference,
        kind=case.kind,
        status=case.status,
        channel=case.channel,
        origin=case.origin,
        unit=detail.unit_code,
        submitter_role=case.submitter_role,
        priority=case.priority,
        language=case.language,
        registry_title=detail.registry_title,
        registry_title_is_default=case.registry_title is None,
        subject=case.subject,
        contact=contact.address if contact else None,
        contact_name=contact.display_name if contact else None,
        contact_unreachable=bool(contact and contact.unreachable_at),
        identity_protected=case.identity_protected,
        identity_hidden=detail.identity_hidden,
        identity_reason=case.identity_reason,
        secrecy_marked=case.secrecy_marked,
        secrecy_reason=case.secrecy_reason,
        event_what=case.event_what,
        event_when=case.event_when,
        event_where=case.event_where,
        event_consequence=case.event_consequence,
        received_at=case.received_at,
        due_on=case.due_on,
        first_response_at=case.first_response_at,
        closed_at=case.closed_at,
        outcome=case.outcome,
        flags=_flags(case),
        consents=[consent_out(c) for c in detail.consents],
        document_requests=[request_out(r) for r in detail.requests],
        messages=messages,
        outbox=[
            OutboxOut(
                id=o.id or 0,
                kind=o.kind,
                channel=o.channel,
                status=o.status,
                attempts=o.attempts,
                run_at=o.run_at,
                sent_at=o.sent_at,
                last_error=o.last_error,
            )
            for o in detail.outbox
        ],
    )


def consent_out(c: Consent) -> ConsentOut:
    return ConsentOut(
        id=c.id or 0,
        given_by=c.given_by,
        given_to=c.given_to,
        scope=c.scope,
        given_on=c.given_on,
        form=c.form,
        revoked_on=c.revoked_on,
    )


def request_out(r: DocumentRequest) -> DocumentRequestOut:
    return DocumentRequestOut(
        id=r.id or 0,
        requested_by=r.requested_by,
        requested_on=r.requested_on,
        documents=r.documents,
        outcome=r.outcome,
        grounds=r.grounds,
        reasoning=r.reasoning,
        decided_on=r.decided_on,
        decision_text=r.decision_text,
    )


def message_out(case: Case, m: Message, attachments: Sequence[Attachment]) -> MessageOut:
    base = f"/api/cases/{case.reference}"
    return MessageOut(
        id=m.id or 0,
        direction=m.direction,
        channel=m.channel,
        kind=m.kind,
        sender=m.sender_address,
        sender_name=m.sender_name,
        recipient=m.recipient,
        subject=m.subject,
        text=m.text,
        display_text=m.display_text,
        html=m.html,
        language=m.language,
        automation=m.automation,
        created_at=m.created_at,
        delivery=m.delivery,
        delivered_at=m.delivered_at,
        delivery_error=m.delivery_error,
        bounce_kind=m.bounce_kind,
        bounce_status=m.bounce_status,
        bounce_diagnostic=m.bounce_diagnostic,
        bounced_at=m.bounced_at,
        attachments=[
            AttachmentOut(
                id=a.id or 0,
                filename=a.filename,
                content_type=a.content_type,
                size=a.size,
                sha256=a.sha256,
                inline=a.inline,
                url=f"{base}/attachments/{a.id}",
            )
            for a in attachments
        ],
        original_url=f"{base}/messages/{m.id}/original" if m.intake_id else None,
    )


def _flags(case: Case) -> list[str]:
    return [name for name in ROW_FLAGS if getattr(case, f"flag_{name}")]


class IntakeOut(BaseModel):
    id: int
    channel: str
    external_id: str
    status: str
    received_at: datetime
    raw_size: int
    error: str | None
    case_reference: str | None
    raw_url: str


class InstanceHealth(BaseModel):
    instance: str = Field(description="The process: host:pid")
    version: str
    started_at: datetime
    beat_at: datetime = Field(description="Its last heartbeat")
    age_seconds: float = Field(description="How long ago that was")
    state: str = Field(description="live, stale (no heartbeat lately) or stopped (cleanly)")


class PartHealth(BaseModel):
    status: str = Field(description="live when one of its processes is, else stale or stopped")
    last_beat_at: datetime
    age_seconds: float
    instances: list[InstanceHealth] = Field(description="Newest heartbeat first")


class BacklogHealth(BaseModel):
    intake_seconds: float | None = Field(
        default=None, description="How long the oldest pending message has waited (null: none)"
    )
    outbox_seconds: float | None = Field(
        default=None, description="How long the oldest due send has waited (null: none)"
    )


class Health(BaseModel):
    """Everything but `status` only for monitoring: a client on a loopback or private network, or
    one the metrics' token or networks let in (`/metrics`); the internet sees only `status`."""

    status: str  # "ok", or "error" with the reasons in `problems` (HTTP 503)
    database: str | None = Field(
        default=None, description='"ok", "busy" (no answer in time) or the error\'s type'
    )
    intake: dict[str, int] = Field(
        default_factory=dict, description="Unfinished ledger rows: pending and failed"
    )
    outbox: dict[str, int] = Field(
        default_factory=dict, description="Unfinished sends: pending and dead"
    )
    parts: dict[str, PartHealth] = Field(
        default_factory=dict,
        description="Each part (web, worker, smtp, imap, bot) that beat within the last day",
    )
    backlog: BacklogHealth = Field(default_factory=BacklogHealth)
    problems: list[str] = []


class Readiness(BaseModel):
    """Everything but `status` only for monitoring, as `Health`."""

    status: str = Field(description="ok, or error with the reasons in `problems` (HTTP 503)")
    database: str | None = Field(
        default=None, description="ok, busy (no answer in time) or the error's type"
    )
    schema_revision: str | None = Field(
        default=None, description="The database's migration (null: none)"
    )
    head: str | None = Field(
        default=None, description="The migration this version of Synpunkt needs"
    )
    problems: list[str] = []


class Liveness(BaseModel):
    status: str = Field(description="Always ok: the process answers")


class IntakeList(BaseModel):
    items: list[IntakeOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next (older) page")


def download_doc(description: str, *media_types: str) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI description of a download: the file's bytes, in one of these media types (a
    JSON one is any JSON value: what a channel delivered, stored as it came)."""
    content = {
        t: {"schema": {} if t.endswith("json") else {"type": "string", "format": "binary"}}
        for t in media_types
    }
    return {200: {"description": description, "content": content}}


class ReplyIn(BaseModel):
    text: str = Field(min_length=1, max_length=20_000, description="The answer, as plain text")
    confirm_no_personal_details: bool = Field(
        default=False,
        description="The author's word that the answer says nothing about the circumstances of "
        "the person concerned: needed when the sender is a relative and no consent is in force "
        "(409 otherwise)",
    )


class TriageIn(BaseModel):
    """Only the fields sent are changed; `null` clears unit or assignee."""

    model_config = ConfigDict(extra="forbid")
    kind: str | None = None
    unit: str | None = None
    submitter_role: str | None = None
    priority: str | None = None
    assignee: str | None = None
    flags: dict[str, bool] | None = None
    status: str | None = None
    outcome: str | None = None
    registry_title: str | None = Field(
        default=None,
        description="The ärendemening (public in the registry); null or empty: kind and unit",
    )
    event_what: str | None = Field(default=None, description="What happened")
    event_when: str | None = Field(default=None, description="When (free text)")
    event_where: str | None = Field(default=None, description="Where (free text)")
    event_consequence: str | None = Field(default=None, description="What it led to")


# Search, merge, split, registration and the audit trail --------------------------------------------


class CaseRef(BaseModel):
    reference: str
    url: str


class MergeIn(BaseModel):
    into: str = Field(min_length=1, max_length=32, description="The reference to merge into")


class MergeOut(BaseModel):
    reference: str
    merged_into: str
    messages_moved: int
    move_id: int = Field(
        description="Undo it with POST /api/cases/{reference}/moves/{move_id}/undo (either case)"
    )


class SplitOut(CaseRef):
    move_id: int = Field(
        description="Undo it with POST /api/cases/{reference}/moves/{move_id}/undo (either case)"
    )


class UndoOut(BaseModel):
    kind: str = Field(description="merge or split")
    reference: str = Field(description="The case whose messages are back on it")
    other: str | None = Field(
        description="A merge: the case it had been merged into, which keeps its own messages. "
        "A split: null (the case the split made is removed)"
    )


class RegistrationIn(BaseModel):
    channel: str = Field(description="How it came in: `phone`, `letter`, `visit` or `ivo`")
    subject: str = Field(min_length=1, max_length=500)
    text: str = Field(min_length=1, max_length=50_000)
    kind: str = "other"
    unit: str | None = Field(default=None, description="A unit code")
    submitter_role: str = "unknown"
    contact_name: str | None = Field(default=None, max_length=200)
    contact_email: str | None = Field(default=None, max_length=320)
    contact_phone: str | None = Field(default=None, max_length=64)
    received_at: datetime | None = Field(
        default=None, description="When the call, letter or visit came (default: now)"
    )
    acknowledge: bool = Field(
        default=False, description="Send the acknowledgement to `contact_email`"
    )
    event_what: str | None = Field(default=None, max_length=5000, description="What happened")
    event_when: str | None = Field(default=None, max_length=200, description="When")
    event_where: str | None = Field(default=None, max_length=200, description="Where")
    event_consequence: str | None = Field(
        default=None, max_length=5000, description="What it led to"
    )


class AuditEventOut(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    case: str | None
    detail: dict[str, object]
    remote_addr: str | None


class AuditList(BaseModel):
    items: list[AuditEventOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next (older) page")


# The registry: secrecy marking, protected identity, consents, requests for documents -------------


class SecrecyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    marked: bool = Field(description="false takes the marking away (registrars and admins)")
    reason: str | None = Field(default=None, max_length=500, description="Needed to mark")


class SecrecyOut(BaseModel):
    reference: str
    marked: bool
    reason: str | None


class IdentityIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    protected: bool = Field(description="false lifts the protection (registrars and admins)")
    reason: str | None = Field(default=None, max_length=500, description="Needed to protect")


class IdentityOut(BaseModel):
    reference: str
    protected: bool
    reason: str | None


class ConsentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    given_by: str = Field(max_length=200, description="The person concerned, who consented")
    given_to: str = Field(max_length=200, description="The relative who may be told")
    scope: str = Field(max_length=1000, description="What may be shared")
    given_on: date
    form: str = Field(description="`oral` or `written`")


class RevokeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    revoked_on: date


class DocumentRequestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    requested_by: str | None = Field(
        default=None, max_length=200, description="Who asked; anyone may ask anonymously"
    )
    requested_on: date
    documents: str = Field(max_length=2000, description="What was asked for")
    outcome: str = Field(description="`released`, `released-masked` or `refused`")
    grounds: str | None = Field(
        default=None, max_length=500, description="The secrecy provision (masked or refused)"
    )
    reasoning: str | None = Field(default=None, max_length=4000)
    decided_on: date
    decided_by: str | None = Field(
        default=None,
        max_length=200,
        description="Who decided (with delegation), named in the decision; default the authority",
    )
